// Package openai is tessella's remote backend: it implements
// generator.Generator on the OpenAI Images API through the official SDK,
// github.com/openai/openai-go/v3.
//
// One Generate call is one
//
//	POST {base}/images/generations
//	Authorization: Bearer <key>
//	Content-Type: application/json
//	{"prompt": …, "model": …, "n": …, "size": …, "quality": …,
//	 "output_format": …, "output_compression": …, "background": …,
//	 "moderation": …, "user": …}
//
// with only the fields the Request sets (model always). The response
//
//	{"created": unix, "data": [{"b64_json": …, "revised_prompt": …, "url": …}],
//	 "size": …, "quality": …, "output_format": …, "usage": {…}}
//
// becomes a generator.Result whose images hold the encoded bytes
// (base64-decoded, or downloaded from data[].url for legacy servers) and
// whose Metadata holds prompt, backend, model, size, quality,
// output_format, background, revised_prompt, created and, when fewer images
// came than were asked for, requested_images — never the key.
// "created" outside the years 2000–9999, or missing, is replaced by the
// current time.
//
// A 2xx response is a malformed-response error (ClassServer, not retried)
// unless data[] holds at least one image and at most the number asked for
// (Request.N, 1 when 0; fewer are kept, with "requested_images" in the
// metadata), each a whole PNG, JPEG or WebP file of at most 64 MiB and at
// most 16384 pixels a side. The pixels are not decoded, but the file's
// header is, and its structure is checked: a PNG's chunks (with their
// CRCs) must run through IDAT to a final IEND, a JPEG must end with its
// end-of-image marker, a WebP's RIFF length must match the data. A
// response body longer than N such images need as base64, plus 1 MiB, is
// cut off: a malformed response when the status is 2xx, else an error of
// the status's class.
//
// Local-engine settings (seed, temperature, top-k, supercondition, grid,
// rng, seamless, threads, scale, preview, previews) are refused with an
// error naming the flag, before any request is sent; so is a nil context.
//
// Retries are this package's, not the SDK's (whose retry loop is turned
// off): only rate_limit_exceeded 429s, 5xx responses and connection errors
// are retried, at most Options.MaxRetries times, waiting what the server
// asks (Retry-After-Ms, Retry-After in seconds or as an HTTP date) when it
// asks no more than Options.MaxRetryDelay, else 0.5 s·2^attempt (capped at
// 8 s, with jitter). 429 insufficient_quota is never retried. Options.Timeout
// bounds the whole call, retries and waits included, through the context.
//
// Every failure is an *Error with a Class; ExitCode maps it to the CLI's
// exit status. The API key is never logged, never put in metadata, and is
// scrubbed from every error message (a server that echoes it back gets it
// replaced by "[redacted]").
package openai
