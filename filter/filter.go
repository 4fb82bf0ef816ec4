package filter

import (
	"fmt"
	"math"
	"strconv"
)

const (
	// MaxLen bounds a selector's source, in bytes.
	MaxLen = 64 << 10
	// MaxDepth bounds nesting (parentheses, NOT, unary signs).
	MaxDepth = 100
	// inSetMin is the IN-list length from which a hash set is used.
	inSetMin = 8
)

// SyntaxError reports why a selector does not compile.
type SyntaxError struct {
	Expr string // the selector
	Pos  int    // byte offset of the problem
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("filter: %s at position %d of %q", e.Msg, e.Pos, e.Expr)
}

func syntaxErr(src string, pos int, format string, a ...any) *SyntaxError {
	if len(src) > 256 {
		src = src[:256] + "..."
	}
	return &SyntaxError{Expr: src, Pos: pos, Msg: fmt.Sprintf(format, a...)}
}

// Expr is a compiled selector. It is immutable and safe for concurrent use.
type Expr struct {
	src  string
	root boolNode
}

// Compile parses a SQL92 selector.
func Compile(src string) (*Expr, error) {
	if len(src) > MaxLen {
		return nil, syntaxErr(src, MaxLen, "selector longer than %d bytes", MaxLen)
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	root, err := p.parse()
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, root: root}, nil
}

// Source returns the selector as given.
func (e *Expr) Source() string { return e.src }

// String returns the selector fully parenthesised, as parsed.
func (e *Expr) String() string { return e.root.String() }

// Eval evaluates the selector against a message's properties.
func (e *Expr) Eval(p Properties) (Result, error) {
	v, err := e.root.eval(p)
	switch {
	case err != nil || v.k == kNull:
		return Unknown, err
	case v.k == kBool && v.b:
		return True, nil
	}
	return False, nil
}

// Match reports whether a message with these properties is delivered:
// only when the selector is TRUE (not unknown, no evaluation error).
func (e *Expr) Match(p Properties) bool {
	r, err := e.Eval(p)
	return err == nil && r == True
}

type parser struct {
	src   string
	toks  []token
	pos   int
	depth int
}

func (p *parser) peek() token    { return p.toks[p.pos] }
func (p *parser) peek2() tokKind { return p.toks[min(p.pos+1, len(p.toks)-1)].kind }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) errAt(t token, format string, a ...any) error {
	return syntaxErr(p.src, t.pos, format, a...)
}

func (p *parser) expect(k tokKind) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, p.errAt(t, "expected %s, found %s", k, t.describe())
	}
	return t, nil
}

func (p *parser) parse() (boolNode, error) {
	if p.peek().kind == tEOF {
		return nil, p.errAt(p.peek(), "empty selector")
	}
	start := p.peek()
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t, "unexpected %s", t.describe())
	}
	return p.asBool(n, start)
}

// asBool is RocketMQ's asBooleanExpression: a property is cast, anything
// else that is not boolean is an error.
func (p *parser) asBool(n node, at token) (boolNode, error) {
	switch n := n.(type) {
	case boolNode:
		return n, nil
	case propNode:
		return castNode{n}, nil
	}
	return nil, p.errAt(at, "%s does not result in a boolean value", n)
}

func (p *parser) or() (node, error) {
	at := p.peek()
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tOr {
		p.next()
		rat := p.peek()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		if l, r, err = p.bothBool(l, at, r, rat); err != nil {
			return nil, err
		}
		l = logicNode{l: l.(boolNode), r: r.(boolNode)}
	}
	return l, nil
}

func (p *parser) and() (node, error) {
	at := p.peek()
	l, err := p.equality()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tAnd {
		p.next()
		rat := p.peek()
		r, err := p.equality()
		if err != nil {
			return nil, err
		}
		if l, r, err = p.bothBool(l, at, r, rat); err != nil {
			return nil, err
		}
		l = logicNode{and: true, l: l.(boolNode), r: r.(boolNode)}
	}
	return l, nil
}

