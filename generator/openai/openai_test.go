package openai

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessella-ml/tessella/generator"
)

// testKey is the API key every test uses; no output may contain it.
const testKey = "sk-test-0123456789SECRETabcdef"

// clearEnv removes every OPENAI_* variable for the test (restored after).
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OPENAI_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, k := range []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_CUSTOM_HEADERS", "OPENAI_ADMIN_KEY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// call is one request the mimic server received.
type call struct {
	method, path string
	header       http.Header
	body         []byte
}

// mimic is an httptest server standing in for the API. respond answers
// request n (0-based).
type mimic struct {
	srv     *httptest.Server
	mu      sync.Mutex
	calls   []call
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newMimic(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *mimic {
	t.Helper()
	m := &mimic{respond: respond}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		n := len(m.calls)
		m.calls = append(m.calls, call{r.Method, r.URL.Path, r.Header.Clone(), body})
		m.mu.Unlock()
		m.respond(n, w, r)
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *mimic) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.calls)
}

func (m *mimic) call(i int) call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[i]
}

// sleeps records the retry waits a backend asked for instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

// newBackend makes a Backend talking to m whose retry waits are recorded,
// not slept.
func newBackend(t *testing.T, m *mimic, opts Options) (*Backend, *sleeps) {
	t.Helper()
	if opts.APIKey == "" && opts.KeyFile == "" {
		opts.APIKey = testKey
	}
	opts.BaseURL = m.srv.URL + "/v1"
	opts.HTTPClient = m.srv.Client()
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &sleeps{}
	b.sleep = s.sleep
	return b, s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, typ, code, param, msg string) {
	e := map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func testPNG(t *testing.T, shade uint8) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 4, 3))
	for i := range img.Pix {
		img.Pix[i] = shade + uint8(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// okResponse is a GPT-image-style success body.
func okResponse(images ...[]byte) map[string]any {
	var data []map[string]any
	for _, im := range images {
		data = append(data, map[string]any{"b64_json": base64.StdEncoding.EncodeToString(im)})
	}
	return map[string]any{
		"created":       1764335405,
		"data":          data,
		"size":          "1024x1024",
		"quality":       "high",
		"output_format": "png",
		"background":    "opaque",
		"usage": map[string]any{
			"input_tokens": 12, "output_tokens": 4160, "total_tokens": 4172,
			"input_tokens_details": map[string]any{"text_tokens": 12, "image_tokens": 0},
		},
	}
}

func TestRequestJSONAndHeaders(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 1)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, okResponse(img)) })
	b, _ := newBackend(t, m, Options{})
	comp := 80
	_, err := b.Generate(context.Background(), &generator.Request{
		Prompt:            "a red star above a blue ring",
		N:                 1,
		APIModel:          "gpt-image-2",
		Size:              "1536x1024",
		Quality:           "high",
		OutputFormat:      "webp",
		OutputCompression: &comp,
		Background:        "opaque",
		Moderation:        "low",
		User:              "user-1234",
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.count() != 1 {
		t.Fatalf("%d requests, want 1", m.count())
	}
	c := m.call(0)
	if c.method != http.MethodPost || c.path != "/v1/images/generations" {
		t.Errorf("request %s %s, want POST /v1/images/generations", c.method, c.path)
	}
	if got := c.header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
	if mt, _, _ := mime.ParseMediaType(c.header.Get("Content-Type")); mt != "application/json" {
		t.Errorf("Content-Type = %q", c.header.Get("Content-Type"))
	}
	var got map[string]any
	if err := json.Unmarshal(c.body, &got); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, c.body)
	}
	want := map[string]any{
		"prompt":             "a red star above a blue ring",
		"n":                  1.0,
		"model":              "gpt-image-2",
		"size":               "1536x1024",
		"quality":            "high",
		"output_format":      "webp",
		"output_compression": 80.0,
		"background":         "opaque",
		"moderation":         "low",
		"user":               "user-1234",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body\n got %v\nwant %v", got, want)
	}

	// A bare request sends the prompt and the default model only.
	if _, err := b.Generate(context.Background(), &generator.Request{Prompt: "a cat"}); err != nil {
		t.Fatal(err)
	}
	got = nil
	json.Unmarshal(m.call(1).body, &got)
	if want := map[string]any{"prompt": "a cat", "model": DefaultModel}; !reflect.DeepEqual(got, want) {
		t.Errorf("bare body %v, want %v", got, want)
	}
	if b.Name() != "openai:"+DefaultModel {
		t.Errorf("Name() = %q", b.Name())
	}
}

func TestModelOption(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 1)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, okResponse(img)) })
	b, _ := newBackend(t, m, Options{Model: "some-future-model-9"})
	res, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.Unmarshal(m.call(0).body, &body)
	if body["model"] != "some-future-model-9" || res.Metadata["model"] != "some-future-model-9" {
		t.Fatalf("model sent %v, metadata %q", body["model"], res.Metadata["model"])
	}
}

