package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tessella-ml/tessella/internal/atomicfile"
	"github.com/tessella-ml/tessella/weights"
)

// DefaultBaseURL is where min-dalle's files are published (Hugging Face
// repository kuprel/min-dalle).
const DefaultBaseURL = "https://huggingface.co/kuprel/min-dalle/resolve/main/"

// ManifestName is the file in the models folder where Pull records what it
// downloaded and converted.
const ManifestName = "tessella-manifest.json"

// BaseURL returns $TESSELLA_MIRROR when set, else DefaultBaseURL.
func BaseURL() string {
	if u := os.Getenv("TESSELLA_MIRROR"); u != "" {
		return u
	}
	return DefaultBaseURL
}

// RemoteFile is one published file and its place in the models folder.
type RemoteFile struct {
	Name    string // on the host, e.g. "encoder_mini.pt"
	Path    string // under the models folder, slash-separated, e.g. "dalle_bart_mini/encoder.pt"
	Weights bool   // a .pt state dict (what PullOptions.DType converts)
}

// PublishedFiles lists the files of model "mini" or "mega" (spec §3), laid
// out the way min-dalle stores them and Locate finds them.
func PublishedFiles(model string) ([]RemoteFile, error) {
	var suffix string
	switch model {
	case "mini":
		suffix = "_mini"
	case "mega":
	default:
		return nil, fmt.Errorf("pull: unknown model %q (want mini or mega)", model)
	}
	d := "dalle_bart_" + model + "/"
	return []RemoteFile{
		{Name: "vocab" + suffix + ".json", Path: d + "vocab.json"},
		{Name: "merges" + suffix + ".txt", Path: d + "merges.txt"},
		{Name: "encoder" + suffix + ".pt", Path: d + "encoder.pt", Weights: true},
		{Name: "decoder" + suffix + ".pt", Path: d + "decoder.pt", Weights: true},
		{Name: "detoker.pt", Path: "vqgan/detoker.pt", Weights: true},
	}, nil
}

// PullOptions tune Pull.
type PullOptions struct {
	ModelsDir string // "" → ModelsDir()
	BaseURL   string // "" → BaseURL() ($TESSELLA_MIRROR or DefaultBaseURL)
	// DType "" keeps the .pt files as published; F32, F16, BF16 or
	// weights.Q8 converts each to a .safetensors file beside it (which
	// Locate prefers) and then deletes the .pt unless KeepPT.
	DType  weights.DType
	KeepPT bool
	// Client makes the requests; nil uses one without an overall timeout
	// (ctx bounds the transfer) that waits at most a minute for headers.
	Client *http.Client
	// Retries is how many times an interrupted transfer is resumed before
	// Pull gives up (0 → 3; negative → none).
	Retries  int
	Progress io.Writer // progress bars; nil: none
	Log      io.Writer // one line per file; nil: none
}

