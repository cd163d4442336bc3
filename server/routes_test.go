package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tessella-ml/tessella/generator"
)

func get(t *testing.T, url string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r.StatusCode, r.Header, body
}

func TestRoutes(t *testing.T) {
	_, ts := newTestServer(t, newFake(), Options{MaxBody: 1024})
	c := &http.Client{}

	code, h, body := get(t, ts.URL+"/")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("<title>tessella</title>")) {
		t.Errorf("GET /: %d %q", code, h.Get("Content-Type"))
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("CSP %q", h.Get("Content-Security-Policy"))
	}
	for _, p := range []string{"/app.js", "/style.css"} {
		if code, _, body := get(t, ts.URL+p); code != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	if code, h, _ := get(t, ts.URL+"/index.html"); code != 301 || h.Get("Location") != "/" {
		t.Errorf("GET /index.html: %d %q", code, h.Get("Location"))
	}

	// Every error class in the OpenAI shape, over plain HTTP.
	type errCase struct {
		name, method, path, body string
		status                   int
	}
	for _, tc := range []errCase{
		{"unknown page", "GET", "/nope", "", 404},
		{"unknown api", "GET", "/v1/nope", "", 404},
		{"traversal", "GET", "/../server.go", "", 404},
		{"no file", "GET", "/v1/images/files/0123456789abcdef0123456789abcdef.png", "", 404},
		{"no gallery file", "GET", "/api/gallery/zz.png", "", 404},
		{"post page", "POST", "/", "{}", 405},
		{"get generations", "GET", "/v1/images/generations", "", 405},
		{"legacy", "POST", "/v1/engines/dall-e/completions", `{"prompt":"x"}`, 400},
		{"legacy completions", "POST", "/v1/completions", `{"model":"dall-e","prompt":"x"}`, 400},
		{"bad json", "POST", "/v1/images/generations", `{"prompt":`, 400},
		{"wrong type", "POST", "/v1/images/generations", `{"prompt":"a","n":{}}`, 400},
		{"too large", "POST", "/v1/images/generations", `{"prompt":"` + strings.Repeat("x", 2000) + `"}`, 413},
		{"fail", "POST", "/v1/images/generations", `{"prompt":"fail"}`, 500},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, r.StatusCode, tc.status, body)
		}
		checkErrorShape(t, r.StatusCode, r.Header, body)
		if tc.status == 405 && r.Header.Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", tc.name)
		}
	}

	// A stream that fails sends an error event in the error shape.
	code, h, body = postJSON(t, c, ts.URL+"/v1/images/generations", "", `{"prompt":"fail","stream":true}`)
	if code != 200 || h.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("failing stream: %d %q", code, h.Get("Content-Type"))
	}
	_, data, ok := strings.Cut(string(body), "event: error\ndata: ")
	if !ok {
		t.Fatalf("no error event in %q", body)
	}
	data, _, _ = strings.Cut(data, "\n")
	checkErrorShape(t, 500, http.Header{"Content-Type": {"application/json"}}, []byte(data))
}

func TestHealthMetricsShutdown(t *testing.T) {
	s, ts := newTestServer(t, newFake(), Options{Workers: 3, MaxQueue: 5})
	c := &http.Client{}
	var health map[string]any
	code, _, body := get(t, ts.URL+"/health")
	if err := json.Unmarshal(body, &health); err != nil || code != 200 || health["status"] != "ok" || health["workers"] != 3.0 {
		t.Errorf("health %d %s", code, body)
	}
	for i := range 3 {
		if code, _, body := postJSON(t, c, ts.URL+"/v1/images/generations", "", map[string]any{"prompt": "m", "n": i + 1}); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	postJSON(t, c, ts.URL+"/v1/images/generations", "", `{"prompt":""}`)

	code, h, body := get(t, ts.URL+"/metrics")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("metrics %d %q", code, h.Get("Content-Type"))
	}
	text := string(body)
	want := map[string]float64{
		"tessella_images_generated_total":               6,
		"tessella_image_tokens_generated_total":         6 * 16,
		"tessella_generation_requests_total":            4,
		"tessella_workers":                              3,
		"tessella_queue_capacity":                       5,
		"tessella_queue_depth":                          0,
		"tessella_workers_busy":                         0,
		`tessella_errors_total{kind="invalid_request"}`: 1,
		`tessella_image_seconds_bucket{le="+Inf"}`:      6,
		"tessella_image_seconds_count":                  6,
		"tessella_gallery_images":                       6,
	}
	samples := map[string]float64{}
	var last float64 = -1
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.HasPrefix(line, "#") {
			if !strings.HasPrefix(line, "# HELP ") && !strings.HasPrefix(line, "# TYPE ") {
				t.Errorf("bad comment %q", line)
			}
			continue
		}
		name, v, ok := strings.Cut(line, " ")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			t.Fatalf("bad sample line %q", line)
		}
		samples[name] = f
		if strings.HasPrefix(name, "tessella_image_seconds_bucket") {
			if f < last {
				t.Errorf("histogram buckets not cumulative at %q", line)
			}
			last = f
		}
	}
	for k, v := range want {
		if got, ok := samples[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}

	// After Close: health says so and generations get 503.
	s.Close()
	if code, _, _ := get(t, ts.URL+"/health"); code != 503 {
		t.Errorf("health after close: %d", code)
	}
	code, h, body = postJSON(t, c, ts.URL+"/v1/images/generations", "", `{"prompt":"late"}`)
	if code != 503 {
		t.Errorf("generation after close: %d", code)
	}
	checkErrorShape(t, code, h, body)
}

