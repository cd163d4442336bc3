package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// imageRequest is a validated POST /v1/images/generations request.
type imageRequest struct {
	Prompt            string
	Model             string // as sent; "" when omitted
	N                 int    // ≥ 1
	Size              string // "auto" or "WxH" (validated against the native size)
	ResponseFormat    string // "b64_json" or "url"
	OutputFormat      string // "png" or "jpeg"
	OutputCompression int    // 1–100 (JPEG quality); 0 = default
	Quality           string // accepted, ignored; echoed ("auto" when omitted)
	Style             string // accepted, ignored
	Background        string // accepted, ignored
	User              string // accepted, ignored
	Stream            bool
	PartialImages     int // 0–3, only used with Stream

	// Extension fields (tessella only).
	Seed           *uint64
	Temperature    *float64 // > 0
	TopK           *int     // ≥ 0
	Supercondition *float64 // ≥ 0
	Grid           int      // 0 or 1: single images; G: G² images tiled in one
	Candidates     int      // 0: the model's default; K: best of K sampled per image
}

// wireRequest is the JSON body as sent. Unknown fields are ignored, null
// leaves a field unset, and the zero values of the standard OpenAI fields
// count as unset (some clients send n: 0, size: "").
type wireRequest struct {
	Prompt            *string  `json:"prompt"`
	Model             string   `json:"model"`
	N                 int      `json:"n"`
	Size              string   `json:"size"`
	ResponseFormat    string   `json:"response_format"`
	OutputFormat      string   `json:"output_format"`
	OutputCompression int      `json:"output_compression"`
	Quality           string   `json:"quality"`
	Style             string   `json:"style"`
	Background        string   `json:"background"`
	Moderation        string   `json:"moderation"`
	User              string   `json:"user"`
	Stream            bool     `json:"stream"`
	PartialImages     int      `json:"partial_images"`
	Seed              *uint64  `json:"seed"`
	Temperature       *float64 `json:"temperature"`
	TopK              *int     `json:"top_k"`
	Supercondition    *float64 `json:"supercondition"`
	Grid              int      `json:"grid"`
	Candidates        int      `json:"candidates"`
}

// limits are what decodeRequest validates against.
type limits struct {
	Models         []string // accepted values of "model" besides ""
	NativeW        int      // 0 when the generator does not report a size
	NativeH        int
	MaxN           int
	MaxGrid        int
	MaxPromptChars int
}

