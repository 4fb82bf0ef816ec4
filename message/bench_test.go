package message

import (
	"bytes"
	"testing"
)

// benchExt is a 1 KiB message with typical properties.
func benchExt() *MessageExt {
	m := sampleExt("10.0.0.1:50000", "10.0.0.2:10911")
	m.Body = bytes.Repeat([]byte("x"), 1024)
	return m
}

func BenchmarkAppendRecord(b *testing.B) {
	m := benchExt()
	buf := make([]byte, 0, 2048)
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(m.Body)))
		for b.Loop() {
			buf, _ = AppendRecord(buf[:0], m)
		}
	})
	props, _ := AppendProperties(nil, m.Properties)
	b.Run("raw-props", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(m.Body)))
		for b.Loop() {
			buf, _ = AppendRecordWithProperties(buf[:0], m, props)
		}
	})
}

func BenchmarkDecodeRecord(b *testing.B) {
	rec, _ := AppendRecord(nil, benchExt())
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		if _, _, err := DecodeRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRecord(b *testing.B) {
	rec, _ := AppendRecord(nil, benchExt())
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		v, err := ParseRecord(rec)
		if err != nil {
			b.Fatal(err)
		}
		if _, ok := LookupProperty(v.Properties, PropertyTags); !ok {
			b.Fatal("no tags")
		}
	}
}

func BenchmarkDecodeBatch(b *testing.B) {
	msgs := make([]*Message, 32)
	for i := range msgs {
		msgs[i] = &benchExt().Message
	}
	body, _ := EncodeBatch(msgs)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeBatch(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUniqKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewUniqKey()
	}
}
