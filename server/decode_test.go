package server

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var testLimits = limits{Models: []string{"mini", "local:mini"}, NativeW: 256, NativeH: 256,
	MaxN: 10, MaxGrid: 4, MaxPromptChars: 100}

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		body  string
		param string // "" with ok
		ok    bool
		check func(*imageRequest) bool
	}{
		{`{"prompt":"a cat"}`, "", true, func(r *imageRequest) bool {
			return r.N == 1 && r.Size == "auto" && r.ResponseFormat == "b64_json" && r.OutputFormat == "png" && r.Quality == "auto"
		}},
		{`{"prompt":"a cat","n":0,"size":"","response_format":"","output_format":"","quality":""}`, "", true,
			func(r *imageRequest) bool { return r.N == 1 && r.Size == "auto" }},
		{`{"prompt":"a","n":3,"size":"256x256","model":"mini","quality":"hd","style":"vivid","user":"u","unknown":[1,{}]}`, "", true,
			func(r *imageRequest) bool { return r.N == 3 && r.Size == "256x256" && r.Quality == "hd" }},
		{`{"prompt":"a","grid":2,"size":"512x512"}`, "", true, func(r *imageRequest) bool { return r.Grid == 2 }},
		{`{"prompt":"a","seed":0,"top_k":0,"supercondition":0,"temperature":0}`, "", true, func(r *imageRequest) bool {
			return r.Seed != nil && *r.Seed == 0 && r.TopK != nil && *r.TopK == 0 && r.Supercondition != nil && r.Temperature == nil
		}},
		{`{"prompt":"a","seed":18446744073709551615,"temperature":0.5}`, "", true, func(r *imageRequest) bool {
			return *r.Seed == 18446744073709551615 && *r.Temperature == 0.5
		}},
		{`{"prompt":"a","seed":null,"n":null}`, "", true, func(r *imageRequest) bool { return r.Seed == nil && r.N == 1 }},
		{`{"prompt":"a","stream":true,"partial_images":3}`, "", true, func(r *imageRequest) bool { return r.Stream && r.PartialImages == 3 }},
		{`  {"prompt":"  padded  "}  `, "", true, func(r *imageRequest) bool { return r.Prompt == "padded" }},

		{``, "", false, nil},
		{`[]`, "", false, nil},
		{`"prompt"`, "", false, nil},
		{`{"prompt":"a"} {}`, "", false, nil},
		{`{"prompt":"a"`, "", false, nil},
		{`{}`, "prompt", false, nil},
		{`{"prompt":null}`, "prompt", false, nil},
		{`{"prompt":"   "}`, "prompt", false, nil},
		{`{"prompt":` + `"` + strings.Repeat("é", 101) + `"}`, "prompt", false, nil},
		{`{"prompt":5}`, "prompt", false, nil},
		{`{"prompt":"a","n":"2"}`, "n", false, nil},
		{`{"prompt":"a","n":1.5}`, "n", false, nil},
		{`{"prompt":"a","n":11}`, "n", false, nil},
		{`{"prompt":"a","n":-1}`, "n", false, nil},
		{`{"prompt":"a","n":99999999999999999999}`, "n", false, nil},
		{`{"prompt":"a","model":"dall-e-2"}`, "model", false, nil},
		{`{"prompt":"a","size":"1024x1024"}`, "size", false, nil},
		{`{"prompt":"a","size":"256x256","grid":2}`, "size", false, nil},
		{`{"prompt":"a","size":"big"}`, "size", false, nil},
		{`{"prompt":"a","size":"+256x256"}`, "size", false, nil},
		{`{"prompt":"a","response_format":"file"}`, "response_format", false, nil},
		{`{"prompt":"a","output_format":"webp"}`, "output_format", false, nil},
		{`{"prompt":"a","output_format":"gif"}`, "output_format", false, nil},
		{`{"prompt":"a","output_compression":101}`, "output_compression", false, nil},
		{`{"prompt":"a","partial_images":4}`, "partial_images", false, nil},
		{`{"prompt":"a","stream":"yes"}`, "stream", false, nil},
		{`{"prompt":"a","seed":-1}`, "seed", false, nil},
		{`{"prompt":"a","seed":1e400}`, "seed", false, nil},
		{`{"prompt":"a","temperature":-0.1}`, "temperature", false, nil},
		{`{"prompt":"a","temperature":"hot"}`, "temperature", false, nil},
		{`{"prompt":"a","top_k":-3}`, "top_k", false, nil},
		{`{"prompt":"a","supercondition":-1}`, "supercondition", false, nil},
		{`{"prompt":"a","candidates":-1}`, "candidates", false, nil},
		{`{"prompt":"a","candidates":4}`, "", true, func(r *imageRequest) bool { return r.Candidates == 4 }},
		{`{"prompt":"a","grid":5}`, "grid", false, nil},
		{`{"prompt":"a","grid":2,"n":2}`, "n", false, nil},
	} {
		r, e := decodeRequest([]byte(tc.body), testLimits)
		if tc.ok {
			if e != nil {
				t.Errorf("%s: %v", tc.body, e)
			} else if !tc.check(r) {
				t.Errorf("%s: decoded %+v", tc.body, r)
			}
			continue
		}
		if e == nil {
			t.Errorf("%s: accepted as %+v", tc.body, r)
			continue
		}
		if e.Status != 400 || e.Param != tc.param || e.Type != "invalid_request_error" {
			t.Errorf("%.60s: status %d param %q type %q (%s); want param %q", tc.body, e.Status, e.Param, e.Type, e.Message, tc.param)
		}
	}
}

