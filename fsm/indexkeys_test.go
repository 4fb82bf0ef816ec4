package fsm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// nextField splits KEYS as strings.Fields does, whitespace of every kind
// and invalid UTF-8 included.
func TestNextField(t *testing.T) {
	for _, s := range []string{"", " ", "a", " a ", "a b  c", "\ta\nb\v\fc\r", "k1\u00a0k2\u0085k3\u2003k4", "x\xffy z\xc3",
		"\u3000全角\u3000", "  lead", "trail  ", "one"} {
		var got []string
		for b := []byte(s); len(b) > 0; {
			var f []byte
			f, b = nextField(b)
			if len(f) > 0 {
				got = append(got, string(f))
			}
		}
		want := strings.Fields(s)
		if len(want) == 0 {
			want = nil
		}
		require.Equal(t, want, got, "%q", s)
	}
}
