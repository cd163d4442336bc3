package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tessella-ml/tessella/generator"
)

//go:embed web
var webFiles embed.FS

// Server is an http.Handler serving a generator as an OpenAI-compatible
// Images API. New starts its worker pool and janitor; ListenAndServe,
// Shutdown or Close stops them.
type Server struct {
	gen     generator.Generator
	opts    Options
	model   string
	lim     limits
	started time.Time
	web     fs.FS
	keyHash [sha256.Size]byte

	metrics *metrics
	files   *fileStore
	gallery *gallery

	jobs chan *job
	busy atomic.Int32

	mu         sync.Mutex // guards closing and job admission
	closing    bool
	admitted   int            // jobs running or waiting: at most Workers + MaxQueue
	jobsWG     sync.WaitGroup // admitted jobs not yet finished
	jobCtx     context.Context
	cancelJobs context.CancelFunc
	quit       chan struct{}
	loopsWG    sync.WaitGroup // workers and janitor
	closeOnce  sync.Once
}

// job is one admitted generation.
type job struct {
	ctx  context.Context
	req  *generator.Request
	done chan jobResult // buffered: the worker never blocks
}

type jobResult struct {
	res *generator.Result
	err error
	dur time.Duration
}

// New returns a Server for gen and starts its opts.Workers workers and the
// janitor that removes expired images.
func New(gen generator.Generator, opts Options) (*Server, error) {
	if gen == nil {
		return nil, errors.New("server: nil generator")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	web, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, fmt.Errorf("server: embedded web files: %w", err)
	}
	s := &Server{
		gen:     gen,
		opts:    o,
		model:   o.ModelName,
		started: time.Now(),
		web:     web,
		metrics: newMetrics(),
		files:   newFileStore(o.ImageTTL, o.MaxStoredImages),
		gallery: &gallery{max: o.GalleryMax},
		jobs:    make(chan *job, o.Workers+o.MaxQueue), // never full: see submit
		quit:    make(chan struct{}),
	}
	if s.model == "" {
		s.model = gen.Name()
	}
	if s.model == "" {
		s.model = "tessella"
	}
	s.lim = limits{
		Models:         []string{s.model},
		MaxN:           o.MaxN,
		MaxGrid:        o.MaxGrid,
		MaxPromptChars: o.MaxPromptChars,
	}
	if n := gen.Name(); n != "" && n != s.model {
		s.lim.Models = append(s.lim.Models, n)
	}
	if sz, ok := gen.(Sizer); ok {
		w, h := sz.NativeSize()
		if w > 0 && h > 0 {
			s.lim.NativeW, s.lim.NativeH = w, h
		}
	}
	if o.APIKey != "" {
		s.keyHash = sha256.Sum256([]byte(o.APIKey))
	}
	s.jobCtx, s.cancelJobs = context.WithCancel(context.Background())
	s.loopsWG.Add(o.Workers + 1)
	for range o.Workers {
		go s.worker()
	}
	go s.janitor()
	return s, nil
}

// Model is the model id the server reports and accepts.
func (s *Server) Model() string { return s.model }

// ListenAndServe listens on Options.Addr and serves until ctx is cancelled,
// then shuts down gracefully (see Serve).
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		s.Close()
		return fmt.Errorf("server: listen on %s: %w", s.opts.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTP on ln until ctx is cancelled. Then it stops accepting
// connections and jobs, lets running and queued jobs finish for up to
// Options.ShutdownTimeout, cancels the rest (their clients get a 503 or an
// SSE error event), waits for every handler, worker and the janitor to
// return, and returns nil. It returns an error only if serving failed.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
	}
	s.opts.Logger.Info("serving", "addr", ln.Addr().String(), "model", s.model,
		"workers", s.opts.Workers, "max_queue", s.opts.MaxQueue, "auth", s.opts.APIKey != "")
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("server: %w", err)
	case <-ctx.Done():
	}
	s.opts.Logger.Info("shutting down", "grace", s.opts.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	herrc := make(chan error, 1)
	go func() { herrc <- hs.Shutdown(sctx) }()
	if err := s.Shutdown(sctx); err != nil {
		s.opts.Logger.Warn("cancelled unfinished jobs", "err", err)
	}
	if err := <-herrc; err != nil {
		// The grace period ran out while handlers were still writing;
		// their jobs are finished or cancelled now, so they end soon.
		gctx, gcancel := context.WithTimeout(context.Background(), 5*time.Second)
		if hs.Shutdown(gctx) != nil {
			hs.Close()
		}
		gcancel()
	}
	<-errc // http.ErrServerClosed
	s.opts.Logger.Info("stopped")
	return nil
}

// Shutdown stops admitting jobs (new generation requests get 503), waits
// until every admitted job has finished or ctx is done, then cancels what
// is left and stops the workers and the janitor. It returns ctx.Err() if
// jobs had to be cancelled. Handlers still running on another http.Server
// finish on their own shortly after. Safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	idle := make(chan struct{})
	go func() { s.jobsWG.Wait(); close(idle) }()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancelJobs()
		<-idle
	}
	s.closeOnce.Do(func() {
		s.cancelJobs()
		close(s.quit)
	})
	s.loopsWG.Wait()
	return err
}

