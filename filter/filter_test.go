package filter_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/raftmq/raftmq/filter"
	"github.com/stretchr/testify/require"
)

func props(kv ...string) filter.Properties {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const (
	T = filter.True
	F = filter.False
	U = filter.Unknown
)

func TestEval(t *testing.T) {
	cases := []struct {
		expr string
		kv   []string
		want filter.Result
	}{
		// The RocketMQ documentation's examples.
		{"a BETWEEN 0 AND 3", []string{"a", "2"}, T},
		{"a BETWEEN 0 AND 3", []string{"a", "3"}, T},
		{"a BETWEEN 0 AND 3", []string{"a", "4"}, F},
		{"a between 0 and 3 and b='name2'", []string{"a", "1", "b", "name2"}, T},
		{"(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a > 10)", []string{"TAGS", "TagB", "a", "11"}, T},
		{"(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a > 10)", []string{"TAGS", "TagC", "a", "11"}, F},
		{"(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a > 10)", []string{"TAGS", "TagA"}, F},

		// Comparisons: string properties convert to the literal's type.
		{"a = 3", []string{"a", "3"}, T},
		{"a = 3", []string{"a", "4"}, F},
		{"a = 3.0", []string{"a", "3"}, T},
		{"a = '3'", []string{"a", "3"}, T},
		{"a = '3'", []string{"a", "3.0"}, F}, // strings compare as strings
		{"a <> 3", []string{"a", "4"}, T},
		{"a > 3.14", []string{"a", "3.1415"}, T},
		{"a > 3.1E10", []string{"a", "3.1415E10"}, T},
		{"a > 10", []string{"a", "10.5"}, T}, // RocketMQ: conversion error
		{"a >= 10", []string{"a", "10"}, T},
		{"a < -5", []string{"a", "-6"}, T},
		{"a <= -5.5", []string{"a", "-5.5"}, T},
		{"a > b", []string{"a", "10", "b", "20"}, F},
		{"a > b", []string{"a", "20", "b", "10"}, T},
		{"a > b", []string{"a", "9", "b", "10"}, F}, // numeric, not lexical
		{"a = b", []string{"a", "3.14", "b", "3.14"}, T},
		{"a <> b", []string{"a", "3.14", "b", "3.141"}, T},
		{"a = 9223372036854775807", []string{"a", "9223372036854775807"}, T},
		{"a > 1L", []string{"a", "2"}, T},
		{"a > .5", []string{"a", "0.6"}, T},
		{"a > 5.", []string{"a", "5.5"}, T},
		{"a > 5e2", []string{"a", "501"}, T},
		{"a > +5", []string{"a", "6"}, T},
		{"-a < 0", []string{"a", "1"}, U}, // a negated property is NULL: strings don't negate

		// Booleans.
		{"a=TRUE OR b=FALSE", []string{"a", "true"}, T},
		{"a=TRUE OR b=FALSE", []string{"a", "TRUE"}, T},
		{"a=TRUE OR b=FALSE", []string{"b", "false"}, T},
		{"a=TRUE OR b=FALSE", []string{"a", "false", "b", "true"}, F},
		{"a = 1", []string{}, U},
		{"TRUE", nil, T},
		{"FALSE", nil, F},
		{"NOT FALSE", nil, T},
		{"(a > 1) = TRUE", []string{"a", "2"}, T},
		{"(a > 1) = (b > 1)", []string{"a", "2", "b", "0"}, F},

		// NULL and three-valued logic.
		{"a IS NULL", nil, T},
		{"a IS NULL", []string{"a", ""}, F},
		{"a IS NOT NULL", []string{"a", ""}, T},
		{"a is null OR a='hello'", nil, T},
		{"a is null OR a='hello'", []string{"a", "hello"}, T},
		{"a is null OR a='hello'", []string{"a", "bye"}, F},
		{"a = 1 OR b = 1", []string{"b", "1"}, T},
		{"a = 1 OR b = 1", []string{"b", "2"}, U},
		{"a = 1 AND b = 1", []string{"b", "2"}, F},
		{"a = 1 AND b = 1", []string{"b", "1"}, U},
		{"NOT (a = 1)", nil, U},
		{"a <> 1", nil, U},
		{"a > 1", nil, U},
		{"a NOT IN ('x')", nil, U},
		{"a NOT BETWEEN 1 AND 2", nil, U},

		// IN.
		{"a in ('3', '4', '5')", []string{"a", "4"}, T},
		{"a in ('3', '4', '5')", []string{"a", "6"}, F},
		{"a not in ('3', '4', '5')", []string{"a", "6"}, T},
		{"a not in ('3', '4', '5')", []string{"a", "3"}, F},
		{"a in ('1','2','3','4','5','6','7','8','9','10')", []string{"a", "10"}, T},
		{"a in ('1','2','3','4','5','6','7','8','9','10')", []string{"a", "11"}, F},
		{"a not in ('4', '4', '5') and b between 3 and 10 and c not contains 'axbc'", []string{"a", "3", "b", "4", "c", "axbcd"}, F},
		{"a not in ('4', '4', '5') and b between 3 and 10 and c not contains 'axbc'", []string{"a", "3", "b", "4", "c", "abc"}, T},

		// BETWEEN and NOT BETWEEN.
		{"a between 2 and 10", []string{"a", "2"}, T},
		{"a between 2 and 10", []string{"a", "10"}, T},
		{"a between 2 and 10", []string{"a", "11"}, F},
		{"a not between 2 and 10", []string{"a", "1"}, T},
		{"a not between 2 and 10", []string{"a", "11"}, T},
		{"a not between 2 and 10", []string{"a", "5"}, F},
		{"a between -10 and -2", []string{"a", "-5"}, T},

		// CONTAINS, STARTSWITH, ENDSWITH: FALSE, never unknown.
		{"value contains 'x'", []string{"value", "axb"}, T},
		{"value startswith 'ax'", []string{"value", "axb"}, T},
		{"value endswith 'xb'", []string{"value", "axb"}, T},
		{"value not contains 'x'", []string{"value", "axb"}, F},
		{"value not startswith 'x'", []string{"value", "abb"}, T},
		{"value not endswith 'x'", []string{"value", "abb"}, T},
		{"value contains ''", []string{"value", "axb"}, F},
		{"value not contains ''", []string{"value", "axb"}, F},
		{"value contains 'x'", nil, F},
		{"value not contains 'x'", nil, F},

		// Strings: '' escapes a quote; keywords are case-insensitive.
		{"TAGS is not null and TAGS='''''tag'''''", []string{"TAGS", "''tag''"}, T},
		{"a = 'it''s'", []string{"a", "it's"}, T},
		{"a = 1 aNd b = 2", []string{"a", "1", "b", "2"}, T},
		{"$x_1 = 'y'", []string{"$x_1", "y"}, T},
		{"A = 'y'", []string{"a", "y"}, U}, // property names are case-sensitive

		// Comments.
		{"a = 1 -- trailing comment", []string{"a", "1"}, T},
		{"a = 1 /* inline */ AND b = 2\n-- line\n", []string{"a", "1", "b", "2"}, T},

		// Precedence: NOT binds tightest, then comparisons, =, AND, OR.
		{"a = 1 OR b = 1 AND c = 1", []string{"a", "1"}, T},
		{"(a = 1 OR b = 1) AND c = 1", []string{"a", "1", "c", "0"}, F},
		{"NOT a = 1 OR TRUE", []string{"a", "1"}, T},

		// A property where a condition is expected is RocketMQ's boolean
		// cast: FALSE whatever its (string) value, unknown when absent.
		{"a", []string{"a", "true"}, F},
		{"NOT a", []string{"a", "x"}, T},
		{"a", nil, U},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			e, err := filter.Compile(c.expr)
			require.NoError(t, err)
			got, err := e.Eval(props(c.kv...))
			require.NoError(t, err)
			require.Equal(t, c.want, got, "%s with %v", e, c.kv)
			require.Equal(t, c.want == T, e.Match(props(c.kv...)))
		})
	}
}

