package indexfile

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func BenchmarkPut(b *testing.B) {
	s, err := Open(b.TempDir(), DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("Topic#key-%d", i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Put(keys[i%len(keys)]+fmt.Sprint(i), int64(i)*100, 1_700_000_000_000+int64(i))
	}
}

// BenchmarkPutHashes indexes entries of 256 messages with random key
// hashes (one key each), as the FSM does, against the default 5,000,000
// slots: each put's slot is a cache and TLB miss.
func BenchmarkPutHashes(b *testing.B) {
	for _, c := range []struct {
		name  string
		batch bool
	}{{"one-by-one", false}, {"batch", true}} {
		b.Run(c.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), DefaultConfig())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			es := make([]Entry, 256)
			var phys int64
			b.ResetTimer()
			for i := 0; i < b.N; i += len(es) {
				for j := range es {
					phys += 1100
					es[j] = Entry{Hash: rng.Uint32(), Phys: phys, StoreTS: 1_700_000_000_000 + phys/1000}
				}
				if c.batch {
					if _, err := s.PutHashes(es); err != nil {
						b.Fatal(err)
					}
					continue
				}
				for _, e := range es {
					if err := s.PutHash(e.Hash, e.Phys, e.StoreTS); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
