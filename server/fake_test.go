package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tessella-ml/tessella/generator"
)

// fakeGen is a deterministic test generator: each image is a solid colour
// picked from the seed, drawn row band by row band as the "decode" steps
// advance (the previews show the rows done so far). Prompts "fail",
// "panic" and "block" (wait for ctx) misbehave on purpose; "refuse"
// returns a generator.RequestError.
type fakeGen struct {
	w, h   int           // native size
	steps  int           // progress steps
	delay  time.Duration // per step
	calls  atomic.Int64
	active atomic.Int64
	// started and cancelled, when non-nil, receive the prompt when a
	// generation starts and when it observes ctx.Done (non-blocking sends).
	started   chan string
	cancelled chan string
}

func newFake() *fakeGen { return &fakeGen{w: 32, h: 32, steps: 8, delay: time.Millisecond} }

func (f *fakeGen) Name() string                    { return "fake:test" }
func (f *fakeGen) NativeSize() (width, height int) { return f.w, f.h }

func notify(ch chan string, s string) {
	if ch != nil {
		select {
		case ch <- s:
		default:
		}
	}
}

func (f *fakeGen) Generate(ctx context.Context, req *generator.Request) (*generator.Result, error) {
	f.calls.Add(1)
	f.active.Add(1)
	defer f.active.Add(-1)
	notify(f.started, req.Prompt)
	switch req.Prompt {
	case "fail":
		return nil, errors.New("fake failure")
	case "refuse":
		return nil, generator.Invalid("top_k", "top_k too large for this model")
	case "panic":
		panic("fake panic")
	case "block":
		<-ctx.Done()
		notify(f.cancelled, req.Prompt)
		return nil, ctx.Err()
	}
	seed := uint64(42)
	if req.Seed != nil {
		seed = *req.Seed
	}
	n, g := max(req.N, 1), max(req.Grid, 1)
	for step := 1; step <= f.steps; step++ {
		select {
		case <-ctx.Done():
			notify(f.cancelled, req.Prompt)
			return nil, ctx.Err()
		case <-time.After(f.delay):
		}
		if req.Progress != nil {
			req.Progress(generator.Progress{Stage: "decode", Done: step, Total: f.steps,
				Preview: f.image(seed, step, g)})
		}
	}
	res := &generator.Result{Seed: seed, Created: time.Now(),
		Metadata: map[string]string{"prompt": req.Prompt, "model": "fake", "seed": fmt.Sprint(seed)}}
	if req.Candidates > 0 {
		res.Metadata["candidates"] = fmt.Sprint(req.Candidates) // shows the field reached the generator
	}
	// As the local engine: 16 tokens per image, one row per image in
	// Result.Tokens; a grid is one image whose g² cells' rows are there
	// only, not in the image.
	for i := range n {
		im := generator.Image{Image: f.image(seed+uint64(i), f.steps, g)}
		for range g * g {
			res.Tokens = append(res.Tokens, make([]int, 16))
		}
		if g == 1 {
			im.Tokens = res.Tokens[len(res.Tokens)-1]
		}
		res.Images = append(res.Images, im)
	}
	return res, nil
}

// image draws the first done/steps of the rows in the seed's colour, the
// rest gray.
func (f *fakeGen) image(seed uint64, done, g int) *image.RGBA {
	w, h := f.w*g, f.h*g
	im := image.NewRGBA(image.Rect(0, 0, w, h))
	c := color.RGBA{uint8(seed * 37), uint8(seed * 91), uint8(seed*53 + 7), 255}
	rows := h * done / f.steps
	for y := range h {
		for x := range w {
			if y < rows {
				im.SetRGBA(x, y, c)
			} else {
				im.SetRGBA(x, y, color.RGBA{128, 128, 128, 255})
			}
		}
	}
	return im
}

// newTestServer starts a Server on an httptest.Server; both are closed
// when the test ends.
func newTestServer(t *testing.T, gen generator.Generator, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(gen, opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		ts.Close()
	})
	return s, ts
}

// postJSON posts body to url with an optional key and returns the status,
// headers and body. It must run on the test's goroutine.
func postJSON(t *testing.T, c *http.Client, url, key string, body any) (int, http.Header, []byte) {
	t.Helper()
	code, h, data, err := tryPost(c, url, key, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, h, data
}

// tryPost is postJSON for other goroutines.
func tryPost(c *http.Client, url, key string, body any) (int, http.Header, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return 0, nil, nil, err
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(http.MethodPost, url, r)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("POST %s: %w", url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, data, err
}

// checkErrorShape fails unless an error response is the OpenAI JSON shape.
// It does not stop the test, so it may run on any goroutine.
func checkErrorShape(t *testing.T, status int, h http.Header, body []byte) errorObject {
	t.Helper()
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("status %d: Content-Type %q, want application/json", status, ct)
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Errorf("status %d: error body is not a JSON object of objects: %v: %s", status, err, body)
		return errorObject{}
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := raw["error"][k]; !ok {
			t.Errorf("status %d: error lacks %q: %s", status, k, body)
		}
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil {
		t.Error(err)
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Errorf("status %d: empty message or type: %s", status, body)
	}
	return e.Error
}

func decodePNG(t *testing.T, data []byte) image.Image {
	t.Helper()
	im, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	return im
}

// waitGoroutines polls until the goroutine count is at most base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, baseline %d; stacks:\n%s", runtime.NumGoroutine(), base, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
