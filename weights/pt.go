package weights

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
)

// maxPickleSize bounds data.pkl (a state dict's pickle is a few hundred
// bytes per tensor).
const maxPickleSize = 64 << 20

// parsePT reads f.data as a torch.save zip archive:
//
//	<archive>/data.pkl     the pickled state dict; tensors refer to storages
//	                       by persistent id ('storage', torch.<T>Storage, key, location, numel)
//	<archive>/data/<key>   each storage's raw little-endian bytes (stored
//	                       uncompressed and 64-byte aligned by torch)
//	<archive>/version, <archive>/byteorder (newer torch), ...
func (f *File) parsePT() error {
	zr, err := zip.NewReader(bytes.NewReader(f.data), int64(len(f.data)))
	if err != nil {
		return formatErr(f.path, "", "not a readable zip archive: %v", err)
	}
	entries := map[string]*zip.File{}
	var pkl *zip.File
	prefix := ""
	for _, e := range zr.File {
		entries[e.Name] = e
		dir, base, ok := strings.Cut(e.Name, "/")
		if ok && base == "data.pkl" {
			if pkl != nil {
				return formatErr(f.path, "", "zip holds two data.pkl entries (%s, %s)", pkl.Name, e.Name)
			}
			pkl, prefix = e, dir+"/"
		}
	}
	if pkl == nil {
		return formatErr(f.path, "", "zip has no <archive>/data.pkl entry: not a torch.save file")
	}
	if bo, ok := entries[prefix+"byteorder"]; ok {
		b, err := f.readEntry(bo, 16, true)
		if err != nil {
			return formatErr(f.path, "", "%v", err)
		}
		if string(b) != "little" {
			return formatErr(f.path, "", "byteorder %q is not supported (only little)", b)
		}
	}
	p, err := f.readEntry(pkl, maxPickleSize, true)
	if err != nil {
		return formatErr(f.path, "", "%v", err)
	}
	if len(p) > maxPickleSize {
		return formatErr(f.path, "", "%s is larger than %d bytes", pkl.Name, maxPickleSize)
	}
	return f.loadPickle(p, func(key string, nbytes int) ([]byte, error) {
		e, ok := entries[prefix+"data/"+key]
		if !ok {
			return nil, fmt.Errorf("storage entry %sdata/%s is missing from the archive", prefix, key)
		}
		b, err := f.readEntry(e, nbytes, false)
		if err != nil {
			return nil, err
		}
		if len(b) != nbytes {
			return nil, fmt.Errorf("storage entry %s holds %d bytes, the pickle says %d", e.Name, len(b), nbytes)
		}
		return b, nil
	})
}

// readEntry returns a zip entry's bytes: a slice of f.data for a stored
// (uncompressed) entry, else, when compressedOK, the decompressed bytes.
// It returns at most limit+1 bytes, so a larger entry shows as too long
// without being read in full. Compressed tensor data is refused, so that
// a small file cannot make the reader allocate much more than its size.
func (f *File) readEntry(e *zip.File, limit int, compressedOK bool) ([]byte, error) {
	if e.Method == zip.Store {
		off, err := e.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("zip entry %s: %v", e.Name, err)
		}
		n := e.CompressedSize64
		if e.UncompressedSize64 != n || off < 0 || uint64(off) > uint64(len(f.data)) || n > uint64(len(f.data))-uint64(off) {
			return nil, fmt.Errorf("zip entry %s: %d bytes at offset %d do not fit in the %d-byte file", e.Name, n, off, len(f.data))
		}
		if n > uint64(limit) {
			n = uint64(limit) + 1
		}
		return f.data[off : off+int64(n) : off+int64(n)], nil
	}
	if !compressedOK {
		return nil, fmt.Errorf("zip entry %s is compressed (method %d); torch.save stores tensor data uncompressed, and only that is read", e.Name, e.Method)
	}
	if e.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("zip entry %s: %d bytes is more than the %d expected", e.Name, e.UncompressedSize64, limit)
	}
	r, err := e.Open()
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v", e.Name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %v", e.Name, err)
	}
	return b, nil
}

