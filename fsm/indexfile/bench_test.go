package indexfile

import (
	"fmt"
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
