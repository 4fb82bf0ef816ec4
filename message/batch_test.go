package message

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBatch_RoundTrip(t *testing.T) {
	msgs := []*Message{
		{Topic: "T", Flag: 1, Body: []byte("one"), Properties: map[string]string{PropertyTags: "A", PropertyKeys: "k"}},
		{Topic: "T", Body: nil},
		{Topic: "T", Flag: -1, Body: bytes.Repeat([]byte{0xAB}, 5000), Properties: map[string]string{PropertyUniqKey: "X"}},
	}
	body, err := EncodeBatch(msgs)
	require.NoError(t, err)
	items, err := DecodeBatch(body)
	require.NoError(t, err)
	require.Len(t, items, len(msgs))
	for i, it := range items {
		require.Equal(t, msgs[i].Flag, it.Flag)
		require.Equal(t, string(msgs[i].Body), string(it.Body))
		if len(msgs[i].Properties) == 0 {
			require.Empty(t, it.Properties)
		} else {
			require.Equal(t, msgs[i].Properties, it.DecodeProperties())
		}
	}
	v, ok := items[0].Property(PropertyTags)
	require.True(t, ok)
	require.Equal(t, "A", string(v))
	// Items alias the input and cannot grow into the next item.
	require.Equal(t, len(items[0].Body), cap(items[0].Body))
}

func TestBatch_Layout(t *testing.T) {
	body, err := EncodeBatch([]*Message{{Flag: 5, Body: []byte("ab"), Properties: map[string]string{"k": "v"}}})
	require.NoError(t, err)
	want := []byte{
		0, 0, 0, 28, // TOTALSIZE = 22 + 2 + 4
		0, 0, 0, 0, // MAGIC
		0, 0, 0, 0, // CRC
		0, 0, 0, 5, // FLAG
		0, 0, 0, 2, 'a', 'b', // BODY
		0, 4, 'k', 1, 'v', 2, // PROPERTIES
	}
	require.Equal(t, want, body)
}

func TestBatch_DecodeErrors(t *testing.T) {
	good, err := EncodeBatch([]*Message{{Body: []byte("abc"), Properties: map[string]string{"k": "v"}}, {Body: []byte("d")}})
	require.NoError(t, err)
	mutate := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	cases := []struct {
		name  string
		in    []byte
		want  error
		field string
	}{
		{"empty", nil, ErrTruncated, "TOTALSIZE"},
		{"short", good[:10], ErrTruncated, "TOTALSIZE"},
		{"second item cut", good[:len(good)-1], ErrTruncated, "TOTALSIZE"},
		{"trailing garbage", append(bytes.Clone(good), 1), ErrTruncated, "TOTALSIZE"},
		{"size too small", mutate(func(b []byte) { binary.BigEndian.PutUint32(b, 21) }), ErrCorrupt, "TOTALSIZE"},
		{"negative size", mutate(func(b []byte) { binary.BigEndian.PutUint32(b, 0x80000000) }), ErrCorrupt, "TOTALSIZE"},
		{"body beyond item", mutate(func(b []byte) { binary.BigEndian.PutUint32(b[16:], 100) }), ErrCorrupt, "BODYLEN"},
		{"negative body", mutate(func(b []byte) { binary.BigEndian.PutUint32(b[16:], 0xFFFFFFFF) }), ErrCorrupt, "BODYLEN"},
		{"props beyond item", mutate(func(b []byte) { binary.BigEndian.PutUint16(b[23:], 50) }), ErrCorrupt, "TOTALSIZE"},
		{"negative props", mutate(func(b []byte) { binary.BigEndian.PutUint16(b[23:], 0x8000) }), ErrCorrupt, "PROPLEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeBatch(tc.in)
			require.ErrorIs(t, err, tc.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.Equal(t, tc.field, de.Field, err.Error())
		})
	}
}

func TestBatch_EncodeErrors(t *testing.T) {
	_, err := EncodeBatch([]*Message{{Properties: map[string]string{"k": string(make([]byte, MaxPropertiesLen))}}})
	require.ErrorIs(t, err, ErrPropertiesTooLong)
	_, err = EncodeBatch([]*Message{{}, {Properties: map[string]string{"": "x"}}})
	require.ErrorIs(t, err, ErrInvalidProperty)
	require.Contains(t, err.Error(), "batch message 1")
}