func TestGallery(t *testing.T) {
	_, ts := newTestServer(t, newFake(), Options{GalleryMax: 2, APIKey: "k"})
	c := &http.Client{}
	for _, p := range []string{"one", "two", "three"} {
		if code, _, body := postJSON(t, c, ts.URL+"/v1/images/generations", "k", map[string]any{"prompt": p, "temperature": 0.7}); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if code, _, _ := get(t, ts.URL+"/api/gallery"); code != 401 {
		t.Errorf("gallery without the key: %d", code)
	}
	code, _, body := get(t, ts.URL+"/api/gallery", "Authorization", "Bearer k")
	var g struct{ Data []galleryEntry }
	if err := json.Unmarshal(body, &g); err != nil || code != 200 {
		t.Fatalf("%d %v %s", code, err, body)
	}
	if len(g.Data) != 2 || g.Data[0].Prompt != "three" || g.Data[1].Prompt != "two" {
		t.Fatalf("gallery %+v", g.Data)
	}
	if g.Data[0].Settings["temperature"] != "0.7" || g.Data[0].Settings["seed"] != "42" {
		t.Errorf("settings %v", g.Data[0].Settings)
	}
	code, h, img := get(t, ts.URL+g.Data[0].URL)
	if code != 200 || h.Get("Content-Type") != "image/png" {
		t.Fatalf("gallery image %d %q", code, h.Get("Content-Type"))
	}
	decodePNG(t, img)
}

func TestCORS(t *testing.T) {
	_, ts := newTestServer(t, newFake(), Options{AllowOrigin: "*"})
	req, _ := http.NewRequest(http.MethodOptions, ts.URL+"/v1/images/generations", nil)
	req.Header.Set("Origin", "http://example.org")
	req.Header.Set("Access-Control-Request-Method", "POST")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight %d %v", r.StatusCode, r.Header)
	}
}

// encodedGen returns already-encoded PNG bytes (as a remote backend does)
// and does not implement Sizer.
type encodedGen struct{}

func (encodedGen) Name() string { return "remote:test" }
func (encodedGen) Generate(ctx context.Context, req *generator.Request) (*generator.Result, error) {
	im := image.NewRGBA(image.Rect(0, 0, 20, 10))
	for i := range im.Pix {
		im.Pix[i] = 200
	}
	im.Set(3, 3, color.RGBA{255, 0, 0, 255})
	var buf bytes.Buffer
	png.Encode(&buf, im)
	return &generator.Result{Images: []generator.Image{{Encoded: buf.Bytes(), Format: "png", RevisedPrompt: "revised"}},
		Usage: &generator.Usage{InputTokens: 5, OutputTokens: 7, TotalTokens: 12}}, nil
}

func TestEncodedBackend(t *testing.T) {
	_, ts := newTestServer(t, encodedGen{}, Options{})
	c := &http.Client{}
	var want []byte
	for _, format := range []string{"png", "jpeg"} {
		code, _, body := postJSON(t, c, ts.URL+"/v1/images/generations", "", map[string]any{"prompt": "x", "output_format": format})
		var res imagesResponse
		if err := json.Unmarshal(body, &res); err != nil || code != 200 {
			t.Fatalf("%s: %d %v %s", format, code, err, body)
		}
		data, _ := base64.StdEncoding.DecodeString(res.Data[0].B64JSON)
		im, got, err := image.Decode(bytes.NewReader(data))
		if err != nil || got != format || im.Bounds().Dx() != 20 || res.Size != "20x10" {
			t.Errorf("%s: decoded as %q (%v), size %q", format, got, err, res.Size)
		}
		if res.Data[0].RevisedPrompt != "revised" || res.Usage.TotalTokens != 12 || res.Usage.InputTokens != 5 {
			t.Errorf("%s: %+v", format, res)
		}
		if format == "png" {
			want = data
		}
	}
	// PNG passes through unchanged.
	var buf bytes.Buffer
	r, _ := encodedGen{}.Generate(context.Background(), nil)
	buf.Write(r.Images[0].Encoded)
	if !bytes.Equal(want, buf.Bytes()) {
		t.Error("the backend's PNG was re-encoded")
	}
	// Without Sizer only "auto" sizes pass.
	code, h, body := postJSON(t, c, ts.URL+"/v1/images/generations", "", `{"prompt":"x","size":"20x10"}`)
	if e := checkErrorShape(t, code, h, body); code != 400 || e.Param == nil || *e.Param != "size" {
		t.Errorf("size without Sizer: %d %s", code, body)
	}
}

// A request the generator refuses is the client's mistake: 400 naming the field.
func TestGeneratorRequestErrorIs400(t *testing.T) {
	_, ts := newTestServer(t, newFake(), Options{})
	code, h, body := postJSON(t, ts.Client(), ts.URL+"/v1/images/generations", "", map[string]any{"prompt": "refuse"})
	if code != 400 {
		t.Fatalf("status %d, want 400: %s", code, body)
	}
	if e := checkErrorShape(t, code, h, body); e.Param == nil || *e.Param != "top_k" {
		t.Errorf("param %v, want top_k", e.Param)
	}
}

// The candidates extension field reaches the generator.
func TestCandidatesField(t *testing.T) {
	_, ts := newTestServer(t, newFake(), Options{})
	code, _, body := postJSON(t, ts.Client(), ts.URL+"/v1/images/generations", "", map[string]any{"prompt": "a", "candidates": 3})
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	var res struct {
		Metadata map[string]string `json:"metadata"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.Metadata["candidates"] != "3" {
		t.Errorf("metadata %v (err %v), want candidates 3", res.Metadata, err)
	}
}
