package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tessella-ml/tessella/generator"
	"github.com/tessella-ml/tessella/weights"
)

// fakeHub imitates Hugging Face on a local server: GET /repo/resolve/main/NAME
// of an LFS file (.pt) redirects to /cdn/NAME with X-Linked-Etag (the
// quoted sha256) and X-Linked-Size; other files are served directly with a
// git-style 40-hex ETag (no hash to check). /cdn/ honours Range requests.
// faults makes one file misbehave.
type fakeHub struct {
	t      *testing.T
	srv    *httptest.Server
	files  map[string][]byte
	mu     sync.Mutex
	faults map[string]string // name → cut, ignore-range, wrong-size, wrong-sha, etag-only, etag-wrong, stall
	cut    map[string]bool
	log    []string // "NAME RANGE" of every /cdn/ or direct body request
	stall  chan struct{}
}

func newFakeHub(t *testing.T) *fakeHub {
	h := &fakeHub{t: t, files: map[string][]byte{}, faults: map[string]string{}, cut: map[string]bool{}, stall: make(chan struct{}, 1)}
	src := filepath.Join(engineData, "pt")
	for name, p := range map[string]string{
		"vocab_mini.json": "dalle_bart_mini/vocab.json", "merges_mini.txt": "dalle_bart_mini/merges.txt",
		"encoder_mini.pt": "dalle_bart_mini/encoder.pt", "decoder_mini.pt": "dalle_bart_mini/decoder.pt",
		"detoker.pt": "vqgan/detoker.pt",
	} {
		b, err := os.ReadFile(filepath.Join(src, p))
		if err != nil {
			t.Fatal(err)
		}
		h.files[name] = b
	}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fakeHub) base() string { return h.srv.URL + "/repo/resolve/main/" }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (h *fakeHub) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.log)
}

func (h *fakeHub) serve(w http.ResponseWriter, r *http.Request) {
	name, lfsHop := strings.CutPrefix(r.URL.Path, "/repo/resolve/main/")
	if !lfsHop {
		name = strings.TrimPrefix(r.URL.Path, "/cdn/")
	}
	body, ok := h.files[name]
	h.mu.Lock()
	fault := h.faults[name]
	h.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	lfs := strings.HasSuffix(name, ".pt")
	if lfsHop && lfs && fault != "etag-only" && fault != "etag-wrong" {
		sum, size := sha(body), len(body)
		switch fault {
		case "wrong-sha":
			sum = sha(append([]byte("x"), body...))
		case "wrong-size":
			size += 7
		}
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(size))
		http.Redirect(w, r, "/cdn/"+name, http.StatusFound)
		return
	}
	h.mu.Lock()
	h.log = append(h.log, name+" "+r.Header.Get("Range"))
	first := !h.cut[name]
	h.cut[name] = true
	h.mu.Unlock()
	switch {
	case !lfs:
		w.Header().Set("Etag", `"`+sha(body)[:40]+`"`)
	case fault == "etag-only":
		w.Header().Set("Etag", `"`+sha(body)+`"`)
	case fault == "etag-wrong":
		w.Header().Set("Etag", `"`+strings.Repeat("ab", 32)+`"`)
	}
	switch {
	case fault == "cut" && first:
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection drops mid-body
	case fault == "stall":
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		h.stall <- struct{}{}
		<-r.Context().Done()
		return
	case fault == "ignore-range":
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
		return
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(body))
}

func pullOpts(h *fakeHub, dir string) PullOptions {
	return PullOptions{ModelsDir: dir, BaseURL: h.base(), Client: h.srv.Client()}
}

// published maps each local path to the bytes the hub serves for it.
func (h *fakeHub) published(t *testing.T) map[string][]byte {
	files, err := PublishedFiles("mini")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		m[f.Path] = h.files[f.Name]
	}
	return m
}

func checkFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	for p, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s: %d bytes differ from the %d published", p, len(got), len(b))
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)) + ".part"); err == nil {
			t.Errorf("%s.part left behind", p)
		}
	}
}

