package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// client is the official Go SDK pointed at ts, changing only the base URL
// (plus the retry count where a test needs it).
func client(base, key string, retries int) openai.Client {
	return openai.NewClient(option.WithBaseURL(base+"/v1"), option.WithAPIKey(key),
		option.WithMaxRetries(retries), option.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
}

func TestSDKGenerateB64(t *testing.T) {
	f := newFake()
	_, ts := newTestServer(t, f, Options{})
	c := client(ts.URL, "anything", 0)
	ctx := context.Background()

	res, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "a red circle", N: openai.Int(2)},
		option.WithJSONSet("seed", 7))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 {
		t.Fatalf("%d images, want 2", len(res.Data))
	}
	var pngs [][]byte
	for i, d := range res.Data {
		data, err := base64.StdEncoding.DecodeString(d.B64JSON)
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		im := decodePNG(t, data)
		if b := im.Bounds(); b.Dx() != 32 || b.Dy() != 32 {
			t.Errorf("image %d is %v, want 32x32", i, b)
		}
		pngs = append(pngs, data)
	}
	if bytes.Equal(pngs[0], pngs[1]) {
		t.Error("the two images of n=2 are identical")
	}
	if string(res.Size) != "32x32" || string(res.OutputFormat) != "png" || res.Created == 0 {
		t.Errorf("size %q, output_format %q, created %d", res.Size, res.OutputFormat, res.Created)
	}
	if res.Usage.OutputTokens != 32 {
		t.Errorf("usage.output_tokens = %d, want 2×16", res.Usage.OutputTokens)
	}

	// The same seed gives the same image; another seed another one.
	again, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "a red circle", Size: "32x32"},
		option.WithJSONSet("seed", 7))
	if err != nil {
		t.Fatal(err)
	}
	if again.Data[0].B64JSON != res.Data[0].B64JSON {
		t.Error("seed 7 twice gave different images")
	}
	other, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "a red circle", Size: "auto"},
		option.WithJSONSet("seed", 8))
	if err != nil {
		t.Fatal(err)
	}
	if other.Data[0].B64JSON == res.Data[0].B64JSON {
		t.Error("seeds 7 and 8 gave the same image")
	}

	// JPEG and the grid extension.
	jp, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "grid", OutputFormat: "jpeg", Size: "64x64"},
		option.WithJSONSet("grid", 2))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := base64.StdEncoding.DecodeString(jp.Data[0].B64JSON)
	if !bytes.HasPrefix(data, []byte{0xff, 0xd8}) || jp.Size != "64x64" {
		t.Errorf("grid 2 jpeg: size %q, starts % x", jp.Size, data[:min(4, len(data))])
	}
	if jp.Usage.OutputTokens != 4*16 {
		t.Errorf("grid 2: usage.output_tokens = %d, want the four cells' 4×16", jp.Usage.OutputTokens)
	}
}