func TestDecodeImages(t *testing.T) {
	clearEnv(t)
	img1, img2 := testPNG(t, 10), testPNG(t, 20)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		resp := okResponse(img1, img2)
		for _, d := range resp["data"].([]map[string]any) {
			d["revised_prompt"] = "a bright red star above a blue ring"
		}
		writeJSON(w, 200, resp)
	})
	b, _ := newBackend(t, m, Options{})
	var progress []generator.Progress
	res, err := b.Generate(context.Background(), &generator.Request{
		Prompt: "a red star above a blue ring", N: 2, Quality: "auto",
		Progress: func(p generator.Progress) { progress = append(progress, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 || !bytes.Equal(res.Images[0].Encoded, img1) || !bytes.Equal(res.Images[1].Encoded, img2) {
		t.Fatal("decoded images differ from the ones sent")
	}
	for i, im := range res.Images {
		if im.Format != "png" || im.RevisedPrompt != "a bright red star above a blue ring" || im.Image != nil {
			t.Errorf("image %d: format %q, revised %q", i, im.Format, im.RevisedPrompt)
		}
	}
	wantMeta := map[string]string{
		"prompt":         "a red star above a blue ring",
		"backend":        "openai",
		"model":          DefaultModel,
		"size":           "1024x1024",
		"quality":        "high", // the response's, not the request's "auto"
		"output_format":  "png",
		"background":     "opaque",
		"revised_prompt": "a bright red star above a blue ring",
		"created":        "2025-11-28T13:10:05Z",
	}
	if !reflect.DeepEqual(res.Metadata, wantMeta) {
		t.Errorf("metadata\n got %v\nwant %v", res.Metadata, wantMeta)
	}
	if res.Usage == nil || *res.Usage != (generator.Usage{InputTokens: 12, OutputTokens: 4160, TotalTokens: 4172}) {
		t.Errorf("usage = %+v", res.Usage)
	}
	if !res.Created.Equal(time.Unix(1764335405, 0)) {
		t.Errorf("created = %v", res.Created)
	}
	if len(res.Timings) == 0 || res.Timings[0].Stage != "request" {
		t.Errorf("timings = %v", res.Timings)
	}
	if len(progress) != 2 || progress[0].Done != 0 || progress[1].Done != 1 || progress[1].Stage != "request" {
		t.Errorf("progress = %+v", progress)
	}

	// Written through the shared output path, with the metadata in the files.
	dir := t.TempDir()
	paths, err := generator.Save(res, generator.SaveOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "a-red-star-above-a-blue-ring-20251128-131005-1.png"),
		filepath.Join(dir, "a-red-star-above-a-blue-ring-20251128-131005-2.png"),
	}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths %q, want %q", paths, want)
	}
	f, err := os.Open(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	text, err := generator.ReadPNGText(f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(text, wantMeta) {
		t.Errorf("file metadata\n got %v\nwant %v", text, wantMeta)
	}
}

func TestDecodeJPEG(t *testing.T) {
	clearEnv(t)
	var buf bytes.Buffer
	jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		resp := okResponse(buf.Bytes())
		resp["output_format"] = "jpeg"
		delete(resp, "usage")
		writeJSON(w, 200, resp)
	})
	b, _ := newBackend(t, m, Options{})
	res, err := b.Generate(context.Background(), &generator.Request{Prompt: "x", OutputFormat: "jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Format != "jpeg" || !bytes.Equal(res.Images[0].Encoded, buf.Bytes()) {
		t.Fatalf("format %q", res.Images[0].Format)
	}
	if res.Usage != nil {
		t.Errorf("usage %+v from a response without usage", res.Usage)
	}
}

// TestLegacyURL: a legacy server answers with data[].url; the image is
// downloaded without the API key.
func TestLegacyURL(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 30)
	var m *mimic
	m = newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/files/img.png" {
			w.Header().Set("Content-Type", "image/png")
			w.Write(img)
			return
		}
		writeJSON(w, 200, map[string]any{"created": 1, "data": []any{map[string]any{"url": m.srv.URL + "/files/img.png"}}})
	})
	b, _ := newBackend(t, m, Options{})
	res, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(res.Images[0].Encoded, img) {
		t.Fatal("downloaded image differs")
	}
	if m.count() != 2 || m.call(1).path != "/files/img.png" {
		t.Fatalf("%d requests", m.count())
	}
	if h := m.call(1).header.Get("Authorization"); h != "" {
		t.Fatalf("download sent Authorization %q", h)
	}
}

// errorCase is one failing exchange.
type errorCase struct {
	name    string
	respond func(n int, w http.ResponseWriter, r *http.Request)
	class   Class
	exit    int
	reqs    int    // requests sent (MaxRetries is 2)
	line    string // exact Error() text, if set
	contain string // a part of Error(), if set
}

