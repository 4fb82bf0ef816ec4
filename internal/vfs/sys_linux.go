package vfs

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

func writevAt(f File, bufs [][]byte, off int64) error {
	fd := int(f.Fd())
	for {
		for len(bufs) > 0 && len(bufs[0]) == 0 {
			bufs = bufs[1:]
		}
		if len(bufs) == 0 {
			return nil
		}
		n, err := unix.Pwritev(fd, bufs[:min(len(bufs), iovMax)], off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.Name(), err)
		}
		if n == 0 {
			return fmt.Errorf("write %s: %w", f.Name(), io.ErrShortWrite)
		}
		off += int64(n)
		for n > 0 { // a short write: go on after what was written
			if c := min(n, len(bufs[0])); c < len(bufs[0]) {
				bufs[0], n = bufs[0][c:], 0
			} else {
				bufs, n = bufs[1:], n-c
			}
		}
	}
}

func datasync(f File) error { return unix.Fdatasync(int(f.Fd())) }

func allocate(f File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return f.Truncate(size)
	}
	return err
}

func punchHole(f File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	return WriteZeros(f, off, n)
}
