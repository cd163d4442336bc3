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
// output_format, background, revised_prompt and created — never the key.
//
// Local-engine settings (seed, temperature, top-k, supercondition, grid,
// rng, seamless, threads, scale, preview) are refused with an error naming
// the flag, before any request is sent.
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
