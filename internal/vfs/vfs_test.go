package vfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// WritevAt writes more buffers than one pwritev takes, empty ones among
// them, in order, at the offset; FaultFS's files the same.
func TestWritevAt(t *testing.T) {
	for _, fsys := range []FS{Default, NewFaultFS(Default)} {
		path := filepath.Join(t.TempDir(), "f")
		f, err := fsys.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		require.NoError(t, err)
		var bufs [][]byte
		var want []byte
		for i := 0; i < 2*iovMax+7; i++ {
			b := bytes.Repeat([]byte{byte(i)}, i%5) // i%5 == 0: empty
			bufs = append(bufs, b)
			want = append(want, b...)
		}
		require.NoError(t, WritevAt(f, bufs, 100))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, append(make([]byte, 100), want...), got)
		require.NoError(t, WritevAt(f, nil, 0))
		require.NoError(t, f.Close())
	}
}
