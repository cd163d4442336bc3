package trace

import (
	"image"
	"image/color"
	"strings"
	"testing"
)

// halves is a w×h image, red on the left half, blue on the right; its
// bottom quarter is white when whiteBottom.
func halves(w, h int, whiteBottom bool) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{255, 0, 0, 255}
			if x >= w/2 {
				c = color.RGBA{0, 0, 255, 255}
			}
			if whiteBottom && y >= 3*h/4 {
				c = color.RGBA{255, 255, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

func TestASCIIColour(t *testing.T) {
	s := ASCII(halves(64, 64, true), 8, true)
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) != 4 { // 8 columns of a square image: 8 pixel rows, two per line
		t.Fatalf("%d lines, want 4:\n%q", len(lines), s)
	}
	red := "\x1b[38;2;255;0;0m\x1b[48;2;255;0;0m▀"
	blue := "\x1b[38;2;0;0;255m\x1b[48;2;0;0;255m▀"
	white := "\x1b[38;2;255;255;255m\x1b[48;2;255;255;255m▀"
	want := strings.Repeat(red, 4) + strings.Repeat(blue, 4) + "\x1b[0m"
	for i := range 3 {
		if lines[i] != want {
			t.Errorf("line %d = %q, want %q", i, lines[i], want)
		}
	}
	if want := strings.Repeat(white, 8) + "\x1b[0m"; lines[3] != want {
		t.Errorf("last line = %q, want white %q", lines[3], want)
	}
}

func TestASCIIPlain(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 40, 20))
	for y := range 20 {
		for x := range 40 {
			if x >= 20 {
				img.SetGray(x, y, color.Gray{255})
			}
		}
	}
	s := ASCII(img, 10, false)
	// 10 columns of a 2:1 image: 5 pixel rows → ⌈5/2⌉ = 3 lines.
	want := strings.Repeat("     @@@@@\n", 3)
	if s != want {
		t.Errorf("plain preview\n%q\nwant\n%q", s, want)
	}
	if strings.Contains(s, "\x1b") {
		t.Error("plain preview contains escape codes")
	}
	// Mid grey, luminance 128/255: ramp index ⌊0.502·10⌋ = 5, '+'.
	grey := image.NewUniform(color.Gray{128})
	g := ASCII(&subImage{grey, image.Rect(0, 0, 4, 4)}, 2, false)
	if g != "++\n" {
		t.Errorf("grey preview %q, want %q", g, "++\n")
	}
}

// subImage gives an unbounded image finite bounds.
type subImage struct {
	image.Image
	r image.Rectangle
}

func (s *subImage) Bounds() image.Rectangle { return s.r }

func TestASCIIEdgeCases(t *testing.T) {
	if s := ASCII(nil, 10, true); s != "" {
		t.Errorf("nil image: %q", s)
	}
	if s := ASCII(image.NewRGBA(image.Rect(0, 0, 0, 0)), 10, true); s != "" {
		t.Errorf("empty image: %q", s)
	}
	// cols ≤ 0 means DefaultASCIIColumns; a 1×1 image still gives a line.
	s := ASCII(halves(64, 64, false), 0, false)
	if n := len(strings.Split(strings.TrimSuffix(s, "\n"), "\n")[0]); n != DefaultASCIIColumns {
		t.Errorf("default width %d, want %d", n, DefaultASCIIColumns)
	}
	// 3 columns of a square image: 3 pixel rows → 2 lines of 3 blocks.
	if s := ASCII(halves(1, 1, false), 3, true); strings.Count(s, "▀") != 6 || strings.Count(s, "\x1b[0m\n") != 2 {
		t.Errorf("1×1 image: %q", s)
	}
}

// cols is clamped to MaxASCIIColumns, and so is the number of lines, so
// that a huge width or a tall image cannot take unbounded time and memory.
func TestASCIIColumnsBounded(t *testing.T) {
	for _, c := range []struct {
		w, h, cols, wantCols, wantLines int
	}{
		{4, 4, 5000, MaxASCIIColumns, MaxASCIIColumns / 2},
		{4, 4, 1 << 30, MaxASCIIColumns, MaxASCIIColumns / 2},
		{4, 4, MaxASCIIColumns, MaxASCIIColumns, MaxASCIIColumns / 2},
		{1, 4000, 1 << 20, MaxASCIIColumns, MaxASCIIColumns},
		{1, 1 << 20, 3, 3, MaxASCIIColumns},
	} {
		for _, color := range []bool{false, true} {
			s := ASCII(image.NewRGBA(image.Rect(0, 0, c.w, c.h)), c.cols, color)
			lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
			if n := strings.Count(lines[0], "▀"); color && n != c.wantCols {
				t.Errorf("%d×%d, cols %d, colour: %d blocks a line, want %d", c.w, c.h, c.cols, n, c.wantCols)
			}
			if n := len(lines[0]); !color && n != c.wantCols {
				t.Errorf("%d×%d, cols %d: lines of %d characters, want %d", c.w, c.h, c.cols, n, c.wantCols)
			}
			if len(lines) != c.wantLines {
				t.Errorf("%d×%d, cols %d, colour %v: %d lines, want %d", c.w, c.h, c.cols, color, len(lines), c.wantLines)
			}
		}
	}
}
