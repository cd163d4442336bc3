package generator

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// testImage is a small image whose pixels depend on seed.
func testImage(seed int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, 5, 3))
	for y := 0; y < 3; y++ {
		for x := 0; x < 5; x++ {
			img.Set(x, y, color.NRGBA{uint8(x*40 + seed), uint8(y * 70), uint8(seed * 13), 255})
		}
	}
	return img
}

func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	for _, n := range dirNames(t, dir) {
		if strings.HasSuffix(n, ".tmp") || strings.HasPrefix(n, ".tessella-") {
			t.Errorf("temporary file left behind: %s", n)
		}
	}
}

func TestSlug(t *testing.T) {
	cases := []struct{ in, want string }{
		{"A red star above a blue ring", "a-red-star-above-a-blue-ring"},
		{"  Hello,   World!! ", "hello-world"},
		{"Café del Mar", "cafe-del-mar"},
		{"Straße über Łódź", "strasse-uber-lodz"},
		{"a cat 🐱 東京", "a-cat"},
		{"東京タワー", "image"},
		{"", "image"},
		{"../../etc/passwd", "etc-passwd"},
		{"R2-D2 & C-3PO", "r2-d2-c-3po"},
		{strings.Repeat("word ", 30), "word-word-word-word-word-word-word-word-word-word-word-word"},
	}
	for _, c := range cases {
		if got := Slug(c.in); got != c.want {
			t.Errorf("Slug(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Slug(c.in); len(got) > maxSlug {
			t.Errorf("Slug(%q) has %d bytes, more than %d", c.in, len(got), maxSlug)
		}
	}
}

func TestSaveNames(t *testing.T) {
	created := time.Date(2026, 11, 28, 13, 10, 5, 0, time.UTC)
	one := []Image{{Image: testImage(1)}}
	two := []Image{{Image: testImage(1)}, {Image: testImage(2)}}
	jpg := []Image{{Encoded: []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}, Format: "jpeg"}}
	cases := []struct {
		name   string
		images []Image
		meta   map[string]string
		path   string
		want   []string
	}{
		{"seed", one, map[string]string{"prompt": "A red star above a blue ring", "seed": "1234"}, "",
			[]string{"a-red-star-above-a-blue-ring-s1234.png"}},
		{"time", one, map[string]string{"prompt": "A red star"}, "",
			[]string{"a-red-star-20261128-131005.png"}},
		{"n2", two, map[string]string{"prompt": "two cats", "seed": "7"}, "",
			[]string{"two-cats-s7-1.png", "two-cats-s7-2.png"}},
		{"path", one, map[string]string{"prompt": "x"}, "out.png", []string{"out.png"}},
		{"path-no-ext", one, map[string]string{"prompt": "x"}, "out", []string{"out.png"}},
		{"path-n2", two, map[string]string{"prompt": "x"}, "out.png", []string{"out-1.png", "out-2.png"}},
		{"jpeg", jpg, map[string]string{"prompt": "a dog"}, "", []string{"a-dog-20261128-131005.jpg"}},
		{"jpeg-path", jpg, map[string]string{"prompt": "a dog"}, "dog.jpeg", []string{"dog.jpeg"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			res := &Result{Images: c.images, Metadata: c.meta, Created: created}
			got, err := Save(res, SaveOptions{Dir: dir, Path: c.path})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range c.want {
				want = append(want, filepath.Join(dir, w))
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("paths = %q, want %q", got, want)
			}
			if names := dirNames(t, dir); !reflect.DeepEqual(names, c.want) {
				t.Fatalf("folder holds %q, want %q", names, c.want)
			}
		})
	}
}

func TestSaveRefusesMismatchedExtension(t *testing.T) {
	dir := t.TempDir()
	res := &Result{Images: []Image{{Image: testImage(1)}}, Metadata: map[string]string{"prompt": "p"}}
	if _, err := Save(res, SaveOptions{Dir: dir, Path: "out.jpg"}); err == nil {
		t.Fatal("saving a PNG as out.jpg succeeded")
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("files left after an error: %q", names)
	}
}