func errorCases(t *testing.T) []errorCase {
	always := func(status int, typ, code, param, msg string) func(int, http.ResponseWriter, *http.Request) {
		return func(n int, w http.ResponseWriter, r *http.Request) { apiError(w, status, typ, code, param, msg) }
	}
	raw := func(status int, ctype, body string) func(int, http.ResponseWriter, *http.Request) {
		return func(n int, w http.ResponseWriter, r *http.Request) {
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	notImage := base64.StdEncoding.EncodeToString([]byte("plain text, not an image"))
	return []errorCase{
		{name: "401", respond: always(401, "invalid_request_error", "invalid_api_key", "", "Incorrect API key provided: sk-test-****cdef."),
			class: ClassAuth, exit: 3, reqs: 1,
			line: "openai: 401 invalid_api_key (invalid_request_error): Incorrect API key provided: sk-test-****cdef."},
		{name: "403 region", respond: always(403, "request_forbidden", "unsupported_country_region_territory", "", "Country, region, or territory not supported"),
			class: ClassAuth, exit: 3, reqs: 1},
		{name: "content policy", respond: always(400, "invalid_request_error", "content_policy_violation", "", "Your request was rejected by the safety system."),
			class: ClassRefused, exit: 4, reqs: 1,
			line: "openai: 400 content_policy_violation (invalid_request_error): Your request was rejected by the safety system."},
		{name: "moderation blocked", respond: always(400, "image_generation_user_error", "moderation_blocked", "", "Blocked by moderation."),
			class: ClassRefused, exit: 4, reqs: 1},
		{name: "insufficient quota", respond: func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0")
			apiError(w, 429, "insufficient_quota", "insufficient_quota", "", "You exceeded your current quota, please check your plan and billing details.")
		}, class: ClassQuota, exit: 5, reqs: 1,
			line: "openai: 429 insufficient_quota: You exceeded your current quota, please check your plan and billing details."},
		{name: "rate limit", respond: always(429, "requests", "rate_limit_exceeded", "", "Rate limit reached for requests."),
			class: ClassRateLimit, exit: 6, reqs: 3,
			line: "openai: 429 rate_limit_exceeded (requests): Rate limit reached for requests. (gave up after 3 attempts)"},
		{name: "bad request", respond: always(400, "invalid_request_error", "invalid_value", "size", "Invalid value: '7x7'."),
			class: ClassBadRequest, exit: 7, reqs: 1,
			line: "openai: 400 invalid_value (invalid_request_error, param size): Invalid value: '7x7'."},
		{name: "unknown model", respond: always(404, "invalid_request_error", "model_not_found", "model", "The model 'dall-e-3' does not exist."),
			class: ClassBadRequest, exit: 7, reqs: 1},
		{name: "500", respond: always(500, "server_error", "", "", "The server had an error while processing your request."),
			class: ClassServer, exit: 8, reqs: 3,
			line: "openai: 500 (server_error): The server had an error while processing your request. (gave up after 3 attempts)"},
		{name: "503 html", respond: raw(503, "text/html", "<html><body>\n<h1>503 Service Unavailable</h1>\n</body></html>"),
			class: ClassServer, exit: 8, reqs: 3, contain: "503: unexpected error body (text/html): <html><body> <h1>503 Service Unavailable</h1> </body></html>"},
		{name: "502 empty", respond: raw(502, "", ""),
			class: ClassServer, exit: 8, reqs: 3, contain: "openai: 502: Bad Gateway"},
		{name: "error is a string", respond: raw(400, "application/json", `{"error":"text"}`),
			class: ClassBadRequest, exit: 7, reqs: 1, line: "openai: 400: text"},
		{name: "error is a number", respond: raw(400, "application/json", `{"error":42}`),
			class: ClassBadRequest, exit: 7, reqs: 1, contain: "42"},
		{name: "4xx not JSON", respond: raw(400, "text/plain", "bad things"),
			class: ClassBadRequest, exit: 7, reqs: 1, line: "openai: 400: unexpected error body (text/plain): bad things"},
		{name: "200 malformed JSON", respond: raw(200, "application/json", `{"created": 1, "data": [`),
			class: ClassServer, exit: 8, reqs: 1, contain: "malformed response"},
		{name: "200 not JSON", respond: raw(200, "text/html", "<html>login page</html>"),
			class: ClassServer, exit: 8, reqs: 1, contain: "malformed response"},
		{name: "200 no data", respond: raw(200, "application/json", `{"created": 1, "data": []}`),
			class: ClassServer, exit: 8, reqs: 1, contain: "no images"},
		{name: "200 bad base64", respond: raw(200, "application/json", `{"created": 1, "data": [{"b64_json": "!!!not base64"}]}`),
			class: ClassServer, exit: 8, reqs: 1, contain: "not base64"},
		{name: "200 not an image", respond: raw(200, "application/json", `{"created": 1, "data": [{"b64_json": "`+notImage+`"}]}`),
			class: ClassServer, exit: 8, reqs: 1, contain: "not a PNG, JPEG or WebP"},
		{name: "200 error envelope", respond: raw(200, "application/json", `{"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}}`),
			class: ClassQuota, exit: 5, reqs: 1},
		{name: "no retry when told", respond: func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("x-should-retry", "false")
			apiError(w, 500, "server_error", "", "", "no")
		}, class: ClassServer, exit: 8, reqs: 1},
	}
}

