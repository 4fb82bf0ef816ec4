package message

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Seeds also live in testdata/fuzz/<FuzzName>/ and run under plain go test.

func FuzzDecodeRecord(f *testing.F) {
	for _, hosts := range [][2]string{{"10.0.0.1:1", "10.0.0.2:2"}, {"[::1]:1", "10.0.0.2:2"}, {"[2001:db8::1]:9", "[::2]:2"}} {
		rec, err := AppendRecord(nil, sampleExt(hosts[0], hosts[1]))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
		f.Add(rec[:len(rec)-3])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, n, err := DecodeRecord(data)
		v, perr := ParseRecord(data)
		if err != nil {
			if m != nil || n != 0 {
				t.Fatalf("error with result: %v", err)
			}
			if perr == nil && crc32OK(v) {
				t.Fatalf("DecodeRecord failed (%v) but ParseRecord accepted a record with a good CRC", err)
			}
			return
		}
		if perr != nil {
			t.Fatalf("ParseRecord rejected what DecodeRecord accepted: %v", perr)
		}
		if n != int(v.Size) || n > len(data) {
			t.Fatalf("size %d, view %d, input %d", n, v.Size, len(data))
		}
		// Re-encoding the decoded fields with the raw properties gives a
		// record that decodes to the same message.
		again, err := AppendRecordWithProperties(nil, m, v.Properties)
		if err != nil {
			t.Fatal(err)
		}
		m2, n2, err := DecodeRecord(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if n2 != len(again) || m2.Topic != m.Topic || !bytes.Equal(m2.Body, m.Body) ||
			m2.QueueOffset != m.QueueOffset || m2.CommitLogOffset != m.CommitLogOffset ||
			m2.BornHost.Addr() != m.BornHost.Addr().Unmap() || m2.StoreHost.Port() != m.StoreHost.Port() ||
			len(m2.Properties) != len(m.Properties) || m2.OffsetMsgID() != m.OffsetMsgID() {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, m2)
		}
		// Unless a host was an IPv4-mapped IPv6 address (written back in the
		// 4-byte form), the bytes are identical.
		if !m.BornHost.Addr().Is4In6() && !m.StoreHost.Addr().Is4In6() && !bytes.Equal(again, data[:n]) {
			t.Fatalf("re-encoding differs:\n%x\n%x", data[:n], again)
		}
	})
}

func crc32OK(v RecordView) bool {
	rec, err := AppendRecordWithProperties(nil, &MessageExt{Message: Message{Body: v.Body}}, nil)
	return err == nil && binary.BigEndian.Uint32(rec[RecordBodyCRCPos:]) == v.BodyCRC
}

func FuzzDecodeBatch(f *testing.F) {
	body, err := EncodeBatch([]*Message{
		{Flag: 1, Body: []byte("one"), Properties: map[string]string{PropertyTags: "A"}},
		{Body: []byte{}},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(body[:len(body)-1])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := DecodeBatch(data)
		if err != nil {
			if items != nil {
				t.Fatal("items with error")
			}
			return
		}
		// Rebuild the body from the items: identical except magic and CRC.
		var out []byte
		for _, it := range items {
			size := batchFixedLen + len(it.Body) + len(it.Properties)
			out = binary.BigEndian.AppendUint32(out, uint32(size))
			out = append(out, make([]byte, 8)...)
			out = binary.BigEndian.AppendUint32(out, uint32(it.Flag))
			out = binary.BigEndian.AppendUint32(out, uint32(len(it.Body)))
			out = append(out, it.Body...)
			out = binary.BigEndian.AppendUint16(out, uint16(len(it.Properties)))
			out = append(out, it.Properties...)
		}
		if len(out) != len(data) {
			t.Fatalf("rebuilt %d bytes from %d", len(out), len(data))
		}
		for off := 0; off < len(data); {
			size := int(binary.BigEndian.Uint32(data[off:]))
			copy(out[off+4:off+12], data[off+4:off+12])
			off += size
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("rebuilt body differs")
		}
	})
}

func FuzzProperties(f *testing.F) {
	f.Add([]byte("TAGS\x01TagA\x02KEYS\x01k1 k2\x02UNIQ_KEY\x017F000001\x02"))
	f.Add([]byte("a\x01b\x01c\x02\x01v\x02k\x01\x02"))
	f.Add([]byte{})
	f.Add([]byte("TIMER_DELAY_SEC\x0190\x02REPLY_TO_CLIENT\x01c1\x02MSG_TYPE\x01reply\x02DELAY\x013\x02TRAN_MSG\x01true\x02CLUSTER\x01c\x02UNIQ_KEY\x01u\x02UNIQ_KEY\x01v"))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSendProps(t, data)
		m := DecodeProperties(data)
		seen := map[string]bool{}
		forEachProperty(data, func(k, _ []byte) bool { seen[string(k)] = true; return true })
		if len(seen) != len(m) {
			t.Fatalf("DecodeProperties has %d keys, forEachProperty walks %d", len(m), len(seen))
		}
		keys := []string{"TAGS", "missing"}
		for k, v := range m {
			got, ok := LookupProperty(data, k)
			if !ok || string(got) != v {
				t.Fatalf("LookupProperty(%q) = %q, %v; map has %q", k, got, ok, v)
			}
			if len(keys) < 64 {
				keys = append(keys, k)
			}
		}
		vals := make([][]byte, len(keys))
		found := LookupProperties(data, keys, vals)
		for i, k := range keys {
			v, ok := LookupProperty(data, k)
			if ok != (found&(1<<i) != 0) || !bytes.Equal(v, vals[i]) {
				t.Fatalf("LookupProperties[%q] = %q, %v; LookupProperty says %q, %v", k, vals[i], found&(1<<i) != 0, v, ok)
			}
		}
		delete(m, "") // the only decodable pair the encoder refuses
		s, err := EncodeProperties(m)
		if err != nil {
			t.Fatalf("decoded properties do not encode: %v", err)
		}
		back := DecodeProperties([]byte(s))
		if len(back) != len(m) {
			t.Fatalf("round trip: %q -> %q", m, back)
		}
		for k, v := range m {
			if back[k] != v {
				t.Fatalf("round trip of %q: %q != %q", k, back[k], v)
			}
		}
	})
}
