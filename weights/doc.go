// Package weights reads and writes tensor files: safetensors, and the
// PyTorch state dicts that torch.save writes (.pt, the zip container of
// torch ≥ 1.6). It knows files, not networks: a File maps names such as
// "layers.0.self_attn.q_proj.weight" to typed, shaped tensors, and
// implements model.Source (Has, Float32) so a network can load from it.
//
// # safetensors
//
//	bytes [0, 8)        N, the header length, unsigned 64-bit little-endian
//	bytes [8, 8+N)      a JSON object, padded with spaces:
//	                      {"<name>": {"dtype": "F32", "shape": [3, 4], "data_offsets": [b, e]},
//	                       ...,
//	                       "__metadata__": {"<key>": "<value>", ...}}   (optional)
//	bytes [8+N, end)    the data section; a tensor's row-major little-endian
//	                    elements are data[b:e]
//
// Open checks everything before handing out a tensor: the file holds the
// 8-byte length, N ≤ MaxHeaderSize (100 MB) and fits in the file, the
// header is one JSON object without duplicate keys, __metadata__ maps
// strings to strings, each entry has exactly dtype, shape and
// data_offsets, the dtype is known, dimensions are non-negative integers
// (at most 64 of them) whose product does not overflow, e − b equals
// elements × dtype size, [b, e) lies inside the data section, and no two
// non-empty ranges overlap. Gaps between ranges are allowed.
// WriteSafetensors writes the format atomically (temporary file, fsync,
// rename), deterministically, with tensors ordered largest element size
// first so that each is aligned to its element size. It writes through a
// symbolic link to the link's target (the link stays), keeps the permission
// bits of the file it replaces (a new file gets 0644), refuses a path that
// exists but is not a regular file, and leaves the old file untouched on
// error. (Every atomic write in tessella follows these rules: see
// internal/atomicfile.)
//
// # PyTorch .pt (torch.save, zip container)
//
//	<archive>/data.pkl       a pickle (protocol 2) of the state dict, an OrderedDict
//	                         {name: torch._utils._rebuild_tensor_v2(storage, offset,
//	                         size, stride, requires_grad, hooks[, metadata])}; a
//	                         storage is a persistent id
//	                         ('storage', torch.<T>Storage, key, location, numel)
//	<archive>/data/<key>     the storage's numel elements, little-endian, stored
//	                         uncompressed at a 64-byte aligned offset (compressed
//	                         storage entries are refused; data.pkl may be deflated)
//	<archive>/version, <archive>/byteorder (newer torch; must be "little")
//
// The package runs its own small unpickler that understands only the
// opcodes torch.save emits and resolves only the globals
// collections.OrderedDict, torch._utils._rebuild_tensor_v2,
// torch._utils._rebuild_parameter and torch.<T>Storage (Float, Half,
// BFloat16, Double, Long, Int, Short, Char, Byte, Bool); any other global
// is an error, and nothing is ever executed. Its memory grows linearly
// with the pickle (at most 64 MB) and it never recurses. Each tensor's
// view (offset, size, stride) must lie inside its storage, strides must be
// non-negative, and a view may not have more elements than its storage
// (expanded views are rejected, so a small file cannot claim a huge
// tensor). Several tensors may share a storage. The top-level object must
// be a dict of tensors; nested or non-tensor state dicts are rejected. The
// legacy non-zip format (torch < 1.6) is not read.
//
// # Types and conversions
//
// DTypes, with sizes: F64, I64 8; F32, I32 4; F16, BF16, I16 2; I8, U8,
// BOOL 1 byte. Tensor.Bytes gives the raw little-endian row-major bytes;
// Tensor.Float32 converts any dtype to float32: F16 (IEEE binary16) and
// BF16 (the top half of a binary32) exactly, including subnormals, ±Inf
// and NaN; F64 rounded to nearest; integers by value (int64 and int32
// beyond 2²⁴ rounded to nearest); BOOL as 0 or 1. F16 goes through a
// 65536-entry table (256 KB, built on first use). The writer rounds
// float32 to F16 or BF16 to nearest, ties to even (as torch does).
//
// # Q8 and conversion
//
// A q8 tensor W [..., K] is stored as W (I8, the codes) plus W.q8_scale
// (F16, [..., ⌈K/32⌉]): groups of 32 values along K, each x̂ = q·d with
// d = max|x|/127 rounded up to binary16 (see Q8). Open links the pair and
// Float32 dequantises W; File.Q8 hands out the raw codes and scales.
// ConvertFile rewrites any file as safetensors in F32, F16, BF16 or Q8
// (ConvertTo writes the same bytes to an io.Writer);
// Cast reads a file as if it had been converted.
//
// # Zero copy
//
// Open maps the file (mmap, private copy-on-write) where the system
// allows it and reads it into memory otherwise; OpenBytes uses the caller's
// buffer. A contiguous F32 tensor whose bytes start at a 4-byte aligned
// address is returned by Float32 as a []float32 view of those bytes, with
// no copy (always for torch.save files and WriteSafetensors output; for
// other safetensors files only when the offset happens to be aligned), and
// Bytes of any contiguous tensor is a view too. Such views are valid only
// until File.Close, and share memory with later reads of the same tensor:
// writing into one changes what the next Float32 of that tensor returns
// (never the file on disk). Strided .pt views are gathered into a new
// contiguous slice on each access; other dtypes are converted into a new
// slice on each access.
//
// Every error names the file, and the tensor when one is involved; errors
// about malformed input wrap ErrFormat, a missing name wraps ErrNotFound,
// and reading a tensor after File.Close wraps ErrClosed (Tensor.Bytes, which
// has no error result, returns nil then). Names lists tensors in file order: header order for
// safetensors, state-dict insertion order for .pt. File.Sub(prefix) views
// the tensors under a prefix with the prefix stripped.
package weights
