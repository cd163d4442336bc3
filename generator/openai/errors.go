package openai

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Class sorts errors by what the user can do about them.
type Class int

const (
	ClassUnknown    Class = iota
	ClassUsage            // a flag or option the backend cannot honour, or bad configuration
	ClassAuth             // 401/403, or no API key
	ClassRefused          // the prompt was refused: content_policy_violation, moderation_blocked
	ClassQuota            // insufficient_quota, billing limits: retrying is pointless
	ClassRateLimit        // 429 rate_limit_exceeded, still after retries
	ClassBadRequest       // any other 4xx (invalid_request_error, unknown model, …)
	ClassServer           // 5xx, or a response that is not what the API returns
	ClassNetwork          // connection failures
	ClassTimeout          // Options.Timeout ran out
)

var classNames = [...]string{
	ClassUnknown:    "unknown",
	ClassUsage:      "usage",
	ClassAuth:       "auth",
	ClassRefused:    "refused",
	ClassQuota:      "quota",
	ClassRateLimit:  "rate_limit",
	ClassBadRequest: "bad_request",
	ClassServer:     "server",
	ClassNetwork:    "network",
	ClassTimeout:    "timeout",
}

func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// Exit statuses of the CLI, one per Class (see ExitCode).
const (
	ExitOK         = 0
	ExitFailure    = 1 // any error without a class
	ExitUsage      = 2
	ExitAuth       = 3
	ExitRefused    = 4
	ExitQuota      = 5
	ExitRateLimit  = 6
	ExitBadRequest = 7
	ExitServer     = 8
	ExitNetwork    = 9
	ExitTimeout    = 10
	ExitCanceled   = 130 // the caller's context was cancelled (as after SIGINT)
)

var exitCodes = [...]int{
	ClassUnknown:    ExitFailure,
	ClassUsage:      ExitUsage,
	ClassAuth:       ExitAuth,
	ClassRefused:    ExitRefused,
	ClassQuota:      ExitQuota,
	ClassRateLimit:  ExitRateLimit,
	ClassBadRequest: ExitBadRequest,
	ClassServer:     ExitServer,
	ClassNetwork:    ExitNetwork,
	ClassTimeout:    ExitTimeout,
}

// ExitCode is the process exit status for err: 0 for nil, the class's
// status for an *Error anywhere in the chain, ExitCanceled for
// context.Canceled, ExitTimeout for context.DeadlineExceeded, and
// ExitFailure for anything else.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Class >= 0 && int(e.Class) < len(exitCodes) {
			return exitCodes[e.Class]
		}
		return ExitFailure
	}
	switch {
	case errors.Is(err, context.Canceled):
		return ExitCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTimeout
	}
	return ExitFailure
}

// Error is every error this package returns (except the caller's own
// context error, returned as is).
type Error struct {
	Class Class
	// Status is the HTTP status, 0 when no response came.
	Status int
	// Type, Code, Param and Message come from the API's
	// {"error": {"type", "code", "param", "message"}} body when it has one.
	// Message is one line, free of the API key.
	Type, Code, Param, Message string
	// RequestID is the x-request-id response header, for support requests.
	RequestID string
	// RetryAfter is the wait the server last asked for, if it asked.
	RetryAfter time.Duration
	// Attempts is how many requests were sent (0 when none was).
	Attempts int
	// Err is the underlying error, if any (a transport error, a context
	// error, a JSON error).
	Err error
}

// Error is one line: "openai: 429 rate_limit_exceeded (requests): message"
// for API errors, "openai: message" for the others.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("openai: ")
	if e.Status != 0 {
		fmt.Fprintf(&b, "%d", e.Status)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		var paren []string
		if e.Type != "" && e.Type != e.Code {
			paren = append(paren, e.Type)
		}
		if e.Param != "" {
			paren = append(paren, "param "+e.Param)
		}
		if len(paren) > 0 {
			b.WriteString(" (" + strings.Join(paren, ", ") + ")")
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	} else if e.Class == ClassRateLimit && e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (server asks to wait %s)", e.RetryAfter)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// oneLine makes s a single line of at most max runes: control characters
// become spaces, runs of spaces fold, the end is cut with "…".
func oneLine(s string, max int) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		if n >= max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
