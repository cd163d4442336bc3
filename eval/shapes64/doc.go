// Package shapes64 is the procedural data set and scorer of tessella's
// embedded default model, a Go port of training/shapes64.py (the design is
// fixed in the project's default-model design notes).
//
// Images are 64×64 RGB: one to four flat-coloured shapes (8 kinds, 8
// colours, 3 sizes, 9 positions) on one of 3 backgrounds, drawn at 4× and
// box-downsampled:
//
//	pixel(i, j) = ⌊ (1/16) Σ_{a,b<4} sample((4j+b+½)/4, (4i+a+½)/4) + ½ ⌋
//
// where sample(x, y) is the colour of the last object whose shape contains
// (x, y), else the background.
//
// The scorer parses an image back into objects — background from the median
// border colour, 4-connected blobs (≥ 12 px, L1 > 90 from the background),
// colour from the median of each blob's core, kind and size from the
// anti-aliased template (drawn at the blob's alpha centroid) with the least
// L1 distance to the blob's soft alpha map, position from the centroid's 3×3
// cell — and checks what a caption asserts (Score). Parse and Score read an
// image from its Bounds().Min; an image of k·64 × k·64 pixels (a scale-k
// output, enlarged by nearest neighbour) is read as the 64×64 scene it
// enlarges, each k×k block replaced by its rounded mean. Other sizes and nil
// are not read: Parse finds nothing and Score's verdict has "image" false.
//
// Eval generates every full caption of N drawn scenes with a generator and
// tallies the verdicts per attribute and scene type (a Report); Compare
// pairs two reports of the same prompts, prompt by prompt, with McNemar's
// exact test on the prompts only one of them got right.
package shapes64
