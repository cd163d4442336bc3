package openai

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tessella-ml/tessella/generator"
)

// Defaults for Options fields left zero.
const (
	DefaultModel         = "gpt-image-1.5"
	DefaultTimeout       = 5 * time.Minute
	DefaultMaxRetries    = 2
	DefaultMaxRetryDelay = time.Minute
)

// maxBackoff caps the wait between retries when the server names none.
const maxBackoff = 8 * time.Second

// maxDownload bounds one image: fetched from a legacy data[].url, or
// base64-decoded from data[].b64_json. A response body may hold, as
// base64, as many such images as were asked for, plus 1 MiB for the rest of
// the JSON; a longer one is cut off (see bodyLimit).
const maxDownload = 64 << 20

// maxSide bounds an image's width and height.
const maxSide = 1 << 14

// Years a response's "created" may fall in; outside them the current time
// is used, as for a missing one.
var (
	minCreated = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	maxCreated = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix() - 1
)

// Options configure a Backend.
type Options struct {
	// APIKey authenticates the requests. Empty: the first line of KeyFile,
	// else $OPENAI_API_KEY. It is never logged, printed or stored in
	// metadata.
	APIKey string
	// KeyFile names a file holding the key (used when APIKey is empty).
	KeyFile string
	// BaseURL of the API, e.g. "https://api.openai.com/v1" or a test
	// server's URL + "/v1". Empty: the SDK's default ($OPENAI_BASE_URL,
	// else https://api.openai.com/v1).
	BaseURL string
	// Model is the image model used when a Request names none. It is an
	// opaque string passed to the API as is. Empty: DefaultModel.
	Model string
	// Timeout bounds one Generate call, retries included. 0: DefaultTimeout;
	// negative: no limit beyond the caller's context.
	Timeout time.Duration
	// MaxRetries is how many times a failed request is retried (only rate
	// limits, 5xx and connection errors are). 0: DefaultMaxRetries;
	// negative: never.
	MaxRetries int
	// MaxRetryDelay is the longest server-requested wait honoured; a longer
	// Retry-After ends the retries. 0: DefaultMaxRetryDelay.
	MaxRetryDelay time.Duration
	// HTTPClient sends the requests. Nil: the SDK's default client.
	HTTPClient *http.Client
}

// Backend is the OpenAI Images API as a generator.Generator. It is safe for
// concurrent use.
type Backend struct {
	client        sdk.Client
	key           string // kept only to scrub it from error messages
	model         string
	timeout       time.Duration
	maxRetries    int
	maxRetryDelay time.Duration
	httpClient    *http.Client // downloads of legacy data[].url images
	maxImage      int64        // maxDownload; tests lower it
	// sleep waits d or until ctx is done; tests replace it to record the
	// waits.
	sleep func(ctx context.Context, d time.Duration) error
}

var _ generator.Generator = (*Backend)(nil)

// New makes a Backend. It fails with a ClassAuth *Error when no API key is
// found, and a ClassUsage *Error for a bad BaseURL.
func New(opts Options) (*Backend, error) {
	key, err := loadKey(opts)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		key:           key,
		model:         opts.Model,
		timeout:       opts.Timeout,
		maxRetries:    opts.MaxRetries,
		maxRetryDelay: opts.MaxRetryDelay,
		httpClient:    opts.HTTPClient,
		sleep:         sleepCtx,
		maxImage:      maxDownload,
	}
	if b.model == "" {
		b.model = DefaultModel
	}
	if b.timeout == 0 {
		b.timeout = DefaultTimeout
	}
	switch {
	case b.maxRetries == 0:
		b.maxRetries = DefaultMaxRetries
	case b.maxRetries < 0:
		b.maxRetries = 0
	}
	if b.maxRetryDelay <= 0 {
		b.maxRetryDelay = DefaultMaxRetryDelay
	}
	if b.httpClient == nil {
		b.httpClient = &http.Client{}
	}
	reqOpts := []option.RequestOption{
		option.WithAPIKey(key),
		option.WithMaxRetries(0), // retries are ours: see Generate
	}
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, &Error{Class: ClassUsage, Message: fmt.Sprintf("--base-url %q is not an http(s) URL", opts.BaseURL)}
		}
		reqOpts = append(reqOpts, option.WithBaseURL(opts.BaseURL))
	}
	if opts.HTTPClient != nil {
		reqOpts = append(reqOpts, option.WithHTTPClient(opts.HTTPClient))
	}
	b.client = sdk.NewClient(reqOpts...)
	return b, nil
}

