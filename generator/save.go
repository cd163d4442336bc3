package generator

// This file is the one output path of every backend: Save names the files,
// encodes pixel images as PNG, writes the Result.Metadata into PNG text
// chunks, and commits each file atomically without overwriting unless told
// to (through internal/atomicfile, the project's one atomic writer: with
// Force a symbolic link is followed and the replaced file's permission
// bits kept, as weights.WriteSafetensors does). ReadPNGText reads those
// chunks back.
//
// PNG layout (ISO/IEC 15948): an 8-byte signature, then chunks
//
//	length uint32 (big endian, data bytes only)
//	type   [4]byte
//	data   [length]byte
//	crc    uint32 = CRC-32/IEEE over type‖data
//
// IHDR comes first and IEND last. Save inserts its text chunks right after
// IHDR:
//
//	tEXt: keyword (1–79 Latin-1 bytes) 0x00 text (Latin-1)
//	iTXt: keyword 0x00 compression-flag(0) method(0) language 0x00
//	      translated-keyword 0x00 text (UTF-8)
//
// A value whose every character is printable Latin-1 (or a line feed) goes
// in a tEXt chunk; any other value (CJK, emoji, …) goes in an iTXt chunk.

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tessella-ml/tessella/internal/atomicfile"
)

// SaveOptions says where Save writes.
type SaveOptions struct {
	// Path is the output file. Empty: a name made from the prompt and the
	// seed (Metadata["seed"]) or, without a seed, the creation time, e.g.
	// "a-red-star-above-a-blue-ring-s1234.png". With several images, "-1",
	// "-2", … go before the extension. A Path without an extension gets the
	// image's; one with a different extension is refused.
	Path string
	// Dir is the folder for the outputs (created if missing). A relative
	// Path is taken inside Dir. Empty: the current directory.
	Dir string
	// Force allows replacing existing files. Without it Save refuses to
	// overwrite anything and writes nothing when a target exists.
	Force bool
}

// ErrNoImages is returned by Save for a Result without images.
var ErrNoImages = errors.New("generator: result has no images")

// maxSlug bounds the prompt part of generated file names, in bytes.
const maxSlug = 60

// Save writes every image of res and returns the paths written, in order.
//
// Pixel images (Image.Image) are PNG-encoded; encoded images (Image.Encoded)
// are written byte for byte after checking their signature matches
// Image.Format. PNG outputs carry res.Metadata, plus "revised_prompt" from
// the image when the metadata has none, as text chunks. JPEG and WebP
// outputs carry no metadata.
//
// Save works in two phases: every image is first written to a synced
// temporary file in its target's folder, then each is committed under its
// final name, so a reader never sees a partial file. Without Force a
// commit is a hard link, which fails if the name exists, so an existing
// file (or symbolic link, even a dangling one) is never replaced, even by
// a concurrent writer; Save refuses, writing nothing, when a target exists
// before it starts. With Force a commit renames over the target: a
// symbolic link there is followed (the link stays and the file it leads to
// is replaced), the replaced file's permission bits are kept (a new file
// gets 0644), and a target that exists but is not a regular file (a
// folder) is refused. On any error Save removes its temporary files and
// the files it already created in this call (files Force replaced stay
// replaced).
func Save(res *Result, opts SaveOptions) ([]string, error) {
	if res == nil || len(res.Images) == 0 {
		return nil, ErrNoImages
	}
	type output struct {
		path string
		data []byte
	}
	outs := make([]output, len(res.Images))
	paths := make([]string, len(res.Images))
	for i := range res.Images {
		img := &res.Images[i]
		data, format, err := encodeImage(img, imageMetadata(res.Metadata, img))
		if err != nil {
			return nil, fmt.Errorf("generator: save image %d: %w", i+1, err)
		}
		path, err := outputPath(res, opts, i, format)
		if err != nil {
			return nil, fmt.Errorf("generator: save image %d: %w", i+1, err)
		}
		outs[i] = output{path: path, data: data}
		paths[i] = path
	}
	// One name twice, or two names for one file (with Force, links that
	// lead to it).
	if i, j, found := atomicfile.Collision(paths, opts.Force); found {
		if paths[i] == paths[j] {
			return nil, fmt.Errorf("generator: images %d and %d would both be written to %s", i+1, j+1, paths[j])
		}
		return nil, fmt.Errorf("generator: images %d and %d would both be written to one file (%s and %s)", i+1, j+1, paths[i], paths[j])
	}

	// Refuse early, before writing anything, when a target exists. The
	// commit below re-checks atomically; this only avoids half a batch.
	if !opts.Force {
		for _, o := range outs {
			if _, err := os.Lstat(o.path); err == nil {
				return nil, fmt.Errorf("generator: %s already exists (use --force to overwrite): %w", o.path, fs.ErrExist)
			}
		}
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("generator: output folder: %w", err)
		}
	}

	// Phase 1: every image into a synced temporary file next to its target
	// (with Force, next to the file a link there leads to).
	staged := make([]*atomicfile.Staged, 0, len(outs))
	defer func() {
		for _, st := range staged {
			st.Discard()
		}
	}()
	for _, o := range outs {
		st, err := atomicfile.Stage(o.path, opts.Force, func(w io.Writer) error {
			_, err := w.Write(o.data)
			return err
		})
		if err != nil {
			return nil, writeError(o.path, err, opts.Force)
		}
		staged = append(staged, st)
	}

	// Phase 2: commit each temporary file under its final name.
	var created []string
	written := make([]string, 0, len(outs))
	for i, o := range outs {
		if err := staged[i].Commit(); err != nil {
			for _, c := range created {
				os.Remove(c)
			}
			return nil, writeError(o.path, err, opts.Force)
		}
		if !opts.Force {
			created = append(created, o.path)
		}
		written = append(written, o.path)
	}
	return written, nil
}

