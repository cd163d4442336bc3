package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// metricValue reads one sample from GET /metrics.
func metricValue(t *testing.T, c *http.Client, base, name string) float64 {
	t.Helper()
	r, err := c.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

func TestLoad(t *testing.T) {
	base := runtime.NumGoroutine()
	f := newFake()
	f.delay = 2 * time.Millisecond
	s, err := New(f, Options{Workers: 2, MaxQueue: 4})
	if err != nil {
		t.Fatal(err)
	}
	ts := newUnstartedHTTPTest(s)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	const clients = 64
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			body := map[string]any{"prompt": "load " + strconv.Itoa(i), "seed": i}
			if i%4 == 0 {
				body["stream"], body["partial_images"] = true, 2
			}
			code, h, data, err := tryPost(c, ts.URL+"/v1/images/generations", "", body)
			if err != nil {
				t.Errorf("client %d: %v", i, err)
				return
			}
			switch code {
			case http.StatusOK:
				if i%4 == 0 {
					if !strings.Contains(string(data), "event: image_generation.completed") {
						t.Errorf("client %d: stream without a completed event", i)
					}
				} else {
					var res imagesResponse
					if err := json.Unmarshal(data, &res); err != nil || len(res.Data) != 1 || res.Data[0].B64JSON == "" {
						t.Errorf("client %d: bad response %v: %.200s", i, err, data)
					}
				}
			case http.StatusTooManyRequests:
				checkErrorShape(t, code, h, data)
				if h.Get("Retry-After") == "" {
					t.Errorf("client %d: 429 without Retry-After", i)
				}
			default:
				t.Errorf("client %d: status %d: %s", i, code, data)
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("64 clients, workers 2, queue 4: %v", codes)
	if codes[200]+codes[429] != clients {
		t.Errorf("answers %v, want %d images or 429s", codes, clients)
	}
	if codes[200] == 0 {
		t.Error("no request succeeded")
	}
	if got := metricValue(t, c, ts.URL, "tessella_images_generated_total"); got != float64(codes[200]) {
		t.Errorf("images_generated_total = %v, want %d", got, codes[200])
	}
	if got := metricValue(t, c, ts.URL, `tessella_errors_total{kind="queue_full"}`); got != float64(codes[429]) {
		t.Errorf("queue_full errors = %v, want %d", got, codes[429])
	}
	if got := metricValue(t, c, ts.URL, "tessella_image_seconds_count"); got != float64(codes[200]) {
		t.Errorf("histogram count = %v, want %d", got, codes[200])
	}

	ts.Close()
	s.Close()
	tr.CloseIdleConnections()
	waitGoroutines(t, base)
}

func TestCancelRunning(t *testing.T) {
	base := runtime.NumGoroutine()
	f := newFake()
	f.started = make(chan string, 8)
	f.cancelled = make(chan string, 8)
	s, err := New(f, Options{Workers: 1, MaxQueue: 2})
	if err != nil {
		t.Fatal(err)
	}
	ts := newUnstartedHTTPTest(s)
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}

	for _, stream := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/images/generations",
				strings.NewReader(`{"prompt":"block","stream":`+strconv.FormatBool(stream)+`}`))
			r, err := c.Do(req)
			if err == nil {
				_, err = bufio.NewReader(r.Body).ReadString(0) // until the connection drops
				r.Body.Close()
			}
			errc <- err
		}()
		if p := <-f.started; p != "block" {
			t.Fatalf("started %q", p)
		}
		cancel()
		select {
		case <-f.cancelled:
		case <-time.After(10 * time.Second):
			t.Fatalf("stream=%v: the generator did not see the client leave", stream)
		}
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("client error %v", err)
		}
		// The one worker is free again: a new request gets an image.
		code, _, data := postJSON(t, c, ts.URL+"/v1/images/generations", "", `{"prompt":"after"}`)
		if code != 200 {
			t.Fatalf("after cancelling: %d %s", code, data)
		}
		<-f.started
	}
	if f.active.Load() != 0 {
		t.Errorf("%d generations still running", f.active.Load())
	}
	ts.Close()
	s.Close()
	tr.CloseIdleConnections()
	waitGoroutines(t, base)
}

func TestCancelQueued(t *testing.T) {
	f := newFake()
	f.started = make(chan string, 8)
	s, ts := newTestServer(t, f, Options{Workers: 1, MaxQueue: 2})
	c := &http.Client{}
	bctx, bcancel := context.WithCancel(context.Background())
	qctx, qcancel := context.WithCancel(context.Background())
	send := func(ctx context.Context, prompt string) chan error {
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/images/generations",
				strings.NewReader(`{"prompt":"`+prompt+`"}`))
			r, err := c.Do(req)
			if err == nil {
				r.Body.Close()
			}
			errc <- err
		}()
		return errc
	}
	b := send(bctx, "block")
	<-f.started
	q := send(qctx, "queued")
	waitFor(t, "the queued job", func() bool { return len(s.jobs) == 1 })
	qcancel()
	<-q
	waitFor(t, "the server to notice", func() bool {
		return metricValue(t, c, ts.URL, `tessella_errors_total{kind="client_cancelled"}`) == 1
	})
	bcancel()
	<-b
	waitFor(t, "the queue to drain", func() bool { return len(s.jobs) == 0 && s.busy.Load() == 0 })
	if n := f.calls.Load(); n != 1 {
		t.Errorf("the generator ran %d times; the abandoned queued job must be skipped", n)
	}
}

