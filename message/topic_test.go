package message

import (
	"bytes"
	"compress/zlib"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTagsHashCode(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{"", 0},
		{"a", 97},
		{"TagA", 2598919}, // captured from the official client's heartbeat codeSet
		{"*", 42},
		{"中", 0x4E2D},
		{"😀", 31*0xD83D + 0xDE00}, // surrogate pair, as Java sees it
		{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", javaHash("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, TagsHashCode(tc.in), tc.in)
	}
	require.Equal(t, int64(-862545276), TagsHashCode("Hello World"), "int32 overflow wraps (Java value)")
	require.Equal(t, int64(1794106052), TagsHashCode("hello world"))
}

// javaHash is an independent int32 reference for ASCII input.
func javaHash(s string) int64 {
	var h int32
	for i := 0; i < len(s); i++ {
		h = h*31 + int32(s[i])
	}
	return int64(h)
}

func TestValidateTopic(t *testing.T) {
	for _, ok := range []string{"T", "TopicTest", "%RETRY%group", "%DLQ%g", "ns%topic", "a|b", "a_b-c9", strings.Repeat("x", 127)} {
		require.NoError(t, ValidateTopic(ok), ok)
	}
	cases := map[string]string{
		"":                       "blank",
		"   ":                    "blank",
		"a b":                    `contains ' '`,
		"topic.name":             `contains '.'`,
		"主题":                     "allowed characters",
		strings.Repeat("x", 128): "longer than the maximum 127",
	}
	for in, msg := range cases {
		err := ValidateTopic(in)
		require.ErrorIs(t, err, ErrInvalidTopic, in)
		require.Contains(t, err.Error(), msg)
	}
	require.NoError(t, ValidateGroup(strings.Repeat("g", 255)))
	require.ErrorIs(t, ValidateGroup(strings.Repeat("g", 256)), ErrInvalidTopic)

	require.ErrorIs(t, ValidateSendTopic(ScheduleTopic), ErrInvalidTopic)
	require.NoError(t, ValidateSendTopic("Normal"))
	require.True(t, IsSystemTopic(AutoCreateTopicKey))
	require.True(t, IsSystemTopic("rmq_sys_anything"))
	require.False(t, IsSystemTopic("orders"))
	require.Equal(t, "%RETRY%g", RetryTopic("g"))
	require.Equal(t, "%DLQ%g", DLQTopic("g"))
	require.True(t, IsRetryTopic(RetryTopic("g")))
	require.True(t, IsDLQTopic(DLQTopic("g")))
}

func TestCompress(t *testing.T) {
	body := bytes.Repeat([]byte("raftmq "), 2000)
	c, err := Compress(body, zlib.BestSpeed)
	require.NoError(t, err)
	require.Less(t, len(c), len(body)/10)
	out, err := Decompress(c, len(body))
	require.NoError(t, err)
	require.Equal(t, body, out)

	_, err = Decompress(c, len(body)-1)
	require.ErrorIs(t, err, ErrDecompressedTooLarge)

	_, err = Decompress([]byte("not zlib"), 100)
	require.Error(t, err)
	_, err = Decompress(c[:len(c)/2], len(body))
	require.Error(t, err)

	_, err = Compress(body, 42)
	require.Error(t, err)

	// A bomb: 64 MiB of zeros compresses to ~64 KiB; the limit stops it early.
	bomb, err := Compress(make([]byte, 64<<20), zlib.BestCompression)
	require.NoError(t, err)
	_, err = Decompress(bomb, 1<<20)
	require.ErrorIs(t, err, ErrDecompressedTooLarge)
}
