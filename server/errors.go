package server

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// apiError is an error answered to the client in the OpenAI shape
// {"error": {"message", "type", "param", "code"}}.
type apiError struct {
	Status  int    // HTTP status
	Message string // human-readable
	Type    string // "invalid_request_error", "server_error", …
	Param   string // the request field at fault, "" for none (JSON null)
	Code    string // machine-readable, "" for none (JSON null)
	// Kind labels the error in the metrics (tessella_errors_total{kind}).
	Kind string
	// RetryAfter, if > 0, is sent as the Retry-After header (seconds).
	RetryAfter int
}

func (e *apiError) Error() string { return e.Message }

// errorBody is the JSON document of an apiError.
type errorBody struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) body() errorBody {
	b := errorBody{Error: errorObject{Message: e.Message, Type: e.Type}}
	if e.Param != "" {
		p := e.Param
		b.Error.Param = &p
	}
	if e.Code != "" {
		c := e.Code
		b.Error.Code = &c
	}
	return b
}

// invalid is a 400 invalid_request_error naming param.
func invalid(param, code, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: "invalid_request_error",
		Param: param, Code: code, Message: msg, Kind: "invalid_request"}
}

func notFound(msg string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: "invalid_request_error",
		Code: "not_found", Message: msg, Kind: "not_found"}
}

// serverError is a 500 for a deterministic failure of the generator.
func serverError(msg string) *apiError {
	return &apiError{Status: http.StatusInternalServerError, Type: "server_error",
		Code: "generation_failed", Message: msg, Kind: "generation_failed"}
}

func shuttingDown() *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Type: "server_error",
		Code: "shutting_down", Message: "the server is shutting down", Kind: "shutting_down", RetryAfter: 5}
}

// writeError sends e as JSON and counts it in the metrics.
func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	s.metrics.countError(e.Kind)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status >= 500 && e.Status != http.StatusServiceUnavailable {
		// Deterministic failures: the official clients would otherwise
		// retry a request that fails the same way again.
		h.Set("X-Should-Retry", "false")
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e.body())
}