// loadKey finds the API key: Options.APIKey, else KeyFile, else
// $OPENAI_API_KEY.
func loadKey(opts Options) (string, error) {
	key, from := opts.APIKey, "the API key"
	if key == "" && opts.KeyFile != "" {
		f, err := os.Open(opts.KeyFile)
		if err != nil {
			return "", &Error{Class: ClassAuth, Message: fmt.Sprintf("API key file: %v", err), Err: err}
		}
		b, err := io.ReadAll(io.LimitReader(f, 4096))
		f.Close()
		if err != nil {
			return "", &Error{Class: ClassAuth, Message: fmt.Sprintf("API key file %s: %v", opts.KeyFile, err), Err: err}
		}
		line, _, _ := strings.Cut(string(b), "\n")
		key, from = strings.TrimSpace(line), "API key file "+opts.KeyFile
		if key == "" {
			return "", &Error{Class: ClassAuth, Message: fmt.Sprintf("API key file %s is empty", opts.KeyFile)}
		}
	}
	if key == "" {
		key, from = strings.TrimSpace(os.Getenv("OPENAI_API_KEY")), "OPENAI_API_KEY"
	}
	if key == "" {
		return "", &Error{Class: ClassAuth, Message: "no API key: set OPENAI_API_KEY or name a file holding it with --api-key-file"}
	}
	for _, r := range key {
		if r <= ' ' || r >= 0x7F {
			return "", &Error{Class: ClassAuth, Message: from + " holds characters an API key cannot have (spaces, control or non-ASCII characters)"}
		}
	}
	return key, nil
}

// Name is "openai:" and the default model.
func (b *Backend) Name() string { return "openai:" + b.model }

// Model is the model used when a Request names none.
func (b *Backend) Model() string { return b.model }

var sizeRE = regexp.MustCompile(`^[1-9][0-9]{0,5}x[1-9][0-9]{0,5}$`)

