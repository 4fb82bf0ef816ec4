package filter

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Result is the three-valued outcome of a selector.
type Result int8

const (
	Unknown Result = iota // a NULL took part: no match
	False
	True
)

func (r Result) String() string {
	switch r {
	case True:
		return "TRUE"
	case False:
		return "FALSE"
	}
	return "UNKNOWN"
}

// Properties looks a message property up; ok is false when it is absent.
type Properties func(name string) (value string, ok bool)

// ErrEval is wrapped by evaluation errors (a property that does not
// convert to the type it is compared with).
var ErrEval = errors.New("filter: evaluation error")

type kind uint8

const (
	kNull kind = iota
	kBool
	kInt
	kFloat
	kString
)

type value struct {
	k kind
	b bool
	i int64
	f float64
	s string
}

var (
	nullV  = value{}
	trueV  = value{k: kBool, b: true}
	falseV = value{k: kBool}
)

func boolV(b bool) value {
	if b {
		return trueV
	}
	return falseV
}

func (v value) String() string {
	switch v.k {
	case kBool:
		if v.b {
			return "TRUE"
		}
		return "FALSE"
	case kInt:
		return strconv.FormatInt(v.i, 10)
	case kFloat:
		s := strconv.FormatFloat(v.f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEIN") {
			s += ".0" // stays a decimal when parsed again
		}
		return s
	case kString:
		return "'" + strings.ReplaceAll(v.s, "'", "''") + "'"
	}
	return "NULL"
}

func (v value) isNumber() bool { return v.k == kInt || v.k == kFloat }

func (v value) float() float64 {
	if v.k == kInt {
		return float64(v.i)
	}
	return v.f
}

// node is a compiled expression.
type node interface {
	eval(p Properties) (value, error)
	String() string
}

// boolNode marks nodes that yield a boolean (or NULL): RocketMQ's
// BooleanExpression.
type boolNode interface {
	node
	isBool()
}

type constNode struct{ v value }

func (n constNode) eval(Properties) (value, error) { return n.v, nil }
func (n constNode) String() string                 { return n.v.String() }

// boolConst is TRUE, FALSE or NULL used as an expression.
type boolConst struct{ constNode }

func (boolConst) isBool() {}

type propNode struct{ name string }

func (n propNode) eval(p Properties) (value, error) {
	if s, ok := p(n.name); ok {
		return value{k: kString, s: s}, nil
	}
	return nullV, nil
}
func (n propNode) String() string { return n.name }

type negNode struct{ x node }

func (n negNode) eval(p Properties) (value, error) {
	v, err := n.x.eval(p)
	if err != nil {
		return nullV, err
	}
	switch v.k {
	case kInt:
		return value{k: kInt, i: -v.i}, nil
	case kFloat:
		return value{k: kFloat, f: -v.f}, nil
	}
	return nullV, nil
}
func (n negNode) String() string { return "(-" + n.x.String() + ")" }

type notNode struct{ x boolNode }

func (notNode) isBool() {}
func (n notNode) eval(p Properties) (value, error) {
	v, err := n.x.eval(p)
	if err != nil || v.k == kNull {
		return nullV, err
	}
	return boolV(!v.b), nil
}
func (n notNode) String() string { return "(NOT " + n.x.String() + ")" }

// castNode is a property used where a boolean is expected: RocketMQ's
// boolean cast, FALSE for any present value (properties are strings).
type castNode struct{ x propNode }

func (castNode) isBool() {}
func (n castNode) eval(p Properties) (value, error) {
	v, err := n.x.eval(p)
	if err != nil || v.k == kNull {
		return nullV, err
	}
	return boolV(v.k == kBool && v.b), nil
}
func (n castNode) String() string { return n.x.String() }

type logicNode struct {
	and  bool
	l, r boolNode
}

func (logicNode) isBool() {}
func (n logicNode) eval(p Properties) (value, error) {
	// SQL three-valued logic, short-circuiting like RocketMQ: an error on
	// the right is not raised when the left decides.
	lv, err := n.l.eval(p)
	if err != nil {
		return nullV, err
	}
	if lv.k == kBool && lv.b != n.and {
		return lv, nil
	}
	rv, err := n.r.eval(p)
	if err != nil {
		return nullV, err
	}
	if rv.k == kBool && rv.b != n.and {
		return rv, nil
	}
	if lv.k == kNull || rv.k == kNull {
		return nullV, nil
	}
	return boolV(n.and), nil
}
func (n logicNode) String() string {
	op := " OR "
	if n.and {
		op = " AND "
	}
	return "(" + n.l.String() + op + n.r.String() + ")"
}

type cmpOp uint8

const (
	opEq cmpOp = iota
	opGt
	opGe
	opLt
	opLe
)

var cmpSyms = [...]string{opEq: "=", opGt: ">", opGe: ">=", opLt: "<", opLe: "<="}

type cmpNode struct {
	op   cmpOp
	l, r node
}

