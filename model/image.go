package model

import (
	"fmt"
	"image"
	"slices"

	"github.com/tessella-ml/tessella/internal/size"
)

// ToRGB converts the VQGAN's raw output (3, h, w), channel-major, to an
// opaque RGBA image the way min-dalle does (spec §8): in float32,
// v = clip(x, 0, 1)·255, then truncation toward zero to uint8 (torch
// .to(uint8)); no (x+1)/2 rescaling. NaN becomes 0.
func ToRGB(raw []float32, h, w int) (*image.RGBA, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("to rgb: size %d×%d must be positive", h, w)
	}
	if !size.Fits(4, h, w) { // 4·h·w bytes of RGBA, 3·h·w values
		return nil, fmt.Errorf("to rgb: size %d×%d is too large", h, w)
	}
	if len(raw) != 3*h*w {
		return nil, fmt.Errorf("to rgb: %d values, want 3·%d·%d", len(raw), h, w)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	plane := h * w
	for y := range h {
		for x := range w {
			p := img.Pix[y*img.Stride+4*x:][:4]
			for c := range 3 {
				p[c] = toByte(raw[c*plane+y*w+x])
			}
			p[3] = 255
		}
	}
	return img, nil
}

// toByte is uint8(clip(v, 0, 1)·255) computed in float32, truncating.
func toByte(v float32) uint8 {
	if v != v || v <= 0 {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(v * 255) // float32 product, truncated toward zero
}

// Grid places g² equally sized images in a (g·h, g·w) image, column-major
// like min-dalle (spec §8): image a·g+b lands at row block b, column block
// a, so image 1 is below image 0.
func Grid(images []*image.RGBA, g int) (*image.RGBA, error) {
	if g <= 0 {
		return nil, fmt.Errorf("grid: side %d must be positive", g)
	}
	if gg, ok := size.Mul(g, g); !ok || len(images) != gg {
		return nil, fmt.Errorf("grid: %d images for a %d×%d grid", len(images), g, g)
	}
	for i, im := range images {
		if im == nil {
			return nil, fmt.Errorf("grid: image %d is nil", i)
		}
	}
	b0 := images[0].Bounds()
	w, h := b0.Dx(), b0.Dy()
	if !size.Fits(4, g, w, g, h) {
		return nil, fmt.Errorf("grid: a %d×%d grid of %d×%d images is too large", g, g, w, h)
	}
	out := image.NewRGBA(image.Rect(0, 0, g*w, g*h))
	for i, im := range images {
		if b := im.Bounds(); b.Dx() != w || b.Dy() != h {
			return nil, fmt.Errorf("grid: image %d is %d×%d, image 0 is %d×%d", i, b.Dx(), b.Dy(), w, h)
		}
		a, bb := i/g, i%g // column block a, row block bb
		for y := range h {
			src := im.Pix[im.PixOffset(im.Rect.Min.X, im.Rect.Min.Y+y):][:4*w]
			copy(out.Pix[(bb*h+y)*out.Stride+4*a*w:][:4*w], src)
		}
	}
	return out, nil
}

// TileTokens tiles g² token maps (side×side each, raster order) into one
// (g·side, g·side) map with Grid's column-major placement: map a·g+b at
// row block b, column block a (min-dalle's seamless mode, spec §8).
func TileTokens(tokens [][]int, g, side int) ([]int, error) {
	if g <= 0 || side <= 0 {
		return nil, fmt.Errorf("tile tokens: grid %d and side %d must be positive", g, side)
	}
	if gg, ok := size.Mul(g, g); !ok || len(tokens) != gg {
		return nil, fmt.Errorf("tile tokens: %d token maps for a %d×%d grid", len(tokens), g, g)
	}
	if !size.Fits(g, side, g, side) {
		return nil, fmt.Errorf("tile tokens: a %d×%d grid of %d×%d maps is too large", g, g, side, side)
	}
	W := g * side
	out := make([]int, W*W)
	for i, t := range tokens {
		if len(t) != side*side {
			return nil, fmt.Errorf("tile tokens: map %d has %d tokens, want %d", i, len(t), side*side)
		}
		a, b := i/g, i%g
		for y := range side {
			copy(out[(b*side+y)*W+a*side:][:side], t[y*side:][:side])
		}
	}
	return out, nil
}

// PreviewTokens returns row ready for a VQGAN of codebook entries: the
// same slice when every token is a code, otherwise a copy in which tokens
// outside [0, codebook) are 0. Unsampled positions of a partial row hold the
// fill value ImageBOS; min-dalle's BOS 16383 is a code and decodes as
// itself, but a model whose BOS is its extra embedding row (the planned
// default model: 1024 with 1024 codes) would make the decode fail.
func PreviewTokens(row []int, codebook int) []int {
	if !slices.ContainsFunc(row, func(t int) bool { return t < 0 || t >= codebook }) {
		return row
	}
	out := slices.Clone(row)
	for i, t := range out {
		if t < 0 || t >= codebook {
			out[i] = 0
		}
	}
	return out
}
