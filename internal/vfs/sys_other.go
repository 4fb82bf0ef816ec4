//go:build !linux

package vfs

func datasync(f File) error { return f.Sync() }

func allocate(f File, size int64) error { return f.Truncate(size) }

func punchHole(f File, off, n int64) error { return WriteZeros(f, off, n) }

func writevAt(f File, bufs [][]byte, off int64) error { return writeJoined(f, bufs, off) }
