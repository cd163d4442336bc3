package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tessella-ml/tessella/generator"
)

// imagesResponse is the body of a non-streaming generation, as in the
// OpenAI API; Seed and Metadata are tessella extensions.
type imagesResponse struct {
	Created      int64             `json:"created"`
	Data         []imageData       `json:"data"`
	Background   string            `json:"background"`
	OutputFormat string            `json:"output_format"`
	Quality      string            `json:"quality"`
	Size         string            `json:"size"`
	Usage        usage             `json:"usage"`
	Seed         uint64            `json:"seed"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

type imageData struct {
	B64JSON       string `json:"b64_json,omitempty"`
	URL           string `json:"url,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

type usage struct {
	InputTokens        int64        `json:"input_tokens"`
	InputTokensDetails tokenDetails `json:"input_tokens_details"`
	OutputTokens       int64        `json:"output_tokens"`
	TotalTokens        int64        `json:"total_tokens"`
}

type tokenDetails struct {
	ImageTokens int64 `json:"image_tokens"`
	TextTokens  int64 `json:"text_tokens"`
}

// streamEvent is one SSE event, in the shape of the OpenAI
// image_generation.partial_image and image_generation.completed events.
type streamEvent struct {
	Type              string `json:"type"`
	B64JSON           string `json:"b64_json"`
	CreatedAt         int64  `json:"created_at"`
	Size              string `json:"size"`
	Quality           string `json:"quality"`
	Background        string `json:"background"`
	OutputFormat      string `json:"output_format"`
	PartialImageIndex *int   `json:"partial_image_index,omitempty"`
	Usage             *usage `json:"usage,omitempty"`
	// Extensions on the completed event.
	ImageIndex *int    `json:"image_index,omitempty"`
	Seed       *uint64 `json:"seed,omitempty"`
	GalleryURL string  `json:"gallery_url,omitempty"`
}

// encodedImage is one final image, encoded.
type encodedImage struct {
	data       []byte
	size       string // "WxH"
	src        generator.Image
	galleryURL string // "" when the gallery is off
}

func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	s.metrics.requests.Add(1)
	// Bound the time to send the body, then lift the deadline: a read
	// deadline left in place would end long generations (the server's
	// background read would time out and cancel the request's context).
	// After a failed read the deadline stays, and the connection is closed
	// after the answer: net/http discards an unread body before it writes
	// the response, and without a deadline it would wait for the rest of
	// a stalled body for ever, never answering.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	if err != nil {
		w.Header().Set("Connection", "close")
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Type: "invalid_request_error",
				Code: "request_too_large", Kind: "too_large",
				Message: fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit)})
			return
		}
		s.writeError(w, invalid("", "read_error", "could not read the request body: "+err.Error()))
		return
	}
	_ = rc.SetReadDeadline(time.Time{})
	req, aerr := decodeRequest(body, s.lim)
	if aerr != nil {
		s.writeError(w, aerr)
		return
	}

	// The job runs under the request's context (a client that leaves
	// cancels it) and is also cancelled when the server stops.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.jobCtx, cancel)
	defer stop()

	greq := &generator.Request{
		Prompt:         req.Prompt,
		N:              req.N,
		Seed:           req.Seed,
		Temperature:    req.Temperature,
		TopK:           req.TopK,
		Supercondition: req.Supercondition,
		Grid:           req.Grid,
		Candidates:     req.Candidates,
	}
	var prev *previewer
	if req.Stream && req.PartialImages > 0 {
		greq.Previews = req.PartialImages
		prev = &previewer{parts: req.PartialImages, next: 1, ch: make(chan image.Image, req.PartialImages)}
		greq.Progress = prev.progress
	}
	j := &job{ctx: ctx, req: greq, done: make(chan jobResult, 1)}
	if aerr := s.submit(j); aerr != nil {
		s.writeError(w, aerr)
		return
	}
	if req.Stream {
		s.stream(ctx, w, r, j, req, prev)
		return
	}

	var jr jobResult
	select {
	case jr = <-j.done:
	case <-ctx.Done():
		s.abandoned(w, r)
		return
	}
	if jr.err != nil {
		s.failed(w, r, req, jr.err)
		return
	}
	imgs, aerr := s.finish(req, jr)
	if aerr != nil {
		s.writeError(w, aerr)
		return
	}
	resp := imagesResponse{
		Created:      jr.res.Created.Unix(),
		Background:   "opaque",
		OutputFormat: req.OutputFormat,
		Quality:      req.Quality,
		Size:         imgs[0].size,
		Usage:        usageOf(jr.res),
		Seed:         jr.res.Seed,
		Metadata:     jr.res.Metadata,
	}
	if jr.res.Created.IsZero() {
		resp.Created = time.Now().Unix()
	}
	base := s.baseURL(r)
	for _, im := range imgs {
		d := imageData{RevisedPrompt: im.src.RevisedPrompt}
		if req.ResponseFormat == "url" {
			id := s.files.put(im.data, contentType(req.OutputFormat), time.Now())
			d.URL = base + "/v1/images/files/" + id + "." + req.OutputFormat
		} else {
			d.B64JSON = base64.StdEncoding.EncodeToString(im.data)
		}
		resp.Data = append(resp.Data, d)
	}
	writeJSON(w, http.StatusOK, resp)
}