// WriteFileAtomic writes data to path the way Save writes images: through
// a synced temporary file in the target's folder, committed by a hard link
// (refusing an existing path, even a symbolic link, with an error wrapping
// fs.ErrExist) or, with force, by a rename over the target (a symbolic
// link is followed and kept, the replaced file's permission bits are kept,
// a new file gets 0644, a folder is refused). On error no file is left
// behind and path is as it was.
func WriteFileAtomic(path string, data []byte, force bool) error {
	if err := atomicfile.WriteBytes(path, data, force); err != nil {
		return writeError(path, err, force)
	}
	return nil
}

// writeError is the error of a failed write of path: without force, an
// existing path is told to use --force.
func writeError(path string, err error, force bool) error {
	if !force && errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("generator: %s already exists (use --force to overwrite): %w", path, fs.ErrExist)
	}
	return fmt.Errorf("generator: write %w", err)
}

// imageMetadata is the metadata written into one image's file.
func imageMetadata(meta map[string]string, img *Image) map[string]string {
	if img.RevisedPrompt == "" {
		return meta
	}
	if _, ok := meta["revised_prompt"]; ok {
		return meta
	}
	m := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	m["revised_prompt"] = img.RevisedPrompt
	return m
}

// encodeImage returns the file bytes of img and their format.
func encodeImage(img *Image, meta map[string]string) ([]byte, string, error) {
	switch {
	case img.Image != nil && img.Encoded != nil:
		return nil, "", errors.New("image has both pixels and encoded bytes")
	case img.Image != nil:
		var buf bytes.Buffer
		if err := png.Encode(&buf, img.Image); err != nil {
			return nil, "", fmt.Errorf("png encode: %w", err)
		}
		out, err := InsertPNGText(buf.Bytes(), meta)
		return out, "png", err
	case len(img.Encoded) > 0:
		sniffed := SniffFormat(img.Encoded)
		if sniffed == "" {
			return nil, "", errors.New("encoded image is not PNG, JPEG or WebP")
		}
		if img.Format != "" && normFormat(img.Format) != sniffed {
			return nil, "", fmt.Errorf("encoded image says format %q but its bytes are %s", img.Format, sniffed)
		}
		if sniffed != "png" {
			return img.Encoded, sniffed, nil
		}
		out, err := InsertPNGText(img.Encoded, meta)
		return out, "png", err
	default:
		return nil, "", errors.New("image has neither pixels nor encoded bytes")
	}
}

