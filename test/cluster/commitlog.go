package cluster

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// CommitLog record framing (raftlog/record.go): magic 4, size 4, crc 4,
// type 1, flags 1, batchOff 2, ... The CRC and batchOff describe how the
// member's own writes were batched, so they are the only bytes that may
// differ between replicas; a blank marker (magic, gap 4) ends a segment.
const (
	recordMagic = 0x52514C31
	blankMagic  = 0xB1A4CEED
)

// RequireIdenticalCommitLogs checks that every running member holds the
// same CommitLog bytes at every physical offset all of them retain, record
// headers' batch fields aside. It returns the range compared.
func (g *Group) RequireIdenticalCommitLogs(t testing.TB) (from, to int64) {
	t.Helper()
	var nodes []*Node
	to = -1
	for _, n := range g.Nodes {
		if !n.Running() {
			continue
		}
		st, err := g.Status(n)
		if err != nil {
			t.Fatalf("status of %s: %v", n.ID, err)
		}
		from = max(from, st.MinOffset)
		if to < 0 || st.WriteOffset < to {
			to = st.WriteOffset
		}
		nodes = append(nodes, n)
	}
	if to <= from || len(nodes) < 2 {
		t.Fatalf("nothing to compare: [%d,%d) on %d members", from, to, len(nodes))
	}
	ss := g.c.opts.SegmentSize
	var ref []byte
	for i, n := range nodes {
		b, err := readCommitLog(n.Dir, ss, from, to)
		if err != nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
		if i == 0 {
			ref = b
			continue
		}
		for j := range b {
			if b[j] != ref[j] {
				t.Fatalf("CommitLog byte at offset %d differs between %s and %s", from+int64(j), nodes[0].ID, n.ID)
			}
		}
	}
	return from, to
}

// readCommitLog reads [from, to) of a member's CommitLog, which must start
// at a record, with the batch fields of every record header zeroed.
func readCommitLog(dir string, segSize, from, to int64) ([]byte, error) {
	out := make([]byte, 0, to-from)
	for off := from; off < to; {
		base := off / segSize * segSize
		f, err := os.Open(filepath.Join(dir, "commitlog", fmt.Sprintf("%020d", base)))
		if err != nil {
			return nil, err
		}
		n := min(to, base+segSize) - off
		b := make([]byte, n)
		_, err = f.ReadAt(b, off-base)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read [%d,%d): %w", off, off+n, err)
		}
		out = append(out, b...)
		off += n
	}
	for p := int64(0); p < int64(len(out)); {
		abs := from + p
		segEnd := (abs/segSize+1)*segSize - from
		if segEnd-p < 8 {
			p = segEnd
			continue
		}
		switch binary.BigEndian.Uint32(out[p:]) {
		case recordMagic:
			size := int64(binary.BigEndian.Uint32(out[p+4:]))
			if size < 48 || p+size > segEnd {
				return nil, fmt.Errorf("bad record size %d at %d", size, abs)
			}
			clear(out[p+8 : p+12])
			clear(out[p+14 : p+16])
			p += size
		case blankMagic:
			p = segEnd
		default:
			return nil, fmt.Errorf("no record at offset %d", abs)
		}
	}
	return out, nil
}