// loadPickle unpickles a state dict and records its tensors. storage
// returns the bytes of the storage with the given key, which must be
// exactly nbytes long.
func (f *File) loadPickle(p []byte, storage func(key string, nbytes int) ([]byte, error)) error {
	storages := map[string]*pyStorage{}
	root, err := unpickle(p, maxPickleValues, func(pid any) (any, error) {
		t, ok := pid.(pyTuple)
		if !ok || len(t) != 5 || t[0] != "storage" {
			return nil, fmt.Errorf("persistent id %s is not ('storage', type, key, location, numel)", describe(pid))
		}
		g, ok1 := t[1].(pyGlobal)
		key, ok2 := t[2].(string)
		_, ok3 := t[3].(string)
		numel, ok4 := t[4].(int64)
		if !ok1 || !ok2 || !ok3 || !ok4 || numel < 0 {
			return nil, fmt.Errorf("persistent id %s is not ('storage', type, key, location, numel)", describe(pid))
		}
		dt, ok := storageDTypes[g.name]
		if !ok || g.module != "torch" {
			return nil, fmt.Errorf("persistent id names %s.%s, not a torch storage type", g.module, g.name)
		}
		if numel > math.MaxInt64/8 {
			return nil, fmt.Errorf("storage %s: numel %d is too large", key, numel)
		}
		if s, ok := storages[key]; ok {
			if s.dtype != dt || s.numel != int(numel) {
				return nil, fmt.Errorf("storage %s is referenced as both %s[%d] and %s[%d]", key, s.dtype, s.numel, dt, numel)
			}
			return s, nil
		}
		s := &pyStorage{dtype: dt, key: key, numel: int(numel)}
		storages[key] = s
		return s, nil
	})
	if err != nil {
		return formatErr(f.path, "", "data.pkl: %v", err)
	}
	dict, ok := root.(*pyDict)
	if !ok {
		return formatErr(f.path, "", "data.pkl holds a %s, not a state dict", pyType(root))
	}
	data := map[*pyStorage][]byte{}
	for i, k := range dict.keys {
		name, ok := k.(string)
		if !ok {
			return formatErr(f.path, "", "state dict key %s is a %s, not a string", describe(k), pyType(k))
		}
		pt, ok := dict.vals[i].(*pyTensor)
		if !ok {
			return formatErr(f.path, name, "value is a %s, not a tensor (nested or non-tensor state dicts are not supported)", pyType(dict.vals[i]))
		}
		st := pt.storage
		b, ok := data[st]
		if !ok {
			b, err = storage(st.key, st.numel*st.dtype.Size())
			if err != nil {
				return formatErr(f.path, name, "%v", err)
			}
			data[st] = b
		}
		t, err := viewTensor(name, pt, b)
		if err != nil {
			return formatErr(f.path, name, "%v", err)
		}
		t.path = f.path
		if err := f.add(t); err != nil {
			return err
		}
	}
	return nil
}

// viewTensor checks that the view (offset, size, stride) lies inside the
// storage and returns it as a Tensor: contiguous views are slices of the
// storage bytes, others keep their strides and are gathered on access.
func viewTensor(name string, pt *pyTensor, storage []byte) (*Tensor, error) {
	st := pt.storage
	es := st.dtype.Size()
	numel, err := checkShape(pt.size)
	if err != nil {
		return nil, err
	}
	t := &Tensor{Name: name, DType: st.dtype, Shape: pt.size, numel: numel}
	if numel == 0 {
		t.data = storage[:0:0]
		return t, nil
	}
	if numel > st.numel {
		return nil, fmt.Errorf("view of %d elements is larger than its %d-element storage %s (expanded views are not supported)", numel, st.numel, st.key)
	}
	// Highest element index the view touches, overflow-checked; every
	// term is below st.numel, so the sum of len(size) terms cannot overflow.
	last := pt.offset
	if last >= st.numel {
		return nil, fmt.Errorf("storage offset %d is outside storage %s of %d elements", pt.offset, st.key, st.numel)
	}
	for i, n := range pt.size {
		s := pt.stride[i]
		if n > 1 && s > (st.numel-1-last)/(n-1) {
			return nil, fmt.Errorf("view (offset %d, size %v, stride %v) runs past storage %s of %d elements", pt.offset, pt.size, pt.stride, st.key, st.numel)
		}
		last += (n - 1) * s
	}
	contiguous, want := true, 1
	for i := len(pt.size) - 1; i >= 0; i-- {
		if pt.size[i] != 1 && pt.stride[i] != want {
			contiguous = false
			break
		}
		want *= pt.size[i]
	}
	if contiguous {
		t.data = storage[pt.offset*es : (pt.offset+numel)*es : (pt.offset+numel)*es]
	} else {
		t.data, t.offset, t.strides = storage, pt.offset, pt.stride
	}
	return t, nil
}
