package indexfile

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIndex_PutQueryRollRewind(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SlotCount: 7, MaxEntries: 10}
	s, err := Open(dir, cfg)
	require.NoError(t, err)
	ts := int64(1_700_000_000_000)
	for i := 0; i < 25; i++ { // three files
		require.NoError(t, s.Put(Key("T", fmt.Sprintf("k%d", i%5)), int64(i*100), ts+int64(i)*1000))
	}
	got := s.Query(Key("T", "k1"), 10, 0, 1<<62)
	require.Equal(t, []int64{2100, 1600, 1100, 600, 100}, got, "newest first, across files")
	require.Len(t, s.Query(Key("T", "k1"), 2, 0, 1<<62), 2)
	require.Equal(t, []int64{2100, 1600}, s.Query(Key("T", "k1"), 10, ts+15000, ts+30000), "time range")
	require.Empty(t, s.Query(Key("U", "k1"), 10, 0, 1<<62))

	st := s.State()
	for i := 25; i < 28; i++ {
		require.NoError(t, s.Put(Key("T", "late"), int64(i*100), ts+int64(i)*1000))
	}
	require.Len(t, s.Query(Key("T", "late"), 10, 0, 1<<62), 3)
	require.NoError(t, s.Rewind(st))
	require.Empty(t, s.Query(Key("T", "late"), 10, 0, 1<<62))
	require.Len(t, s.Query(Key("T", "k1"), 10, 0, 1<<62), 5)
	require.NoError(t, s.DeleteBelow(1500)) // whole files only: [1000,1900] stays
	require.Equal(t, []int64{2100, 1600, 1100}, s.Query(Key("T", "k1"), 10, 0, 1<<62))
	require.NoError(t, s.DeleteBelow(2000))
	require.Equal(t, []int64{2100}, s.Query(Key("T", "k1"), 10, 0, 1<<62))
	require.NoError(t, s.Close())

	s, err = Open(dir, cfg)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, []int64{2100}, s.Query(Key("T", "k1"), 10, 0, 1<<62))
}

// KeyHashOf hashes exactly what KeyHash(Key(...)) does.
func TestKeyHashOf(t *testing.T) {
	for _, tc := range [][2]string{{"T", "k"}, {"", ""}, {"TopicTest", "C0A8000712340000000000d2c2a1b00001"}, {"中文", "键\x00\xff"}} {
		require.Equal(t, KeyHash(Key(tc[0], tc[1])), KeyHashOf(tc[0], []byte(tc[1])), tc)
	}
}

func TestPageSet_AddEachInOrder(t *testing.T) {
	x := &file{cfg: Config{SlotCount: 5_000_000}}
	s := x.newPageSet()
	last := int((x.slotOff(x.cfg.SlotCount) - 1) / pageSize)
	for _, p := range []int{last, 64, 0, 63, 64, 1} {
		s.add(p)
	}
	var got []int
	require.NoError(t, s.each(func(p int) error { got = append(got, p); return nil }))
	require.Equal(t, []int{0, 1, 63, 64, last}, got)

	stop := fmt.Errorf("stop")
	got = nil
	require.ErrorIs(t, s.each(func(p int) error { got = append(got, p); return stop }), stop)
	require.Equal(t, []int{0}, got)

	clear(s)
	require.NoError(t, s.each(func(int) error { t.Fatal("cleared set has pages"); return nil }))
}

// TestIndex_SyncThenCrashRebuildsSlots: Sync (the checkpoint's) writes the
// entries and a header marked not clean but not the slot pages, and fsyncs
// outside the lock; a store opened from those files after a crash (no
// Close) rebuilds its slots and finds every key synced, also over a file
// that was closed cleanly before, whose slot pages on disk are stale.
func TestIndex_SyncThenCrashRebuildsSlots(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SlotCount: 1000, MaxEntries: 10_000}
	ts := int64(1_700_000_000_000)
	s, err := Open(dir, cfg)
	require.NoError(t, err)
	for i := 0; i < 50; i++ {
		require.NoError(t, s.Put(Key("T", fmt.Sprintf("k%d", i%10)), int64(i*100), ts+int64(i)))
	}
	require.NoError(t, s.Close()) // clean: slot pages and a clean header on disk

	s, err = Open(dir, cfg)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { // checkpoints while applying
		var err error
		for i := 0; i < 20 && err == nil; i++ {
			err = s.Sync()
		}
		done <- err
	}()
	for i := 50; i < 250; i++ {
		require.NoError(t, s.Put(Key("T", fmt.Sprintf("k%d", i%10)), int64(i*100), ts+int64(i)))
	}
	require.NoError(t, <-done)
	require.NoError(t, s.Sync())

	crashed, err := Open(dir, cfg) // s is never closed: a crash
	require.NoError(t, err)
	defer crashed.Close()
	got := crashed.Query(Key("T", "k3"), 100, 0, 1<<62)
	require.Len(t, got, 25)
	require.Equal(t, int64(24300), got[0], "newest first, from after the reopen")
	require.Equal(t, int64(300), got[len(got)-1])
}

// PutHashes, across file rolls, leaves what PutHash of each entry does.
func TestIndex_PutHashesMatchesPutHash(t *testing.T) {
	cfg := Config{SlotCount: 7, MaxEntries: 10}
	one, err := Open(t.TempDir(), cfg)
	require.NoError(t, err)
	defer one.Close()
	batch, err := Open(t.TempDir(), cfg)
	require.NoError(t, err)
	defer batch.Close()
	ts := int64(1_700_000_000_000)
	var es []Entry
	for i := 0; i < 37; i++ { // four files, batches that straddle them
		e := Entry{Hash: KeyHash(Key("T", fmt.Sprintf("k%d", i%6))), Phys: int64(i * 100), StoreTS: ts + int64(i)*1000}
		require.NoError(t, one.PutHash(e.Hash, e.Phys, e.StoreTS))
		if es = append(es, e); len(es) == 8 || i == 36 {
			failed, err := batch.PutHashes(es)
			require.NoError(t, err)
			require.Zero(t, failed)
			es = es[:0]
		}
	}
	require.Equal(t, one.State(), batch.State())
	for k := 0; k < 6; k++ {
		key := Key("T", fmt.Sprintf("k%d", k))
		require.Equal(t, one.Query(key, 100, 0, 1<<62), batch.Query(key, 100, 0, 1<<62), key)
	}
	failed, err := batch.PutHashes(nil)
	require.NoError(t, err)
	require.Zero(t, failed)
}
