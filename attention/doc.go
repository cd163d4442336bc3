// Package attention computes multi-head scaled-dot-product attention.
//
// For batch b, head h, query row i and key row j, with head width D:
//
//	S[b,h,i,j]   = scale · Σ_{c<D} Q[b,i,h,c]·K[b,j,h,c] + bias(b,h,i,j)     scale = 1/√D
//	P[b,h,i,j]   = exp(S[b,h,i,j] − max_j S[b,h,i,·]) / Σ_j exp(S[b,h,i,j] − max_j S)
//	Out[b,i,h,c] = Σ_j P[b,h,i,j]·V[b,j,h,c]
//
// Shapes: Q and Out are (B, Nq, H·D), K and V are (B, Nk, H·D), heads side by
// side in the last dimension (any strides; see Operand). The bias is
// min-dalle's additive −1e12 for padded or future keys plus an optional
// user bias.
//
// Every kernel implements Kernel; Plain is the readable one the model uses.
package attention