// Pull downloads model "mini" or "mega" into the models folder (min-dalle's
// layout: dalle_bart_<model>/{vocab.json, merges.txt, encoder.pt,
// decoder.pt}, vqgan/detoker.pt) and returns its Files.
//
// Each file is fetched to NAME.part and renamed to NAME only once complete
// and checked, so an existing NAME is complete and is not fetched again.
// A NAME.part left by an interrupted transfer is resumed with an HTTP
// Range request; a server that ignores the range (200) or refuses it
// (416) makes the transfer start over. The size is checked against
// Content-Length, Content-Range and Hugging Face's X-Linked-Size; the
// SHA-256 against the host's when it gives one (X-Linked-Etag, or an ETag
// that is 64 hex digits, quoted or not). A file of the wrong size or hash
// is deleted and reported. Sizes and hashes (the host's, or computed here
// when it gives none) are recorded in ManifestName in the models folder.
// Cancelling ctx stops the transfer, keeping NAME.part for the next Pull.
// Two Pulls into one folder at once are not supported.
func Pull(ctx context.Context, model string, opts PullOptions) (Files, error) {
	files, err := PublishedFiles(model)
	if err != nil {
		return Files{}, err
	}
	switch opts.DType {
	case "", weights.F32, weights.F16, weights.BF16, weights.Q8:
	default:
		return Files{}, fmt.Errorf("pull: cannot convert to %q (want f32, f16, bf16 or q8)", opts.DType)
	}
	root := opts.ModelsDir
	if root == "" {
		root = ModelsDir()
	}
	base := opts.BaseURL
	if base == "" {
		base = BaseURL()
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Files{}, fmt.Errorf("pull: base URL %q is not an http(s) URL", base)
	}
	base = strings.TrimSuffix(base, "/") + "/"
	logf := func(format string, args ...any) {
		if opts.Log != nil {
			fmt.Fprintf(opts.Log, format+"\n", args...)
		}
	}
	manPath := filepath.Join(root, ManifestName)
	man, err := readManifest(manPath)
	if err != nil {
		return Files{}, err
	}
	dl := downloader{client: opts.Client, progress: opts.Progress, retries: opts.Retries, logf: logf}
	if dl.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = time.Minute
		dl.client = &http.Client{Transport: tr}
	}
	switch {
	case dl.retries == 0:
		dl.retries = 3
	case dl.retries < 0:
		dl.retries = 0
	}
	dtName := strings.ToLower(string(opts.DType))
	for _, rf := range files {
		dest := filepath.Join(root, filepath.FromSlash(rf.Path))
		convRel := strings.TrimSuffix(rf.Path, ".pt") + ".safetensors"
		conv := filepath.Join(root, filepath.FromSlash(convRel))
		if rf.Weights && opts.DType != "" {
			if e, ok := man.Files[convRel]; ok && e.DType == dtName && sizeIs(conv, e.Size) {
				logf("%s: up to date (%s)", convRel, dtName)
				continue
			}
		}
		if isFile(dest) {
			logf("%s: already downloaded", rf.Path)
		} else {
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return Files{}, fmt.Errorf("pull: %w", err)
			}
			e, err := dl.fetch(ctx, base+rf.Name, rf.Name, dest)
			if err != nil {
				return Files{}, err
			}
			man.Files[rf.Path] = e
			if err := man.write(manPath); err != nil {
				return Files{}, err
			}
			how := "sha256 computed (the host gave none)"
			if e.SHA256Checked {
				how = "sha256 checked"
			}
			logf("%s: downloaded %d bytes, %s", rf.Path, e.Size, how)
		}
		if !rf.Weights {
			continue
		}
		if opts.DType == "" {
			if isFile(conv) {
				logf("note: %s exists and is loaded instead of %s", convRel, rf.Path)
			}
			continue
		}
		if err := weights.ConvertFile(ctx, dest, conv, opts.DType,
			weights.ConvertOptions{Metadata: map[string]string{"tessella.source": rf.Name}}); err != nil {
			return Files{}, fmt.Errorf("pull: converting %s: %w", rf.Path, err)
		}
		st, err := os.Stat(conv)
		if err != nil {
			return Files{}, fmt.Errorf("pull: %w", err)
		}
		man.Files[convRel] = manifestEntry{Size: st.Size(), DType: dtName, From: rf.Path}
		if err := man.write(manPath); err != nil {
			return Files{}, err
		}
		logf("%s: converted to %s (%d bytes)", convRel, dtName, st.Size())
		if !opts.KeepPT {
			if err := os.Remove(dest); err != nil {
				return Files{}, fmt.Errorf("pull: %w", err)
			}
		}
	}
	return Locate(model, root)
}

func sizeIs(path string, size int64) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// manifest records, by slash path under the models folder, what Pull
// downloaded (URL, size, SHA-256) and converted (dtype, source).
type manifest struct {
	Files map[string]manifestEntry `json:"files"`
}

type manifestEntry struct {
	URL           string `json:"url,omitempty"`
	Size          int64  `json:"size"`
	SHA256        string `json:"sha256,omitempty"`
	SHA256Checked bool   `json:"sha256_checked,omitempty"` // the host gave this hash and the file matched it
	DType         string `json:"dtype,omitempty"`          // converted files: the precision
	From          string `json:"from,omitempty"`           // converted files: the .pt they came from
}

func readManifest(path string) (*manifest, error) {
	m := &manifest{Files: map[string]manifestEntry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("pull: %s is not a manifest (delete it to start afresh): %w", path, err)
	}
	if m.Files == nil {
		m.Files = map[string]manifestEntry{}
	}
	return m, nil
}

