// Package generator is the one interface through which the CLI and the
// server make images: the local engine (package generator/local) and the
// OpenAI Images API (package generator/openai) both implement Generator.
package generator

import (
	"context"
	"fmt"
	"image"
	"time"
)

// Request asks for images. Fields a backend does not use must be zero; a
// backend refuses a non-zero field it cannot honour with an error naming it.
type Request struct {
	Prompt string
	// N is the number of images (0 means 1).
	N int

	// Local engine settings. Nil pointers mean "the model's default".
	Seed           *uint64  // nil: a random seed, reported in Result.Seed
	Temperature    *float64 // > 0
	TopK           *int     // >= 0; 0 keeps every token
	Supercondition *float64
	Grid           int    // 0 or 1: single images; G: G² images tiled in one image
	RNG            string // "go" (default) or "torch"
	Seamless       bool
	Threads        int // 0, or the thread count the local engine was opened with
	Scale          int // nearest-neighbour enlargement of the output; 0: the model's default
	// Candidates, if > 1, samples that many images for each one returned
	// and keeps the one ranked best (local engine: by the model file's
	// judge, package model/judge, when it has one, else by
	// model.CandidateScore); 0: the model's default, 1 for DALL·E Mini/Mega.
	Candidates int
	// PreviewEvery, if > 0, asks for a Progress.Preview image every that
	// many sampled tokens (each costs one VQGAN decode).
	PreviewEvery int
	// Previews, if > 0 and PreviewEvery is 0, asks for that many previews
	// evenly spaced over the generation.
	Previews int

	// Remote (OpenAI) settings.
	APIModel          string // opaque model name
	Size              string // "WxH" or "auto"
	Quality           string
	OutputFormat      string // png, jpeg, webp
	OutputCompression *int
	Background        string
	Moderation        string
	User              string

	// Progress, if non-nil, is called from the generating goroutine as work
	// advances. It must return quickly.
	Progress func(Progress)
}

// Progress reports how far a generation is.
type Progress struct {
	Stage string // "encode", "decode", "vqgan", "request"
	Done  int
	Total int
	// Preview, when non-nil, is a partial image (tokens not yet sampled
	// decoded as the reference fills them).
	Preview image.Image
	// Tokens holds the image tokens sampled so far, one row per image
	// (with Request.Candidates > 1, each image's first candidate).
	Tokens [][]int
}

// Image is one generated image.
type Image struct {
	// Image is set by backends that produce pixels (the local engine).
	Image image.Image
	// Encoded and Format are set by backends that return encoded bytes
	// (the OpenAI API): Format is "png", "jpeg" or "webp".
	Encoded []byte
	Format  string
	// RevisedPrompt is the prompt the backend actually used, if it says.
	RevisedPrompt string
	// Tokens are the image tokens behind the image (local engine).
	Tokens []int
}

// Usage counts what a remote call consumed.
type Usage struct {
	InputTokens, OutputTokens, TotalTokens int64
}

// Result is what Generate returns.
type Result struct {
	Images []Image
	// Metadata is written into every output file (PNG tEXt chunks) and shown
	// by the server: prompt, model, backend, seed, sampling settings, ….
	// It never holds secrets.
	Metadata map[string]string
	Seed     uint64
	// Tokens are the sampled image tokens, one row per image in the
	// reference's row order (local engine only).
	Tokens [][]int
	// Timings per stage, in the order they ran.
	Timings []Timing
	Usage   *Usage
	Created time.Time
}

// Timing is the wall time of one stage.
type Timing struct {
	Stage    string
	Duration time.Duration
}

// Generator makes images from a prompt. Implementations are safe for
// concurrent use unless documented otherwise and stop early, returning
// ctx.Err(), when ctx is cancelled.
type Generator interface {
	// Name identifies the backend and model, e.g. "local:mini".
	Name() string
	Generate(ctx context.Context, req *Request) (*Result, error)
}

// RequestError is a request a backend refuses: the caller's mistake, not
// the backend's failure (the server answers it with 400, naming Param).
type RequestError struct {
	Param   string // the request field at fault, e.g. "top_k"
	Message string
}

func (e *RequestError) Error() string { return e.Message }

// Invalid returns a *RequestError for param.
func Invalid(param, format string, args ...any) error {
	return &RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}
