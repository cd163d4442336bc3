package main

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testKey = "sk-test-SECRET-1234567890"

// mimicAPI answers POST /v1/images/generations like the OpenAI API: a PNG
// in b64_json, or the given error.
func mimicAPI(t *testing.T, status int, errBody string) *httptest.Server {
	t.Helper()
	var buf bytes.Buffer
	png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 8, 8)))
	b64 := base64.StdEncoding.EncodeToString(buf.Bytes())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/images/generations" || r.Header.Get("Authorization") != "Bearer "+testKey {
			http.Error(w, `{"error":{"message":"bad request to mimic","type":"invalid_request_error"}}`, 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if status != 200 {
			w.WriteHeader(status)
			w.Write([]byte(errBody))
			return
		}
		w.Write([]byte(`{"created": 1764300000, "data": [{"b64_json": "` + b64 + `", "revised_prompt": "a red star, revised"}],
			"usage": {"input_tokens": 9, "output_tokens": 100, "total_tokens": 109}}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func clearOpenAIEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OPENAI_") {
			t.Setenv(k, "")
		}
	}
}

// --backend openai writes the API's image through the shared output path
// with its metadata, prints usage, and the key is nowhere in the output.
func TestGenerateOpenAIBackend(t *testing.T) {
	clearOpenAIEnv(t)
	t.Setenv("OPENAI_API_KEY", testKey)
	srv := mimicAPI(t, 200, "")
	out := filepath.Join(t.TempDir(), "remote.png")
	code, stdout, stderr := runCLI(t, "generate", "--backend", "openai", "--base-url", srv.URL+"/v1", "--quiet",
		"--api-model", "gpt-image-1.5", "-o", out, "a red star")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	meta := pngMeta(t, out)
	if meta["backend"] != "openai" || meta["model"] != "gpt-image-1.5" || meta["revised_prompt"] != "a red star, revised" || meta["prompt"] != "a red star" {
		t.Errorf("metadata %v", meta)
	}
	if !strings.Contains(stderr, "tokens in 9 out 100") {
		t.Errorf("usage not printed: %q", stderr)
	}
	data, _ := os.ReadFile(out)
	for what, s := range map[string]string{"stdout": stdout, "stderr": stderr, "file": string(data)} {
		if strings.Contains(s, testKey) {
			t.Errorf("the API key appears in the %s", what)
		}
	}
}

// Each error class has its line and exit code; the key never shows.
func TestGenerateOpenAIErrors(t *testing.T) {
	clearOpenAIEnv(t)
	t.Setenv("OPENAI_API_KEY", testKey)
	for _, c := range []struct {
		status int
		body   string
		code   int
		msg    string
	}{
		{401, `{"error":{"message":"Incorrect API key provided: ` + testKey + `","type":"invalid_request_error","code":"invalid_api_key"}}`, 3, "invalid_api_key"},
		{400, `{"error":{"message":"Your request was rejected by the safety system","type":"invalid_request_error","code":"moderation_blocked"}}`, 4, "moderation_blocked"},
		{429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`, 5, "insufficient_quota"},
		{400, `{"error":{"message":"Invalid value: '7x7'","type":"invalid_request_error","param":"size","code":"invalid_value"}}`, 7, "param size"},
	} {
		srv := mimicAPI(t, c.status, c.body)
		out := filepath.Join(t.TempDir(), "x.png")
		code, stdout, stderr := runCLI(t, "generate", "--backend", "openai", "--base-url", srv.URL+"/v1", "--quiet", "-o", out, "x")
		if code != c.code || !strings.Contains(stderr, c.msg) {
			t.Errorf("%d %s: exit %d (want %d), stderr %q", c.status, c.msg, code, c.code, stderr)
		}
		if strings.Contains(stdout+stderr, testKey) {
			t.Errorf("%s: the key leaked into the output", c.msg)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: a file was written", c.msg)
		}
	}
	t.Setenv("OPENAI_API_KEY", "")
	if code, _, stderr := runCLI(t, "generate", "--backend", "openai", "x"); code != 3 || !strings.Contains(stderr, "OPENAI_API_KEY") {
		t.Errorf("missing key: exit %d, %q", code, stderr)
	}
}