// SniffFormat names the format of encoded image bytes from their
// signature: "png", "jpeg", "webp", or "" when it is none of these.
func SniffFormat(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte(pngSignature)):
		return "png"
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "jpeg"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

func normFormat(f string) string {
	f = strings.ToLower(f)
	if f == "jpg" {
		return "jpeg"
	}
	return f
}

// Extension is the file extension Save uses for a format, with its dot.
func Extension(format string) string {
	switch normFormat(format) {
	case "jpeg":
		return ".jpg"
	case "webp":
		return ".webp"
	default:
		return ".png"
	}
}

// outputPath is the file name of image i.
func outputPath(res *Result, opts SaveOptions, i int, format string) (string, error) {
	ext := Extension(format)
	var base string
	if opts.Path != "" {
		p := opts.Path
		if strings.HasSuffix(p, string(filepath.Separator)) || strings.HasSuffix(p, "/") {
			return "", fmt.Errorf("output path %q names a folder; use the output folder option for that", p)
		}
		if e := filepath.Ext(p); e != "" {
			if normFormat(strings.TrimPrefix(strings.ToLower(e), ".")) != normFormat(format) {
				return "", fmt.Errorf("output path %q has extension %s but the image is %s (use %s)", p, e, format, ext)
			}
			ext = e
			p = strings.TrimSuffix(p, e)
		}
		base = p
		if opts.Dir != "" && !filepath.IsAbs(base) {
			base = filepath.Join(opts.Dir, base)
		}
	} else {
		base = filepath.Join(opts.Dir, defaultName(res))
	}
	if len(res.Images) > 1 {
		base = fmt.Sprintf("%s-%d", base, i+1)
	}
	return base + ext, nil
}

// defaultName is the file name, without extension, made from the prompt
// and the seed or creation time.
func defaultName(res *Result) string {
	name := Slug(res.Metadata["prompt"])
	if s := res.Metadata["seed"]; s != "" {
		return name + "-s" + Slug(s)
	}
	t := res.Created
	if t.IsZero() {
		t = time.Now()
	}
	return name + "-" + t.UTC().Format("20060102-150405")
}

// Slug turns text into a file-name part: lower-case ASCII letters and
// digits (accented Latin letters lose their accents), other runs of characters folded to one '-', at most 60 bytes
// (cut at a '-' when possible), "image" when nothing is left.
func Slug(text string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(text) {
		var s string
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			s = string(r)
		} else {
			s = foldLatin1(r)
		}
		if s == "" {
			dash = true
			continue
		}
		if dash && b.Len() > 0 {
			b.WriteByte('-')
		}
		dash = false
		b.WriteString(s)
	}
	s := b.String()
	if len(s) > maxSlug {
		s = s[:maxSlug]
		if i := strings.LastIndexByte(s, '-'); i > maxSlug/2 {
			s = s[:i]
		}
		s = strings.TrimRight(s, "-")
	}
	if s == "" {
		return "image"
	}
	return s
}

// foldLatin1 spells a lower-case accented Latin letter in ASCII ("é" →
// "e", "ß" → "ss"), or returns "" for anything else.
func foldLatin1(r rune) string {
	switch r {
	case 'à', 'á', 'â', 'ã', 'ä', 'å', 'ā':
		return "a"
	case 'æ':
		return "ae"
	case 'ç', 'č':
		return "c"
	case 'è', 'é', 'ê', 'ë', 'ē', 'ę', 'ě':
		return "e"
	case 'ì', 'í', 'î', 'ï', 'ī':
		return "i"
	case 'ð':
		return "d"
	case 'ñ', 'ń':
		return "n"
	case 'ò', 'ó', 'ô', 'õ', 'ö', 'ø', 'ō', 'ő':
		return "o"
	case 'œ':
		return "oe"
	case 'ß':
		return "ss"
	case 'ù', 'ú', 'û', 'ü', 'ū', 'ů', 'ű':
		return "u"
	case 'ý', 'ÿ':
		return "y"
	case 'þ':
		return "th"
	case 'š', 'ś':
		return "s"
	case 'ž', 'ź', 'ż':
		return "z"
	case 'ł':
		return "l"
	}
	return ""
}

