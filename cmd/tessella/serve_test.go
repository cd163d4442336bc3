package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// With --addr 127.0.0.1:0 the server prints the port it was given, not 0,
// the printed address answers, and cancelling the context ends it cleanly.
func TestServePrintsBoundAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--model", "tiny-random", "--addr", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`on http://(127\.0\.0\.1:(\d+)) `)
	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == "" && time.Now().Before(deadline); {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			if m[2] == "0" {
				t.Fatalf("printed port 0: %s", stderr.String())
			}
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no address printed: %q", stderr.String())
	}
	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatalf("GET /health on the printed address: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/health: %d %s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d after cancel: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}

// An address that cannot be bound is a one-line error, not a panic.
func TestServeBadAddress(t *testing.T) {
	code, _, stderr := runCLI(t, "serve", "--model", "tiny-random", "--addr", "256.0.0.1:1")
	if code == 0 || !regexp.MustCompile(`listen on 256\.0\.0\.1:1`).MatchString(stderr) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
