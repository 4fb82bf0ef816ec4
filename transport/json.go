package transport

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// appendJSONHeader writes the JSON header in the field order Java and the
// official client use, with every extFields value a JSON string and keys
// sorted so the bytes are deterministic.
func appendJSONHeader(dst []byte, c *Command) []byte {
	dst = append(dst, `{"code":`...)
	dst = strconv.AppendInt(dst, int64(c.Code), 10)
	dst = append(dst, `,"language":`...)
	lang := c.Language
	if lang == "" {
		lang = DefaultLanguage
	}
	dst = appendJSONString(dst, lang)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(c.Version), 10)
	dst = append(dst, `,"opaque":`...)
	dst = strconv.AppendInt(dst, int64(c.Opaque), 10)
	dst = append(dst, `,"flag":`...)
	dst = strconv.AppendInt(dst, int64(c.Flag), 10)
	dst = append(dst, `,"remark":`...)
	dst = appendJSONString(dst, c.Remark)
	dst = append(dst, `,"extFields":{`...)
	first := true
	c.forEachExt(func(k, v string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, v)
	})
	return append(dst, "}}"...)
}

// forEachSorted visits m in key order, without allocating for small maps.
func forEachSorted(m map[string]string, fn func(k, v string)) {
	var stack [32]string
	var keys []string
	if len(m) <= len(stack) {
		keys = stack[:0]
	} else {
		keys = make([]string, 0, len(m))
	}
	for k := range m {
		keys = append(keys, k)
	}
	// Insertion sort: headers have a handful of keys.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	for _, k := range keys {
		fn(k, m[k])
	}
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// jsonScanner walks a JSON document.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) errorf(format string, args ...any) error {
	return frameErr(ErrMalformedFrame, "JSON header at byte %d: %s", s.i, fmt.Sprintf(format, args...))
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jsonScanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScanner) literal(word string) bool {
	if bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.i += len(word)
		return true
	}
	return false
}

// str reads a string. Without escapes it returns a slice of the input;
// otherwise it unescapes into *esc and returns that.
func (s *jsonScanner) str(esc *[]byte) ([]byte, error) {
	if !s.consume('"') {
		return nil, s.errorf("expected a string")
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			out := s.b[start:s.i]
			s.i++
			return out, nil
		case c == '\\':
			return s.strEscaped(start, esc)
		case c < 0x20:
			return nil, s.errorf("control character 0x%02x in string", c)
		}
		s.i++
	}
	return nil, s.errorf("unterminated string")
}

func (s *jsonScanner) strEscaped(start int, esc *[]byte) ([]byte, error) {
	out := append((*esc)[:0], s.b[start:s.i]...)
	defer func() { *esc = out[:0] }()
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return out, nil
		case c < 0x20:
			return nil, s.errorf("control character 0x%02x in string", c)
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return nil, s.errorf("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := utf8.RuneError
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					if lo, ok := s.hex4(); ok {
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							r2 = d
						} else {
							s.i = save // not a pair: decode the next escape on its own
						}
					} else {
						return nil, s.errorf("bad \\u escape")
					}
				}
				r = r2
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil, s.errorf("bad escape \\%c", e)
		}
	}
	return nil, s.errorf("unterminated string")
}

func (s *jsonScanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var r rune
	for _, c := range s.b[s.i : s.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	s.i += 4
	return r, true
}

// number reads a JSON number and returns its text.
func (s *jsonScanner) number() ([]byte, error) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return nil, s.errorf("expected a number")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return nil, s.errorf("bad number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return nil, s.errorf("bad number")
		}
	}
	return s.b[start:s.i], nil
}

// integer reads a number (or null, as 0) that must be an integer in [lo, hi].
func (s *jsonScanner) integer(name string, lo, hi int64) (int64, error) {
	if s.peek() == 'n' && s.literal("null") {
		return 0, nil
	}
	text, err := s.number()
	if err != nil {
		return 0, err
	}
	v, perr := parseInt(text)
	if perr || v < lo || v > hi {
		return 0, s.errorf("%s %s is not an integer in [%d, %d]", name, text, lo, hi)
	}
	return v, nil
}

// parseInt parses an optional '-' and decimal digits without allocating.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 {
		return 0, true
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, true
		}
		v = v*10 + uint64(c-'0')
	}
	if v > math.MaxInt64 {
		return 0, true
	}
	if neg {
		return -int64(v), false
	}
	return int64(v), false
}

const maxJSONDepth = 32

