package main

import (
	"image"
	"image/draw"
	"image/png"
	"io"
)

// pngDecode returns a PNG's pixels as RGBA bytes.
func pngDecode(r io.Reader) ([]byte, error) {
	img, err := png.Decode(r)
	if err != nil {
		return nil, err
	}
	rgba := image.NewRGBA(img.Bounds())
	draw.Draw(rgba, rgba.Bounds(), img, img.Bounds().Min, draw.Src)
	return rgba.Pix, nil
}

func pngConfig(r io.Reader) (image.Config, error) { return png.DecodeConfig(r) }