// params checks req and builds the request body. Errors are ClassUsage.
func (b *Backend) params(req *generator.Request) (sdk.ImageGenerateParams, error) {
	var p sdk.ImageGenerateParams
	if req == nil {
		return p, usage("nil request")
	}
	// Local-engine settings, with the CLI flag that sets each.
	local := []struct {
		set  bool
		flag string
	}{
		{req.Seed != nil, "--seed"},
		{req.Temperature != nil, "--temperature"},
		{req.TopK != nil, "--top-k"},
		{req.Supercondition != nil, "--supercondition"},
		{req.Grid > 1 || req.Grid < 0, "--grid"},
		{req.Candidates != 0, "--candidates"},
		{req.RNG != "", "--rng"},
		{req.Seamless, "--seamless"},
		{req.Threads != 0, "--threads"},
		{req.Scale != 0, "--scale"},
		{req.PreviewEvery != 0, "--preview-every"},
		{req.Previews != 0, "previews"},
	}
	for _, l := range local {
		if l.set {
			return p, usage(l.flag + " is a local-engine setting; --backend openai cannot honour it")
		}
	}
	if strings.TrimSpace(req.Prompt) == "" {
		return p, usage("empty prompt")
	}
	p.Prompt = req.Prompt
	p.Model = req.APIModel
	if p.Model == "" {
		p.Model = b.model
	}
	switch {
	case req.N < 0:
		return p, usage(fmt.Sprintf("--n %d: need at least 1 image", req.N))
	case req.N > 0:
		p.N = sdk.Int(int64(req.N))
	}
	if req.Size != "" {
		if req.Size != "auto" && !sizeRE.MatchString(req.Size) {
			return p, usage(fmt.Sprintf("--size %q: want WIDTHxHEIGHT (e.g. 1024x1024) or auto", req.Size))
		}
		p.Size = sdk.ImageGenerateParamsSize(req.Size)
	}
	if req.Quality != "" {
		p.Quality = sdk.ImageGenerateParamsQuality(req.Quality)
	}
	switch f := strings.ToLower(req.OutputFormat); f {
	case "":
	case "png", "jpeg", "webp":
		p.OutputFormat = sdk.ImageGenerateParamsOutputFormat(f)
	case "jpg":
		p.OutputFormat = sdk.ImageGenerateParamsOutputFormatJPEG
	default:
		return p, usage(fmt.Sprintf("--output-format %q: want png, jpeg or webp", req.OutputFormat))
	}
	if req.OutputCompression != nil {
		c := *req.OutputCompression
		if c < 0 || c > 100 {
			return p, usage(fmt.Sprintf("--output-compression %d: want 0 to 100", c))
		}
		p.OutputCompression = sdk.Int(int64(c))
	}
	if req.Background != "" {
		p.Background = sdk.ImageGenerateParamsBackground(req.Background)
	}
	if req.Moderation != "" {
		p.Moderation = sdk.ImageGenerateParamsModeration(req.Moderation)
	}
	if req.User != "" {
		p.User = sdk.String(req.User)
	}
	return p, nil
}

func usage(msg string) *Error { return &Error{Class: ClassUsage, Message: msg} }

// Generate sends the request, retrying as the package doc says, and
// returns the decoded images. When ctx is cancelled it returns ctx.Err();
// every other failure is an *Error.
func (b *Backend) Generate(ctx context.Context, req *generator.Request) (*generator.Result, error) {
	if ctx == nil {
		return nil, usage("nil context")
	}
	params, err := b.params(req)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	callCtx, cancel := ctx, context.CancelFunc(func() {})
	if b.timeout > 0 {
		callCtx, cancel = context.WithTimeout(ctx, b.timeout)
	}
	defer cancel()
	if req.Progress != nil {
		req.Progress(generator.Progress{Stage: "request", Done: 0, Total: 1})
	}

	start := time.Now()
	limit := b.bodyLimit(wantImages(req))
	capBody := option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
		resp, err := next(r)
		if resp != nil && resp.Body != nil {
			resp.Body = http.MaxBytesReader(nil, resp.Body, limit)
		}
		return resp, err
	})
	var raw []byte
	var last *Error
	for attempt := 1; ; attempt++ {
		var resp *http.Response
		raw = nil
		_, err := b.client.Images.Generate(callCtx, params,
			capBody,
			option.WithResponseInto(&resp),
			option.WithResponseBodyInto(&raw))
		if callCtx.Err() != nil {
			return nil, b.ctxError(ctx, last, attempt)
		}
		if err == nil {
			break
		}
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) && (resp == nil || resp.StatusCode < 400) {
			e := b.malformed(fmt.Sprintf("response body larger than %d bytes", limit), err)
			e.Attempts = attempt
			return nil, e
		}
		// An error response over the limit is classed by its status
		// alone: its body is not read again.
		last = b.classify(resp, err)
		last.Attempts = attempt
		retry := attempt <= b.maxRetries && retryable(last, resp)
		if !retry {
			return nil, last
		}
		delay, told := retryAfter(resp, time.Now())
		if told {
			last.RetryAfter = delay
			if delay > b.maxRetryDelay {
				return nil, last // the server wants a longer wait than we allow
			}
		} else {
			delay = backoff(attempt)
		}
		if dl, ok := callCtx.Deadline(); ok && time.Now().Add(delay).After(dl) {
			return nil, last // the wait would outlast the timeout
		}
		if err := b.sleep(callCtx, delay); err != nil {
			return nil, b.ctxError(ctx, last, attempt)
		}
	}
	requestTime := time.Since(start)

	res, perr := b.parse(callCtx, raw, req, string(params.Model))
	if perr != nil {
		if callCtx.Err() != nil {
			return nil, b.ctxError(ctx, nil, 1)
		}
		return nil, perr
	}
	res.Timings = append([]generator.Timing{{Stage: "request", Duration: requestTime}}, res.Timings...)
	if req.Progress != nil {
		req.Progress(generator.Progress{Stage: "request", Done: 1, Total: 1})
	}
	return res, nil
}

