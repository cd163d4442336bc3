//go:build unix

package weights

import (
	"os"
	"syscall"
	"unsafe"
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

// dropPages tells the kernel that the whole pages inside b (a part of a
// mapping made by mapFile) are not needed now (madvise MADV_DONTNEED). For a
// private file mapping that was never written the pages are read from the
// file again if touched, so this frees memory and changes no value.
func dropPages(b []byte) {
	page := os.Getpagesize()
	if len(b) < page {
		return
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := int((uintptr(page) - start%uintptr(page)) % uintptr(page))
	hi := lo + (len(b)-lo)/page*page
	if hi-lo < page {
		return
	}
	_ = syscall.Madvise(b[lo:hi], syscall.MADV_DONTNEED)
}