// Close cancels every job at once and stops the workers and the janitor.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Shutdown(ctx)
	return nil
}

// submit admits j to the queue, or answers why not. Admission counts the
// jobs running and waiting (not the channel's free slots), so that with no
// queue a request is refused exactly when every worker is generating, not
// when a worker that has just finished has yet to come back for more.
func (s *Server) submit(j *job) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return shuttingDown()
	}
	if s.admitted >= s.opts.Workers+s.opts.MaxQueue {
		msg := fmt.Sprintf("the server is busy: %d jobs are queued; retry later", s.opts.MaxQueue)
		if s.opts.MaxQueue == 0 {
			msg = fmt.Sprintf("the server is busy: its %d workers are all generating; retry later", s.opts.Workers)
		}
		return &apiError{Status: http.StatusTooManyRequests, Type: "rate_limit_error", Code: "queue_full",
			Message: msg, Kind: "queue_full", RetryAfter: s.retryAfter()}
	}
	s.admitted++
	s.jobsWG.Add(1)
	s.jobs <- j // cap Workers+MaxQueue ≥ admitted: never blocks
	return nil
}

// retryAfter estimates in seconds (1–60) when a queue slot frees up.
func (s *Server) retryAfter() int {
	s.metrics.mu.Lock()
	per := 1.0
	if s.metrics.count > 0 {
		per = s.metrics.sum / float64(s.metrics.count)
	}
	s.metrics.mu.Unlock()
	est := per * float64(len(s.jobs)+int(s.busy.Load())) / float64(s.opts.Workers)
	return int(math.Min(60, math.Max(1, math.Ceil(est))))
}

func (s *Server) worker() {
	defer s.loopsWG.Done()
	for {
		select {
		case j := <-s.jobs:
			s.run(j)
		case <-s.quit:
			return
		}
	}
}

// run executes one job; a job whose client has left is skipped.
func (s *Server) run(j *job) {
	defer s.jobsWG.Done()
	var r jobResult
	if err := j.ctx.Err(); err != nil {
		r.err = err
	} else {
		s.busy.Add(1)
		start := time.Now()
		r.res, r.err = s.generate(j) // a panic comes back as an error
		r.dur = time.Since(start)
		s.busy.Add(-1)
	}
	// Free the job's slot before its answer goes out, so that a client
	// that sends its next request as soon as it has this answer finds it.
	s.mu.Lock()
	s.admitted--
	s.mu.Unlock()
	j.done <- r
}

// generate calls the generator, turning a panic into an error.
func (s *Server) generate(j *job) (res *generator.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.opts.Logger.Error("generator panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("the generator panicked: %v", p)
		}
	}()
	res, err = s.gen.Generate(j.ctx, j.req)
	if err == nil && (res == nil || len(res.Images) == 0) {
		err = errors.New("the generator returned no images")
	}
	return res, err
}

// janitor removes expired url images until the server stops.
func (s *Server) janitor() {
	defer s.loopsWG.Done()
	every := min(s.opts.ImageTTL/2, time.Minute)
	every = max(every, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			s.files.expire(now)
		case <-s.quit:
			return
		}
	}
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.AllowOrigin != "" {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", s.opts.AllowOrigin)
		h.Set("Access-Control-Expose-Headers", "Retry-After, X-Should-Retry")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, OpenAI-Organization, OpenAI-Project, X-Stainless-Retry-Count")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	p := r.URL.Path
	get := []string{http.MethodGet, http.MethodHead}
	switch {
	case p == "/v1/images/generations":
		s.route(w, r, true, []string{http.MethodPost}, s.handleGenerate)
	case p == "/v1/completions" || p == "/v1/chat/completions" ||
		(strings.HasPrefix(p, "/v1/engines/") && strings.HasSuffix(p, "/completions")):
		s.writeError(w, &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error", Code: "unsupported_endpoint",
			Kind: "legacy_endpoint",
			Message: fmt.Sprintf("%s is not served here: this server makes images with the OpenAI Images API, "+
				"POST /v1/images/generations with {\"prompt\": \"...\"}", p)})
	case p == "/v1/models":
		s.route(w, r, true, get, s.handleModels)
	case strings.HasPrefix(p, "/v1/models/"):
		s.route(w, r, true, get, s.handleModel)
	case strings.HasPrefix(p, "/v1/images/files/"):
		s.route(w, r, false, get, s.handleFile)
	case p == "/health":
		s.route(w, r, false, get, s.handleHealth)
	case p == "/metrics":
		s.route(w, r, false, get, s.handleMetrics)
	case p == "/api/config":
		s.route(w, r, false, get, s.handleConfig)
	case p == "/api/gallery":
		s.route(w, r, true, get, s.handleGallery)
	case strings.HasPrefix(p, "/api/gallery/"):
		s.route(w, r, false, get, s.handleGalleryFile)
	case strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/api/"):
		s.writeError(w, notFound(fmt.Sprintf("invalid URL (%s %s)", r.Method, p)))
	default:
		s.route(w, r, false, get, s.handleStatic)
	}
}