func TestDecodeNoSizer(t *testing.T) {
	lim := testLimits
	lim.NativeW, lim.NativeH = 0, 0
	if _, e := decodeRequest([]byte(`{"prompt":"a","size":"auto"}`), lim); e != nil {
		t.Error(e)
	}
	if _, e := decodeRequest([]byte(`{"prompt":"a","size":"256x256"}`), lim); e == nil || e.Param != "size" {
		t.Errorf("a fixed size without Sizer: %v", e)
	}
}

// FuzzDecodeRequest: any body gives either a valid request or a 400 in the
// OpenAI error shape, and never panics.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"prompt":"a cat"}`,
		`{"prompt":"a","n":2,"size":"256x256","response_format":"url","output_format":"jpeg","output_compression":50}`,
		`{"prompt":"a","stream":true,"partial_images":2,"seed":3,"temperature":1.5,"top_k":64,"supercondition":16,"grid":3}`,
		`{"prompt":"a","n":"2"}`, `{"prompt":["a"]}`, `{"prompt":"a","seed":-1}`, `{"prompt":"a","seed":1e999}`,
		`{"prompt":"\u0000\ud800"}`, `{"prompt":"a",}`, `null`, `[]`, `{`, ``, `{"prompt":"a"}garbage`,
		`{"PROMPT":"case"}`, `{"prompt":"a","prompt":"b"}`, "{\"prompt\":\"\xff\xfe\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, e := decodeRequest(body, testLimits)
		if (r == nil) == (e == nil) {
			t.Fatalf("request %v and error %v", r, e)
		}
		if e != nil {
			if e.Status != 400 || e.Type != "invalid_request_error" || e.Message == "" || !utf8.ValidString(e.Message) {
				t.Fatalf("bad error %+v", e)
			}
			data, err := json.Marshal(e.body())
			if err != nil {
				t.Fatal(err)
			}
			var back map[string]map[string]any
			if err := json.Unmarshal(data, &back); err != nil || back["error"]["message"] == nil {
				t.Fatalf("error body %s: %v", data, err)
			}
			return
		}
		switch {
		case r.Prompt == "" || utf8.RuneCountInString(r.Prompt) > testLimits.MaxPromptChars:
			t.Fatalf("prompt %q", r.Prompt)
		case r.N < 1 || r.N > testLimits.MaxN || r.Grid < 0 || r.Grid > testLimits.MaxGrid || (r.Grid > 1 && r.N > 1):
			t.Fatalf("n %d grid %d", r.N, r.Grid)
		case r.ResponseFormat != "b64_json" && r.ResponseFormat != "url":
			t.Fatalf("response_format %q", r.ResponseFormat)
		case r.OutputFormat != "png" && r.OutputFormat != "jpeg":
			t.Fatalf("output_format %q", r.OutputFormat)
		case r.Size != "auto" && r.Size != "256x256" && r.Size != "512x512" && r.Size != "768x768" && r.Size != "1024x1024":
			t.Fatalf("size %q", r.Size)
		case r.PartialImages < 0 || r.PartialImages > 3 || r.OutputCompression < 0 || r.OutputCompression > 100:
			t.Fatalf("partial_images %d output_compression %d", r.PartialImages, r.OutputCompression)
		case r.Temperature != nil && !(*r.Temperature > 0), r.TopK != nil && *r.TopK < 0,
			r.Supercondition != nil && !(*r.Supercondition >= 0):
			t.Fatalf("sampling %+v", r)
		}
	})
}
