package raftlog

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// FuzzDecodeRecord: arbitrary bytes never panic the record decoder, and
// whatever it accepts re-encodes to the same bytes.
func FuzzDecodeRecord(f *testing.F) {
	for i, l := range []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("hello")},
		{Index: 7, Term: 3, Type: raft.LogConfiguration, Data: []byte{1, 2, 3}, Extensions: []byte("ext")},
		{Index: 9, Term: 4, Type: raft.LogNoop, AppendedAt: time.Unix(1700000000, 5)},
		{Index: 1 << 40, Term: 1 << 33, Type: raft.LogBarrier},
	} {
		rec := appendRecord(nil, l, uint64(i))
		f.Add(rec)
		f.Add(rec[:len(rec)-1])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var l raft.Log
		if err := decodeRecord(b, &l); err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		h, _ := parseHeader(b, int64(len(b)))
		again := appendRecord(nil, &l, uint64(h.batchOff))
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
		}
	})
}

// FuzzRecover: arbitrary bytes written after the end of a valid log (a torn
// or garbage tail) never panic recovery; it either opens with every
// original entry intact or fails with ErrCorrupt.
func FuzzRecover(f *testing.F) {
	rec := appendRecord(nil, &raft.Log{Index: 6, Term: 1, Data: []byte("valid next record")}, 0)
	f.Add([]byte{0xDE, 0xAD}, uint16(0))
	f.Add(rec, uint16(0))
	f.Add(rec[:20], uint16(3))
	f.Add(append(append([]byte{}, rec...), rec...), uint16(100))
	f.Add(bytes.Repeat([]byte{0xff}, 300), uint16(7))
	// One valid log, copied for every input (building it costs fsyncs).
	tmpl := f.TempDir()
	tcfg := testConfig(tmpl)
	l, err := Open(tcfg)
	if err != nil {
		f.Fatal(err)
	}
	all := genLogs(rand.New(rand.NewSource(1)), 1, 1, 5, 200)
	if err := l.StoreLogs(all); err != nil {
		f.Fatal(err)
	}
	end := l.Stats().WriteOffset
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tail []byte, gap uint16) {
		dir := t.TempDir()
		copyDir(t, tmpl, dir)
		cfg := tcfg
		cfg.Dir = dir
		base := end / cfg.SegmentSize * cfg.SegmentSize
		off := end + int64(gap%512)
		if n := base + cfg.SegmentSize - off; int64(len(tail)) > n {
			if n <= 0 {
				return
			}
			tail = tail[:n]
		}
		fd, err := os.OpenFile(segPath(cfg, base), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fd.WriteAt(tail, off-base); err != nil {
			t.Fatal(err)
		}
		fd.Close()

		l, err := Open(cfg)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("open: %v", err)
			}
			return
		}
		defer l.Close()
		last, _ := l.LastIndex()
		if last < 5 {
			t.Fatalf("lost entries: last %d", last)
		}
		for _, want := range all {
			var got raft.Log
			if err := l.GetLog(want.Index, &got); err != nil {
				t.Fatalf("GetLog(%d): %v", want.Index, err)
			}
			if !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("entry %d changed", want.Index)
			}
		}
	})
}