// abandoned answers a job that ended before its result: the client left
// (nobody to answer) or the server is stopping (503).
func (s *Server) abandoned(w http.ResponseWriter, r *http.Request) {
	if r.Context().Err() != nil {
		s.metrics.countError("client_cancelled")
		return
	}
	s.writeError(w, shuttingDown())
}

// generationError maps a generator's error: a refused request is a 400
// naming its field; anything else a deterministic 500.
func (s *Server) generationError(err error) *apiError {
	var re *generator.RequestError
	if errors.As(err, &re) {
		return invalid(re.Param, "invalid_value", re.Message)
	}
	s.opts.Logger.Error("generation failed", "err", err)
	return serverError("generation failed: " + err.Error())
}

// failed answers a generation error.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, req *imageRequest, err error) {
	if r.Context().Err() != nil {
		s.metrics.countError("client_cancelled")
		return
	}
	if s.jobCtx.Err() != nil {
		s.writeError(w, shuttingDown())
		return
	}
	s.writeError(w, s.generationError(err))
}

// finish encodes a result's images and records them in the metrics, the
// log and the gallery.
func (s *Server) finish(req *imageRequest, jr jobResult) ([]encodedImage, *apiError) {
	res := jr.res
	out := make([]encodedImage, 0, len(res.Images))
	for i, im := range res.Images {
		data, size, err := encode(im, req.OutputFormat, req.OutputCompression, png.DefaultCompression)
		if err != nil {
			s.opts.Logger.Error("encoding failed", "image", i, "err", err)
			return nil, serverError(fmt.Sprintf("image %d: %v", i, err))
		}
		out = append(out, encodedImage{data: data, size: size, src: im})
	}
	tokens := imageTokens(res)
	if tokens == 0 && res.Usage != nil {
		tokens = res.Usage.OutputTokens
	}
	s.metrics.tokens.Add(tokens)
	s.metrics.observeImages(len(res.Images), jr.dur.Seconds())
	s.opts.Logger.Info("generated", "images", len(res.Images), "size", out[0].size, "seed", res.Seed,
		"seconds", strconv.FormatFloat(jr.dur.Seconds(), 'f', 2, 64), "format", req.OutputFormat)

	settings := settingsOf(req, res)
	for i := range out {
		e := &galleryEntry{
			ID: newID(), Created: time.Now().Unix(), Prompt: req.Prompt, Model: s.model,
			Size: out[i].size, Format: req.OutputFormat, Seed: res.Seed, Settings: settings,
			Seconds: jr.dur.Seconds() / float64(len(out)), data: out[i].data, contentType: contentType(req.OutputFormat),
		}
		e.URL = "/api/gallery/" + e.ID + "." + req.OutputFormat
		if s.opts.GalleryMax > 0 {
			out[i].galleryURL = e.URL
		}
		s.gallery.add(e)
	}
	return out, nil
}

