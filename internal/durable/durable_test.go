package durable

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWriteFile_ConcurrentWritersNeverMix(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, WriteFile(p, []byte(fmt.Sprintf("content-%02d", i)), 0o644))
		}()
	}
	wg.Wait()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Regexp(t, `^content-\d\d$`, string(b))
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, ents, 1, "no temporary file is left")
}