func (p *parser) bothBool(l node, lat token, r node, rat token) (node, node, error) {
	lb, err := p.asBool(l, lat)
	if err != nil {
		return nil, nil, err
	}
	rb, err := p.asBool(r, rat)
	if err != nil {
		return nil, nil, err
	}
	return lb, rb, nil
}

func (p *parser) equality() (node, error) {
	at := p.peek()
	l, err := p.comparison()
	if err != nil {
		return nil, err
	}
	for {
		switch t := p.peek(); t.kind {
		case tEq, tNe:
			p.next()
			rat := p.peek()
			r, err := p.comparison()
			if err != nil {
				return nil, err
			}
			if err := p.checkEqual(l, at, r, rat); err != nil {
				return nil, err
			}
			var n boolNode = cmpNode{op: opEq, l: l, r: r}
			if t.kind == tNe {
				n = notNode{n}
			}
			l = n
		case tIs:
			p.next()
			not := false
			if p.peek().kind == tNot {
				p.next()
				not = true
			}
			if _, err := p.expect(tNull); err != nil {
				return nil, err
			}
			var n boolNode = isNullNode{l}
			if not {
				n = notNode{n}
			}
			l = n
		default:
			return l, nil
		}
	}
}

// checkEqual: NULL is compared only with IS [NOT] NULL, and a boolean
// literal only with a boolean.
func (p *parser) checkEqual(l node, lat token, r node, rat token) error {
	for _, side := range []struct {
		n  node
		at token
	}{{l, lat}, {r, rat}} {
		if c, ok := constOf(side.n); ok && c.k == kNull {
			return p.errAt(side.at, "NULL cannot be compared with '=' or '<>': use IS NULL or IS NOT NULL")
		}
	}
	lc, lok := constOf(l)
	rc, rok := constOf(r)
	if lok && rok && lc.k == kBool && rc.k != kBool {
		return p.errAt(rat, "%s cannot be compared with %s", lc, rc)
	}
	return nil
}

func constOf(n node) (value, bool) {
	switch n := n.(type) {
	case constNode:
		return n.v, true
	case boolConst:
		return n.v, true
	}
	return nullV, false
}

// checkOrdered: only numbers (or what may evaluate to one) are ordered.
func (p *parser) checkOrdered(n node, at token) error {
	if c, ok := constOf(n); ok {
		if c.isNumber() {
			return nil
		}
		return p.errAt(at, "%s cannot be compared with <, <=, >, >= or BETWEEN: only numbers can", c)
	}
	if _, ok := n.(boolNode); ok {
		return p.errAt(at, "%s is a condition and cannot be compared with <, <=, >, >= or BETWEEN", n)
	}
	return nil
}

func (p *parser) ordered(op cmpOp, l node, lat token, r node, rat token) (boolNode, error) {
	if err := p.checkOrdered(l, lat); err != nil {
		return nil, err
	}
	if err := p.checkOrdered(r, rat); err != nil {
		return nil, err
	}
	return cmpNode{op: op, l: l, r: r}, nil
}