// settingsOf is what the gallery shows: the generator's metadata plus the
// request's settings it does not already name.
func settingsOf(req *imageRequest, res *generator.Result) map[string]string {
	m := maps.Clone(res.Metadata)
	if m == nil {
		m = map[string]string{}
	}
	set := func(k, v string) {
		if _, ok := m[k]; !ok && v != "" {
			m[k] = v
		}
	}
	set("seed", strconv.FormatUint(res.Seed, 10))
	if req.Temperature != nil {
		set("temperature", strconv.FormatFloat(*req.Temperature, 'g', -1, 64))
	}
	if req.TopK != nil {
		set("top_k", strconv.Itoa(*req.TopK))
	}
	if req.Supercondition != nil {
		set("supercondition", strconv.FormatFloat(*req.Supercondition, 'g', -1, 64))
	}
	if req.Grid > 1 {
		set("grid", strconv.Itoa(req.Grid))
	}
	delete(m, "prompt") // shown on its own
	return m
}

func usageOf(res *generator.Result) usage {
	var u usage
	if res.Usage != nil {
		u.InputTokens, u.OutputTokens, u.TotalTokens = res.Usage.InputTokens, res.Usage.OutputTokens, res.Usage.TotalTokens
		u.InputTokensDetails.TextTokens = res.Usage.InputTokens
		return u
	}
	u.OutputTokens = imageTokens(res)
	u.TotalTokens = u.OutputTokens
	return u
}

// imageTokens counts the image tokens behind the returned images: every
// cell of a grid (Result.Tokens holds one row per cell), only the kept one
// of several candidates. Without Result.Tokens, the images' own rows.
func imageTokens(res *generator.Result) int64 {
	var n int64
	for _, row := range res.Tokens {
		n += int64(len(row))
	}
	if n == 0 {
		for _, im := range res.Images {
			n += int64(len(im.Tokens))
		}
	}
	return n
}

func contentType(format string) string {
	if format == "jpeg" {
		return "image/jpeg"
	}
	return "image/png"
}