func TestErrorClasses(t *testing.T) {
	clearEnv(t)
	for _, c := range errorCases(t) {
		t.Run(c.name, func(t *testing.T) {
			m := newMimic(t, c.respond)
			b, _ := newBackend(t, m, Options{})
			res, err := b.Generate(context.Background(), &generator.Request{Prompt: "a cat"})
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not *Error", err, err)
			}
			if e.Class != c.class {
				t.Errorf("class %v, want %v (%v)", e.Class, c.class, err)
			}
			if got := ExitCode(err); got != c.exit {
				t.Errorf("ExitCode = %d, want %d", got, c.exit)
			}
			if m.count() != c.reqs {
				t.Errorf("%d requests, want %d", m.count(), c.reqs)
			}
			msg := err.Error()
			if c.line != "" && msg != c.line {
				t.Errorf("Error()\n got %q\nwant %q", msg, c.line)
			}
			if c.contain != "" && !strings.Contains(msg, c.contain) {
				t.Errorf("Error() %q does not contain %q", msg, c.contain)
			}
			if strings.ContainsAny(msg, "\r\n") || !strings.HasPrefix(msg, "openai: ") {
				t.Errorf("Error() is not one line starting with openai: %q", msg)
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 1)
	date := time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 0:
			w.Header().Set("Retry-After", "2")
			apiError(w, 429, "requests", "rate_limit_exceeded", "", "slow down")
		case 1:
			w.Header().Set("Retry-After-Ms", "150")
			w.Header().Set("Retry-After", "9") // Retry-After-Ms wins
			apiError(w, 429, "tokens", "rate_limit_exceeded", "", "slow down")
		case 2:
			w.Header().Set("Retry-After", date)
			apiError(w, 503, "server_error", "", "", "overloaded")
		default:
			writeJSON(w, 200, okResponse(img))
		}
	})
	b, s := newBackend(t, m, Options{MaxRetries: 3})
	if _, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"}); err != nil {
		t.Fatal(err)
	}
	if m.count() != 4 {
		t.Fatalf("%d requests, want 4", m.count())
	}
	if len(s.d) != 3 || s.d[0] != 2*time.Second || s.d[1] != 150*time.Millisecond {
		t.Fatalf("waits %v, want [2s 150ms ~30s]", s.d)
	}
	// An HTTP date is a wait until then: between 28 s and 30 s from now
	// (the date has a one-second resolution).
	if s.d[2] < 28*time.Second || s.d[2] > 30*time.Second {
		t.Errorf("wait for an HTTP date 30 s ahead: %v", s.d[2])
	}
	// Every attempt is the same request.
	for i := 1; i < 4; i++ {
		if !bytes.Equal(m.call(i).body, m.call(0).body) {
			t.Errorf("request %d body differs from the first", i)
		}
	}
}

func TestBackoffWithoutRetryAfter(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		apiError(w, 500, "server_error", "", "", "oops")
	})
	b, s := newBackend(t, m, Options{MaxRetries: 4})
	b.Generate(context.Background(), &generator.Request{Prompt: "x"})
	if len(s.d) != 4 {
		t.Fatalf("waits %v, want 4", s.d)
	}
	for i, d := range s.d {
		hi := min(maxBackoff, time.Duration(500<<i)*time.Millisecond)
		if d > hi || d < hi*3/4 {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, d, hi*3/4, hi)
		}
	}
}

func TestRetryAfterTooLongStops(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		apiError(w, 429, "requests", "rate_limit_exceeded", "", "come back later")
	})
	b, s := newBackend(t, m, Options{MaxRetryDelay: time.Minute})
	_, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"})
	var e *Error
	if !errors.As(err, &e) || e.Class != ClassRateLimit || e.RetryAfter != time.Hour {
		t.Fatalf("err = %v", err)
	}
	if m.count() != 1 || len(s.d) != 0 {
		t.Fatalf("%d requests, waits %v: want 1 request, no wait", m.count(), s.d)
	}
	if !strings.Contains(err.Error(), "wait 1h0m0s") {
		t.Errorf("Error() %q does not say how long the server asked to wait", err)
	}
}

// TestRetryRealWait runs one retry with the real timer (a 5 ms wait).
func TestRetryRealWait(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 1)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			w.Header().Set("Retry-After-Ms", "5")
			apiError(w, 429, "requests", "rate_limit_exceeded", "", "slow down")
			return
		}
		writeJSON(w, 200, okResponse(img))
	})
	b, _ := newBackend(t, m, Options{})
	b.sleep = sleepCtx
	if _, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"}); err != nil {
		t.Fatal(err)
	}
	if m.count() != 2 {
		t.Fatalf("%d requests, want 2", m.count())
	}
}

func TestInsufficientQuotaNotRetried(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After-Ms", "1")
		apiError(w, 429, "insufficient_quota", "insufficient_quota", "", "You exceeded your current quota.")
	})
	b, s := newBackend(t, m, Options{MaxRetries: 5})
	_, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"})
	if ExitCode(err) != ExitQuota {
		t.Fatalf("err = %v, exit %d", err, ExitCode(err))
	}
	if m.count() != 1 || len(s.d) != 0 {
		t.Fatalf("insufficient_quota sent %d requests (waits %v), want 1", m.count(), s.d)
	}
}

func TestNetworkError(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		// Drop the connection without an answer.
		hj, ok := w.(http.Hijacker)
		if !ok {
			t.Error("no hijacker")
			return
		}
		conn, _, _ := hj.Hijack()
		conn.Close()
	})
	b, s := newBackend(t, m, Options{})
	_, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"})
	var e *Error
	if !errors.As(err, &e) || e.Class != ClassNetwork || ExitCode(err) != ExitNetwork {
		t.Fatalf("err = %v", err)
	}
	if m.count() != 3 || len(s.d) != 2 {
		t.Errorf("%d requests, waits %v: want 3 and 2", m.count(), s.d)
	}

	// Nothing listening at all.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	b2, err := New(Options{APIKey: testKey, BaseURL: url + "/v1", MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b2.Generate(context.Background(), &generator.Request{Prompt: "x"})
	if ExitCode(err) != ExitNetwork || !strings.HasPrefix(err.Error(), "openai: network error: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestTimeout(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	b, _ := newBackend(t, m, Options{Timeout: 50 * time.Millisecond})
	_, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"})
	var e *Error
	if !errors.As(err, &e) || e.Class != ClassTimeout {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if ExitCode(err) != ExitTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("exit %d, Is(DeadlineExceeded) %v", ExitCode(err), errors.Is(err, context.DeadlineExceeded))
	}
	if !strings.Contains(err.Error(), "50ms") {
		t.Errorf("Error() %q does not name the timeout", err)
	}
}