// newUnstartedHTTPTest serves s on a fresh httptest server (closed by the
// caller, so that goroutine counts can be checked afterwards).
func newUnstartedHTTPTest(s *Server) *httpTestServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hs := &http.Server{Handler: s}
	done := make(chan struct{})
	go func() { hs.Serve(ln); close(done) }()
	return &httpTestServer{URL: "http://" + ln.Addr().String(), hs: hs, done: done}
}

type httpTestServer struct {
	URL  string
	hs   *http.Server
	done chan struct{}
}

func (h *httpTestServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.hs.Shutdown(ctx)
	<-h.done
}

func TestGracefulShutdown(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, tc := range []struct {
		name    string
		prompt  string
		timeout time.Duration
		status  int
	}{
		{"finish", "slow", 30 * time.Second, 200},
		{"cancel", "block", 50 * time.Millisecond, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			f.delay = 20 * time.Millisecond
			f.started = make(chan string, 1)
			s, err := New(f, Options{ShutdownTimeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			url := "http://" + ln.Addr().String()
			ctx, stop := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- s.Serve(ctx, ln) }()
			tr := &http.Transport{}
			c := &http.Client{Transport: tr}
			type answer struct {
				code int
				h    http.Header
				body []byte
			}
			ans := make(chan answer, 1)
			go func() {
				code, h, body, err := tryPost(c, url+"/v1/images/generations", "", map[string]any{"prompt": tc.prompt})
				if err != nil {
					t.Error(err)
				}
				ans <- answer{code, h, body}
			}()
			<-f.started
			stop()
			a := <-ans
			if a.code != tc.status {
				t.Errorf("status %d, want %d: %s", a.code, tc.status, a.body)
			}
			if a.code != 200 {
				if e := checkErrorShape(t, a.code, a.h, a.body); e.Code == nil || *e.Code != "shutting_down" {
					t.Errorf("error %+v", e)
				}
			}
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
			if _, err := c.Get(url + "/health"); err == nil {
				t.Error("still serving after shutdown")
			}
			tr.CloseIdleConnections()
		})
	}
	waitGoroutines(t, base)
}

// With no queue (MaxQueue < 0) a request is refused exactly while every
// worker is generating: one that waits for the previous answer is always
// admitted, however soon after it comes.
func TestNoQueue(t *testing.T) {
	f := newFake()
	s, ts := newTestServer(t, f, Options{Workers: 1, MaxQueue: -1})
	c := ts.Client()
	url := ts.URL + "/v1/images/generations"
	for i := range 50 {
		if code, _, body := postJSON(t, c, url, "", map[string]any{"prompt": "one after another"}); code != 200 {
			t.Fatalf("request %d after the previous answer: %d %s", i, code, body)
		}
	}

	f.started = make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(`{"prompt":"block"}`))
		req.Header.Set("Content-Type", "application/json")
		r, err := c.Do(req)
		if err == nil {
			r.Body.Close()
		}
		done <- err
	}()
	<-f.started
	code, h, body := postJSON(t, c, url, "", map[string]any{"prompt": "second"})
	if code != 429 || h.Get("Retry-After") == "" || !strings.Contains(string(body), "workers are all generating") {
		t.Errorf("while the only worker is busy: %d Retry-After %q %s", code, h.Get("Retry-After"), body)
	}
	if n := len(s.jobs); n != 0 {
		t.Errorf("%d jobs queued with no queue", n)
	}
	cancel()
	<-done
}

// New refuses options it cannot honour, before it starts a goroutine or
// makes a channel of their size.
func TestNewRefusesOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"negative workers", Options{Workers: -1}, "Workers"},
		{"too many workers", Options{Workers: MaxWorkers + 1}, "Workers"},
		{"huge queue", Options{MaxQueue: 1 << 62}, "MaxQueue"},
		{"not a URL", Options{PublicURL: "::junk"}, "PublicURL"},
		{"relative URL", Options{PublicURL: "images.example.org"}, "PublicURL"},
		{"ftp URL", Options{PublicURL: "ftp://images.example.org"}, "PublicURL"},
		{"URL with query", Options{PublicURL: "https://images.example.org/?a=1"}, "PublicURL"},
		{"origin with newline", Options{AllowOrigin: "https://a.example\r\nX-Evil: 1"}, "AllowOrigin"},
	} {
		s, err := New(newFake(), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error naming %s", tc.name, err, tc.want)
		}
		if s != nil {
			s.Close()
		}
	}
	s, err := New(newFake(), Options{PublicURL: "https://images.example.org/tessella/", Workers: MaxWorkers})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.opts.PublicURL != "https://images.example.org/tessella" {
		t.Errorf("PublicURL kept as %q; a trailing slash would double the one before v1", s.opts.PublicURL)
	}
}
