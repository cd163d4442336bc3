package server

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Sizer is implemented by generators that know the size of the images they
// make. NativeSize returns the width and height in pixels of one image (for
// DALL·E Mini/Mega 256×256; for the small default model 64·scale square).
// When the generator does not implement Sizer the server accepts only size
// "auto" (or no size) and reports the size of the image it got back.
type Sizer interface {
	NativeSize() (width, height int)
}

// Options configures a Server. Zero values select the defaults given.
type Options struct {
	// Addr is the address ListenAndServe binds; default "127.0.0.1:8080".
	Addr string
	// APIKey, when non-empty, is required as "Authorization: Bearer KEY" on
	// every /v1/ and /api/ route except the image files (which are
	// addressed by unguessable ids). Compared in constant time.
	APIKey string
	// Workers is the number of concurrent Generate calls; default 1, at
	// most MaxWorkers.
	Workers int
	// MaxQueue is the number of admitted jobs that may wait for a worker;
	// beyond it requests get 429. Default 16, at most MaxQueueLimit;
	// negative: no queue (a request that finds every worker busy gets 429).
	MaxQueue int
	// MaxBody is the largest request body in bytes; default 1 MiB.
	MaxBody int64
	// BodyTimeout bounds how long a client may take to send a generation
	// request's body; after it the client gets a 400 and the connection is
	// closed. Default 1 minute.
	BodyTimeout time.Duration
	// ImageTTL is how long images made with response_format "url" are kept;
	// default 60 minutes.
	ImageTTL time.Duration
	// MaxStoredImages bounds the images kept for response_format "url"; the
	// oldest go first. Default 1000.
	MaxStoredImages int
	// GalleryMax bounds the web page's gallery of recent results; default
	// 48; negative disables the gallery.
	GalleryMax int
	// ModelName is the model id reported by /v1/models and accepted in the
	// "model" field; default the generator's Name().
	ModelName string
	// MaxN is the largest "n"; default 10.
	MaxN int
	// MaxGrid is the largest "grid" extension value (grid² images tiled in
	// one); default 4.
	MaxGrid int
	// MaxPromptChars bounds the prompt length in characters; default 4000.
	MaxPromptChars int
	// PublicURL, if set (an absolute http or https URL without query or
	// fragment, e.g. "https://images.example.org"), is the base of
	// the image URLs returned for response_format "url"; default the
	// scheme and Host of the request.
	PublicURL string
	// AllowOrigin, if set (e.g. "*"; no control characters), is sent as
	// Access-Control-Allow-Origin so that web pages from other origins can
	// call the API; OPTIONS preflights are answered. Default: no CORS.
	AllowOrigin string
	// ShutdownTimeout is how long ListenAndServe lets running and queued
	// jobs finish after its context is cancelled before cancelling them;
	// default 30 s.
	ShutdownTimeout time.Duration
	// Logger receives one line per generation and per failure; nil
	// discards.
	Logger *slog.Logger
}

// Upper bounds of Options.Workers and Options.MaxQueue: each worker is a
// goroutine started by New that holds a generation's buffers while it
// runs, and the queue is a channel of that capacity whose requests hold
// their bodies; an absurd value would exhaust memory, not serve more.
const (
	MaxWorkers    = 256
	MaxQueueLimit = 100000
)

const (
	defaultAddr            = "127.0.0.1:8080"
	defaultWorkers         = 1
	defaultMaxQueue        = 16
	defaultMaxBody         = 1 << 20
	defaultBodyTimeout     = time.Minute
	defaultImageTTL        = 60 * time.Minute
	defaultMaxStored       = 1000
	defaultGalleryMax      = 48
	defaultMaxN            = 10
	defaultMaxGrid         = 4
	defaultMaxPromptChars  = 4000
	defaultShutdownTimeout = 30 * time.Second
	maxPartialImages       = 3
)

// withDefaults fills zero fields and rejects impossible values.
func (o Options) withDefaults() (Options, error) {
	if o.Addr == "" {
		o.Addr = defaultAddr
	}
	if o.Workers == 0 {
		o.Workers = defaultWorkers
	}
	if o.MaxQueue == 0 {
		o.MaxQueue = defaultMaxQueue
	}
	if o.MaxBody == 0 {
		o.MaxBody = defaultMaxBody
	}
	if o.BodyTimeout == 0 {
		o.BodyTimeout = defaultBodyTimeout
	}
	if o.ImageTTL == 0 {
		o.ImageTTL = defaultImageTTL
	}
	if o.MaxStoredImages == 0 {
		o.MaxStoredImages = defaultMaxStored
	}
	if o.GalleryMax == 0 {
		o.GalleryMax = defaultGalleryMax
	}
	if o.MaxN == 0 {
		o.MaxN = defaultMaxN
	}
	if o.MaxGrid == 0 {
		o.MaxGrid = defaultMaxGrid
	}
	if o.MaxPromptChars == 0 {
		o.MaxPromptChars = defaultMaxPromptChars
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	if o.MaxQueue < 0 {
		o.MaxQueue = 0 // no queue
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.Workers < 0 || o.Workers > MaxWorkers:
		return o, fmt.Errorf("server: Options.Workers = %d, want 1 … %d", o.Workers, MaxWorkers)
	case o.MaxQueue > MaxQueueLimit:
		return o, fmt.Errorf("server: Options.MaxQueue = %d, want at most %d", o.MaxQueue, MaxQueueLimit)
	case o.MaxBody < 0:
		return o, fmt.Errorf("server: Options.MaxBody = %d, want > 0", o.MaxBody)
	case o.ImageTTL < 0:
		return o, fmt.Errorf("server: Options.ImageTTL = %v, want > 0", o.ImageTTL)
	case o.MaxStoredImages < 0:
		return o, fmt.Errorf("server: Options.MaxStoredImages = %d, want > 0", o.MaxStoredImages)
	case o.MaxN < 0:
		return o, fmt.Errorf("server: Options.MaxN = %d, want > 0", o.MaxN)
	case o.MaxGrid < 0:
		return o, fmt.Errorf("server: Options.MaxGrid = %d, want > 0", o.MaxGrid)
	case o.MaxPromptChars < 0:
		return o, fmt.Errorf("server: Options.MaxPromptChars = %d, want > 0", o.MaxPromptChars)
	case o.ShutdownTimeout < 0:
		return o, fmt.Errorf("server: Options.ShutdownTimeout = %v, want > 0", o.ShutdownTimeout)
	case o.BodyTimeout < 0:
		return o, fmt.Errorf("server: Options.BodyTimeout = %v, want > 0", o.BodyTimeout)
	case strings.ContainsFunc(o.AllowOrigin, unicode.IsControl):
		return o, fmt.Errorf("server: Options.AllowOrigin %q holds a control character", o.AllowOrigin)
	}
	if o.PublicURL != "" {
		o.PublicURL = strings.TrimRight(o.PublicURL, "/") // joined with "/v1/…"
		u, err := url.Parse(o.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return o, fmt.Errorf("server: Options.PublicURL %q: want an absolute http or https URL without query or fragment", o.PublicURL)
		}
	}
	return o, nil
}
