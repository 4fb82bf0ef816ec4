package transport

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"testing"
)

// fuzzMaxFrame keeps allocations bounded: no frame larger than this is
// ever buffered, whatever its length word claims.
const fuzzMaxFrame = 1 << 20

// chunkReader returns the stream in chunks whose sizes cycle through sizes.
type chunkReader struct {
	b     []byte
	sizes []byte
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := 1
	if len(r.sizes) > 0 {
		n = int(r.sizes[r.i%len(r.sizes)])%17 + 1
		r.i++
	}
	n = min(n, len(p), len(r.b))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

func sameCommand(a, b *Command) bool {
	return a.Code == b.Code && a.Language == b.Language && a.Version == b.Version && a.Opaque == b.Opaque &&
		a.Flag == b.Flag && a.Remark == b.Remark && maps.Equal(a.Fields(), b.Fields()) && bytes.Equal(a.Body, b.Body)
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(rawFrame(SerializeJSON, []byte(`{"code":105,"language":"GO","version":317,"opaque":1,"flag":0,"remark":"","extFields":{"topic":"CapTopic"}}`), nil), []byte{3})
	f.Add(pullRequestFrame(5, 1234), []byte{1, 7, 2})
	resp, _ := AppendFrame(nil, &Command{Code: 0, Flag: 1, Opaque: 3, Remark: "ok", ExtFields: map[string]string{"msgId": "X", "queueId": "1"}, Body: []byte("body")}, SerializeRocketMQ)
	f.Add(append(resp, pullRequestFrame(6, 1)...), []byte{16})
	f.Add([]byte{0, 0, 0, 4, 0, 0, 0, 0}, []byte{})
	f.Add(rawFrame(SerializeJSON, []byte(`{"extFields":{"a":1,"b":true,"c":null},"remark":"\ud83d\ude00"}`), nil), []byte{5})
	f.Fuzz(func(t *testing.T, stream, chunks []byte) {
		// Whole-buffer decoding.
		var whole []*Command
		var wholeErr error
		for rest := stream; len(rest) > 0; {
			c := &Command{}
			n, err := DecodeFrame(rest, c, fuzzMaxFrame)
			if err != nil {
				wholeErr = err
				break
			}
			if n <= 0 || n > len(rest) {
				t.Fatalf("DecodeFrame consumed %d of %d", n, len(rest))
			}
			whole = append(whole, c)
			rest = rest[n:]
		}
		if wholeErr != nil {
			var fe *FrameError
			if !errors.As(wholeErr, &fe) {
				t.Fatalf("untyped error %T: %v", wholeErr, wholeErr)
			}
		}

		// The same bytes in chunks through the stream reader, reusing one
		// pooled Command: same frames, then a matching error.
		fr := NewFrameReader(&chunkReader{b: stream, sizes: chunks}, fuzzMaxFrame)
		c := getCommand()
		defer putCommand(c)
		for i := 0; ; i++ {
			err := fr.ReadFrame(c)
			if err != nil {
				switch {
				case i < len(whole):
					t.Fatalf("stream failed at frame %d (%v); buffer decoded %d", i, err, len(whole))
				case wholeErr == nil && err != io.EOF:
					t.Fatalf("stream error %v after all frames", err)
				case errors.Is(wholeErr, ErrIncompleteFrame) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
					t.Fatalf("truncated frame: stream says %v", err)
				case errors.Is(wholeErr, ErrMalformedFrame) && !errors.Is(err, ErrMalformedFrame),
					errors.Is(wholeErr, ErrFrameTooLarge) && !errors.Is(err, ErrFrameTooLarge):
					t.Fatalf("buffer error %v, stream error %v", wholeErr, err)
				}
				break
			}
			if i >= len(whole) || !sameCommand(c, whole[i]) {
				t.Fatalf("stream frame %d differs: %v", i, c)
			}
		}

		// Re-encoding is stable in both header types.
		for _, cmd := range whole {
			for _, st := range []SerializeType{SerializeJSON, SerializeRocketMQ} {
				b1, err := AppendFrame(nil, cmd, st)
				if err != nil {
					if st == SerializeRocketMQ && errors.Is(err, ErrEncode) {
						continue // an ext key longer than the binary header allows
					}
					t.Fatalf("re-encode %v: %v", st, err)
				}
				var c1, c2 Command
				if _, err := DecodeFrame(b1, &c1, 0); err != nil {
					t.Fatalf("decode own %v frame: %v\n%q", st, err, b1)
				}
				b2, err := AppendFrame(nil, &c1, st)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := DecodeFrame(b2, &c2, 0); err != nil {
					t.Fatal(err)
				}
				if !sameCommand(&c1, &c2) || !bytes.Equal(b1, b2) {
					t.Fatalf("%v encoding not stable:\n%q\n%q", st, b1, b2)
				}
			}
		}
	})
}
