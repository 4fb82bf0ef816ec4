package consumequeue

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTopicDir_StaysUnderRoot(t *testing.T) {
	root := t.TempDir()
	for _, bad := range []string{"", ".", "..", "../x", "a/b", "/abs", "a\x00b", "%DLQ%/../..", "a b", string(make([]byte, 256))} {
		_, err := TopicDir(root, bad)
		require.True(t, errors.Is(err, ErrInvalidName), "topic %q: %v", bad, err)
		require.True(t, errors.Is(RemoveTopic(root, bad), ErrInvalidName), "remove %q", bad)
		_, err = Open(root, bad, 0, 16)
		require.True(t, errors.Is(err, ErrInvalidName), "open %q", bad)
	}
	for _, ok := range []string{"T", "%RETRY%g", "%DLQ%g", "a|b", "A-b_c"} {
		d, err := TopicDir(root, ok)
		require.NoError(t, err)
		require.Equal(t, filepath.Join(root, ok), d)
	}
	_, err := QueueDir(root, "T", -1)
	require.True(t, errors.Is(err, ErrInvalidName))
}