// skip skips any value.
func (s *jsonScanner) skip(depth int) error {
	if depth > maxJSONDepth {
		return s.errorf("nesting deeper than %d", maxJSONDepth)
	}
	var scratch []byte
	switch c := s.peek(); {
	case c == '"':
		_, err := s.str(&scratch)
		return err
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		if s.consume(closer) {
			return nil
		}
		for {
			if c == '{' {
				if _, err := s.str(&scratch); err != nil {
					return err
				}
				if !s.consume(':') {
					return s.errorf("expected ':'")
				}
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.consume(',') {
				continue
			}
			if s.consume(closer) {
				return nil
			}
			return s.errorf("expected ',' or '%c'", closer)
		}
	case c == 't':
		if s.literal("true") {
			return nil
		}
	case c == 'f':
		if s.literal("false") {
			return nil
		}
	case c == 'n':
		if s.literal("null") {
			return nil
		}
	default:
		_, err := s.number()
		return err
	}
	return s.errorf("unexpected input")
}

// stringish reads a string, number or boolean as text, or null (ok=false).
// Our server is lenient: a Java or hand-written peer may send numbers.
func (s *jsonScanner) stringish(esc *[]byte) (text []byte, ok bool, err error) {
	switch c := s.peek(); c {
	case '"':
		b, err := s.str(esc)
		return b, err == nil, err
	case 'n':
		if s.literal("null") {
			return nil, false, nil
		}
	case 't':
		if s.literal("true") {
			return s.b[s.i-4 : s.i], true, nil
		}
	case 'f':
		if s.literal("false") {
			return s.b[s.i-5 : s.i], true, nil
		}
	case '{', '[':
		return nil, false, s.errorf("expected a string, found '%c'", c)
	default:
		b, err := s.number()
		return b, err == nil, err
	}
	return nil, false, s.errorf("unexpected input")
}

// decodeJSON parses a JSON header into c (ExtFields must be empty). Keys
// match case-insensitively, like the official client's json-iterator;
// unknown keys are skipped.
func (d *headerDecoder) decodeJSON(h []byte, c *Command) error {
	d.reset()
	s := jsonScanner{b: h}
	if !s.consume('{') {
		return s.errorf("expected '{'")
	}
	if !s.consume('}') {
		for {
			key, err := s.str(&d.esc)
			if err != nil {
				return err
			}
			if !s.consume(':') {
				return s.errorf("expected ':'")
			}
			if err := d.jsonField(&s, key, c); err != nil {
				return err
			}
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return s.errorf("expected ',' or '}'")
		}
	}
	if s.ws(); s.i != len(s.b) {
		return s.errorf("trailing data")
	}
	d.finish(c)
	return nil
}

func (d *headerDecoder) jsonField(s *jsonScanner, key []byte, c *Command) error {
	var err error
	var v int64
	switch {
	case bytes.EqualFold(key, []byte("code")):
		v, err = s.integer("code", math.MinInt16, math.MaxInt16)
		c.Code = int16(v)
	case bytes.EqualFold(key, []byte("version")):
		v, err = s.integer("version", math.MinInt16, math.MaxInt16)
		c.Version = int16(v)
	case bytes.EqualFold(key, []byte("opaque")):
		v, err = s.integer("opaque", math.MinInt32, math.MaxInt32)
		c.Opaque = int32(v)
	case bytes.EqualFold(key, []byte("flag")):
		v, err = s.integer("flag", math.MinInt32, math.MaxInt32)
		c.Flag = int32(v)
	case bytes.EqualFold(key, []byte("language")):
		var b []byte
		if b, _, err = s.stringish(&d.esc); err == nil {
			d.lang = d.ref(b)
		}
	case bytes.EqualFold(key, []byte("remark")):
		var b []byte
		if b, _, err = s.stringish(&d.esc); err == nil {
			d.remark = d.ref(b)
		}
	case bytes.EqualFold(key, []byte("extFields")):
		err = d.jsonExtFields(s)
	default:
		err = s.skip(0)
	}
	return err
}

func (d *headerDecoder) jsonExtFields(s *jsonScanner) error {
	if s.peek() == 'n' && s.literal("null") {
		return nil
	}
	if !s.consume('{') {
		return s.errorf("extFields is not an object")
	}
	if s.consume('}') {
		return nil
	}
	for {
		kb, err := s.str(&d.esc)
		if err != nil {
			return err
		}
		k := d.ref(kb)
		if !s.consume(':') {
			return s.errorf("expected ':'")
		}
		vb, ok, err := s.stringish(&d.esc)
		if err != nil {
			return err
		}
		if ok {
			d.pairs = append(d.pairs, pairRef{k: k, v: d.ref(vb)})
		}
		if s.consume(',') {
			continue
		}
		if s.consume('}') {
			return nil
		}
		return s.errorf("expected ',' or '}' in extFields")
	}
}
