//go:build !unix

package weights

import "os"

// mapFile is not available on this platform: the caller reads the file.
func mapFile(f *os.File, size int64) (data []byte, unmap func() error, ok bool) {
	return nil, nil, false
}

// dropPages does nothing where files are not mapped.
func dropPages(b []byte) {}