// write saves the manifest atomically (keys sorted by encoding/json) with
// atomicfile, replacing the old one: a synced temporary file of its own,
// renamed over path (through a symbolic link, keeping the mode).
func (m *manifest) write(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	if err := atomicfile.WriteBytes(path, append(b, '\n'), true); err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	return nil
}

// downloader fetches single files with resume and checks.
type downloader struct {
	client   *http.Client
	progress io.Writer
	retries  int
	logf     func(string, ...any)
}

// transferError is an interrupted transfer: worth resuming.
type transferError struct{ err error }

func (e *transferError) Error() string { return e.err.Error() }
func (e *transferError) Unwrap() error { return e.err }

// fetch downloads rawURL to dest through dest.part, resuming interrupted
// transfers up to d.retries times.
func (d *downloader) fetch(ctx context.Context, rawURL, name, dest string) (manifestEntry, error) {
	for attempt := 0; ; attempt++ {
		e, err := d.fetchOnce(ctx, rawURL, name, dest)
		if err == nil {
			return e, nil
		}
		var te *transferError
		if ctx.Err() != nil || !errors.As(err, &te) || attempt >= d.retries {
			return manifestEntry{}, err
		}
		d.logf("%s: %v; resuming (attempt %d of %d)", name, err, attempt+2, d.retries+1)
	}
}

var contentRange = regexp.MustCompile(`^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$`)

// hostSHA256 returns the SHA-256 the host states in an ETag-like header:
// 64 hex digits, optionally quoted and W/-prefixed; "" otherwise.
func hostSHA256(v string) string {
	v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
	v = strings.Trim(v, `"`)
	if len(v) != 64 {
		return ""
	}
	if _, err := hex.DecodeString(v); err != nil {
		return ""
	}
	return strings.ToLower(v)
}

