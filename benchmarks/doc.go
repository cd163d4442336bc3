// Package benchmarks holds the suites behind `tessella bench`: attention
// kernels (RunAttention), matrix multiplies per backend and weight precision
// (RunGEMM), and whole DALL·E-shaped generations (RunModel), each printing an
// environment block (CPU, SIMD features, measured FMA peak and read
// bandwidth) before its table. Figures are for comparing within one run on
// one machine; README.md in this folder has the tables measured here and the
// commands that reproduce them, and the PyTorch peers (attention_peer.py,
// model_peer.py) that time the same shapes.
package benchmarks
