//go:build unix

package weights

import (
	"os"
	"syscall"
)

// mapFile maps the whole file copy-on-write (MAP_PRIVATE, read and write):
// pages are read lazily from the file, and a caller that writes into a
// returned slice changes only its private copy, never the file. It
// returns ok=false when the file cannot be mapped (empty, too large, or a
// file system without mmap); the caller then reads it instead.
func mapFile(f *os.File, size int64) (data []byte, unmap func() error, ok bool) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, false
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, false
	}
	return b, func() error { return syscall.Munmap(b) }, true
}