// route checks the method and, when auth is set and a key is configured,
// the bearer token, then calls h.
func (s *Server) route(w http.ResponseWriter, r *http.Request, auth bool, methods []string, h http.HandlerFunc) {
	ok := false
	for _, m := range methods {
		ok = ok || r.Method == m
	}
	if !ok {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		s.writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Type: "invalid_request_error",
			Code: "method_not_allowed", Kind: "method_not_allowed",
			Message: fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(methods, ", "))})
		return
	}
	if auth && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tessella"`)
		msg := "incorrect API key provided"
		if r.Header.Get("Authorization") == "" {
			msg = "missing API key: send it as \"Authorization: Bearer KEY\""
		}
		s.writeError(w, &apiError{Status: http.StatusUnauthorized, Type: "invalid_request_error",
			Code: "invalid_api_key", Kind: "unauthorized", Message: msg})
		return
	}
	h(w, r)
}

// authorized compares the bearer token with the key in constant time (both
// hashed first, so that the length does not leak either).
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.APIKey == "" {
		return true
	}
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], s.keyHash[:]) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) modelObject() modelObject {
	return modelObject{ID: s.model, Object: "model", Created: s.started.Unix(), OwnedBy: "tessella"}
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []modelObject{s.modelObject()}})
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/models/")
	for _, m := range s.lim.Models {
		if id == m {
			writeJSON(w, http.StatusOK, s.modelObject())
			return
		}
	}
	e := notFound(fmt.Sprintf("the model %q does not exist; this server serves %q", id, s.model))
	e.Code, e.Param = "model_not_found", "model"
	s.writeError(w, e)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	status, code := "ok", http.StatusOK
	if closing {
		status, code = "shutting_down", http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{
		"status": status, "model": s.model,
		"workers": s.opts.Workers, "busy_workers": s.busy.Load(),
		"queue_depth": len(s.jobs), "max_queue": s.opts.MaxQueue,
		"uptime_seconds": int64(time.Since(s.started).Seconds()),
	})
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, gauges{
		queueDepth: len(s.jobs), queueCap: s.opts.MaxQueue,
		busy: int(s.busy.Load()), workers: s.opts.Workers,
		stored: s.files.len(), gallery: s.gallery.len(),
	})
}

func (s *Server) handleConfig(w http.ResponseWriter, r *http.Request) {
	native := ""
	if s.lim.NativeW > 0 {
		native = fmt.Sprintf("%dx%d", s.lim.NativeW, s.lim.NativeH)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model": s.model, "native_size": native, "auth_required": s.opts.APIKey != "",
		"max_n": s.opts.MaxN, "max_grid": s.opts.MaxGrid, "max_partial_images": maxPartialImages,
		"gallery": s.opts.GalleryMax > 0,
	})
}

func (s *Server) handleGallery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": s.gallery.list()})
}

// imageID returns the id in /prefix/<id>.<ext>, or "".
func imageID(p, prefix string) string {
	name := strings.TrimPrefix(p, prefix)
	id, _, _ := strings.Cut(name, ".")
	if len(id) != 32 || strings.ContainsAny(id, "/") {
		return ""
	}
	return id
}

func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	im, ok := s.files.get(imageID(r.URL.Path, "/v1/images/files/"), time.Now())
	if !ok {
		s.writeError(w, notFound("no such image (images are kept for "+s.opts.ImageTTL.String()+")"))
		return
	}
	serveBytes(w, im.Data, im.ContentType, "private, max-age=3600")
}

func (s *Server) handleGalleryFile(w http.ResponseWriter, r *http.Request) {
	e, ok := s.gallery.get(imageID(r.URL.Path, "/api/gallery/"))
	if !ok {
		s.writeError(w, notFound("no such image in the gallery"))
		return
	}
	serveBytes(w, e.data, e.contentType, "private, max-age=86400")
}

func serveBytes(w http.ResponseWriter, data []byte, contentType, cache string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", fmt.Sprint(len(data)))
	h.Set("Cache-Control", cache)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// handleStatic serves the embedded web page.
func (s *Server) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
	st, err := fs.Stat(s.web, name)
	if !fs.ValidPath(name) || err != nil || st.IsDir() {
		s.writeError(w, notFound(fmt.Sprintf("invalid URL (%s %s)", r.Method, r.URL.Path)))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; "+
		"style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
	if name == "index.html" && r.URL.Path != "/" {
		// http.ServeFileFS redirects …/index.html to ./; serve "/" only.
		http.Redirect(w, r, "/", http.StatusMovedPermanently)
		return
	}
	http.ServeFileFS(w, r, s.web, name)
}
