package main

import (
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStatusLine_QuietWhenNotATerminal: progress goes to terminals only, so
// scripts reading a pipe get the results and nothing else.
func TestStatusLine_QuietWhenNotATerminal(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	sl := newStatusLine(w)
	require.False(t, sl.tty)
	sl.set("resetting %d of %d", 1, 2)
	sl.clear()
	require.NoError(t, w.Close())
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Empty(t, out)
}