func TestEvalErrorsDoNotMatch(t *testing.T) {
	cases := []struct {
		expr string
		kv   []string
	}{
		{"a > 5", []string{"a", "abc"}},
		{"a = 5", []string{"a", "abc"}},
		{"a between 0 and 100", []string{"a", "abc"}},
		{"a > b", []string{"a", "3.14", "b", "x"}},
		// The error surfaces even where the other side of OR is TRUE, as
		// in RocketMQ (the left side is evaluated first).
		{"a = 5 OR TRUE", []string{"a", "abc"}},
	}
	for _, c := range cases {
		e, err := filter.Compile(c.expr)
		require.NoError(t, err, c.expr)
		r, err := e.Eval(props(c.kv...))
		require.ErrorIs(t, err, filter.ErrEval, c.expr)
		require.Equal(t, U, r)
		require.False(t, e.Match(props(c.kv...)))
	}
	// Short-circuit: the right side is not evaluated when the left decides.
	e, err := filter.Compile("TRUE OR a = 5")
	require.NoError(t, err)
	require.True(t, e.Match(props("a", "abc")))
	e, err = filter.Compile("FALSE AND a = 5")
	require.NoError(t, err)
	r, err := e.Eval(props("a", "abc"))
	require.NoError(t, err)
	require.Equal(t, F, r)
}