// TestTimeoutDuringRetryWait: a wait that would outlast the timeout is not
// started; the rate-limit error comes back at once.
func TestTimeoutDuringRetryWait(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "30")
		apiError(w, 429, "requests", "rate_limit_exceeded", "", "slow down")
	})
	b, s := newBackend(t, m, Options{Timeout: 5 * time.Second})
	_, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"})
	if ExitCode(err) != ExitRateLimit {
		t.Fatalf("err = %v", err)
	}
	if m.count() != 1 || len(s.d) != 0 {
		t.Fatalf("%d requests, waits %v", m.count(), s.d)
	}
}

func TestContextCancel(t *testing.T) {
	clearEnv(t)
	started := make(chan struct{}, 1)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	b, _ := newBackend(t, m, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	_, err := b.Generate(ctx, &generator.Request{Prompt: "x"})
	if !errors.Is(err, context.Canceled) || ExitCode(err) != ExitCanceled {
		t.Fatalf("err = %v, exit %d", err, ExitCode(err))
	}

	// Already cancelled: no request at all.
	_, err = b.Generate(ctx, &generator.Request{Prompt: "x"})
	if err != context.Canceled || m.count() != 1 {
		t.Fatalf("err = %v, %d requests", err, m.count())
	}
}

// TestCancelDuringRetryWait: cancelling while waiting to retry returns
// the caller's error.
func TestCancelDuringRetryWait(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "20")
		apiError(w, 429, "requests", "rate_limit_exceeded", "", "slow down")
	})
	b, _ := newBackend(t, m, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	b.sleep = func(c context.Context, d time.Duration) error {
		cancel()
		<-c.Done()
		return c.Err()
	}
	_, err := b.Generate(ctx, &generator.Request{Prompt: "x"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestLocalSettingsRefused(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { t.Error("a request was sent") })
	b, _ := newBackend(t, m, Options{})
	seed, temp, topk, sc, comp := uint64(1), 1.0, 64, 16.0, 101
	cases := []struct {
		flag string
		req  generator.Request
	}{
		{"--seed", generator.Request{Seed: &seed}},
		{"--temperature", generator.Request{Temperature: &temp}},
		{"--top-k", generator.Request{TopK: &topk}},
		{"--supercondition", generator.Request{Supercondition: &sc}},
		{"--grid", generator.Request{Grid: 2}},
		{"--candidates", generator.Request{Candidates: 4}},
		{"--rng", generator.Request{RNG: "torch"}},
		{"--seamless", generator.Request{Seamless: true}},
		{"--threads", generator.Request{Threads: 4}},
		{"--scale", generator.Request{Scale: 2}},
		{"--preview-every", generator.Request{PreviewEvery: 16}},
		{"previews", generator.Request{Previews: 4}},
		{"--size", generator.Request{Size: "big"}},
		{"--size", generator.Request{Size: "1024x"}},
		{"--output-format", generator.Request{OutputFormat: "gif"}},
		{"--output-compression", generator.Request{OutputCompression: &comp}},
		{"--n", generator.Request{N: -1}},
		{"prompt", generator.Request{Prompt: "   "}},
	}
	for _, c := range cases {
		req := c.req
		if req.Prompt == "" {
			req.Prompt = "a cat"
		}
		_, err := b.Generate(context.Background(), &req)
		var e *Error
		if !errors.As(err, &e) || e.Class != ClassUsage || ExitCode(err) != ExitUsage {
			t.Errorf("%s: err = %v, want a usage error", c.flag, err)
			continue
		}
		if !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%s: Error() %q does not name the flag", c.flag, err)
		}
	}
	// Grid 1 means a single image and is allowed.
	if _, err := b.params(&generator.Request{Prompt: "x", Grid: 1}); err != nil {
		t.Errorf("grid 1: %v", err)
	}
	if _, err := b.Generate(context.Background(), nil); ExitCode(err) != ExitUsage {
		t.Errorf("nil request: %v", err)
	}
}

func TestAPIKeySources(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 1)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, okResponse(img)) })
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("sk-from-file-123\n"), 0o600)

	sent := func(opts Options) string {
		t.Helper()
		opts.BaseURL = m.srv.URL + "/v1"
		b, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"}); err != nil {
			t.Fatal(err)
		}
		return m.call(m.count() - 1).header.Get("Authorization")
	}
	t.Setenv("OPENAI_API_KEY", "sk-from-env-456")
	if got := sent(Options{APIKey: testKey}); got != "Bearer "+testKey {
		t.Errorf("APIKey: sent %q", got)
	}
	if got := sent(Options{KeyFile: keyFile}); got != "Bearer sk-from-file-123" {
		t.Errorf("KeyFile: sent %q", got)
	}
	if got := sent(Options{}); got != "Bearer sk-from-env-456" {
		t.Errorf("env: sent %q", got)
	}

	os.Unsetenv("OPENAI_API_KEY")
	_, err := New(Options{})
	if ExitCode(err) != ExitAuth || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Errorf("no key: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := New(Options{KeyFile: empty}); ExitCode(err) != ExitAuth {
		t.Errorf("empty key file: %v", err)
	}
	if _, err := New(Options{KeyFile: filepath.Join(dir, "missing")}); ExitCode(err) != ExitAuth {
		t.Errorf("missing key file: %v", err)
	}
	_, err = New(Options{APIKey: "sk-has space-SECRETXYZ"})
	if ExitCode(err) != ExitAuth || strings.Contains(err.Error(), "SECRETXYZ") {
		t.Errorf("bad key: %v", err)
	}
	if _, err := New(Options{APIKey: testKey, BaseURL: "ftp://example.com"}); ExitCode(err) != ExitUsage {
		t.Errorf("bad base URL: %v", err)
	}
}

