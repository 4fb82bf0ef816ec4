package message

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProperties_EncodeSortedAndRoundTrip(t *testing.T) {
	props := map[string]string{"UNIQ_KEY": "abc", "TAGS": "TagA", "KEYS": "k1 k2", "E": ""}
	s, err := EncodeProperties(props)
	require.NoError(t, err)
	require.Equal(t, "E\x01\x02KEYS\x01k1 k2\x02TAGS\x01TagA\x02UNIQ_KEY\x01abc\x02", s)
	require.Equal(t, len(s), PropertiesLen(props))
	require.Equal(t, props, DecodeProperties([]byte(s)))

	empty, err := EncodeProperties(nil)
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestProperties_Decode(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty", "", nil},
		{"only separators", "\x02\x02\x02", nil},
		{"lone name separator is an empty pair", "\x02\x01\x02", map[string]string{"": ""}},
		{"no trailing separator", "a\x01b", map[string]string{"a": "b"}},
		{"three parts dropped", "a\x01b\x01c\x02d\x01e\x02", map[string]string{"d": "e"}},
		{"no value separator dropped", "abc\x02d\x01e\x02", map[string]string{"d": "e"}},
		{"empty value kept like the go client", "a\x01\x02", map[string]string{"a": ""}},
		{"empty key kept like the go client", "\x01v\x02", map[string]string{"": "v"}},
		{"last duplicate wins", "a\x011\x02a\x012\x02", map[string]string{"a": "2"}},
		{"utf8", "标签\x01值\x02", map[string]string{"标签": "值"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, DecodeProperties([]byte(tc.in)))
			for k, v := range tc.want {
				got, ok := LookupProperty([]byte(tc.in), k)
				require.True(t, ok)
				require.Equal(t, v, string(got))
			}
			_, ok := LookupProperty([]byte(tc.in), "missing")
			require.False(t, ok)
			keys := []string{"missing"}
			for k := range tc.want {
				keys = append(keys, k)
			}
			vals := make([][]byte, len(keys))
			found := LookupProperties([]byte(tc.in), keys, vals)
			for i, k := range keys {
				v, ok := LookupProperty([]byte(tc.in), k)
				require.Equal(t, ok, found&(1<<i) != 0, k)
				require.Equal(t, v, vals[i], k)
			}
		})
	}
}

func TestProperties_EncodeRejects(t *testing.T) {
	for _, props := range []map[string]string{
		{"": "v"},
		{"a\x01": "v"},
		{"a\x02": "v"},
		{"a": "v\x01"},
		{"a": "v\x02"},
	} {
		_, err := EncodeProperties(props)
		require.ErrorIs(t, err, ErrInvalidProperty, "%q", props)
	}
	_, err := AppendProperty(nil, "k", "a\x02")
	require.ErrorIs(t, err, ErrInvalidProperty)
	b, err := AppendProperty([]byte("A\x01B\x02"), "k", "v")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"A": "B", "k": "v"}, DecodeProperties(b))
}

func TestProperties_ManyKeys(t *testing.T) {
	props := map[string]string{}
	for i := range 40 {
		props[strings.Repeat("k", i+1)] = "v"
	}
	s, err := EncodeProperties(props)
	require.NoError(t, err)
	require.Equal(t, props, DecodeProperties([]byte(s)))
	require.True(t, strings.HasPrefix(s, "k\x01v\x02kk\x01"))
}

func TestMessage_Helpers(t *testing.T) {
	var m Message
	require.Empty(t, m.Tags())
	require.Nil(t, m.Keys())
	require.Zero(t, m.DelayLevel())
	m.SetProperty(PropertyTags, "TagA")
	m.SetProperty(PropertyKeys, " k1  k2 ")
	m.SetProperty(PropertyDelayLevel, "3")
	m.SetProperty(PropertyUniqKey, "U")
	require.Equal(t, "TagA", m.Tags())
	require.Equal(t, []string{"k1", "k2"}, m.Keys())
	require.Equal(t, 3, m.DelayLevel())
	require.Equal(t, "U", m.UniqKey())
	require.Equal(t, "TagA", m.GetProperty(PropertyTags))
	m.DeleteProperty(PropertyTags)
	require.Empty(t, m.Tags())
	m.SetProperty(PropertyDelayLevel, "x")
	require.Zero(t, m.DelayLevel())
}
