package group

import (
	"io"

	"github.com/hashicorp/raft"
)

// indexedStore wraps raft's snapshot store so that each sink knows the raft
// index of its snapshot (fsm.IndexedSink): the FSM describes its state at
// exactly that index, barriers and no-ops included.
type indexedStore struct{ raft.SnapshotStore }

func (s indexedStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.SnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	return &indexedSink{SnapshotSink: sink, index: index}, nil
}

func (s indexedStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	return s.SnapshotStore.Open(id)
}

type indexedSink struct {
	raft.SnapshotSink
	index uint64
}

func (s *indexedSink) Index() uint64 { return s.index }
