package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"

	"github.com/tessella-ml/tessella/internal/size"
)

// MaxHeaderSize bounds the JSON header of a safetensors file (100 MB).
const MaxHeaderSize = 100 << 20

// maxRank bounds the number of dimensions of one tensor.
const maxRank = 64

// parseSafetensors reads f.data as a safetensors file:
//
//	[8]byte   N, the header length, u64 little-endian
//	[N]byte   JSON object {name: {"dtype", "shape", "data_offsets": [b, e]},
//	          "__metadata__": {string: string}} (optional), padded with spaces
//	[...]byte the data section; a tensor's bytes are data[b:e]
func (f *File) parseSafetensors() error {
	d := f.data
	if len(d) < 8 {
		return formatErr(f.path, "", "safetensors file is %d bytes, shorter than its 8-byte header length", len(d))
	}
	n := binary.LittleEndian.Uint64(d)
	if n > MaxHeaderSize {
		return formatErr(f.path, "", "safetensors header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(len(d)-8) {
		return formatErr(f.path, "", "safetensors header length %d exceeds the file's remaining %d bytes", n, len(d)-8)
	}
	header := d[8 : 8+n]
	body := d[8+n:]

	type entry struct {
		t          *Tensor
		begin, end uint64
	}
	var entries []entry
	err := eachMember(header, func(name string, raw json.RawMessage) error {
		if name == "__metadata__" {
			return f.parseMetadata(raw)
		}
		info, err := parseTensorInfo(raw)
		if err != nil {
			return formatErr(f.path, name, "%v", err)
		}
		dt := DType(info.DType)
		if !dt.valid() {
			return formatErr(f.path, name, "unknown or unsupported dtype %q", info.DType)
		}
		numel, err := checkShape(info.Shape)
		if err != nil {
			return formatErr(f.path, name, "%v", err)
		}
		b, e := info.Offsets[0], info.Offsets[1]
		if b > e {
			return formatErr(f.path, name, "data_offsets [%d, %d] are reversed", b, e)
		}
		if e > uint64(len(body)) {
			return formatErr(f.path, name, "data_offsets [%d, %d] run past the %d-byte data section", b, e, len(body))
		}
		if uint64(numel) > (e-b)/uint64(dt.Size()) || uint64(numel)*uint64(dt.Size()) != e-b {
			return formatErr(f.path, name, "shape %v of %s (%d elements) does not fill data_offsets [%d, %d] (%d bytes)", info.Shape, dt, numel, b, e, e-b)
		}
		t := &Tensor{Name: name, DType: dt, Shape: info.Shape, path: f.path, numel: numel, data: body[b:e:e]}
		if err := f.add(t); err != nil {
			return err
		}
		entries = append(entries, entry{t, b, e})
		return nil
	})
	if err != nil {
		var se *syntaxErr
		if errors.As(err, &se) {
			return formatErr(f.path, "", "safetensors header is not valid JSON: %v", se.err)
		}
		return err
	}
	// No two byte ranges may overlap (empty ranges overlap nothing).
	sort.Slice(entries, func(i, j int) bool { return entries[i].begin < entries[j].begin })
	var prev *entry
	for i := range entries {
		e := &entries[i]
		if e.begin == e.end {
			continue
		}
		if prev != nil && e.begin < prev.end {
			return formatErr(f.path, e.t.Name, "bytes [%d, %d] overlap those of tensor %q [%d, %d]", e.begin, e.end, prev.t.Name, prev.begin, prev.end)
		}
		prev = e
	}
	return nil
}

func (f *File) parseMetadata(raw json.RawMessage) error {
	if f.meta != nil {
		return formatErr(f.path, "", "duplicate __metadata__")
	}
	f.meta = map[string]string{}
	err := eachMember(raw, func(k string, v json.RawMessage) error {
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil {
			return formatErr(f.path, "", "__metadata__[%q] is %.40s, not a string", k, v)
		}
		f.meta[k] = s
		return nil
	})
	var se *syntaxErr
	if errors.As(err, &se) {
		return formatErr(f.path, "", "__metadata__ must be an object of strings: %v", se.err)
	}
	return err
}

// tensorInfo is one tensor's header entry.
type tensorInfo struct {
	DType   string
	Shape   []int
	Offsets [2]uint64
}

// parseTensorInfo decodes {"dtype": s, "shape": [n...], "data_offsets": [b, e]},
// requiring all three keys and no others.
func parseTensorInfo(raw json.RawMessage) (tensorInfo, error) {
	var info tensorInfo
	seen := map[string]bool{}
	err := eachMember(raw, func(k string, v json.RawMessage) error {
		seen[k] = true
		var err error
		switch k {
		case "dtype":
			if len(v) == 0 || v[0] != '"' {
				return fmt.Errorf("dtype is %.40s, not a string", v)
			}
			err = json.Unmarshal(v, &info.DType)
		case "shape":
			var dims []int64
			if len(v) == 0 || v[0] != '[' {
				return fmt.Errorf("shape is %.40s, not an array", v)
			}
			if err = json.Unmarshal(v, &dims); err != nil {
				return fmt.Errorf("shape %.60s: dimensions must be integers: %v", v, err)
			}
			if len(dims) > maxRank {
				return fmt.Errorf("shape has %d dimensions, more than %d", len(dims), maxRank)
			}
			info.Shape = make([]int, len(dims))
			for i, x := range dims {
				if x < 0 || x > math.MaxInt32*int64(math.MaxInt32) {
					return fmt.Errorf("shape %v: dimension %d is %d", dims, i, x)
				}
				info.Shape[i] = int(x)
			}
		case "data_offsets":
			var offs []uint64
			if len(v) == 0 || v[0] != '[' {
				return fmt.Errorf("data_offsets is %.40s, not an array", v)
			}
			if err = json.Unmarshal(v, &offs); err != nil {
				return fmt.Errorf("data_offsets %.60s must be two non-negative integers: %v", v, err)
			}
			if len(offs) != 2 {
				return fmt.Errorf("data_offsets has %d values, want 2", len(offs))
			}
			info.Offsets = [2]uint64{offs[0], offs[1]}
		default:
			return fmt.Errorf("unknown header field %q", k)
		}
		if err != nil {
			return fmt.Errorf("field %q: %v", k, err)
		}
		return nil
	})
	if err != nil {
		var se *syntaxErr
		if errors.As(err, &se) {
			return info, fmt.Errorf("header entry must be an object: %v", se.err)
		}
		return info, err
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if !seen[k] {
			return info, fmt.Errorf("header entry lacks %q", k)
		}
	}
	return info, nil
}

// checkShape returns the element count of shape, failing on negative
// dimensions and on products that overflow.
func checkShape(shape []int) (int, error) {
	if slices.ContainsFunc(shape, func(d int) bool { return d < 0 }) {
		return 0, fmt.Errorf("shape %v has a negative dimension", shape)
	}
	n, ok := size.Mul(shape...)
	if !ok {
		return 0, fmt.Errorf("shape %v: element count overflows", shape)
	}
	return n, nil
}

// syntaxErr marks a JSON structure error (as opposed to a content error
// returned by a callback).
type syntaxErr struct{ err error }

func (e *syntaxErr) Error() string { return e.err.Error() }

// eachMember calls fn for each member of the JSON object in raw, in
// order, failing on duplicate keys, on anything that is not one object and
// on trailing non-space bytes.
func eachMember(raw []byte, fn func(key string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return &syntaxErr{err}
	}
	if tok != json.Delim('{') {
		return &syntaxErr{fmt.Errorf("want an object, found %v", tok)}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return &syntaxErr{err}
		}
		key, ok := tok.(string)
		if !ok {
			return &syntaxErr{fmt.Errorf("object key %v is not a string", tok)}
		}
		if seen[key] {
			return &syntaxErr{fmt.Errorf("duplicate key %q", key)}
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return &syntaxErr{fmt.Errorf("value of %q: %v", key, err)}
		}
		if err := fn(key, v); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return &syntaxErr{err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &syntaxErr{fmt.Errorf("trailing data after the object")}
	}
	return nil
}
