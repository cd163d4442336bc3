// Package server serves a generator.Generator over HTTP as an
// OpenAI-compatible Images API, with a small web page.
//
// Endpoints (see docs/serve.md for examples):
//
//	POST /v1/images/generations     OpenAI Images API; JSON or, with stream: true, Server-Sent Events
//	GET  /v1/images/files/<id>.png  images made with response_format "url" (kept Options.ImageTTL)
//	GET  /v1/models, /v1/models/<id> the one model this server serves
//	GET  /health                    liveness and queue state (JSON)
//	GET  /metrics                   Prometheus text format
//	GET  /api/config                what the web page needs (model, native size, whether a key is required)
//	GET  /api/gallery               the images generated since the server started (newest first, bounded)
//	GET  /                          the web page (embedded files under web/)
//
// # Requests and jobs
//
// A generation request is read completely (at most Options.MaxBody bytes,
// else 413), decoded and validated, then handed to a bounded queue
// (Options.MaxQueue jobs; when full: 429 with Retry-After) served by
// Options.Workers goroutines, each running one Generate call at a time. The
// job's context is the request's context, so a client that disconnects
// cancels its job; a job still queued when its client leaves is skipped.
//
// # Streaming
//
// With "stream": true the response is text/event-stream. With
// "partial_images": P (0–3) the server emits up to P
// "image_generation.partial_image" events, taken from the generator's
// decode-stage Progress previews at Done ≥ k·Total/(P+1), k = 1…P (the first
// preview at or after each threshold), then one "image_generation.completed"
// event per image. Each event is a single "event:"/"data:" pair, flushed at
// once. An error after the stream began is sent as an "error" event whose data
// is the usual {"error": {...}} object.
//
// # Errors
//
// Every error is {"error": {"message", "type", "param", "code"}} with
// Content-Type application/json: 400 invalid_request_error (param names the
// field), 401 invalid_api_key, 404 unknown route or file, 405, 413, 429
// (queue full, Retry-After), 500 server_error with x-should-retry: false
// (the generator failed: retrying the same request fails the same way), 503
// while shutting down.
//
// # Sizes
//
// A generator that implements Sizer reports its native image size; the
// server accepts size "auto", "" or exactly that size (times the grid, for
// grid requests). Without Sizer only "auto" and "" are accepted. The server
// never resizes.
package server