func TestSDKGenerateURL(t *testing.T) {
	f := newFake()
	s, ts := newTestServer(t, f, Options{ImageTTL: 300 * time.Millisecond})
	c := client(ts.URL, "k", 0)
	res, err := c.Images.Generate(context.Background(), openai.ImageGenerateParams{
		Prompt: "a url", N: openai.Int(2), ResponseFormat: openai.ImageGenerateParamsResponseFormatURL})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 {
		t.Fatalf("%d images, want 2", len(res.Data))
	}
	for _, d := range res.Data {
		if d.B64JSON != "" || !strings.HasPrefix(d.URL, ts.URL+"/v1/images/files/") {
			t.Fatalf("data = %+v", d)
		}
		r, err := http.Get(d.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("GET %s: %d %s", d.URL, r.StatusCode, r.Header.Get("Content-Type"))
		}
		decodePNG(t, body)
	}
	// After the TTL the janitor removes them and the URL answers 404.
	waitFor(t, "the janitor", func() bool { return s.files.len() == 0 })
	r, err := http.Get(res.Data[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Fatalf("expired image: status %d", r.StatusCode)
	}
	checkErrorShape(t, r.StatusCode, r.Header, body)
}

func TestSDKStream(t *testing.T) {
	f := newFake()
	_, ts := newTestServer(t, f, Options{})
	c := client(ts.URL, "k", 0)
	for _, tc := range []struct {
		partial, n int
	}{{3, 1}, {1, 1}, {0, 1}, {2, 2}} {
		params := openai.ImageGenerateParams{Prompt: "a stream", PartialImages: openai.Int(int64(tc.partial))}
		if tc.n > 1 {
			params.N = openai.Int(int64(tc.n))
		}
		stream := c.Images.GenerateStreaming(context.Background(), params)
		var partials []int64
		completed := 0
		for stream.Next() {
			ev := stream.Current()
			data, err := base64.StdEncoding.DecodeString(ev.B64JSON)
			if err != nil {
				t.Fatal(err)
			}
			decodePNG(t, data)
			switch v := ev.AsAny().(type) {
			case openai.ImageGenPartialImageEvent:
				if completed > 0 {
					t.Error("a partial image after the completed event")
				}
				partials = append(partials, v.PartialImageIndex)
			case openai.ImageGenCompletedEvent:
				completed++
				if v.Size != "32x32" || v.OutputFormat != "png" || v.CreatedAt == 0 || v.Usage.OutputTokens != int64(16*tc.n) {
					t.Errorf("completed event: %s", v.RawJSON())
				}
			default:
				t.Errorf("unexpected event %q", ev.Type)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(partials) != tc.partial || completed != tc.n {
			t.Errorf("partial_images %d, n %d: got partials %v and %d completed", tc.partial, tc.n, partials, completed)
		}
		for i, p := range partials {
			if p != int64(i) {
				t.Errorf("partial indexes %v, want 0…%d", partials, tc.partial-1)
			}
		}
	}

	// A generation error mid-stream arrives as an error event.
	stream := c.Images.GenerateStreaming(context.Background(), openai.ImageGenerateParams{Prompt: "fail"})
	for stream.Next() {
		t.Errorf("event %q before the error", stream.Current().Type)
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "fake failure") {
		t.Errorf("stream error = %v, want the generator's failure", err)
	}
}

// apiErr returns err as an *openai.Error or fails.
func apiErr(t *testing.T, err error) *openai.Error {
	t.Helper()
	var e *openai.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *openai.Error", err, err)
	}
	return e
}

func TestSDKErrors(t *testing.T) {
	f := newFake()
	_, ts := newTestServer(t, f, Options{MaxBody: 4096, Workers: 1, MaxQueue: 1})
	c := client(ts.URL, "k", 0)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		params openai.ImageGenerateParams
		opts   []option.RequestOption
		status int
		param  string
	}{
		{"empty prompt", openai.ImageGenerateParams{Prompt: ""}, nil, 400, "prompt"},
		{"size", openai.ImageGenerateParams{Prompt: "x", Size: "1024x1024"}, nil, 400, "size"},
		{"webp", openai.ImageGenerateParams{Prompt: "x", OutputFormat: "webp"}, nil, 400, "output_format"},
		{"model", openai.ImageGenerateParams{Prompt: "x", Model: "dall-e-3"}, nil, 400, "model"},
		{"n", openai.ImageGenerateParams{Prompt: "x", N: openai.Int(11)}, nil, 400, "n"},
		{"partial", openai.ImageGenerateParams{Prompt: "x", PartialImages: openai.Int(4)}, nil, 400, "partial_images"},
		{"temperature", openai.ImageGenerateParams{Prompt: "x"}, []option.RequestOption{option.WithJSONSet("temperature", -1)}, 400, "temperature"},
		{"seed type", openai.ImageGenerateParams{Prompt: "x"}, []option.RequestOption{option.WithJSONSet("seed", "seven")}, 400, "seed"},
		{"too large", openai.ImageGenerateParams{Prompt: strings.Repeat("a", 5000)}, nil, 413, ""},
	} {
		_, err := c.Images.Generate(ctx, tc.params, tc.opts...)
		e := apiErr(t, err)
		if e.StatusCode != tc.status || e.Param != tc.param || e.Type != "invalid_request_error" || e.Message == "" {
			t.Errorf("%s: status %d param %q type %q message %q; want %d %q", tc.name, e.StatusCode, e.Param, e.Type, e.Message, tc.status, tc.param)
		}
		if ct := e.Response.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.name, ct)
		}
	}

	// 404 and 405, and the legacy completions endpoints.
	var out map[string]any
	e := apiErr(t, c.Get(ctx, "no/such/route", nil, &out))
	if e.StatusCode != 404 || e.Type != "invalid_request_error" {
		t.Errorf("unknown route: %d %q", e.StatusCode, e.Type)
	}
	e = apiErr(t, c.Get(ctx, "images/generations", nil, &out))
	if e.StatusCode != 405 {
		t.Errorf("GET generations: %d", e.StatusCode)
	}
	for _, p := range []string{"completions", "engines/dall-e/completions"} {
		e = apiErr(t, c.Post(ctx, p, map[string]any{"model": "dall-e", "prompt": "x"}, &out))
		if e.StatusCode != 400 || !strings.Contains(e.Message, "/v1/images/generations") {
			t.Errorf("%s: %d %q", p, e.StatusCode, e.Message)
		}
	}

	// 500 without retries: the SDK (3 tries allowed) must send it once.
	c3 := client(ts.URL, "k", 2)
	for _, prompt := range []string{"fail", "panic"} {
		before := f.calls.Load()
		_, err := c3.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: prompt})
		e = apiErr(t, err)
		if e.StatusCode != 500 || e.Type != "server_error" || e.Response.Header.Get("X-Should-Retry") != "false" {
			t.Errorf("%s: %d %q x-should-retry %q", prompt, e.StatusCode, e.Type, e.Response.Header.Get("X-Should-Retry"))
		}
		if n := f.calls.Load() - before; n != 1 {
			t.Errorf("%s: the generator ran %d times, want 1 (no retry)", prompt, n)
		}
	}

	// 429: one job running, one queued, the third is refused.
	f.started = make(chan string, 4)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 2)
	go func() {
		_, err := c.Images.Generate(bctx, openai.ImageGenerateParams{Prompt: "block"})
		done <- err
	}()
	<-f.started
	go func() {
		_, err := c.Images.Generate(bctx, openai.ImageGenerateParams{Prompt: "block"})
		done <- err
	}()
	s := ts.Config.Handler.(*Server)
	waitFor(t, "a queued job", func() bool { return len(s.jobs) == 1 })
	_, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "third"})
	e = apiErr(t, err)
	if e.StatusCode != 429 || e.Response.Header.Get("Retry-After") == "" || e.Code != "queue_full" {
		t.Errorf("queue full: %d, Retry-After %q, code %q", e.StatusCode, e.Response.Header.Get("Retry-After"), e.Code)
	}
	cancel()
	<-done
	<-done
}

