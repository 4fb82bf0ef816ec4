package raftlog

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// StableStore keeps raft's term and vote (raft.StableStore) in a small
// BoltDB file, fsynced on every write. It holds no log entries: those live
// only in the CommitLog.
type StableStore struct {
	*raftboltdb.BoltStore
}

var _ raft.StableStore = (*StableStore)(nil)

// OpenStableStore opens Dir/raftlog/stable.db.
func OpenStableStore(dir string) (*StableStore, error) {
	p := filepath.Join(dir, "raftlog")
	if err := os.MkdirAll(p, 0o755); err != nil {
		return nil, fmt.Errorf("raftlog: %w", err)
	}
	s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(p, "stable.db")})
	if err != nil {
		return nil, fmt.Errorf("raftlog: open stable store: %w", err)
	}
	return &StableStore{s}, nil
}
