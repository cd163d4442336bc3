package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func touch(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLocateMinDalleLayout(t *testing.T) {
	root := t.TempDir()
	d := filepath.Join(root, "dalle_bart_mini")
	touch(t, filepath.Join(d, "vocab.json"), filepath.Join(d, "merges.txt"), filepath.Join(d, "encoder.pt"),
		filepath.Join(d, "decoder.pt"), filepath.Join(root, "vqgan", "detoker.pt"))
	for _, arg := range []string{root, d} {
		f, err := Locate(arg, "")
		if err != nil {
			t.Fatalf("Locate(%s): %v", arg, err)
		}
		if f.Encoder != filepath.Join(d, "encoder.pt") || f.VQGAN != filepath.Join(root, "vqgan", "detoker.pt") {
			t.Errorf("Locate(%s) = %+v", arg, f)
		}
	}
	f, err := Locate("mini", root)
	if err != nil || f.Decoder != filepath.Join(d, "decoder.pt") {
		t.Fatalf("Locate(mini) = %+v, %v", f, err)
	}
}

func TestLocateFlatSafetensorsWithConfig(t *testing.T) {
	d := t.TempDir()
	touch(t, filepath.Join(d, "vocab.json"), filepath.Join(d, "merges.txt"), filepath.Join(d, "encoder.safetensors"),
		filepath.Join(d, "decoder.safetensors"), filepath.Join(d, "detoker.safetensors"), filepath.Join(d, "config.json"))
	f, err := Locate(d, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(f.VQGAN, "detoker.safetensors") || f.Config == "" {
		t.Errorf("got %+v", f)
	}
}

func TestLocateErrorsSayWhatIsMissing(t *testing.T) {
	root := t.TempDir()
	_, err := Locate("mega", root)
	if err == nil || !strings.Contains(err.Error(), "detoker.pt") || !strings.Contains(err.Error(), filepath.Join(root, "dalle_bart_mega")) {
		t.Fatalf("error should say which files go where, got: %v", err)
	}
	d := t.TempDir()
	touch(t, filepath.Join(d, "vocab.json"))
	if _, err := Locate(d, ""); err == nil || !strings.Contains(err.Error(), "merges.txt") {
		t.Fatalf("want a list of missing files, got %v", err)
	}
	if _, err := Locate(filepath.Join(d, "vocab.json"), ""); err == nil {
		t.Fatal("a file accepted as a model directory")
	}
	if _, err := Locate(filepath.Join(d, "nope"), ""); err == nil {
		t.Fatal("a missing directory accepted")
	}
}