const pngSignature = "\x89PNG\r\n\x1a\n"

// maxTextChunk bounds one text chunk (and its decompressed text) that
// ReadPNGText accepts.
const maxTextChunk = 8 << 20

// InsertPNGText returns a copy of the PNG file b with one text chunk per
// entry of meta (sorted by key) inserted right after IHDR. Values that are
// printable Latin-1 go in tEXt chunks, others in iTXt chunks (UTF-8).
func InsertPNGText(b []byte, meta map[string]string) ([]byte, error) {
	if !bytes.HasPrefix(b, []byte(pngSignature)) {
		return nil, errors.New("png: missing signature")
	}
	// IHDR: length(4)=13, type(4), data(13), crc(4).
	const ihdrEnd = len(pngSignature) + 4 + 4 + 13 + 4
	if len(b) < ihdrEnd || string(b[12:16]) != "IHDR" || binary.BigEndian.Uint32(b[8:12]) != 13 {
		return nil, errors.New("png: first chunk is not a 13-byte IHDR")
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var chunks bytes.Buffer
	for _, k := range keys {
		if err := appendTextChunk(&chunks, k, meta[k]); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, len(b)+chunks.Len())
	out = append(out, b[:ihdrEnd]...)
	out = append(out, chunks.Bytes()...)
	out = append(out, b[ihdrEnd:]...)
	return out, nil
}

// validKeyword reports whether k is a PNG text keyword: 1–79 printable
// Latin-1 characters, no leading, trailing or consecutive spaces.
func validKeyword(k string) bool {
	if !utf8.ValidString(k) || k == "" || k[0] == ' ' || k[len(k)-1] == ' ' || strings.Contains(k, "  ") {
		return false
	}
	n := 0
	for _, r := range k {
		if !(r >= 0x20 && r <= 0x7E) && !(r >= 0xA1 && r <= 0xFF) {
			return false
		}
		n++
	}
	return n <= 79
}

// latin1 returns s encoded as Latin-1 and true when every character of s
// is printable Latin-1 or a line feed.
func latin1(s string) ([]byte, bool) {
	if !utf8.ValidString(s) {
		return nil, false
	}
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r != '\n' && !(r >= 0x20 && r <= 0x7E) && !(r >= 0xA1 && r <= 0xFF) {
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

func appendTextChunk(w *bytes.Buffer, key, value string) error {
	if !validKeyword(key) {
		return fmt.Errorf("png: metadata key %q is not a PNG keyword (1-79 printable Latin-1 characters)", key)
	}
	kw, _ := latin1(key)
	var data []byte
	var typ string
	if l1, ok := latin1(value); ok {
		typ = "tEXt"
		data = append(append(append(data, kw...), 0), l1...)
	} else {
		typ = "iTXt"
		text := strings.ToValidUTF8(value, "\uFFFD")
		text = strings.ReplaceAll(text, "\x00", "\uFFFD")
		data = append(data, kw...)
		data = append(data, 0, 0, 0) // keyword end, not compressed, method 0
		data = append(data, 0)       // empty language tag
		data = append(data, 0)       // empty translated keyword
		data = append(data, text...)
	}
	if len(data) > maxTextChunk {
		return fmt.Errorf("png: metadata %q is too long (%d bytes)", key, len(data))
	}
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(data)))
	copy(hdr[4:], typ)
	crc := crc32.NewIEEE()
	crc.Write(hdr[4:])
	crc.Write(data)
	w.Write(hdr[:])
	w.Write(data)
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	w.Write(sum[:])
	return nil
}

// ReadPNGText reads a PNG file from r and returns the text of its tEXt,
// zTXt and iTXt chunks by keyword (the first chunk wins for a repeated
// keyword). It checks the signature and every chunk's CRC, stops at IEND,
// and does not decode the image.
func ReadPNGText(r io.Reader) (map[string]string, error) {
	br := bufio.NewReader(r)
	var sig [8]byte
	if _, err := io.ReadFull(br, sig[:]); err != nil {
		return nil, fmt.Errorf("png: read signature: %w", err)
	}
	if string(sig[:]) != pngSignature {
		return nil, errors.New("png: not a PNG file (bad signature)")
	}
	out := map[string]string{}
	for n := 0; ; n++ {
		var hdr [8]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("png: chunk %d header: %w", n, noEOF(err))
		}
		length := binary.BigEndian.Uint32(hdr[:4])
		typ := string(hdr[4:])
		if length > 1<<31-1 {
			return nil, fmt.Errorf("png: chunk %d (%q) length %d too large", n, typ, length)
		}
		if n == 0 && typ != "IHDR" {
			return nil, fmt.Errorf("png: first chunk is %q, not IHDR", typ)
		}
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		isText := typ == "tEXt" || typ == "zTXt" || typ == "iTXt"
		var data []byte
		if isText {
			if length > maxTextChunk {
				return nil, fmt.Errorf("png: %s chunk of %d bytes is too large", typ, length)
			}
			data = make([]byte, length)
			if _, err := io.ReadFull(br, data); err != nil {
				return nil, fmt.Errorf("png: %s chunk data: %w", typ, noEOF(err))
			}
			crc.Write(data)
		} else if _, err := io.CopyN(crc, br, int64(length)); err != nil {
			return nil, fmt.Errorf("png: %q chunk data: %w", typ, noEOF(err))
		}
		var sum [4]byte
		if _, err := io.ReadFull(br, sum[:]); err != nil {
			return nil, fmt.Errorf("png: %q chunk CRC: %w", typ, noEOF(err))
		}
		if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return nil, fmt.Errorf("png: %q chunk %d has a bad CRC", typ, n)
		}
		if typ == "IEND" {
			return out, nil
		}
		if !isText {
			continue
		}
		key, text, err := parseTextChunk(typ, data)
		if err != nil {
			return nil, err
		}
		if _, dup := out[key]; !dup {
			out[key] = text
		}
	}
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseTextChunk decodes the data of a tEXt, zTXt or iTXt chunk.
func parseTextChunk(typ string, data []byte) (key, text string, err error) {
	i := bytes.IndexByte(data, 0)
	if i < 1 || i > 79 {
		return "", "", fmt.Errorf("png: %s chunk has no valid keyword", typ)
	}
	key = fromLatin1(data[:i])
	rest := data[i+1:]
	switch typ {
	case "tEXt":
		return key, fromLatin1(rest), nil
	case "zTXt":
		if len(rest) < 1 || rest[0] != 0 {
			return "", "", fmt.Errorf("png: zTXt %q: unknown compression method", key)
		}
		t, err := inflate(rest[1:])
		if err != nil {
			return "", "", fmt.Errorf("png: zTXt %q: %w", key, err)
		}
		return key, fromLatin1(t), nil
	default: // iTXt
		if len(rest) < 2 {
			return "", "", fmt.Errorf("png: iTXt %q is truncated", key)
		}
		compressed, method := rest[0], rest[1]
		rest = rest[2:]
		// Skip the language tag and the translated keyword.
		for f := 0; f < 2; f++ {
			j := bytes.IndexByte(rest, 0)
			if j < 0 {
				return "", "", fmt.Errorf("png: iTXt %q is truncated", key)
			}
			rest = rest[j+1:]
		}
		t := rest
		switch {
		case compressed == 0:
		case compressed == 1 && method == 0:
			if t, err = inflate(rest); err != nil {
				return "", "", fmt.Errorf("png: iTXt %q: %w", key, err)
			}
		default:
			return "", "", fmt.Errorf("png: iTXt %q: unknown compression", key)
		}
		return key, strings.ToValidUTF8(string(t), "\uFFFD"), nil
	}
}

func fromLatin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// inflate decompresses zlib data, refusing more than maxTextChunk bytes.
func inflate(b []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxTextChunk+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxTextChunk {
		return nil, errors.New("decompressed text too large")
	}
	return out, nil
}
