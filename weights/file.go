package weights

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrNotFound is wrapped by the error Float32 returns for a name the file
// does not hold.
var ErrNotFound = errors.New("tensor not found")

// ErrFormat is wrapped by every error about a malformed or unsupported
// file (as opposed to an I/O error).
var ErrFormat = errors.New("invalid weights file")

// ErrClosed is wrapped by the error a read returns once the File has been
// closed: File.Float32, and Tensor.Float32, Ints and Dense of a tensor
// obtained from the File before Close.
var ErrClosed = errors.New("file is closed")

// formatErr builds an error that names the file and, when known, the
// tensor, and wraps ErrFormat.
func formatErr(path, tensor, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if tensor != "" {
		return fmt.Errorf("weights: %s: tensor %q: %s: %w", path, tensor, msg, ErrFormat)
	}
	return fmt.Errorf("weights: %s: %s: %w", path, msg, ErrFormat)
}

// File is an opened safetensors or PyTorch file: its tensors' names,
// dtypes and shapes, with the data left in the file's bytes until asked
// for. A File is safe for concurrent reads. It implements model.Source.
type File struct {
	path   string
	format string // "safetensors" or "pt"
	data   []byte // the whole file
	unmap  func() error
	names  []string // file order
	byName map[string]*Tensor
	meta   map[string]string
	closed bool // set by Close; its tensors then refuse to read data
}

// Open opens a weights file, telling the format by its content: a zip
// archive (PyTorch ≥ 1.6 torch.save) is read as .pt, anything else as
// safetensors. The file is memory-mapped where the system allows it and
// read into memory otherwise. Slices that Float32 and Bytes return without
// copying point into that mapping: keep the File open while they are in
// use.
func Open(path string) (*File, error) { return open(path, "", true) }

// OpenSafetensors opens a safetensors file (see Open).
func OpenSafetensors(path string) (*File, error) { return open(path, "safetensors", true) }

// OpenPT opens a PyTorch state dict saved by torch.save (see Open).
func OpenPT(path string) (*File, error) { return open(path, "pt", true) }

// open reads path as format ("" to detect it), mapping it when useMmap.
func open(path, format string, useMmap bool) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("weights: %s: not a regular file", path)
	}
	var (
		data  []byte
		unmap func() error
		ok    bool
	)
	if useMmap {
		data, unmap, ok = mapFile(f, st.Size())
	}
	if !ok {
		if int64(int(st.Size())) != st.Size() {
			return nil, fmt.Errorf("weights: %s: file too large (%d bytes)", path, st.Size())
		}
		data = make([]byte, st.Size())
		if _, err := io.ReadFull(f, data); err != nil {
			return nil, fmt.Errorf("weights: %s: %w", path, err)
		}
	}
	wf, err := parse(path, data, format)
	if err != nil {
		if unmap != nil {
			unmap()
		}
		return nil, err
	}
	wf.unmap = unmap
	return wf, nil
}

// OpenBytes reads a weights file held in memory (for example one embedded
// with go:embed); name is used in error messages. The tensors alias data
// (no copy): data must not change while the File is in use.
func OpenBytes(name string, data []byte) (*File, error) { return parse(name, data, "") }

// legacyMagic starts the pre-zip torch.save format: a protocol-2 pickle of
// the integer 0x1950a86a20f9469cfc6c.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// isZip reports whether data starts like a zip archive.
func isZip(data []byte) bool {
	return bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06"))
}

