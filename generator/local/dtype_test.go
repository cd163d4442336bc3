package local

import (
	"path/filepath"
	"testing"
)

// TestOpenDType: Options.DType reaches the model (its decoder's Linear
// weights shrink) and a bad dtype is refused before anything loads.
func TestOpenDType(t *testing.T) {
	dir := filepath.Join(engineData, "safetensors")
	bytes := map[string]int{}
	for _, dt := range []string{"", "f16", "q8"} {
		e, err := Open(Options{Model: dir, Threads: 1, DType: dt})
		if err != nil {
			t.Fatalf("dtype %q: %v", dt, err)
		}
		bytes[dt] = e.Model().Decoder.LinearBytes()
		e.Close()
	}
	if !(bytes["f16"] < bytes[""]*6/10 && bytes["q8"] < bytes[""]*4/10) {
		t.Errorf("decoder Linear bytes f32 %d, f16 %d, q8 %d: the dtype was not applied", bytes[""], bytes["f16"], bytes["q8"])
	}
	if _, err := Open(Options{Model: dir, DType: "q4"}); err == nil {
		t.Error("DType q4 accepted")
	}
}