// TestBaseURLFromEnv: without Options.BaseURL the SDK's OPENAI_BASE_URL is
// used.
func TestBaseURLFromEnv(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 1)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, okResponse(img)) })
	t.Setenv("OPENAI_BASE_URL", m.srv.URL+"/v1")
	b, err := New(Options{APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"}); err != nil {
		t.Fatal(err)
	}
	if m.count() != 1 || m.call(0).path != "/v1/images/generations" {
		t.Fatalf("%d requests", m.count())
	}
}

// TestKeyNeverInOutput gathers every error line, metadata value and saved
// file this package produces, against a server that echoes the
// Authorization header back wherever it can, and greps them for the key.
func TestKeyNeverInOutput(t *testing.T) {
	clearEnv(t)
	var outputs []string
	check := func(what string, s string) {
		t.Helper()
		outputs = append(outputs, s)
		if strings.Contains(s, testKey) || strings.Contains(s, "0123456789SECRET") {
			t.Errorf("%s contains the API key: %q", what, s)
		}
	}
	img := testPNG(t, 1)
	echo := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		switch n % 4 {
		case 0:
			apiError(w, 401, "invalid_request_error", "invalid_api_key", "", "Incorrect API key provided: "+auth)
		case 1:
			w.WriteHeader(500)
			io.WriteString(w, "proxy error for "+auth)
		case 2:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"bad json `+auth)
		default:
			resp := okResponse(img)
			resp["data"].([]map[string]any)[0]["revised_prompt"] = "echo " + auth
			resp["quality"] = auth
			writeJSON(w, 200, resp)
		}
	})
	b, _ := newBackend(t, echo, Options{MaxRetries: -1})
	dir := t.TempDir()
	for i := 0; i < 4; i++ {
		res, err := b.Generate(context.Background(), &generator.Request{Prompt: "a cat"})
		if err != nil {
			check("Error()", err.Error())
			check("%+v", fmt.Sprintf("%+v", err))
			check("%#v", fmt.Sprintf("%#v", err))
			continue
		}
		for k, v := range res.Metadata {
			check("metadata "+k, v)
		}
		check("revised prompt", res.Images[0].RevisedPrompt)
		if _, err := generator.Save(res, generator.SaveOptions{Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	// The other error classes too.
	for _, c := range errorCases(t) {
		m := newMimic(t, c.respond)
		b, _ := newBackend(t, m, Options{})
		if _, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"}); err != nil {
			check(c.name, err.Error())
			check(c.name+" %+v", fmt.Sprintf("%+v", err))
		}
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Fatalf("%d files saved, want 1", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		check("file "+f.Name(), string(data))
		check("file name", f.Name())
	}
	// The check can fail: the key did reach the server each time.
	if got := echo.call(0).header.Get("Authorization"); got != "Bearer "+testKey {
		t.Fatalf("server saw %q", got)
	}
	if len(outputs) < 10 {
		t.Fatalf("only %d outputs checked", len(outputs))
	}
}

func TestExitCodesDistinct(t *testing.T) {
	seen := map[int]Class{}
	for c := ClassUnknown; c <= ClassTimeout; c++ {
		code := ExitCode(&Error{Class: c})
		if prev, dup := seen[code]; dup {
			t.Errorf("classes %v and %v share exit code %d", prev, c, code)
		}
		seen[code] = c
		if c.String() == "" || strings.HasPrefix(c.String(), "Class(") {
			t.Errorf("class %d has no name", int(c))
		}
	}
	if ExitCode(nil) != 0 || ExitCode(errors.New("x")) != ExitFailure {
		t.Error("ExitCode of nil or a plain error")
	}
	if ExitCode(fmt.Errorf("wrapped: %w", &Error{Class: ClassQuota})) != ExitQuota {
		t.Error("ExitCode does not see a wrapped *Error")
	}
	if _, dup := seen[ExitCanceled]; dup {
		t.Error("ExitCanceled collides")
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\n\tb  c\r\n", 100); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine(strings.Repeat("x", 10), 4); got != "xxxx…" {
		t.Errorf("oneLine cut = %q", got)
	}
}

// FuzzErrorBody feeds arbitrary error bodies to the error parser: it must
// not panic, must give one line, and must never let the key through.
func FuzzErrorBody(f *testing.F) {
	f.Add(429, "application/json", `{"error":{"message":"m","type":"requests","code":"rate_limit_exceeded","param":null}}`)
	f.Add(400, "application/json", `{"error":"text"}`)
	f.Add(500, "text/html", "<html>\n</html>")
	f.Add(400, "application/json", `{"error":{"code":42,"param":["x"]}}`)
	f.Add(401, "", "Bearer "+testKey)
	f.Add(200, "application/json", `{"error":null}`)
	b := &Backend{key: testKey}
	f.Fuzz(func(t *testing.T, status int, ctype, body string) {
		e := &Error{Status: status}
		b.fillAPIError(e, []byte(body), ctype)
		e.Class = classOf(e.Status, e.Type, e.Code)
		msg := e.Error()
		if strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("two lines: %q", msg)
		}
		if strings.Contains(msg, testKey) {
			t.Fatalf("key in %q", msg)
		}
		if ExitCode(e) == ExitOK {
			t.Fatal("an error with exit code 0")
		}
	})
}

// testWebP is a valid 1×1 lossless WebP file.
func testWebP(t *testing.T) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pngChunk is one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngWithSize is testPNG(t, 1) with its IHDR claiming w×h.
func pngWithSize(t *testing.T, w, h uint32) []byte {
	t.Helper()
	p := testPNG(t, 1)
	ihdr := append([]byte(nil), p[16:29]...) // the IHDR chunk's data
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	out := append([]byte(nil), p[:8]...)
	out = append(out, pngChunk("IHDR", ihdr)...)
	return append(out, p[33:]...)
}

// TestCorruptImagesRejected: an image that only starts like a PNG, JPEG
// or WebP file (a bare signature, a truncated or corrupt file, absurd
// dimensions) is a malformed response, not an image.
func TestCorruptImagesRejected(t *testing.T) {
	clearEnv(t)
	png1 := testPNG(t, 1)
	var jbuf bytes.Buffer
	jpeg.Encode(&jbuf, image.NewGray(image.Rect(0, 0, 8, 8)), nil)
	jpg := jbuf.Bytes()
	wp := testWebP(t)
	flip := func(b []byte, i int) []byte {
		b = append([]byte(nil), b...)
		b[i] ^= 0xFF
		return b
	}
	webpLen := func(n uint32) []byte {
		b := append([]byte(nil), wp...)
		binary.LittleEndian.PutUint32(b[4:], n)
		return b
	}
	cases := []struct {
		name string
		img  []byte
	}{
		{"PNG signature only", []byte("\x89PNG\r\n\x1a\n")},
		{"PNG without IEND", png1[:len(png1)-12]},
		{"PNG cut in IDAT", png1[:len(png1)-20]},
		{"PNG bad CRC", flip(png1, len(png1)-20)},
		{"PNG trailing bytes", append(append([]byte(nil), png1...), "junk"...)},
		{"PNG 0 wide", pngWithSize(t, 0, 3)},
		{"PNG 100000 wide", pngWithSize(t, 100000, 3)},
		{"PNG header only", append(append([]byte(nil), png1[:33]...), pngChunk("IEND", nil)...)},
		{"JPEG 3 bytes", []byte{0xFF, 0xD8, 0xFF}},
		{"JPEG without EOI", jpg[:len(jpg)-2]},
		{"JPEG cut", jpg[:len(jpg)/2]},
		{"WebP header only", []byte("RIFF\x00\x00\x00\x00WEBP")},
		{"WebP RIFF too long", webpLen(uint32(len(wp)))},
		{"WebP RIFF too short", webpLen(uint32(len(wp) - 10))},
		{"WebP cut", wp[:len(wp)-4]},
		{"WebP no image chunk", []byte("RIFF\x0c\x00\x00\x00WEBPJUNK\x00\x00\x00\x00")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, okResponse(c.img)) })
			b, _ := newBackend(t, m, Options{})
			res, err := b.Generate(context.Background(), &generator.Request{Prompt: "a cat"})
			var e *Error
			if !errors.As(err, &e) || e.Class != ClassServer || !strings.Contains(err.Error(), "malformed response") {
				t.Fatalf("err = %v (result %v), want a malformed-response error", err, res)
			}
			if m.count() != 1 {
				t.Errorf("%d requests, want 1 (not retried)", m.count())
			}
		})
	}
}