// baseURL is where the client reaches this server.
func (s *Server) baseURL(r *http.Request) string {
	if s.opts.PublicURL != "" {
		return s.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// encode returns im in format ("png" or "jpeg", quality 1–100 for JPEG,
// 0 = 90) and its size "WxH". Pixels are encoded; encoded bytes in the
// requested format pass through; other encoded bytes are re-encoded.
func encode(im generator.Image, format string, quality int, level png.CompressionLevel) ([]byte, string, error) {
	src := im.Image
	if src == nil {
		if len(im.Encoded) == 0 {
			return nil, "", errors.New("the generator returned an empty image")
		}
		if im.Format == format {
			cfg, _, err := image.DecodeConfig(bytes.NewReader(im.Encoded))
			if err != nil {
				return nil, "", fmt.Errorf("decoding the generator's %s: %w", im.Format, err)
			}
			return im.Encoded, fmt.Sprintf("%dx%d", cfg.Width, cfg.Height), nil
		}
		var err error
		src, _, err = image.Decode(bytes.NewReader(im.Encoded))
		if err != nil {
			return nil, "", fmt.Errorf("decoding the generator's %s: %w", im.Format, err)
		}
	}
	b := src.Bounds()
	if b.Empty() {
		return nil, "", errors.New("the generator returned an image with no pixels")
	}
	var buf bytes.Buffer
	var err error
	switch format {
	case "jpeg":
		if quality == 0 {
			quality = 90
		}
		err = jpeg.Encode(&buf, src, &jpeg.Options{Quality: quality})
	default:
		err = (&png.Encoder{CompressionLevel: level}).Encode(&buf, src)
	}
	if err != nil {
		return nil, "", fmt.Errorf("encoding %s: %w", format, err)
	}
	return buf.Bytes(), fmt.Sprintf("%dx%d", b.Dx(), b.Dy()), nil
}

// previewer picks evenly spaced decode previews from the generator's
// progress reports: the first preview at or after Done ≥ k·Total/(parts+1)
// for k = 1…parts. It copies the image (the generator may reuse its
// buffer) and hands it to the streaming handler without blocking.
type previewer struct {
	mu    sync.Mutex
	parts int
	next  int // the next k
	ch    chan image.Image
}

func (p *previewer) progress(pr generator.Progress) {
	if pr.Stage != "decode" || pr.Preview == nil || pr.Total <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next > p.parts || pr.Done*(p.parts+1) < p.next*pr.Total {
		return
	}
	for p.next <= p.parts && pr.Done*(p.parts+1) >= p.next*pr.Total {
		p.next++
	}
	b := pr.Preview.Bounds()
	cp := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(cp, cp.Bounds(), pr.Preview, b.Min, draw.Src)
	select {
	case p.ch <- cp:
	default:
	}
}

// sse writes Server-Sent Events, flushing each.
type sse struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func (e *sse) send(event string, v any) {
	if e.err != nil {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	if _, e.err = fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", event, data); e.err == nil {
		e.err = e.rc.Flush()
	}
}

func (e *sse) comment(text string) {
	if e.err != nil {
		return
	}
	if _, e.err = fmt.Fprintf(e.w, ": %s\n\n", text); e.err == nil {
		e.err = e.rc.Flush()
	}
}

// stream answers an admitted job with Server-Sent Events.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, r *http.Request, j *job, req *imageRequest, prev *previewer) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sse{w: w, rc: http.NewResponseController(w)}
	out.comment("queued")

	var previews <-chan image.Image
	if prev != nil {
		previews = prev.ch
	}
	sent := 0
	emit := func(im image.Image) {
		data, size, err := encode(generator.Image{Image: im}, req.OutputFormat, req.OutputCompression, png.BestSpeed)
		if err != nil {
			s.opts.Logger.Warn("encoding a preview failed", "err", err)
			return
		}
		idx := sent
		sent++
		out.send("image_generation.partial_image", streamEvent{
			Type: "image_generation.partial_image", B64JSON: base64.StdEncoding.EncodeToString(data),
			CreatedAt: time.Now().Unix(), Size: size, Quality: req.Quality, Background: "opaque",
			OutputFormat: req.OutputFormat, PartialImageIndex: &idx,
		})
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	var jr jobResult
wait:
	for {
		select {
		case im := <-previews:
			emit(im)
		case jr = <-j.done:
			break wait
		case <-keepAlive.C:
			out.comment("working")
		case <-ctx.Done():
			if r.Context().Err() == nil { // the server is stopping
				e := shuttingDown()
				s.metrics.countError(e.Kind)
				out.send("error", e.body())
				return
			}
			s.metrics.countError("client_cancelled")
			return
		}
		if out.err != nil {
			return // the client is gone; the deferred cancel stops the job
		}
	}
	for drained := false; !drained; {
		select {
		case im := <-previews:
			emit(im)
		default:
			drained = true
		}
	}
	fail := func(e *apiError) {
		s.metrics.countError(e.Kind)
		out.send("error", e.body())
	}
	if jr.err != nil {
		switch {
		case r.Context().Err() != nil:
			s.metrics.countError("client_cancelled")
		case s.jobCtx.Err() != nil:
			fail(shuttingDown())
		default:
			fail(s.generationError(jr.err))
		}
		return
	}
	imgs, aerr := s.finish(req, jr)
	if aerr != nil {
		fail(aerr)
		return
	}
	u := usageOf(jr.res)
	seed := jr.res.Seed
	for i, im := range imgs {
		idx := i
		ev := streamEvent{
			Type: "image_generation.completed", B64JSON: base64.StdEncoding.EncodeToString(im.data),
			CreatedAt: time.Now().Unix(), Size: im.size, Quality: req.Quality, Background: "opaque",
			OutputFormat: req.OutputFormat, Usage: &u, ImageIndex: &idx, Seed: &seed, GalleryURL: im.galleryURL,
		}
		out.send("image_generation.completed", ev)
	}
}