func (p *parser) comparison() (node, error) {
	at := p.peek()
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		not := false
		switch t.kind {
		case tGt, tGe, tLt, tLe:
			p.next()
			rat := p.peek()
			r, err := p.unary()
			if err != nil {
				return nil, err
			}
			op := map[tokKind]cmpOp{tGt: opGt, tGe: opGe, tLt: opLt, tLe: opLe}[t.kind]
			if l, err = p.ordered(op, l, at, r, rat); err != nil {
				return nil, err
			}
			continue
		case tNot:
			switch p.peek2() {
			case tContains, tStartsWith, tEndsWith, tBetween, tIn:
				p.next()
				not = true
			default:
				return l, nil
			}
		}
		switch t := p.peek(); t.kind {
		case tContains, tStartsWith, tEndsWith:
			p.next()
			s, err := p.expect(tString)
			if err != nil {
				return nil, err
			}
			op := map[tokKind]strOp{tContains: opContains, tStartsWith: opStartsWith, tEndsWith: opEndsWith}[t.kind]
			l = strNode{x: l, op: op, search: s.text, not: not}
		case tBetween:
			p.next()
			lowAt := p.peek()
			low, err := p.unary()
			if err != nil {
				return nil, err
			}
			if _, err := p.expect(tAnd); err != nil {
				return nil, err
			}
			highAt := p.peek()
			high, err := p.unary()
			if err != nil {
				return nil, err
			}
			if l, err = p.between(l, at, low, lowAt, high, highAt, not); err != nil {
				return nil, err
			}
		case tIn:
			p.next()
			prop, ok := l.(propNode)
			if !ok {
				return nil, p.errAt(at, "IN needs a property on its left, not %s", l)
			}
			if _, err := p.expect(tLParen); err != nil {
				return nil, err
			}
			n := inNode{x: prop, not: not}
			for {
				s, err := p.expect(tString)
				if err != nil {
					return nil, err
				}
				n.list = append(n.list, s.text)
				if p.peek().kind != tComma {
					break
				}
				p.next()
			}
			if _, err := p.expect(tRParen); err != nil {
				return nil, err
			}
			if len(n.list) >= inSetMin {
				n.set = make(map[string]struct{}, len(n.list))
				for _, s := range n.list {
					n.set[s] = struct{}{}
				}
			}
			l = n
		default:
			return l, nil
		}
	}
}

func (p *parser) between(x node, at token, low node, lowAt token, high node, highAt token, not bool) (boolNode, error) {
	lc, lok := constOf(low)
	hc, hok := constOf(high)
	if lok && hok {
		if lc.k == kNull || hc.k == kNull {
			return nil, p.errAt(lowAt, "BETWEEN bounds cannot be NULL")
		}
		if lc.isNumber() && hc.isNumber() {
			if c, _ := compare(lc, hc); c > 0 {
				return nil, p.errAt(lowAt, "BETWEEN %s AND %s: the lower bound is greater than the upper one", lc, hc)
			}
		}
	}
	if not {
		lt, err := p.ordered(opLt, x, at, low, lowAt)
		if err != nil {
			return nil, err
		}
		gt, err := p.ordered(opGt, x, at, high, highAt)
		if err != nil {
			return nil, err
		}
		return logicNode{l: lt, r: gt}, nil
	}
	ge, err := p.ordered(opGe, x, at, low, lowAt)
	if err != nil {
		return nil, err
	}
	le, err := p.ordered(opLe, x, at, high, highAt)
	if err != nil {
		return nil, err
	}
	return logicNode{and: true, l: ge, r: le}, nil
}

func (p *parser) unary() (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	t := p.peek()
	if p.depth > MaxDepth {
		return nil, p.errAt(t, "selector nested deeper than %d", MaxDepth)
	}
	switch t.kind {
	case tPlus:
		p.next()
		return p.unary()
	case tMinus:
		p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		// Fold a negative literal so that it still counts as a constant
		// (BETWEEN -5 AND -1 is checked at compile time).
		if c, ok := x.(constNode); ok && c.v.isNumber() {
			c.v.i, c.v.f = -c.v.i, -c.v.f
			return c, nil
		}
		return negNode{x}, nil
	case tNot:
		p.next()
		xat := p.peek()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		b, err := p.asBool(x, xat)
		if err != nil {
			return nil, err
		}
		return notNode{b}, nil
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return constNode{value{k: kString, s: t.text}}, nil
	case tInt:
		i, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, p.errAt(t, "integer %s out of range", t.text)
		}
		return constNode{value{k: kInt, i: i}}, nil
	case tFloat:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, p.errAt(t, "decimal %s out of range", t.text)
		}
		return constNode{value{k: kFloat, f: f}}, nil
	case tTrue:
		return boolConst{constNode{trueV}}, nil
	case tFalse:
		return boolConst{constNode{falseV}}, nil
	case tNull:
		return boolConst{constNode{nullV}}, nil
	case tIdent:
		return propNode{t.text}, nil
	case tLParen:
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, p.errAt(t, "unexpected %s", t.describe())
}