func (cmpNode) isBool() {}
func (n cmpNode) eval(p Properties) (value, error) {
	lv, err := n.l.eval(p)
	if err != nil {
		return nullV, err
	}
	if n.op != opEq && lv.k == kNull {
		return nullV, nil
	}
	rv, err := n.r.eval(p)
	if err != nil {
		return nullV, err
	}
	if n.op == opEq {
		switch {
		case lv.k == kNull && rv.k == kNull:
			return trueV, nil
		case lv.k == kNull:
			return nullV, nil
		case rv.k == kNull:
			return falseV, nil
		}
		c, err := compare(lv, rv)
		if err != nil {
			return nullV, err
		}
		return boolV(c == 0), nil
	}
	if rv.k == kNull {
		return nullV, nil
	}
	if lv.k == kString && rv.k == kString {
		// Strings are ordered as numbers, never lexically.
		lf, err1 := parseFloat(lv.s)
		rf, err2 := parseFloat(rv.s)
		if err := errors.Join(err1, err2); err != nil {
			return nullV, fmt.Errorf("%w: %s %s %s: strings compare only as numbers", ErrEval, lv, cmpSyms[n.op], rv)
		}
		lv, rv = value{k: kFloat, f: lf}, value{k: kFloat, f: rf}
	}
	c, err := compare(lv, rv)
	if err != nil {
		return nullV, err
	}
	switch n.op {
	case opGt:
		return boolV(c > 0), nil
	case opGe:
		return boolV(c >= 0), nil
	case opLt:
		return boolV(c < 0), nil
	default:
		return boolV(c <= 0), nil
	}
}
func (n cmpNode) String() string {
	return "(" + n.l.String() + " " + cmpSyms[n.op] + " " + n.r.String() + ")"
}

// compare orders two non-NULL values, converting a string to the other
// side's type (RocketMQ compiles selectors with string conversion on). A
// boolean against a number is "less", so never equal.
func compare(l, r value) (int, error) {
	if l.k == kString && r.k != kString {
		c, err := compare(r, l)
		return -c, err
	}
	switch l.k {
	case kBool:
		switch r.k {
		case kBool:
			return cmpBool(l.b, r.b), nil
		case kString:
			return cmpBool(l.b, strings.EqualFold(r.s, "true")), nil
		}
		return -1, nil
	case kInt, kFloat:
		switch r.k {
		case kBool:
			return -1, nil
		case kString:
			n, err := toNumber(r.s, l.k)
			if err != nil {
				return 0, fmt.Errorf("%w: %s is not a number to compare with %s", ErrEval, r, l)
			}
			r = n
		}
		if l.k == kInt && r.k == kInt {
			return cmp.Compare(l.i, r.i), nil
		}
		return cmp.Compare(l.float(), r.float()), nil
	}
	return strings.Compare(l.s, r.s), nil // both strings
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// toNumber converts a property to a number for comparison with a literal
// of kind k: an integer literal takes an integer, or else a decimal.
func toNumber(s string, k kind) (value, error) {
	if k == kInt {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return value{k: kInt, i: i}, nil
		}
	}
	f, err := parseFloat(s)
	if err != nil {
		return nullV, err
	}
	return value{k: kFloat, f: f}, nil
}

func parseFloat(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}

type isNullNode struct{ x node }

func (isNullNode) isBool() {}
func (n isNullNode) eval(p Properties) (value, error) {
	v, err := n.x.eval(p)
	if err != nil {
		return nullV, err
	}
	return boolV(v.k == kNull), nil
}
func (n isNullNode) String() string { return "(" + n.x.String() + " IS NULL)" }

type inNode struct {
	x    propNode
	list []string
	set  map[string]struct{} // for long lists
	not  bool
}

func (inNode) isBool() {}
func (n inNode) eval(p Properties) (value, error) {
	v, err := n.x.eval(p)
	if err != nil || v.k != kString {
		return nullV, err
	}
	var in bool
	if n.set != nil {
		_, in = n.set[v.s]
	} else {
		for _, s := range n.list {
			if s == v.s {
				in = true
				break
			}
		}
	}
	return boolV(in != n.not), nil
}
func (n inNode) String() string {
	var b strings.Builder
	b.WriteString("(" + n.x.String())
	if n.not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, s := range n.list {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(value{k: kString, s: s}.String())
	}
	b.WriteString("))")
	return b.String()
}

type strOp uint8

const (
	opContains strOp = iota
	opStartsWith
	opEndsWith
)

var strSyms = [...]string{opContains: "CONTAINS", opStartsWith: "STARTSWITH", opEndsWith: "ENDSWITH"}

// strNode is [NOT] CONTAINS / STARTSWITH / ENDSWITH. Unlike comparisons it
// is FALSE, not unknown, on a missing value or an empty pattern, with or
// without NOT (as RocketMQ).
type strNode struct {
	x      node
	op     strOp
	search string
	not    bool
}

func (strNode) isBool() {}
func (n strNode) eval(p Properties) (value, error) {
	if n.search == "" {
		return falseV, nil
	}
	v, err := n.x.eval(p)
	if err != nil {
		return nullV, err
	}
	if v.k != kString {
		return falseV, nil
	}
	var hit bool
	switch n.op {
	case opContains:
		hit = strings.Contains(v.s, n.search)
	case opStartsWith:
		hit = strings.HasPrefix(v.s, n.search)
	default:
		hit = strings.HasSuffix(v.s, n.search)
	}
	return boolV(hit != n.not), nil
}
func (n strNode) String() string {
	not := ""
	if n.not {
		not = " NOT"
	}
	return "(" + n.x.String() + not + " " + strSyms[n.op] + " " + value{k: kString, s: n.search}.String() + ")"
}
