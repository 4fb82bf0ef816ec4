package filter

import (
	"strings"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tFloat
	tString
	// keywords
	tNot
	tAnd
	tOr
	tBetween
	tIn
	tTrue
	tFalse
	tNull
	tIs
	tContains
	tStartsWith
	tEndsWith
	// punctuation
	tEq
	tNe
	tGt
	tGe
	tLt
	tLe
	tLParen
	tRParen
	tComma
	tPlus
	tMinus
)

var keywords = map[string]tokKind{
	"NOT": tNot, "AND": tAnd, "OR": tOr, "BETWEEN": tBetween, "IN": tIn,
	"TRUE": tTrue, "FALSE": tFalse, "NULL": tNull, "IS": tIs,
	"CONTAINS": tContains, "STARTSWITH": tStartsWith, "ENDSWITH": tEndsWith,
}

var tokNames = [...]string{
	tEOF: "end of expression", tIdent: "property name", tInt: "integer", tFloat: "decimal", tString: "string",
	tNot: "NOT", tAnd: "AND", tOr: "OR", tBetween: "BETWEEN", tIn: "IN", tTrue: "TRUE", tFalse: "FALSE",
	tNull: "NULL", tIs: "IS", tContains: "CONTAINS", tStartsWith: "STARTSWITH", tEndsWith: "ENDSWITH",
	tEq: "'='", tNe: "'<>'", tGt: "'>'", tGe: "'>='", tLt: "'<'", tLe: "'<='", tLParen: "'('", tRParen: "')'",
	tComma: "','", tPlus: "'+'", tMinus: "'-'",
}

func (k tokKind) String() string { return tokNames[k] }

type token struct {
	kind tokKind
	pos  int    // byte offset in the source
	text string // identifier name, literal source, or decoded string
}

func (t token) describe() string {
	switch t.kind {
	case tIdent:
		return "property " + t.text
	case tInt, tFloat:
		return t.kind.String() + " " + t.text
	case tString:
		return "string '" + t.text + "'"
	}
	return t.kind.String()
}

// lex splits src into tokens, ending with tEOF.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		// Blanks and comments.
		for i < len(src) {
			c := src[i]
			switch {
			case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
				i++
				continue
			case strings.HasPrefix(src[i:], "--"):
				if j := strings.IndexAny(src[i:], "\r\n"); j >= 0 {
					i += j
				} else {
					i = len(src)
				}
				continue
			case strings.HasPrefix(src[i:], "/*"):
				j := strings.Index(src[i+2:], "*/")
				if j < 0 {
					return nil, syntaxErr(src, i, "unterminated /* comment")
				}
				i += 2 + j + 2
				continue
			}
			break
		}
		if i >= len(src) {
			return append(toks, token{kind: tEOF, pos: i}), nil
		}
		start := i
		c := src[i]
		switch {
		case isIdentStart(c):
			for i < len(src) && isIdentPart(src[i]) {
				i++
			}
			word := src[start:i]
			if k, ok := keywords[strings.ToUpper(word)]; ok {
				toks = append(toks, token{kind: k, pos: start, text: word})
			} else {
				toks = append(toks, token{kind: tIdent, pos: start, text: word})
			}
		case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
			t, n, err := lexNumber(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
		case c == '\'':
			var b strings.Builder
			i++
			for {
				if i >= len(src) {
					return nil, syntaxErr(src, start, "unterminated string literal")
				}
				if src[i] == '\'' {
					if i+1 < len(src) && src[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(src[i])
				i++
			}
			toks = append(toks, token{kind: tString, pos: start, text: b.String()})
		default:
			var k tokKind
			n := 1
			switch c {
			case '=':
				k = tEq
			case '<':
				k = tLt
				if i+1 < len(src) && src[i+1] == '>' {
					k, n = tNe, 2
				} else if i+1 < len(src) && src[i+1] == '=' {
					k, n = tLe, 2
				}
			case '>':
				k = tGt
				if i+1 < len(src) && src[i+1] == '=' {
					k, n = tGe, 2
				}
			case '(':
				k = tLParen
			case ')':
				k = tRParen
			case ',':
				k = tComma
			case '+':
				k = tPlus
			case '-':
				k = tMinus
			default:
				return nil, syntaxErr(src, i, "unexpected character %q", rune(c))
			}
			toks = append(toks, token{kind: k, pos: start, text: src[i : i+n]})
			i += n
		}
	}
}

// lexNumber reads an integer (0, or no leading zero, optional L suffix) or
// a decimal (5.5, 5., .5, 5E10, 5.5e-3) at src[i:].
func lexNumber(src string, i int) (token, int, error) {
	start := i
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	float := false
	if i < len(src) && src[i] == '.' {
		float = true
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			float, i = true, j
		}
	}
	text := src[start:i]
	if float {
		return token{kind: tFloat, pos: start, text: text}, i, nil
	}
	if len(text) > 1 && text[0] == '0' {
		return token{}, 0, syntaxErr(src, start, "integer %s has a leading zero", text)
	}
	if i < len(src) && (src[i] == 'l' || src[i] == 'L') && text != "0" {
		i++
	}
	return token{kind: tInt, pos: start, text: text}, i, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}
func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }
