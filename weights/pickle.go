package weights

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// A small pickle virtual machine for the subset torch.save emits. It never
// imports or calls anything: GLOBAL resolves only the names in allowed,
// and REDUCE only "calls" the few of those that build dicts and tensors,
// as data. Memory stays bounded: every value pushed is made from input
// bytes or is a reference to an existing value, at most maxPickleValues
// are pushed, and nothing walks the object graph recursively (error
// messages describe values shallowly).

// Python values as the unpickler represents them.
type (
	pyNone   struct{}
	pyTuple  []any
	pyList   struct{ items []any }
	pyGlobal struct{ module, name string }
	// pyDict is a dict or OrderedDict: insertion order is kept.
	pyDict struct {
		keys, vals []any
		index      map[any]int
	}
	// pyStorage is a persistent-id reference to <archive>/data/<key>.
	pyStorage struct {
		dtype DType
		key   string
		numel int
	}
	// pyTensor is the result of torch._utils._rebuild_tensor_v2.
	pyTensor struct {
		storage      *pyStorage
		offset       int
		size, stride []int
	}
)

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, float64, pyNone:
	default:
		return fmt.Errorf("unsupported dict key type %s", pyType(k))
	}
	if d.index == nil {
		d.index = map[any]int{}
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// storageDTypes maps torch's storage classes to element types.
var storageDTypes = map[string]DType{
	"FloatStorage":    F32,
	"HalfStorage":     F16,
	"BFloat16Storage": BF16,
	"DoubleStorage":   F64,
	"LongStorage":     I64,
	"IntStorage":      I32,
	"ShortStorage":    I16,
	"CharStorage":     I8,
	"ByteStorage":     U8,
	"BoolStorage":     BOOL,
}

// allowed reports whether a GLOBAL may be resolved.
func allowed(module, name string) bool {
	switch module + "." + name {
	case "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter":
		return true
	}
	_, ok := storageDTypes[name]
	return module == "torch" && ok
}

// Pickle opcodes used here.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinFloat       = 'G'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opMemoize        = 0x94
	opFrame          = 0x95
	opStackGlobal    = 0x93
)

// maxPickleValues bounds the values a pickle may push (each costs at most
// a few dozen bytes; torch.save needs about 25 per tensor), so that memory
// stays under about half a gigabyte whatever the input.
const maxPickleValues = 1 << 23

type unpickler struct {
	data   []byte
	pos    int
	pushes int
	stack  []any
	marks  []int
	memo   map[uint64]any
	// persistent resolves a BINPERSID id.
	persistent func(pid any) (any, error)
}

// unpickle runs the pickle in data and returns the value STOP leaves.
// At most limit values may be pushed.
func unpickle(data []byte, limit int, persistent func(pid any) (any, error)) (any, error) {
	u := &unpickler{data: data, memo: map[uint64]any{}, persistent: persistent}
	for {
		at := u.pos
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle ends at byte %d without STOP", u.pos)
		}
		op := u.data[u.pos]
		u.pos++
		done, err := u.step(op)
		if err != nil {
			return nil, fmt.Errorf("pickle opcode 0x%02x at byte %d: %v", op, at, err)
		}
		if done {
			return u.pop()
		}
		if u.pushes > limit {
			return nil, fmt.Errorf("pickle creates more than %d values", limit)
		}
	}
}

func (u *unpickler) take(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, fmt.Errorf("needs %d bytes, only %d left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

func (u *unpickler) line() (string, error) {
	i := strings.IndexByte(string(u.data[u.pos:min(len(u.data), u.pos+256)]), '\n')
	if i < 0 {
		return "", fmt.Errorf("no newline within 256 bytes")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

func (u *unpickler) push(v any) {
	u.pushes++
	u.stack = append(u.stack, v)
}

func (u *unpickler) pop() (any, error) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, fmt.Errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, fmt.Errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops everything above the last MARK, and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, fmt.Errorf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) put(i uint64) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) get(i uint64) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo %d is empty", i)
	}
	u.push(v)
	return nil
}

func (u *unpickler) step(op byte) (stop bool, err error) {
	switch op {
	case opProto:
		b, err := u.take(1)
		if err != nil {
			return false, err
		}
		if b[0] > 5 {
			return false, fmt.Errorf("pickle protocol %d is not supported", b[0])
		}
	case opFrame:
		if _, err := u.take(8); err != nil { // frames only group opcodes
			return false, err
		}
	case opStop:
		return true, nil
	case opMark:
		u.marks = append(u.marks, len(u.stack))
	case opPop:
		_, err = u.pop()
	case opPopMark:
		_, err = u.popMark()
	case opDup:
		var v any
		if v, err = u.top(); err == nil {
			u.push(v)
		}
	case opNone:
		u.push(pyNone{})
	case opNewTrue:
		u.push(true)
	case opNewFalse:
		u.push(false)
	case opBinInt:
		b, err := u.take(4)
		if err != nil {
			return false, err
		}
		u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case opBinInt1:
		b, err := u.take(1)
		if err != nil {
			return false, err
		}
		u.push(int64(b[0]))
	case opBinInt2:
		b, err := u.take(2)
		if err != nil {
			return false, err
		}
		u.push(int64(binary.LittleEndian.Uint16(b)))
	case opLong1, opLong4:
		var n uint64
		if op == opLong1 {
			b, err := u.take(1)
			if err != nil {
				return false, err
			}
			n = uint64(b[0])
		} else {
			b, err := u.take(4)
			if err != nil {
				return false, err
			}
			n = uint64(binary.LittleEndian.Uint32(b))
		}
		if n > 8 {
			return false, fmt.Errorf("integer of %d bytes does not fit in 64 bits", n)
		}
		b, err := u.take(n)
		if err != nil {
			return false, err
		}
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 { // sign-extend
			v |= ^uint64(0) << (8 * n)
		}
		u.push(int64(v))
	case opBinFloat:
		b, err := u.take(8)
		if err != nil {
			return false, err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opShortBinUni, opShortBinString, opShortBinBytes:
		b, err := u.take(1)
		if err != nil {
			return false, err
		}
		s, err := u.take(uint64(b[0]))
		if err != nil {
			return false, err
		}
		u.pushText(op == opShortBinBytes, s)
	case opBinUnicode, opBinString, opBinBytes:
		b, err := u.take(4)
		if err != nil {
			return false, err
		}
		s, err := u.take(uint64(binary.LittleEndian.Uint32(b)))
		if err != nil {
			return false, err
		}
		u.pushText(op == opBinBytes, s)
	case opBinUnicode8, opBinBytes8:
		b, err := u.take(8)
		if err != nil {
			return false, err
		}
		s, err := u.take(binary.LittleEndian.Uint64(b))
		if err != nil {
			return false, err
		}
		u.pushText(op == opBinBytes8, s)
	case opEmptyTuple:
		u.push(pyTuple{})
	case opTuple1, opTuple2, opTuple3:
		n := int(op-opTuple1) + 1
		t := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			if t[i], err = u.pop(); err != nil {
				return false, err
			}
		}
		u.push(t)
	case opTuple:
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		u.push(pyTuple(items))
	case opEmptyList:
		u.push(&pyList{})
	case opList:
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		u.push(&pyList{items: items})
	case opAppend, opAppends:
		var items []any
		if op == opAppend {
			v, err := u.pop()
			if err != nil {
				return false, err
			}
			items = []any{v}
		} else if items, err = u.popMark(); err != nil {
			return false, err
		}
		t, err := u.top()
		if err != nil {
			return false, err
		}
		l, ok := t.(*pyList)
		if !ok {
			return false, fmt.Errorf("APPEND to a %s, not a list", pyType(t))
		}
		l.items = append(l.items, items...)
	case opEmptyDict:
		u.push(&pyDict{})
	case opDict:
		items, err := u.popMark()
		if err != nil {
			return false, err
		}
		d := &pyDict{}
		if err := setItems(d, items); err != nil {
			return false, err
		}
		u.push(d)
	case opSetItem, opSetItems:
		var items []any
		if op == opSetItem {
			v, err := u.pop()
			if err != nil {
				return false, err
			}
			k, err := u.pop()
			if err != nil {
				return false, err
			}
			items = []any{k, v}
		} else if items, err = u.popMark(); err != nil {
			return false, err
		}
		t, err := u.top()
		if err != nil {
			return false, err
		}
		d, ok := t.(*pyDict)
		if !ok {
			return false, fmt.Errorf("SETITEM on a %s, not a dict", pyType(t))
		}
		return false, setItems(d, items)
	case opBinPut:
		b, err := u.take(1)
		if err != nil {
			return false, err
		}
		return false, u.put(uint64(b[0]))
	case opLongBinPut:
		b, err := u.take(4)
		if err != nil {
			return false, err
		}
		return false, u.put(uint64(binary.LittleEndian.Uint32(b)))
	case opMemoize:
		return false, u.put(uint64(len(u.memo)))
	case opBinGet:
		b, err := u.take(1)
		if err != nil {
			return false, err
		}
		return false, u.get(uint64(b[0]))
	case opLongBinGet:
		b, err := u.take(4)
		if err != nil {
			return false, err
		}
		return false, u.get(uint64(binary.LittleEndian.Uint32(b)))
	case opGlobal:
		module, err := u.line()
		if err != nil {
			return false, err
		}
		name, err := u.line()
		if err != nil {
			return false, err
		}
		return false, u.pushGlobal(module, name)
	case opStackGlobal:
		n, err := u.pop()
		if err != nil {
			return false, err
		}
		m, err := u.pop()
		if err != nil {
			return false, err
		}
		ms, ok1 := m.(string)
		ns, ok2 := n.(string)
		if !ok1 || !ok2 {
			return false, fmt.Errorf("STACK_GLOBAL needs two strings")
		}
		return false, u.pushGlobal(ms, ns)
	case opBinPersID:
		pid, err := u.pop()
		if err != nil {
			return false, err
		}
		v, err := u.persistent(pid)
		if err != nil {
			return false, err
		}
		u.push(v)
	case opReduce:
		args, err := u.pop()
		if err != nil {
			return false, err
		}
		fn, err := u.pop()
		if err != nil {
			return false, err
		}
		v, err := reduce(fn, args)
		if err != nil {
			return false, err
		}
		u.push(v)
	case opBuild:
		if _, err := u.pop(); err != nil { // the state
			return false, err
		}
		t, err := u.top()
		if err != nil {
			return false, err
		}
		// torch.save gives a state dict its _metadata attribute this
		// way; attributes are not needed, so the state is dropped.
		if _, ok := t.(*pyDict); !ok {
			return false, fmt.Errorf("BUILD on a %s is not supported", pyType(t))
		}
	default:
		return false, fmt.Errorf("unsupported pickle opcode")
	}
	return false, err
}

func (u *unpickler) pushText(isBytes bool, b []byte) {
	if isBytes {
		u.push(append([]byte(nil), b...))
	} else {
		u.push(string(b))
	}
}

func (u *unpickler) pushGlobal(module, name string) error {
	if !allowed(module, name) {
		return fmt.Errorf("unsupported pickle global %s.%s (only collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter and torch.*Storage are accepted; nothing is ever executed)", module, name)
	}
	u.push(pyGlobal{module, name})
	return nil
}

func setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of items (%d) for a dict", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// reduce applies one of the allowed callables to its argument tuple.
func reduce(fn, argv any) (any, error) {
	g, ok := fn.(pyGlobal)
	if !ok {
		return nil, fmt.Errorf("REDUCE of a %s, not a global", pyType(fn))
	}
	args, ok := argv.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("REDUCE %s.%s: arguments are a %s, not a tuple", g.module, g.name, pyType(argv))
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, fmt.Errorf("collections.OrderedDict with %d arguments is not supported", len(args))
		}
		return &pyDict{}, nil
	case "torch._utils._rebuild_parameter":
		// (data, requires_grad, backward_hooks): the tensor is the data.
		if len(args) != 3 {
			return nil, fmt.Errorf("_rebuild_parameter takes 3 arguments, got %d", len(args))
		}
		t, ok := args[0].(*pyTensor)
		if !ok {
			return nil, fmt.Errorf("_rebuild_parameter of a %s, not a tensor", pyType(args[0]))
		}
		return t, nil
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor(args)
	}
	return nil, fmt.Errorf("%s.%s cannot be called", g.module, g.name)
}

// rebuildTensor checks the arguments of _rebuild_tensor_v2(storage,
// storage_offset, size, stride, requires_grad, backward_hooks[, metadata]);
// the view is checked against the storage later, when the name is known.
func rebuildTensor(args pyTuple) (*pyTensor, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 takes 6 or 7 arguments, got %d", len(args))
	}
	st, ok := args[0].(*pyStorage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is a %s", pyType(args[0]))
	}
	off, ok := args[1].(int64)
	if !ok || off < 0 || off > math.MaxInt32*int64(math.MaxInt32) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: bad storage offset %s", describe(args[1]))
	}
	size, err := intTuple(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size %v and stride %v differ in length", size, stride)
	}
	if _, ok := args[4].(bool); !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: requires_grad is a %s", pyType(args[4]))
	}
	if h, ok := args[5].(*pyDict); !ok || len(h.keys) != 0 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: backward hooks must be an empty OrderedDict")
	}
	return &pyTensor{storage: st, offset: int(off), size: size, stride: stride}, nil
}

func intTuple(v any, what string) ([]int, error) {
	t, ok := v.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %s is a %s, not a tuple", what, pyType(v))
	}
	if len(t) > maxRank {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %s has %d dimensions, more than %d", what, len(t), maxRank)
	}
	out := make([]int, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 || n > math.MaxInt32*int64(math.MaxInt32) {
			return nil, fmt.Errorf("_rebuild_tensor_v2: %s element %d is %s", what, i, describe(x))
		}
		out[i] = int(n)
	}
	return out, nil
}

// pyType names a value's Python type.
func pyType(v any) string {
	switch v.(type) {
	case pyNone:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case pyGlobal:
		return "global"
	case *pyStorage:
		return "storage"
	case *pyTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// describe formats a value for an error message without walking into
// containers (which may be deeply nested or cyclic) and with strings cut
// short.
func describe(v any) string {
	switch x := v.(type) {
	case bool, int64, float64:
		return fmt.Sprint(x)
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("%q", x)
	case pyGlobal:
		return x.module + "." + x.name
	case pyTuple:
		parts := make([]string, 0, 6)
		for i, e := range x {
			if i == 5 {
				parts = append(parts, "...")
				break
			}
			switch e.(type) {
			case pyTuple, *pyList, *pyDict:
				parts = append(parts, pyType(e))
			default:
				parts = append(parts, describe(e))
			}
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return pyType(v)
}