func TestDecodeWebP(t *testing.T) {
	clearEnv(t)
	wp := testWebP(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, okResponse(wp)) })
	b, _ := newBackend(t, m, Options{})
	res, err := b.Generate(context.Background(), &generator.Request{Prompt: "x", OutputFormat: "webp"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Format != "webp" || !bytes.Equal(res.Images[0].Encoded, wp) {
		t.Fatalf("format %q", res.Images[0].Format)
	}
}

// TestImageCount: a response with more images than asked for is
// malformed; fewer are kept, with requested_images in the metadata.
func TestImageCount(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 1)
	cases := []struct {
		n, got int
		ok     bool
	}{
		{0, 1, true},
		{1, 1, true},
		{3, 3, true},
		{0, 2, false},
		{1, 3, false},
		{3, 1, true}, // kept, with requested_images = 3 in the metadata
		{3, 4, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("asked %d got %d", c.n, c.got), func(t *testing.T) {
			m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
				imgs := make([][]byte, c.got)
				for i := range imgs {
					imgs[i] = img
				}
				writeJSON(w, 200, okResponse(imgs...))
			})
			b, _ := newBackend(t, m, Options{})
			res, err := b.Generate(context.Background(), &generator.Request{Prompt: "x", N: c.n})
			if c.ok {
				if err != nil || len(res.Images) != c.got {
					t.Fatalf("err = %v, result %v", err, res)
				}
				if want := max(c.n, 1); c.got < want && res.Metadata["requested_images"] != strconv.Itoa(want) {
					t.Errorf("%d of %d images: metadata requested_images = %q", c.got, want, res.Metadata["requested_images"])
				} else if c.got == want && res.Metadata["requested_images"] != "" {
					t.Errorf("all images came: metadata requested_images = %q", res.Metadata["requested_images"])
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Class != ClassServer || !strings.Contains(err.Error(), "malformed response") {
				t.Fatalf("err = %v (result %v), want a malformed-response error", err, res)
			}
			if want := fmt.Sprintf("asked for %d", max(c.n, 1)); !strings.Contains(err.Error(), want) {
				t.Errorf("Error() %q does not say %q", err, want)
			}
			if m.count() != 1 {
				t.Errorf("%d requests, want 1", m.count())
			}
		})
	}
}