// decodeRequest parses and validates a request body. It returns either a
// valid request or a 400 apiError naming the field at fault; it never
// panics.
func decodeRequest(body []byte, lim limits) (*imageRequest, *apiError) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, invalid("", "invalid_json", "the request body is empty; send a JSON object with at least \"prompt\"")
	}
	if trimmed[0] != '{' {
		return nil, invalid("", "invalid_json", "the request body must be a JSON object")
	}
	var w wireRequest
	if err := json.Unmarshal(trimmed, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, invalid(te.Field, "invalid_type",
				fmt.Sprintf("invalid type for %q: got JSON %s, want %s", te.Field, te.Value, jsonKind(te.Type.Kind().String())))
		}
		return nil, invalid("", "invalid_json", "could not parse the JSON body: "+err.Error())
	}

	r := &imageRequest{
		Model:             w.Model,
		N:                 w.N,
		Size:              w.Size,
		ResponseFormat:    w.ResponseFormat,
		OutputFormat:      w.OutputFormat,
		OutputCompression: w.OutputCompression,
		Quality:           w.Quality,
		Style:             w.Style,
		Background:        w.Background,
		User:              w.User,
		Stream:            w.Stream,
		PartialImages:     w.PartialImages,
		Seed:              w.Seed,
		Temperature:       w.Temperature,
		TopK:              w.TopK,
		Supercondition:    w.Supercondition,
		Grid:              w.Grid,
		Candidates:        w.Candidates,
	}

	// prompt
	if w.Prompt == nil {
		return nil, invalid("prompt", "missing_required_parameter", "missing required parameter: 'prompt'")
	}
	r.Prompt = strings.TrimSpace(*w.Prompt)
	if r.Prompt == "" {
		return nil, invalid("prompt", "empty_prompt", "'prompt' is empty")
	}
	if n := utf8.RuneCountInString(r.Prompt); n > lim.MaxPromptChars {
		return nil, invalid("prompt", "string_above_max_length",
			fmt.Sprintf("'prompt' has %d characters, at most %d are allowed", n, lim.MaxPromptChars))
	}

	// model
	if r.Model != "" {
		ok := false
		for _, m := range lim.Models {
			if r.Model == m {
				ok = true
			}
		}
		if !ok {
			return nil, invalid("model", "model_not_found",
				fmt.Sprintf("model %q is not served here; this server serves %q (omit \"model\" to use it)", r.Model, first(lim.Models)))
		}
	}

	// grid (extension) and n
	if r.Grid < 0 || r.Grid > lim.MaxGrid {
		return nil, invalid("grid", "invalid_value", fmt.Sprintf("'grid' = %d, want 0 to %d", r.Grid, lim.MaxGrid))
	}
	if r.N == 0 {
		r.N = 1
	}
	if r.N < 1 || r.N > lim.MaxN {
		return nil, invalid("n", "invalid_value", fmt.Sprintf("'n' = %d, want 1 to %d", r.N, lim.MaxN))
	}
	if r.Grid > 1 && r.N > 1 {
		return nil, invalid("n", "invalid_value", "'n' must be 1 with 'grid' > 1 (a grid already holds grid² images)")
	}

	// size
	if r.Size == "" {
		r.Size = "auto"
	}
	if r.Size != "auto" {
		w, h, ok := parseSize(r.Size)
		g := max(r.Grid, 1)
		if !ok {
			return nil, invalid("size", "invalid_value", fmt.Sprintf("'size' = %q, want \"auto\" or WIDTHxHEIGHT", r.Size))
		}
		if lim.NativeW == 0 {
			return nil, invalid("size", "unsupported_value",
				fmt.Sprintf("'size' = %q: this model's size is not known in advance, use \"auto\"", r.Size))
		}
		if w != lim.NativeW*g || h != lim.NativeH*g {
			return nil, invalid("size", "unsupported_value",
				fmt.Sprintf("'size' = %q: this model makes %dx%d images (the server does not resize); use \"auto\" or %dx%d",
					r.Size, lim.NativeW*g, lim.NativeH*g, lim.NativeW*g, lim.NativeH*g))
		}
	}

	// formats
	switch r.ResponseFormat {
	case "":
		r.ResponseFormat = "b64_json"
	case "b64_json", "url":
	default:
		return nil, invalid("response_format", "invalid_value",
			fmt.Sprintf("'response_format' = %q, want \"b64_json\" or \"url\"", r.ResponseFormat))
	}
	switch r.OutputFormat {
	case "":
		r.OutputFormat = "png"
	case "png", "jpeg":
	case "webp":
		return nil, invalid("output_format", "unsupported_value", "'output_format' webp is not supported by this server; use \"png\" or \"jpeg\"")
	default:
		return nil, invalid("output_format", "invalid_value",
			fmt.Sprintf("'output_format' = %q, want \"png\" or \"jpeg\"", r.OutputFormat))
	}
	if r.OutputCompression < 0 || r.OutputCompression > 100 {
		return nil, invalid("output_compression", "invalid_value",
			fmt.Sprintf("'output_compression' = %d, want 0 to 100", r.OutputCompression))
	}
	if r.Quality == "" {
		r.Quality = "auto"
	}
	if r.PartialImages < 0 || r.PartialImages > maxPartialImages {
		return nil, invalid("partial_images", "invalid_value",
			fmt.Sprintf("'partial_images' = %d, want 0 to %d", r.PartialImages, maxPartialImages))
	}

	// sampling (extension)
	if r.Temperature != nil {
		switch t := *r.Temperature; {
		case t == 0:
			r.Temperature = nil // zero counts as unset
		case t < 0:
			return nil, invalid("temperature", "invalid_value", fmt.Sprintf("'temperature' = %g, want > 0", t))
		}
	}
	if r.TopK != nil && *r.TopK < 0 {
		return nil, invalid("top_k", "invalid_value", fmt.Sprintf("'top_k' = %d, want ≥ 0 (0 keeps every token)", *r.TopK))
	}
	if r.Candidates < 0 {
		return nil, invalid("candidates", "invalid_value", fmt.Sprintf("'candidates' = %d, want ≥ 1 (0: the model's default)", r.Candidates))
	}
	if r.Supercondition != nil && *r.Supercondition < 0 {
		return nil, invalid("supercondition", "invalid_value",
			fmt.Sprintf("'supercondition' = %g, want ≥ 0", *r.Supercondition))
	}
	return r, nil
}

// parseSize parses "WxH" with positive decimal W and H.
func parseSize(s string) (w, h int, ok bool) {
	a, b, found := strings.Cut(s, "x")
	if !found {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || w <= 0 || h <= 0 || strings.HasPrefix(a, "+") || strings.HasPrefix(b, "+") {
		return 0, 0, false
	}
	return w, h, true
}

// jsonKind names a Go kind the way a JSON user thinks of it.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64":
		return "an integer"
	case "uint64":
		return "a non-negative integer"
	case "float64":
		return "a number"
	case "ptr":
		return "a value"
	}
	return k
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
