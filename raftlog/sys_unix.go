package raftlog

import (
	"github.com/raftmq/raftmq/internal/vfs"

	"golang.org/x/sys/unix"
)

// mmapFile maps size bytes of f read-only and shared (writes use pwrite).
func mmapFile(f vfs.File, size int64) ([]byte, error) {
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
}

func munmap(b []byte) error { return unix.Munmap(b) }

// diskSpace reads the size and available space of the filesystem holding
// path.
func diskSpace(path string) (DiskSpace, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return DiskSpace{}, err
	}
	return DiskSpace{Total: int64(st.Blocks) * int64(st.Bsize), Avail: int64(st.Bavail) * int64(st.Bsize)}, nil
}