func TestSaveNoOverwriteWithoutForce(t *testing.T) {
	dir := t.TempDir()
	old := []byte("precious")
	if err := os.WriteFile(filepath.Join(dir, "out-2.png"), old, 0o644); err != nil {
		t.Fatal(err)
	}
	res := &Result{Images: []Image{{Image: testImage(1)}, {Image: testImage(2)}}, Metadata: map[string]string{"prompt": "p"}}
	_, err := Save(res, SaveOptions{Dir: dir, Path: "out.png"})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("err = %v, want fs.ErrExist", err)
	}
	if !strings.Contains(err.Error(), "out-2.png") {
		t.Errorf("error %q does not name the file", err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "out-2.png"))
	if !bytes.Equal(got, old) {
		t.Fatal("existing file was changed")
	}
	// Nothing else written: not even out-1.png.
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"out-2.png"}) {
		t.Fatalf("folder holds %q", names)
	}
}

func TestSaveForceOverwrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.png")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := &Result{Images: []Image{{Image: testImage(3)}}, Metadata: map[string]string{"prompt": "p"}}
	if _, err := Save(res, SaveOptions{Dir: dir, Path: "out.png", Force: true}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("overwritten file is not a PNG: %v", err)
	}
	if !sameImage(img, testImage(3)) {
		t.Fatal("overwritten file has other pixels")
	}
	noTemps(t, dir)
}

// TestSaveConcurrentNoClobber has several writers race for one name:
// exactly one wins, the others get fs.ErrExist, and the file is whole.
func TestSaveConcurrentNoClobber(t *testing.T) {
	dir := t.TempDir()
	const writers = 8
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			res := &Result{Images: []Image{{Image: testImage(w)}}, Metadata: map[string]string{"prompt": "p", "writer": fmt.Sprint(w)}}
			_, errs[w] = Save(res, SaveOptions{Dir: dir, Path: "same.png"})
		}(w)
	}
	wg.Wait()
	winners := 0
	winner := -1
	for w, err := range errs {
		switch {
		case err == nil:
			winners++
			winner = w
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("writer %d: %v, want fs.ErrExist", w, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d writers succeeded, want 1", winners)
	}
	f, err := os.Open(filepath.Join(dir, "same.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta, err := ReadPNGText(f)
	if err != nil {
		t.Fatal(err)
	}
	if meta["writer"] != fmt.Sprint(winner) {
		t.Fatalf("file written by writer %q, but writer %d succeeded", meta["writer"], winner)
	}
	noTemps(t, dir)
	if names := dirNames(t, dir); len(names) != 1 {
		t.Fatalf("folder holds %q", names)
	}
}

// TestSaveErrorLeavesNothing makes the commit of the second image fail
// (its target is a folder) and checks no temporary file is left.
func TestSaveErrorLeavesNothing(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("force=", force), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "out-2.png", "x"), 0o755); err != nil {
				t.Fatal(err)
			}
			res := &Result{Images: []Image{{Image: testImage(1)}, {Image: testImage(2)}}, Metadata: map[string]string{"prompt": "p"}}
			if _, err := Save(res, SaveOptions{Dir: dir, Path: "out.png", Force: force}); err == nil {
				t.Fatal("Save succeeded with a folder in the way")
			}
			noTemps(t, dir)
			names := dirNames(t, dir)
			if !force && !reflect.DeepEqual(names, []string{"out-2.png"}) {
				t.Fatalf("folder holds %q, want only the blocking folder", names)
			}
		})
	}
}

func TestSaveBadImages(t *testing.T) {
	cases := map[string]Result{
		"none":       {},
		"empty":      {Images: []Image{{}}},
		"both":       {Images: []Image{{Image: testImage(1), Encoded: []byte("x")}}},
		"garbage":    {Images: []Image{{Encoded: []byte("not an image"), Format: "png"}}},
		"mismatch":   {Images: []Image{{Encoded: []byte{0xFF, 0xD8, 0xFF, 0}, Format: "png"}}},
		"bad key":    {Images: []Image{{Image: testImage(1)}}, Metadata: map[string]string{"": "v"}},
		"long key":   {Images: []Image{{Image: testImage(1)}}, Metadata: map[string]string{strings.Repeat("k", 80): "v"}},
		"emoji key":  {Images: []Image{{Image: testImage(1)}}, Metadata: map[string]string{"k🙂": "v"}},
		"spaced key": {Images: []Image{{Image: testImage(1)}}, Metadata: map[string]string{" k": "v"}},
	}
	for name, res := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Save(&res, SaveOptions{Dir: dir}); err == nil {
				t.Fatal("Save succeeded")
			}
			if names := dirNames(t, dir); len(names) != 0 {
				t.Fatalf("files left after an error: %q", names)
			}
		})
	}
	if _, err := Save(nil, SaveOptions{}); !errors.Is(err, ErrNoImages) {
		t.Fatalf("Save(nil) = %v", err)
	}
}