// A full pull lays the files out for Locate, records their sizes and
// hashes (checked for the LFS files, computed for the others), draws
// progress bars, and a second pull fetches nothing.
func TestPullFull(t *testing.T) {
	h := newFakeHub(t)
	dir := t.TempDir()
	var progress, log bytes.Buffer
	opts := pullOpts(h, dir)
	opts.Progress, opts.Log = &progress, &log
	f, err := Pull(context.Background(), "mini", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, h.published(t))
	if f.Encoder != filepath.Join(dir, "dalle_bart_mini", "encoder.pt") || f.VQGAN != filepath.Join(dir, "vqgan", "detoker.pt") {
		t.Errorf("Locate gives %+v", f)
	}
	if progress.Len() == 0 {
		t.Error("no progress bar drawn")
	}
	man, err := readManifest(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range h.published(t) {
		e := man.Files[p]
		if e.Size != int64(len(b)) || e.SHA256 != sha(b) || e.SHA256Checked != strings.HasSuffix(p, ".pt") {
			t.Errorf("manifest %s: %+v", p, e)
		}
	}
	n := len(h.requests())
	log.Reset()
	if _, err := Pull(context.Background(), "mini", opts); err != nil {
		t.Fatal(err)
	}
	if len(h.requests()) != n {
		t.Errorf("second pull made %d requests", len(h.requests())-n)
	}
	if c := strings.Count(log.String(), "already downloaded"); c != 5 {
		t.Errorf("second pull: %d files skipped, want 5:\n%s", c, log.String())
	}
}

// --dtype converts each .pt to .safetensors, deletes the .pt (unless
// KeepPT), and the model then generates exactly what the published .pt
// files give (f32) or loads and runs (q8); a repeated pull is a no-op.
func TestPullConvert(t *testing.T) {
	h := newFakeHub(t)
	cfg, err := os.ReadFile(filepath.Join(engineData, "pt", "dalle_bart_mini", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := Open(Options{Model: filepath.Join(engineData, "pt")})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	seed := uint64(7)
	want, err := ref.Generate(context.Background(), &generator.Request{Prompt: "a red star", Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dt   weights.DType
		keep bool
	}{{weights.F32, false}, {weights.Q8, true}} {
		dir := t.TempDir()
		opts := pullOpts(h, dir)
		opts.DType, opts.KeepPT = c.dt, c.keep
		f, err := Pull(context.Background(), "mini", opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{f.Encoder, f.Decoder, f.VQGAN} {
			if filepath.Ext(p) != ".safetensors" {
				t.Errorf("%s: Locate found %s", c.dt, p)
			}
			_, err := os.Stat(strings.TrimSuffix(p, ".safetensors") + ".pt")
			if c.keep != (err == nil) {
				t.Errorf("%s keep=%v: .pt present: %v", c.dt, c.keep, err == nil)
			}
		}
		wf, err := weights.Open(f.Decoder)
		if err != nil {
			t.Fatal(err)
		}
		m := wf.Metadata()
		tn, _ := wf.Tensor("layers.0.glu.fc0.weight")
		if m["tessella.dtype"] != strings.ToLower(string(c.dt)) || m["tessella.source"] != "decoder_mini.pt" || (c.dt == weights.Q8) != tn.IsQ8() {
			t.Errorf("%s: metadata %v, fc0 q8 %v", c.dt, m, tn.IsQ8())
		}
		wf.Close()
		n := len(h.requests())
		var log bytes.Buffer
		opts.Log = &log
		if _, err := Pull(context.Background(), "mini", opts); err != nil {
			t.Fatal(err)
		}
		if len(h.requests()) != n || strings.Count(log.String(), "up to date") != 3 {
			t.Errorf("%s: the repeated pull made %d requests:\n%s", c.dt, len(h.requests())-n, log.String())
		}
		if err := os.WriteFile(filepath.Join(dir, "dalle_bart_mini", "config.json"), cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		eng, err := Open(Options{Model: "mini", ModelsDir: dir})
		if err != nil {
			t.Fatalf("%s: %v", c.dt, err)
		}
		got, err := eng.Generate(context.Background(), &generator.Request{Prompt: "a red star", Seed: &seed})
		eng.Close()
		if err != nil {
			t.Fatal(err)
		}
		if c.dt == weights.F32 && !slices.Equal(got.Tokens[0], want.Tokens[0]) {
			t.Errorf("f32 conversion changed the tokens")
		}
	}
}

// A transfer cut mid-body is resumed with a Range request from where it
// stopped, within one Pull (retries) or by the next Pull (no retries).
func TestPullResume(t *testing.T) {
	for _, retries := range []int{0, -1} {
		h := newFakeHub(t)
		h.faults["decoder_mini.pt"] = "cut"
		dir := t.TempDir()
		opts := pullOpts(h, dir)
		opts.Retries = retries
		_, err := Pull(context.Background(), "mini", opts)
		part := filepath.Join(dir, "dalle_bart_mini", "decoder.pt.part")
		if retries < 0 {
			if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "decoder_mini.pt") {
				t.Fatalf("no retries: %v", err)
			}
			st, serr := os.Stat(part)
			if serr != nil || st.Size() == 0 {
				t.Fatalf("no partial file kept: %v", serr)
			}
			if _, err = Pull(context.Background(), "mini", opts); err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		checkFiles(t, dir, h.published(t))
		var ranges []string
		for _, r := range h.requests() {
			if strings.HasPrefix(r, "decoder_mini.pt bytes=") {
				ranges = append(ranges, r)
			}
		}
		if len(ranges) != 1 || strings.HasPrefix(ranges[0], "decoder_mini.pt bytes=0-") {
			t.Errorf("retries %d: range requests %v, want one from the cut", retries, ranges)
		}
	}
}

// A server that ignores Range sends the whole file again: the .part is
// restarted from byte 0. A stale .part whose bytes are wrong, resumed by a
// server that honours Range, is caught by the sha256 and deleted; a
// complete .part (the server answers 416) is checked and kept.
func TestPullPartFiles(t *testing.T) {
	h := newFakeHub(t)
	h.faults["encoder_mini.pt"] = "ignore-range"
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "dalle_bart_mini"), 0o755)
	junk := bytes.Repeat([]byte("x"), 100)
	os.WriteFile(filepath.Join(dir, "dalle_bart_mini", "encoder.pt.part"), junk, 0o644)
	os.WriteFile(filepath.Join(dir, "dalle_bart_mini", "decoder.pt.part"), junk, 0o644)
	os.MkdirAll(filepath.Join(dir, "vqgan"), 0o755)
	os.WriteFile(filepath.Join(dir, "vqgan", "detoker.pt.part"), h.files["detoker.pt"], 0o644)
	_, err := Pull(context.Background(), "mini", pullOpts(h, dir))
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") || !strings.Contains(err.Error(), "decoder_mini.pt") {
		t.Fatalf("stale decoder .part: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dalle_bart_mini", "decoder.pt.part")); err == nil {
		t.Error("the bad .part was kept")
	}
	if _, err := Pull(context.Background(), "mini", pullOpts(h, dir)); err != nil {
		t.Fatal(err)
	}
	checkFiles(t, dir, h.published(t))
	reqs := strings.Join(h.requests(), "\n")
	for _, want := range []string{"encoder_mini.pt bytes=100-", "decoder_mini.pt bytes=100-", "decoder_mini.pt \n", fmt.Sprintf("detoker.pt bytes=%d-", len(h.files["detoker.pt"]))} {
		if !strings.Contains(reqs+"\n", want) {
			t.Errorf("no request %q among\n%s", want, reqs)
		}
	}
}

// Wrong sizes and hashes, from the redirect's X-Linked-* headers or the
// file's own ETag, are errors that name the file and host and leave no
// file behind.
func TestPullChecks(t *testing.T) {
	for fault, msg := range map[string]string{
		"wrong-size": "wrong size",
		"wrong-sha":  "sha256 mismatch",
		"etag-wrong": "sha256 mismatch",
		"etag-only":  "",
	} {
		h := newFakeHub(t)
		h.faults["detoker.pt"] = fault
		dir := t.TempDir()
		_, err := Pull(context.Background(), "mini", pullOpts(h, dir))
		dest := filepath.Join(dir, "vqgan", "detoker.pt")
		if msg == "" {
			if err != nil {
				t.Errorf("%s: %v", fault, err)
			}
			man, _ := readManifest(filepath.Join(dir, ManifestName))
			if !man.Files["vqgan/detoker.pt"].SHA256Checked {
				t.Errorf("%s: the ETag's sha256 was not used", fault)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "detoker.pt") || !strings.Contains(err.Error(), h.srv.Listener.Addr().String()) {
			t.Errorf("%s: %v (want %q, the file and the host)", fault, err, msg)
		}
		for _, p := range []string{dest, dest + ".part"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("%s: %s exists", fault, p)
			}
		}
	}
}

func TestPullErrors(t *testing.T) {
	h := newFakeHub(t)
	delete(h.files, "merges_mini.txt")
	dir := t.TempDir()
	_, err := Pull(context.Background(), "mini", pullOpts(h, dir))
	if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "merges_mini.txt") || !strings.Contains(err.Error(), h.srv.Listener.Addr().String()) {
		t.Errorf("404: %v", err)
	}
	if _, err := Pull(context.Background(), "maxi", pullOpts(h, dir)); err == nil {
		t.Error("model maxi accepted")
	}
	bad := pullOpts(h, dir)
	bad.BaseURL = "ftp://example.com/"
	if _, err := Pull(context.Background(), "mini", bad); err == nil {
		t.Error("ftp base URL accepted")
	}
	bad = pullOpts(h, dir)
	bad.DType = weights.I8
	if _, err := Pull(context.Background(), "mini", bad); err == nil {
		t.Error("dtype I8 accepted")
	}
	if files, err := PublishedFiles("mega"); err != nil || files[2].Name != "encoder.pt" || files[4].Path != "vqgan/detoker.pt" {
		t.Errorf("mega files %v, %v", files, err)
	}
}

// $TESSELLA_MIRROR replaces the default host.
func TestPullMirrorEnv(t *testing.T) {
	h := newFakeHub(t)
	t.Setenv("TESSELLA_MIRROR", strings.TrimSuffix(h.base(), "/"))
	if BaseURL() != strings.TrimSuffix(h.base(), "/") {
		t.Fatal("BaseURL ignores $TESSELLA_MIRROR")
	}
	opts := pullOpts(h, t.TempDir())
	opts.BaseURL = ""
	if _, err := Pull(context.Background(), "mini", opts); err != nil {
		t.Fatal(err)
	}
	if len(h.requests()) != 5 {
		t.Errorf("%d requests reached the mirror", len(h.requests()))
	}
}

// Cancelling stops a transfer in the middle; the partial file is kept.
func TestPullCancel(t *testing.T) {
	h := newFakeHub(t)
	h.faults["decoder_mini.pt"] = "stall"
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	part := filepath.Join(dir, "dalle_bart_mini", "decoder.pt.part")
	go func() {
		<-h.stall // half the body is on its way: cancel once some of it is on disk
		for range 500 {
			if st, err := os.Stat(part); err == nil && st.Size() > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	_, err := Pull(ctx, "mini", pullOpts(h, dir))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pull: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dalle_bart_mini", "decoder.pt")); err == nil {
		t.Error("the interrupted file was completed")
	}
	if st, err := os.Stat(part); err != nil || st.Size() == 0 {
		t.Errorf("no .part kept: %v", err)
	}
}