// TestNilContext: a nil context is a usage error, not a panic.
func TestNilContext(t *testing.T) {
	clearEnv(t)
	m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { t.Error("a request was sent") })
	b, _ := newBackend(t, m, Options{})
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("panic: %v", r)
		}
	}()
	//lint:ignore SA1012 a nil context is what is tested
	_, err := b.Generate(nil, &generator.Request{Prompt: "x"}) //nolint:staticcheck
	if ExitCode(err) != ExitUsage || !strings.Contains(fmt.Sprint(err), "nil context") {
		t.Fatalf("err = %v, want a usage error", err)
	}
}

// TestCreatedOutOfRange: a "created" outside years 2000–9999 is replaced
// by the current time, as a missing one is.
func TestCreatedOutOfRange(t *testing.T) {
	clearEnv(t)
	img := testPNG(t, 1)
	for _, created := range []any{9000000000000000000, int64(253402300800), -5, 1, 0, nil} {
		t.Run(fmt.Sprint(created), func(t *testing.T) {
			m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
				resp := okResponse(img)
				if created == nil {
					delete(resp, "created")
				} else {
					resp["created"] = created
				}
				writeJSON(w, 200, resp)
			})
			b, _ := newBackend(t, m, Options{})
			before := time.Now().Add(-time.Second)
			res, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Created.Before(before) || res.Created.After(time.Now().Add(time.Second)) {
				t.Errorf("Created = %v, want now", res.Created)
			}
			got, err := time.Parse(time.RFC3339, res.Metadata["created"])
			if err != nil || !got.Equal(res.Created.Truncate(time.Second)) {
				t.Errorf("metadata created %q (%v), Created %v", res.Metadata["created"], err, res.Created)
			}
		})
	}
}

// TestResponseBodyCapped: a response body larger than the images asked
// for could need is cut off: a malformed response for a 2xx (not
// retried), the status's error class otherwise.
func TestResponseBodyCapped(t *testing.T) {
	clearEnv(t)
	big := strings.Repeat("A", 1<<20)
	cases := []struct {
		name   string
		status int
		n      int
		class  Class
		reqs   int
		ok     bool
	}{
		{"200 over the cap", 200, 0, ClassServer, 1, false},
		{"200 over the cap for 2", 200, 2, ClassServer, 1, false},
		{"500 over the cap", 500, 0, ClassServer, 3, false},
		{"400 over the cap", 400, 0, ClassBadRequest, 1, false},
		{"200 under the cap for 4", 200, 4, 0, 1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := testPNG(t, 1)
			var written atomic.Int64 // MiB the server could send
			m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				if c.ok {
					imgs := make([][]byte, c.n)
					for i := range imgs {
						imgs[i] = img
					}
					resp := okResponse(imgs...)
					resp["padding"] = big[:200<<10] // 4 × 64 KiB images could need more
					json.NewEncoder(w).Encode(resp)
					return
				}
				// A body of 64 MiB: far more than the cap.
				io.WriteString(w, `{"data":[{"b64_json":"`)
				for i := 0; i < 64; i++ {
					if _, err := io.WriteString(w, big); err != nil {
						return
					}
					written.Add(1)
				}
			})
			b, _ := newBackend(t, m, Options{})
			b.maxImage = 64 << 10
			res, err := b.Generate(context.Background(), &generator.Request{Prompt: "x", N: c.n})
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Class != c.class {
				t.Fatalf("err = %v (result %v), want class %v", err, res, c.class)
			}
			if c.status == 200 && !strings.Contains(err.Error(), "malformed response: response body larger than") {
				t.Errorf("Error() = %q", err)
			}
			m.srv.CloseClientConnections()
			if w := written.Load(); w >= 32*int64(c.reqs) {
				t.Errorf("the server could write %d MiB in %d responses: the body was read past the cap", w, c.reqs)
			}
			if m.count() != c.reqs {
				t.Errorf("%d requests, want %d", m.count(), c.reqs)
			}
		})
	}
	// A decoded image larger than the limit is refused too.
	t.Run("image over the limit", func(t *testing.T) {
		img := testPNG(t, 1)
		m := newMimic(t, func(n int, w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, okResponse(img)) })
		b, _ := newBackend(t, m, Options{})
		b.maxImage = int64(len(img) - 1)
		if _, err := b.Generate(context.Background(), &generator.Request{Prompt: "x"}); err == nil || !strings.Contains(err.Error(), "malformed response") {
			t.Fatalf("err = %v", err)
		}
	})
}
