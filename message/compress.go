package message

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
)

// CompressThreshold is the body size from which the official client
// compresses non-batch messages (and sets SysFlagCompressed).
const CompressThreshold = 4096

// Compress zlib-compresses body at level (zlib.DefaultCompression,
// BestSpeed..BestCompression), the format clients inflate when a record
// has SysFlagCompressed.
func Compress(body []byte, level int) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(body)/2 + 64)
	w, err := zlib.NewWriterLevel(&buf, level)
	if err != nil {
		return nil, fmt.Errorf("message: compress: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return nil, fmt.Errorf("message: compress: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("message: compress: %w", err)
	}
	return buf.Bytes(), nil
}

// Decompress inflates a zlib body, refusing to produce more than maxSize
// bytes (a guard against zip bombs: a few KiB can inflate to gigabytes).
func Decompress(body []byte, maxSize int) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("message: decompress: %w", err)
	}
	defer r.Close()
	var buf bytes.Buffer
	buf.Grow(min(2*len(body)+64, maxSize+1))
	n, err := io.Copy(&buf, io.LimitReader(r, int64(maxSize)+1))
	if err != nil {
		return nil, fmt.Errorf("message: decompress: %w", err)
	}
	if n > int64(maxSize) {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrDecompressedTooLarge, maxSize)
	}
	return buf.Bytes(), nil
}
