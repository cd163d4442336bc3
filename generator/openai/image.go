package openai

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/webp"
)

// checkImage checks that enc, sniffed as format ("png", "jpeg" or
// "webp"), is a whole image file of a sane size, without decoding its
// pixels: the header must decode (image sizes 1 to maxSide), and
//
//   - a PNG's chunks must run, each with a good CRC, through IHDR and at
//     least one IDAT to an IEND that ends the data;
//   - a JPEG must end with the end-of-image marker;
//   - a WebP's RIFF length must be the data's, and its chunks must fill it.
func checkImage(format string, enc []byte) error {
	var (
		cfg image.Config
		err error
	)
	switch format {
	case "png":
		if err := pngChunks(enc); err != nil {
			return err
		}
		cfg, err = png.DecodeConfig(bytes.NewReader(enc))
	case "jpeg":
		if !bytes.HasSuffix(enc, []byte{0xFF, 0xD9}) {
			return errors.New("no end-of-image marker")
		}
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(enc))
	case "webp":
		if err := riffChunks(enc); err != nil {
			return err
		}
		cfg, err = webp.DecodeConfig(bytes.NewReader(enc))
	default:
		return fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return err
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxSide || cfg.Height > maxSide {
		return fmt.Errorf("%d×%d pixels", cfg.Width, cfg.Height)
	}
	return nil
}

// pngChunks walks a PNG file's chunks (after the signature SniffFormat
// saw).
func pngChunks(enc []byte) error {
	rest := enc[8:]
	idat := false
	for i := 0; ; i++ {
		if len(rest) < 12 {
			return errors.New("cut short (no IEND chunk)")
		}
		n := binary.BigEndian.Uint32(rest)
		typ := string(rest[4:8])
		if uint64(n) > uint64(len(rest)-12) {
			return fmt.Errorf("cut short in a %q chunk", typ)
		}
		body := rest[4 : 8+n]
		if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(rest[8+n:]) {
			return fmt.Errorf("bad CRC in a %q chunk", typ)
		}
		rest = rest[12+n:]
		switch {
		case i == 0 && typ != "IHDR":
			return errors.New("no IHDR chunk")
		case typ == "IDAT":
			idat = true
		case typ == "IEND":
			if !idat {
				return errors.New("no IDAT chunk")
			}
			if len(rest) != 0 {
				return fmt.Errorf("%d bytes after IEND", len(rest))
			}
			return nil
		}
	}
}

// riffChunks checks a WebP file's RIFF length and walks its chunks (after
// the "RIFF....WEBP" SniffFormat saw).
func riffChunks(enc []byte) error {
	if n := binary.LittleEndian.Uint32(enc[4:]); uint64(n) != uint64(len(enc)-8) {
		return fmt.Errorf("RIFF length %d, data %d bytes", n, len(enc)-8)
	}
	rest := enc[12:]
	if len(rest) == 0 {
		return errors.New("no chunks")
	}
	for len(rest) > 0 {
		if len(rest) < 8 {
			return errors.New("cut short in a chunk header")
		}
		n := uint64(binary.LittleEndian.Uint32(rest[4:]))
		n += n & 1 // chunks are padded to an even length
		if n > uint64(len(rest)-8) {
			return fmt.Errorf("cut short in a %q chunk", rest[:4])
		}
		rest = rest[8+n:]
	}
	return nil
}