func sameImage(a, b image.Image) bool {
	if a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.NRGBAModel.Convert(a.At(x, y)) != color.NRGBAModel.Convert(b.At(x, y)) {
				return false
			}
		}
	}
	return true
}

// chunkTypes lists the chunk types of a PNG file, checking each CRC.
func chunkTypes(t *testing.T, b []byte) []string {
	t.Helper()
	var types []string
	b = b[8:]
	for len(b) >= 12 {
		n := binary.BigEndian.Uint32(b[:4])
		typ := string(b[4:8])
		if crc32.ChecksumIEEE(b[4:8+n]) != binary.BigEndian.Uint32(b[8+n:12+n]) {
			t.Fatalf("chunk %s has a bad CRC", typ)
		}
		types = append(types, typ)
		b = b[12+n:]
	}
	return types
}

func TestPNGTextRoundTrip(t *testing.T) {
	meta := map[string]string{
		"prompt":         "a red star above a blue ring",
		"latin1":         "café, naïve, ½ × ¼, «ok»",
		"multiline":      "line one\nline two",
		"cjk":            "東京タワーの夜景",
		"emoji":          "a cat 🐱 on a mat",
		"control":        "tab\there",
		"empty":          "",
		"Creation Time":  "2026-11-28T13:10:05Z",
		"invalid utf8":   "ok\xffok",
		"nul":            "a\x00b",
		"seed":           "1234",
		"revised_prompt": "should be kept over the image's",
	}
	want := map[string]string{}
	for k, v := range meta {
		want[k] = v
	}
	want["invalid utf8"] = "ok\uFFFDok"
	want["nul"] = "a\uFFFDb"

	dir := t.TempDir()
	res := &Result{Images: []Image{{Image: testImage(4), RevisedPrompt: "other"}}, Metadata: meta}
	paths, err := Save(res, SaveOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadPNGText(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %q\nwant %q", got, want)
	}
	// Latin-1 values in tEXt, the others in iTXt, all right after IHDR.
	types := chunkTypes(t, b)
	count := map[string]int{}
	for _, ty := range types {
		count[ty]++
	}
	if count["iTXt"] != 5 || count["tEXt"] != len(meta)-5 {
		t.Fatalf("chunks %v: want 5 iTXt (cjk, emoji, control, invalid utf8, nul) and %d tEXt", types, len(meta)-5)
	}
	if types[0] != "IHDR" || types[len(types)-1] != "IEND" {
		t.Fatalf("chunk order %v", types)
	}
	for _, ty := range types[1 : 1+len(meta)] {
		if ty != "tEXt" && ty != "iTXt" {
			t.Fatalf("text chunks not right after IHDR: %v", types)
		}
	}
	// The image itself is intact (image/png checks every CRC too).
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !sameImage(img, testImage(4)) {
		t.Fatal("pixels changed")
	}
}

func TestSaveEncodedPNGGetsMetadata(t *testing.T) {
	dir := t.TempDir()
	api := pngBytes(t, testImage(5))
	res := &Result{
		Images:   []Image{{Encoded: api, Format: "png", RevisedPrompt: "a revised prompt"}},
		Metadata: map[string]string{"prompt": "p", "backend": "openai"},
	}
	paths, err := Save(res, SaveOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(paths[0])
	got, err := ReadPNGText(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"prompt": "p", "backend": "openai", "revised_prompt": "a revised prompt"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("metadata %q, want %q", got, want)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || !sameImage(img, testImage(5)) {
		t.Fatalf("image changed: %v", err)
	}
	if _, ok := res.Metadata["revised_prompt"]; ok {
		t.Fatal("Save modified the caller's metadata")
	}
}

func TestSaveEncodedJPEGAsIs(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, testImage(6), nil); err != nil {
		t.Fatal(err)
	}
	res := &Result{Images: []Image{{Encoded: buf.Bytes()}}, Metadata: map[string]string{"prompt": "p"}}
	paths, err := Save(res, SaveOptions{Dir: dir, Path: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(paths[0]) != "x.jpg" {
		t.Fatalf("path %s", paths[0])
	}
	got, _ := os.ReadFile(paths[0])
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatal("JPEG bytes were changed")
	}
}

func TestSniffFormat(t *testing.T) {
	cases := map[string]string{
		"\x89PNG\r\n\x1a\nrest":        "png",
		"\xFF\xD8\xFF\xE0":             "jpeg",
		"RIFF\x00\x00\x00\x00WEBPVP8 ": "webp",
		"RIFF\x00\x00\x00\x00WAVE":     "",
		"GIF89a":                       "",
		"":                             "",
	}
	for in, want := range cases {
		if got := SniffFormat([]byte(in)); got != want {
			t.Errorf("SniffFormat(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadPNGTextErrors(t *testing.T) {
	good, err := InsertPNGText(pngBytes(t, testImage(1)), map[string]string{"k": "value"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ReadPNGText(bytes.NewReader(good)); err != nil || m["k"] != "value" {
		t.Fatalf("good file: %v %v", m, err)
	}
	// Flip one byte of the text value: the CRC no longer matches.
	bad := bytes.Clone(good)
	i := bytes.Index(bad, []byte("value"))
	bad[i] ^= 1
	if _, err := ReadPNGText(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "CRC") {
		t.Errorf("corrupt chunk: err = %v, want a CRC error", err)
	}
	for _, n := range []int{0, 5, 8, 20, 40, len(good) - 1} {
		if _, err := ReadPNGText(bytes.NewReader(good[:n])); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	if _, err := ReadPNGText(strings.NewReader("GIF89a....")); err == nil {
		t.Error("GIF accepted as PNG")
	}
	if _, err := InsertPNGText([]byte("nope"), nil); err == nil {
		t.Error("InsertPNGText accepted a non-PNG")
	}
}

// TestReadPNGTextCompressed checks zTXt and compressed iTXt chunks, which
// other tools write, built here by hand.
func TestReadPNGTextCompressed(t *testing.T) {
	base := pngBytes(t, testImage(1))
	deflate := func(b []byte) []byte {
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		return z.Bytes()
	}
	// zTXt: keyword, 0, method 0, zlib(Latin-1 text); 0xF1 is "ñ".
	zt := append([]byte("zk\x00\x00"), deflate([]byte("zipped \xf1"))...)
	// iTXt: keyword, 0, compressed 1, method 0, "en", 0, "Key", 0, zlib(UTF-8).
	it := append([]byte("ik\x00\x01\x00en\x00Key\x00"), deflate([]byte("zipped 🐱"))...)
	extra := append(rawChunk("zTXt", zt), rawChunk("iTXt", it)...)
	file := append(append(bytes.Clone(base[:33]), extra...), base[33:]...)
	got, err := ReadPNGText(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if got["zk"] != "zipped ñ" {
		t.Errorf("zTXt = %q", got["zk"])
	}
	if got["ik"] != "zipped 🐱" {
		t.Errorf("iTXt = %q", got["ik"])
	}
}

func rawChunk(typ string, data []byte) []byte {
	out := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(out[:4], uint32(len(data)))
	copy(out[4:], typ)
	out = append(out, data...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out[4:]))
}

func FuzzReadPNGText(f *testing.F) {
	var buf bytes.Buffer
	png.Encode(&buf, testImage(1))
	withText, _ := InsertPNGText(buf.Bytes(), map[string]string{"prompt": "a cat", "emoji": "🐱"})
	f.Add(withText)
	f.Add(buf.Bytes())
	f.Add([]byte(pngSignature))
	f.Add([]byte("not a png"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadPNGText(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Whatever parses must survive being written again.
		if len(b) >= 33 && string(b[12:16]) == "IHDR" && binary.BigEndian.Uint32(b[8:12]) == 13 {
			valid := map[string]string{}
			for k, v := range m {
				if validKeyword(k) {
					valid[k] = v
				}
			}
			out, err := InsertPNGText(b, valid)
			if err != nil {
				t.Fatalf("InsertPNGText after a successful read: %v", err)
			}
			if _, err := ReadPNGText(bytes.NewReader(out)); err != nil {
				t.Fatalf("re-read: %v", err)
			}
		}
	})
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	if err := WriteFileAtomic(path, []byte("one"), false); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("two"), false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second write without force: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "one" {
		t.Fatalf("file holds %q after a refused write", got)
	}
	if err := WriteFileAtomic(path, []byte("three"), true); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "three" {
		t.Fatalf("file holds %q after a forced write", got)
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), []byte("x"), false); err == nil {
		t.Fatal("write into a missing folder succeeded")
	}
	noTemps(t, dir)
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"tokens.json"}) {
		t.Fatalf("folder holds %q", names)
	}
}

// TestWriteFileAtomicForceKeepsLink checks that a forced write to a
// symbolic link writes the file the link leads to, keeping the link and
// the target's permission bits (as weights.WriteSafetensors does), and
// that an unforced write refuses the link, even a dangling one.
func TestWriteFileAtomicForceKeepsLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.json")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o600) // past the umask
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("real.json", link); err != nil {
		t.Skip("no symlinks:", err)
	}
	if err := WriteFileAtomic(link, []byte("new"), true); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link was replaced (%v, %v)", st.Mode(), err)
	}
	if got, _ := os.ReadFile(target); string(got) != "new" {
		t.Fatalf("target holds %q, want %q", got, "new")
	}
	if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("target mode %v (%v), want 0600", st.Mode().Perm(), err)
	}

	dangling := filepath.Join(dir, "dangling.json")
	if err := os.Symlink("missing.json", dangling); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, dangling} {
		if err := WriteFileAtomic(p, []byte("x"), false); !errors.Is(err, fs.ErrExist) {
			t.Errorf("unforced write to %s: %v, want fs.ErrExist", p, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("an unforced write created the dangling link's target")
	}
	noTemps(t, dir)
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"dangling.json", "link.json", "real.json"}) {
		t.Fatalf("folder holds %q", names)
	}
}

// TestSaveForceThroughLink: with Force, Save writes through a symbolic
// link (the link stays, the file it leads to is replaced and keeps its
// mode); without Force the link is refused and nothing is written.
func TestSaveForceThroughLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.png")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(target, 0o600) // past the umask
	if err := os.Symlink("real.png", filepath.Join(dir, "out.png")); err != nil {
		t.Skip("no symlinks:", err)
	}
	res := &Result{Images: []Image{{Image: testImage(4)}}, Metadata: map[string]string{"prompt": "p"}}
	if _, err := Save(res, SaveOptions{Dir: dir, Path: "out.png"}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Save without Force: %v, want fs.ErrExist", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "old" {
		t.Fatal("Save without Force changed the link's target")
	}
	if _, err := Save(res, SaveOptions{Dir: dir, Path: "out.png", Force: true}); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "out.png")); err != nil || l != "real.png" {
		t.Fatalf("the link was replaced: %q, %v", l, err)
	}
	f, err := os.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || !sameImage(img, testImage(4)) {
		t.Fatalf("the target is not the new image (%v)", err)
	}
	if st, err := os.Stat(target); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("target mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	noTemps(t, dir)
	if names := dirNames(t, dir); !reflect.DeepEqual(names, []string{"out.png", "real.png"}) {
		t.Fatalf("folder holds %q", names)
	}
}

// With Force, two images whose names are links to one file are refused,
// and nothing is written: following both, the second would replace the
// first.
func TestSaveForceTwoImagesOneFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.png")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"out-1.png", "out-2.png"} {
		if err := os.Symlink("real.png", filepath.Join(dir, name)); err != nil {
			t.Skip("no symlinks:", err)
		}
	}
	res := &Result{Images: []Image{{Image: testImage(4)}, {Image: testImage(5)}}, Metadata: map[string]string{"prompt": "p"}}
	_, err := Save(res, SaveOptions{Dir: dir, Path: "out.png", Force: true})
	if err == nil || !strings.Contains(err.Error(), "images 1 and 2 would both be written to one file") {
		t.Fatalf("Save: %v, want images 1 and 2 refused", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "old" {
		t.Fatal("Save changed the links' target")
	}
	noTemps(t, dir)
}