// fetchOnce makes one request for the rest of dest.part and, when the file
// is complete, checks it and renames it to dest.
func (d *downloader) fetchOnce(ctx context.Context, rawURL, name, dest string) (manifestEntry, error) {
	part := dest + ".part"
	var have int64
	if st, err := os.Stat(part); err == nil && st.Mode().IsRegular() {
		have = st.Size()
	}
	host := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		host = u.Host
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("pull: %s from %s: "+format, append([]any{name, host}, args...)...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return manifestEntry{}, fail("%v", err)
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	// Hugging Face answers with a redirect to its CDN that carries the
	// LFS file's sha256 and size (X-Linked-Etag, X-Linked-Size); keep them.
	var linkedSHA, linkedSize string
	client := *d.client
	check := d.client.CheckRedirect
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if r.Response != nil {
			if v := r.Response.Header.Get("X-Linked-Etag"); v != "" {
				linkedSHA = v
			}
			if v := r.Response.Header.Get("X-Linked-Size"); v != "" {
				linkedSize = v
			}
		}
		if check != nil {
			return check(r, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return manifestEntry{}, fail("%w", ctx.Err())
		}
		return manifestEntry{}, &transferError{fail("%v", err)}
	}
	defer resp.Body.Close()
	if v := resp.Header.Get("X-Linked-Etag"); v != "" {
		linkedSHA = v
	}
	if v := resp.Header.Get("X-Linked-Size"); v != "" {
		linkedSize = v
	}
	wantSHA := hostSHA256(linkedSHA)
	if wantSHA == "" {
		wantSHA = hostSHA256(resp.Header.Get("Etag"))
	}
	total := int64(-1) // the whole file's size, when known
	if linkedSize != "" {
		n, err := strconv.ParseInt(linkedSize, 10, 64)
		if err != nil || n < 0 {
			return manifestEntry{}, fail("bad X-Linked-Size %q", linkedSize)
		}
		total = n
	}
	agree := func(n int64, what string) error {
		if total >= 0 && n != total {
			os.Remove(part)
			return fail("wrong size: %s says %d bytes, X-Linked-Size %d", what, n, total)
		}
		total = n
		return nil
	}
	flags := os.O_WRONLY | os.O_CREATE
	switch resp.StatusCode {
	case http.StatusOK: // the whole file (the server may have ignored the range)
		if have > 0 {
			d.logf("%s: the server ignored the range request; starting over", name)
		}
		have = 0
		flags |= os.O_TRUNC
		if resp.ContentLength >= 0 {
			if err := agree(resp.ContentLength, "Content-Length"); err != nil {
				return manifestEntry{}, err
			}
		}
	case http.StatusPartialContent:
		m := contentRange.FindStringSubmatch(resp.Header.Get("Content-Range"))
		if m == nil || m[1] == "" {
			return manifestEntry{}, fail("HTTP 206 with Content-Range %q", resp.Header.Get("Content-Range"))
		}
		start, _ := strconv.ParseInt(m[1], 10, 64)
		if start != have {
			os.Remove(part)
			return manifestEntry{}, &transferError{fail("asked for bytes from %d, got a range from %d; starting over", have, start)}
		}
		if m[3] != "*" {
			n, _ := strconv.ParseInt(m[3], 10, 64)
			if err := agree(n, "Content-Range"); err != nil {
				return manifestEntry{}, err
			}
		}
		flags |= os.O_APPEND
	case http.StatusRequestedRangeNotSatisfiable:
		m := contentRange.FindStringSubmatch(resp.Header.Get("Content-Range"))
		if m != nil && m[3] != "*" {
			if n, _ := strconv.ParseInt(m[3], 10, 64); n == have {
				return d.finish(rawURL, name, host, part, dest, wantSHA, have)
			}
		}
		os.Remove(part)
		return manifestEntry{}, &transferError{fail("the server refused to resume at byte %d; starting over", have)}
	default:
		err := fail("GET %s: HTTP %s", rawURL, resp.Status)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
			return manifestEntry{}, &transferError{err}
		}
		return manifestEntry{}, err
	}
	if total >= 0 && have > total {
		os.Remove(part)
		return manifestEntry{}, &transferError{fail("%s holds %d bytes, more than the file's %d; starting over", part, have, total)}
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return manifestEntry{}, fail("%v", err)
	}
	var bar *progressbar.ProgressBar
	var w io.Writer = f
	if d.progress != nil {
		bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(d.progress),
			progressbar.OptionSetDescription(name), progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
		bar.Set64(have)
		w = io.MultiWriter(f, bar)
	}
	body := io.Reader(resp.Body)
	if total >= 0 {
		body = io.LimitReader(resp.Body, total-have+1) // one byte more shows an overlong body
	}
	n, cerr := io.Copy(w, body)
	if bar != nil {
		bar.Finish()
	}
	if err := f.Sync(); err != nil && cerr == nil {
		cerr = err
	}
	if err := f.Close(); err != nil && cerr == nil {
		cerr = err
	}
	got := have + n
	if cerr != nil {
		if ctx.Err() != nil {
			return manifestEntry{}, fail("stopped after %d bytes (%s kept for resuming): %w", got, filepath.Base(part), ctx.Err())
		}
		of := ""
		if total >= 0 {
			of = fmt.Sprintf(" of %d", total)
		}
		return manifestEntry{}, &transferError{fail("transfer interrupted after %d%s bytes: %v", got, of, cerr)}
	}
	if total >= 0 && got != total {
		os.Remove(part)
		return manifestEntry{}, fail("wrong size: received %d bytes, the host announced %d", got, total)
	}
	return d.finish(rawURL, name, host, part, dest, wantSHA, got)
}

// finish hashes the complete part file, checks it against the host's
// SHA-256 when there is one, and renames it to dest.
func (d *downloader) finish(rawURL, name, host, part, dest, wantSHA string, size int64) (manifestEntry, error) {
	f, err := os.Open(part)
	if err != nil {
		return manifestEntry{}, fmt.Errorf("pull: %w", err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return manifestEntry{}, fmt.Errorf("pull: %s: %w", part, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if wantSHA != "" && sum != wantSHA {
		os.Remove(part)
		return manifestEntry{}, fmt.Errorf("pull: %s from %s: sha256 mismatch: the host says %s, the %d bytes received hash to %s (file deleted)", name, host, wantSHA, size, sum)
	}
	if err := os.Rename(part, dest); err != nil {
		return manifestEntry{}, fmt.Errorf("pull: %w", err)
	}
	if dir, err := os.Open(filepath.Dir(dest)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return manifestEntry{URL: rawURL, Size: size, SHA256: sum, SHA256Checked: wantSHA != ""}, nil
}