func TestCompileErrors(t *testing.T) {
	cases := map[string]string{
		"":                         "empty selector",
		"   ":                      "empty selector",
		"a =":                      "unexpected end of expression",
		"a = 1 b = 2":              "unexpected property b",
		"value contains x":         "expected string",
		"value not contains 123":   "expected string",
		"'axb' contains ":          "expected string",
		"a in (1, 2)":              "expected string",
		"a in ()":                  "expected string",
		"'x' in ('x')":             "IN needs a property",
		"a = NULL":                 "NULL cannot be compared",
		"NULL <> a":                "NULL cannot be compared",
		"TRUE = 'x'":               "cannot be compared",
		"a > 'x'":                  "only numbers",
		"'x' < a":                  "only numbers",
		"a > TRUE":                 "only numbers",
		"(a = 1) > 2":              "is a condition",
		"a between 10 and 2":       "lower bound is greater",
		"a between 'x' and 'y'":    "only numbers",
		"a between NULL and 1":     "cannot be NULL",
		"5":                        "does not result in a boolean",
		"'abc'":                    "does not result in a boolean",
		"a = 1 AND 5":              "does not result in a boolean",
		"NOT 'x'":                  "does not result in a boolean",
		"a = 'unterminated":        "unterminated string",
		"a = 1 /* open":            "unterminated /* comment",
		"a = 007":                  "leading zero",
		"a = 99999999999999999999": "out of range",
		"a = 1e999":                "out of range",
		"a == 1":                   "unexpected '='",
		"a != 1":                   "unexpected character '!'",
		"a = 1)":                   "unexpected ')'",
		"(a = 1":                   "expected ')'",
		"a.b = 1":                  "unexpected character '.'",
		"a IS 5":                   "expected NULL",
		"a NOT LIKE 'x'":           "unexpected NOT",
	}
	for expr, want := range cases {
		_, err := filter.Compile(expr)
		var se *filter.SyntaxError
		require.True(t, errors.As(err, &se), "%q: %v", expr, err)
		require.Contains(t, se.Error(), want, expr)
		require.LessOrEqual(t, se.Pos, len(expr))
	}
}

func TestBounds(t *testing.T) {
	deep := strings.Repeat("(", filter.MaxDepth+1) + "a = 1" + strings.Repeat(")", filter.MaxDepth+1)
	_, err := filter.Compile(deep)
	require.ErrorContains(t, err, "nested deeper")
	ok := strings.Repeat("(", filter.MaxDepth-2) + "a = 1" + strings.Repeat(")", filter.MaxDepth-2)
	_, err = filter.Compile(ok)
	require.NoError(t, err)
	_, err = filter.Compile(strings.Repeat("NOT ", filter.MaxDepth+1) + "TRUE")
	require.ErrorContains(t, err, "nested deeper")
	_, err = filter.Compile("a = '" + strings.Repeat("x", filter.MaxLen) + "'")
	require.ErrorContains(t, err, "longer than")

	// A long flat chain is iterative in the parser and fine to evaluate.
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		if i > 0 {
			b.WriteString(" OR ")
		}
		fmt.Fprintf(&b, "a = %d", i)
	}
	e, err := filter.Compile(b.String())
	require.NoError(t, err)
	require.True(t, e.Match(props("a", "1999")))
	require.False(t, e.Match(props("a", "2000")))
}

func TestStringRoundTrips(t *testing.T) {
	for _, src := range []string{
		"a between -10 and -2.5 AND NOT (b IN ('x', 'it''s')) OR c IS NOT NULL",
		"value not startswith 'ax' and -a < +3 and x > 1e21 and y >= 5.0",
		"NOT a OR (a > 1) = TRUE",
	} {
		e, err := filter.Compile(src)
		require.NoError(t, err)
		again, err := filter.Compile(e.String())
		require.NoError(t, err, e.String())
		require.Equal(t, e.String(), again.String())
		require.Equal(t, src, e.Source())
	}
}

func TestCache(t *testing.T) {
	c := filter.NewCache(2)
	a1, err := c.Compile("a = 1")
	require.NoError(t, err)
	a2, _ := c.Compile("a = 1")
	require.Same(t, a1, a2)
	_, err1 := c.Compile("a =")
	_, err2 := c.Compile("a =")
	require.Error(t, err1)
	require.Same(t, err1, err2, "errors are cached too")
	// Full: starts over, still correct.
	b, err := c.Compile("b = 1")
	require.NoError(t, err)
	require.True(t, b.Match(props("b", "1")))

	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				e, err := c.Compile(fmt.Sprintf("a = %d", j%5))
				require.NoError(t, err)
				require.True(t, e.Match(props("a", fmt.Sprint(j%5))))
			}
		}()
	}
	wg.Wait()
}

func BenchmarkMatch(b *testing.B) {
	e, err := filter.Compile("(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a > 10) and region startswith 'eu-'")
	require.NoError(b, err)
	p := props("TAGS", "TagB", "a", "11", "region", "eu-west-1", "KEYS", "k1")
	b.ReportAllocs()
	for b.Loop() {
		if !e.Match(p) {
			b.Fatal("no match")
		}
	}
}
