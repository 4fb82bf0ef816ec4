package filter_test

import (
	"testing"

	"github.com/raftmq/raftmq/filter"
)

// FuzzCompile: no input panics the compiler or the evaluator; a compiled
// selector prints as source that compiles to the same tree and evaluates
// the same way.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"a BETWEEN 0 AND 3", "TAGS IN ('A', 'B') AND a IS NOT NULL", "a > 3.1E10 OR b <> 'x'",
		"NOT (a = 1) AND c NOT CONTAINS 'z'", "a = TRUE -- c\n", "/* x */ a STARTSWITH 'p'",
	} {
		f.Add(s)
	}
	envs := []filter.Properties{
		props(),
		props("a", "3", "b", "x", "c", "xyz", "TAGS", "A"),
		props("a", "abc", "b", "3.5", "c", "", "TAGS", "B"),
		props("a", "true", "b", "-1e3", "c", "z", "TAGS", "'"),
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := filter.Compile(src)
		if err != nil {
			if _, ok := err.(*filter.SyntaxError); !ok {
				t.Fatalf("%q: error %T is not a *SyntaxError", src, err)
			}
			return
		}
		again, err := filter.Compile(e.String())
		if err != nil {
			t.Fatalf("%q printed as %q does not compile: %v", src, e.String(), err)
		}
		if again.String() != e.String() {
			t.Fatalf("%q: %q reprints as %q", src, e.String(), again.String())
		}
		for _, p := range envs {
			r1, err1 := e.Eval(p)
			r2, err2 := again.Eval(p)
			if r1 != r2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("%q: %v/%v after reprint, was %v/%v", src, r2, err2, r1, err1)
			}
		}
	})
}