func TestSDKAPIKey(t *testing.T) {
	f := newFake()
	_, ts := newTestServer(t, f, Options{APIKey: "sekret"})
	ctx := context.Background()
	params := openai.ImageGenerateParams{Prompt: "keyed"}
	for _, key := range []string{"wrong", "sekre", "sekret2", ""} {
		ck := client(ts.URL, key, 0)
		_, err := ck.Images.Generate(ctx, params)
		e := apiErr(t, err)
		if e.StatusCode != 401 || e.Code != "invalid_api_key" {
			t.Errorf("key %q: %d %q", key, e.StatusCode, e.Code)
		}
	}
	cw, cr := client(ts.URL, "wrong", 0), client(ts.URL, "sekret", 0)
	if _, err := cw.Models.List(ctx); apiErr(t, err).StatusCode != 401 {
		t.Error("models without the key")
	}
	if _, err := cr.Images.Generate(ctx, params); err != nil {
		t.Fatalf("right key: %v", err)
	}
	if f.calls.Load() != 1 {
		t.Errorf("generator ran %d times, want 1", f.calls.Load())
	}
	// /health and the page stay open.
	for _, p := range []string{"/health", "/", "/api/config"} {
		r, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("%s with a key configured: %d", p, r.StatusCode)
		}
	}

	// Without a key configured any key (or none) is accepted.
	_, ts2 := newTestServer(t, newFake(), Options{})
	for _, key := range []string{"", "whatever"} {
		ck := client(ts2.URL, key, 0)
		if _, err := ck.Images.Generate(ctx, params); err != nil {
			t.Errorf("no key configured, client key %q: %v", key, err)
		}
	}
}

func TestSDKModels(t *testing.T) {
	_, ts := newTestServer(t, newFake(), Options{ModelName: "mini"})
	c := client(ts.URL, "k", 0)
	ctx := context.Background()
	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "mini" {
		t.Fatalf("models: %+v", page.Data)
	}
	m, err := c.Models.Get(ctx, "mini")
	if err != nil || m.ID != "mini" {
		t.Fatalf("get: %v %+v", err, m)
	}
	_, err = c.Models.Get(ctx, "gpt-image-1")
	if e := apiErr(t, err); e.StatusCode != 404 || e.Code != "model_not_found" {
		t.Errorf("unknown model: %d %q", e.StatusCode, e.Code)
	}
	// Both the configured name and the generator's name are accepted.
	for _, model := range []string{"mini", "fake:test"} {
		if _, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "x", Model: model}); err != nil {
			t.Errorf("model %q: %v", model, err)
		}
	}
}