func parse(path string, data []byte, format string) (*File, error) {
	if format == "" {
		switch {
		case isZip(data):
			format = "pt"
		case bytes.HasPrefix(data, legacyMagic):
			return nil, formatErr(path, "", "a bare pickle (legacy torch.save format, torch < 1.6 or _use_new_zipfile_serialization=False) is not supported; re-save it with a newer torch")
		default:
			format = "safetensors"
		}
	}
	f := &File{path: path, format: format, data: data, byName: map[string]*Tensor{}}
	var err error
	if format == "pt" {
		err = f.parsePT()
	} else if err = f.parseSafetensors(); err == nil {
		err = f.linkQ8()
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Path returns the path (or the name given to OpenBytes).
func (f *File) Path() string { return f.path }

// Format returns "safetensors" or "pt".
func (f *File) Format() string { return f.format }

// Names returns the tensor names in file order: the header's order for
// safetensors, the state dict's insertion order for .pt.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Tensor returns the named tensor.
func (f *File) Tensor(name string) (*Tensor, bool) {
	t, ok := f.byName[name]
	return t, ok
}

// Metadata returns a copy of the safetensors "__metadata__" map (empty for
// .pt files).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// Has reports whether the file holds a tensor with this name.
func (f *File) Has(name string) bool {
	_, ok := f.byName[name]
	return ok
}

// Float32 returns the named tensor as float32 (see Tensor.Float32) and a
// copy of its shape. A missing name gives an error wrapping ErrNotFound.
func (f *File) Float32(name string) ([]float32, []int, error) {
	t, ok := f.byName[name]
	if !ok {
		if f.byName == nil {
			return nil, nil, fmt.Errorf("weights: %s: tensor %q: %w: %w", f.path, name, ErrClosed, ErrNotFound)
		}
		return nil, nil, fmt.Errorf("weights: %s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	data, err := t.Float32()
	if err != nil {
		return nil, nil, err
	}
	return data, append([]int{}, t.Shape...), nil
}

// Close releases the mapping. Slices obtained without a copy (Float32 of
// an aligned contiguous F32 tensor, Bytes of a contiguous tensor) must not
// be used afterwards. Tensors obtained from the File stay valid as values
// but no longer read data: their Float32, Ints and Dense return an error
// wrapping ErrClosed and Bytes returns nil. Close must not run concurrently
// with other methods of the File or its tensors. Closing twice is harmless.
func (f *File) Close() error {
	f.closed = true
	f.byName = nil
	f.names = nil
	f.data = nil
	if f.unmap == nil {
		return nil
	}
	u := f.unmap
	f.unmap = nil
	if err := u(); err != nil {
		return fmt.Errorf("weights: %s: unmap: %w", f.path, err)
	}
	return nil
}

// add records a tensor, rejecting a duplicate name.
func (f *File) add(t *Tensor) error {
	if _, dup := f.byName[t.Name]; dup {
		return formatErr(f.path, t.Name, "duplicate tensor name")
	}
	t.file = f
	if t.path == "" {
		t.path = f.path
	}
	f.byName[t.Name] = t
	f.names = append(f.names, t.Name)
	return nil
}

// View is the part of a File whose names start with a prefix, seen with
// the prefix stripped: File.Sub("encoder.").Float32("layers.0.fc.weight")
// reads "encoder.layers.0.fc.weight". It implements model.Source.
type View struct {
	f      *File
	prefix string
}

// Sub returns the view of the tensors whose names start with prefix.
func (f *File) Sub(prefix string) *View { return &View{f: f, prefix: prefix} }

// Sub narrows the view further (the prefixes concatenate).
func (v *View) Sub(prefix string) *View { return &View{f: v.f, prefix: v.prefix + prefix} }

// Prefix returns the view's full prefix.
func (v *View) Prefix() string { return v.prefix }

// Has reports whether the file holds prefix+name.
func (v *View) Has(name string) bool { return v.f.Has(v.prefix + name) }

// Float32 reads prefix+name (see File.Float32; errors give the full name).
func (v *View) Float32(name string) ([]float32, []int, error) { return v.f.Float32(v.prefix + name) }

// Tensor returns the tensor prefix+name (its Name is the full name).
func (v *View) Tensor(name string) (*Tensor, bool) { return v.f.Tensor(v.prefix + name) }

// Names returns the names under the prefix, stripped of it, in file order.
func (v *View) Names() []string {
	var out []string
	for _, n := range v.f.names {
		if s, ok := strings.CutPrefix(n, v.prefix); ok {
			out = append(out, s)
		}
	}
	return out
}

// Shape returns a tensor's shape (with Names, *File is a model.TensorLister).
func (f *File) Shape(name string) ([]int, bool) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, false
	}
	return append([]int(nil), t.Shape...), true
}

// Shape returns a tensor's shape, the prefix stripped from name.
func (v *View) Shape(name string) ([]int, bool) { return v.f.Shape(v.prefix + name) }

// Release tells the File that the caller has copied the tensor name into a
// format of its own (the engine packs every Linear weight) and will not read
// it again soon: where the file is memory-mapped, the pages that hold only
// that tensor are handed back to the system (madvise MADV_DONTNEED), so a
// loaded model does not keep both the file's pages and its packed copy
// resident (measured on DALL·E Mini's shapes in fp32: 2848 MiB resident
// after loading without it, 1448 MiB with it). It is a hint: the tensor stays
// readable, its pages read from the file again if touched, so slices that
// alias it read the file's values — a write made into the private mapping
// through such a slice is dropped. An unknown name or a File that is not
// mapped is ignored. Release implements model.Releaser.
func (f *File) Release(name string) {
	t, ok := f.byName[name]
	if !ok || f.unmap == nil || t.strides != nil {
		return
	}
	dropPages(t.data)
	if t.q8 != nil {
		dropPages(t.q8.scale.data)
	}
}

// Release is File.Release for the view's full name.
func (v *View) Release(name string) { v.f.Release(v.prefix + name) }
