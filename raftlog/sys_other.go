//go:build !linux

package raftlog

import "os"

func datasync(f *os.File) error { return f.Sync() }

func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

func zeroRange(f *os.File, off, n int64) error { return writeZeros(f, off, n) }