// wantImages is the number of images req asks for.
func wantImages(req *generator.Request) int {
	return max(req.N, 1)
}

// bodyLimit bounds a response body to n images of b.maxImage bytes as
// base64, plus 1 MiB.
func (b *Backend) bodyLimit(n int) int64 {
	n = min(n, 1024) // params passes any N; the API takes at most 10
	return int64(n)*((b.maxImage+2)/3*4) + 1<<20
}

// ctxError is the error for a done call context: the caller's own error
// when the caller's ctx is done, else a ClassTimeout *Error.
func (b *Backend) ctxError(ctx context.Context, last *Error, attempts int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msg := fmt.Sprintf("no complete response within %s (--timeout)", b.timeout)
	if last != nil {
		msg += "; last error: " + strings.TrimPrefix(last.Error(), "openai: ")
	}
	return &Error{Class: ClassTimeout, Message: msg, Attempts: attempts, Err: context.DeadlineExceeded}
}

// retryable reports whether e is worth another try: rate limits (not
// quota), 5xx, connection errors, unless the server says x-should-retry:
// false.
func retryable(e *Error, resp *http.Response) bool {
	if resp != nil && resp.Header.Get("x-should-retry") == "false" {
		return false
	}
	switch e.Class {
	case ClassRateLimit, ClassNetwork:
		return true
	case ClassServer:
		return e.Status >= 500
	}
	return false
}

// retryAfter reads the wait the server asks for: Retry-After-Ms
// (milliseconds), else Retry-After (seconds, or an HTTP date).
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	if v := resp.Header.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond)), true
		}
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && s < 1e9 {
			return time.Duration(s * float64(time.Second)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			d := t.Sub(now)
			if d < 0 {
				d = 0
			}
			return d, true
		}
	}
	return 0, false
}

