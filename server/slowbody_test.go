package server

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that sends its headers and part of the body, then stalls, gets
// an answer (400) once Options.BodyTimeout has passed, not a connection
// held open for ever (net/http waited for the rest of the body before it
// wrote the error).
func TestSlowBodyTimesOut(t *testing.T) {
	_, ts := newTestServer(t, newFake(), Options{BodyTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\""))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within 5 s: %v", err)
	}
	if res.StatusCode != http.StatusBadRequest && res.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 400 or 408", res.StatusCode)
	}
}