// backoff is the wait before retry number attempt (1-based) when the
// server names none: 0.5 s·2^(attempt-1), at most maxBackoff, minus up to a
// quarter of jitter.
func backoff(attempt int) time.Duration {
	d := maxBackoff
	if attempt < 6 {
		d = min(maxBackoff, time.Duration(float64(500*time.Millisecond)*float64(int(1)<<(attempt-1))))
	}
	return d - time.Duration(rand.Int64N(int64(d/4)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redact removes the API key from s.
func (b *Backend) redact(s string) string {
	if len(b.key) >= 4 {
		s = strings.ReplaceAll(s, b.key, "[redacted]")
	}
	return s
}

// errorBody is the API's error envelope.
type errorBody struct {
	Error json.RawMessage `json:"error"`
}

type errorFields struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

// jsonText is a JSON string or number as text ("" for null or others).
func jsonText(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(r, &n) == nil {
		return n.String()
	}
	return ""
}

// classify turns a failed attempt into an *Error. resp is the response
// when one came (its body re-readable), nil for transport errors.
func (b *Backend) classify(resp *http.Response, err error) *Error {
	if resp == nil || resp.StatusCode < 400 {
		var ue *url.Error
		var ne net.Error
		if resp == nil && !errors.As(err, &ue) && !errors.As(err, &ne) {
			// Not a transport failure: the SDK refused to build or send
			// the request. Retrying would not help.
			return &Error{Class: ClassUnknown, Message: "request failed: " + oneLine(b.redact(err.Error()), 300), Err: err}
		}
		return &Error{Class: ClassNetwork, Message: "network error: " + oneLine(b.redact(err.Error()), 300), Err: err}
	}
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("x-request-id"), Err: err}
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
	}
	b.fillAPIError(e, body, resp.Header.Get("Content-Type"))
	e.Class = classOf(e.Status, e.Type, e.Code)
	return e
}

// fillAPIError reads the error fields from an error response body, which
// may be the API's envelope, {"error": "text"}, or not JSON at all.
func (b *Backend) fillAPIError(e *Error, body []byte, contentType string) {
	var env errorBody
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 && string(env.Error) != "null" {
		var f errorFields
		if json.Unmarshal(env.Error, &f) == nil {
			e.Message, e.Type = f.Message, f.Type
			e.Param, e.Code = jsonText(f.Param), jsonText(f.Code)
		} else if s := jsonText(env.Error); s != "" {
			e.Message = s // {"error": "text"}
		} else {
			e.Message = "unrecognised error body: " + string(env.Error)
		}
	} else if len(body) > 0 {
		mt, _, _ := mime.ParseMediaType(contentType)
		if mt == "" {
			mt = "no content type"
		}
		e.Message = fmt.Sprintf("unexpected error body (%s): %s", mt, string(body))
	}
	if strings.TrimSpace(e.Message) == "" {
		e.Message = http.StatusText(e.Status)
		if e.Message == "" {
			e.Message = "error response without a message"
		}
	}
	e.Message = oneLine(b.redact(e.Message), 300)
	e.Type = oneLine(b.redact(e.Type), 80)
	e.Code = oneLine(b.redact(e.Code), 80)
	e.Param = oneLine(b.redact(e.Param), 80)
}

// classOf sorts an API error by its code, type and status.
func classOf(status int, typ, code string) Class {
	has := func(names ...string) bool {
		for _, n := range names {
			if code == n || typ == n {
				return true
			}
		}
		return false
	}
	switch {
	case has("insufficient_quota", "billing_hard_limit_reached", "billing_not_active"):
		return ClassQuota
	case has("content_policy_violation", "moderation_blocked"):
		return ClassRefused
	case status == 401 || status == 403 || has("invalid_api_key"):
		return ClassAuth
	case status == 429:
		return ClassRateLimit
	case status >= 500:
		return ClassServer
	default:
		return ClassBadRequest
	}
}

// malformed is the error for a 2xx response that is not what the API
// returns.
func (b *Backend) malformed(msg string, err error) *Error {
	return &Error{Class: ClassServer, Message: oneLine(b.redact("malformed response: "+msg), 300), Attempts: 1, Err: err}
}

// parse decodes a successful response body into a Result.
func (b *Backend) parse(ctx context.Context, raw []byte, req *generator.Request, model string) (*generator.Result, error) {
	var r sdk.ImagesResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, b.malformed(fmt.Sprintf("not the Images API's JSON (%v): %s", err, raw), err)
	}
	if len(r.Data) == 0 {
		// Some proxies answer 200 with an error envelope.
		var env errorBody
		if json.Unmarshal(raw, &env) == nil && len(env.Error) > 0 && string(env.Error) != "null" {
			e := &Error{Status: http.StatusOK, Attempts: 1}
			b.fillAPIError(e, raw, "application/json")
			e.Class = classOf(0, e.Type, e.Code)
			if e.Class == ClassBadRequest {
				e.Class = ClassServer
			}
			return nil, e
		}
		return nil, b.malformed("no images in data[]: "+string(raw), nil)
	}
	// More images than asked for cannot be this request's answer; fewer are
	// kept (they were paid for) and the shortfall is recorded in the
	// metadata as "requested_images".
	want := wantImages(req)
	if len(r.Data) > want {
		return nil, b.malformed(fmt.Sprintf("got %d images, asked for %d", len(r.Data), want), nil)
	}
	start := time.Now()
	res := &generator.Result{Images: make([]generator.Image, len(r.Data))}
	for i, d := range r.Data {
		var enc []byte
		switch {
		case d.B64JSON != "":
			var err error
			enc, err = base64.StdEncoding.DecodeString(d.B64JSON)
			if err != nil {
				return nil, b.malformed(fmt.Sprintf("data[%d].b64_json is not base64: %v", i, err), err)
			}
		case d.URL != "":
			var err error
			enc, err = b.download(ctx, d.URL)
			if err != nil {
				return nil, err
			}
		default:
			return nil, b.malformed(fmt.Sprintf("data[%d] has neither b64_json nor url", i), nil)
		}
		if int64(len(enc)) > b.maxImage {
			return nil, b.malformed(fmt.Sprintf("data[%d] is more than %d bytes", i, b.maxImage), nil)
		}
		format := generator.SniffFormat(enc)
		if format == "" {
			return nil, b.malformed(fmt.Sprintf("data[%d] is not a PNG, JPEG or WebP image", i), nil)
		}
		if err := checkImage(format, enc); err != nil {
			return nil, b.malformed(fmt.Sprintf("data[%d] is a truncated or corrupt %s image: %v", i, format, err), err)
		}
		res.Images[i] = generator.Image{Encoded: enc, Format: format, RevisedPrompt: b.redact(d.RevisedPrompt)}
	}
	res.Timings = []generator.Timing{{Stage: "decode", Duration: time.Since(start)}}

	res.Created = time.Now().UTC()
	if r.Created >= minCreated && r.Created <= maxCreated {
		res.Created = time.Unix(r.Created, 0).UTC()
	}
	if r.JSON.Usage.Valid() {
		res.Usage = &generator.Usage{
			InputTokens:  r.Usage.InputTokens,
			OutputTokens: r.Usage.OutputTokens,
			TotalTokens:  r.Usage.TotalTokens,
		}
	}
	meta := map[string]string{
		"prompt":  req.Prompt,
		"backend": "openai",
		"model":   model,
		"created": res.Created.Format(time.RFC3339),
	}
	set := func(key, fromResponse, fromRequest string) {
		if fromResponse != "" {
			meta[key] = fromResponse
		} else if fromRequest != "" {
			meta[key] = fromRequest
		}
	}
	set("size", string(r.Size), req.Size)
	set("quality", string(r.Quality), req.Quality)
	set("output_format", string(r.OutputFormat), "")
	set("background", string(r.Background), req.Background)
	if req.Moderation != "" {
		meta["moderation"] = req.Moderation
	}
	if len(res.Images) < want {
		meta["requested_images"] = strconv.Itoa(want)
	}
	// One revised prompt shared by every image goes in the metadata too
	// (generator.Save adds each image's own otherwise).
	rp := res.Images[0].RevisedPrompt
	for _, im := range res.Images[1:] {
		if im.RevisedPrompt != rp {
			rp = ""
		}
	}
	if rp != "" {
		meta["revised_prompt"] = rp
	}
	for k, v := range meta {
		meta[k] = b.redact(v)
	}
	res.Metadata = meta
	return res, nil
}

// download fetches a legacy data[].url image. It sends no credentials: the
// URL may point anywhere.
func (b *Backend) download(ctx context.Context, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, b.malformed("data[].url is not an http(s) URL", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, b.malformed("data[].url: "+err.Error(), err)
	}
	resp, err := b.httpClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Class: ClassNetwork, Message: "image download: " + oneLine(b.redact(err.Error()), 300), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Class: ClassServer, Message: fmt.Sprintf("image download from %s: HTTP %d", u.Host, resp.StatusCode)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, b.maxImage+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Class: ClassNetwork, Message: "image download: " + oneLine(b.redact(err.Error()), 300), Err: err}
	}
	if int64(len(data)) > b.maxImage {
		return nil, &Error{Class: ClassServer, Message: fmt.Sprintf("image download from %s: more than %d bytes", u.Host, b.maxImage)}
	}
	return data, nil
}
