//go:build amd64 && !purego

#include "textflag.h"

// Pieces of several kernels below, as macros: each kernel's instructions
// are the same as if written out.

#define BCAST(v, z) MOVL $v, AX; VPBROADCASTD AX, z

// EXPCONST loads EXP16's constants (AX clobbered): Z17 log2 e, Z18 ln2 hi,
// Z19 ln2 lo, Z20–Z25 1/7!, 1/6!, 1/5!, 1/4!, 1/3!, 1/2 (the Taylor
// polynomial, highest degree first), Z26 1, Z28 −86.
#define EXPCONST \
	BCAST(0x3fb8aa3b, Z17); \
	BCAST(0x3f318000, Z18); \
	BCAST(0xb95e8083, Z19); \
	BCAST(0x39500d01, Z20); \
	BCAST(0x3ab60b61, Z21); \
	BCAST(0x3c088889, Z22); \
	BCAST(0x3d2aaaab, Z23); \
	BCAST(0x3e2aaaab, Z24); \
	BCAST(0x3f000000, Z25); \
	BCAST(0x3f800000, Z26); \
	BCAST(0xc2ac0000, Z28)

// EXP16 sets P = exp(X) for 16 lanes, exactly 0 where X < −86 (so no
// subnormal is ever produced: they cost microcode assists), with the
// constants of EXPCONST in Z17–Z28; X, N and K2 are clobbered.
#define EXP16(X, N, P) \
	VCMPPS       $1, Z28, X, K2; \
	VMAXPS       Z28, X, X; \
	VMULPS       Z17, X, N; \
	VRNDSCALEPS  $0, N, N; \
	VFNMADD231PS Z18, N, X; \
	VFNMADD231PS Z19, N, X; \
	VMOVAPS      Z20, P; \
	VFMADD213PS  Z21, X, P; \
	VFMADD213PS  Z22, X, P; \
	VFMADD213PS  Z23, X, P; \
	VFMADD213PS  Z24, X, P; \
	VFMADD213PS  Z25, X, P; \
	VFMADD213PS  Z26, X, P; \
	VFMADD213PS  Z26, X, P; \
	VSCALEFPS    N, P, P; \
	VPXORD       P, P, K2, P

// HREDUCE folds the 16 float32 lanes of Z0 into the low lane of X0 with op
// (a packed add or max) and ops (its scalar form); Y1 is clobbered.
#define HREDUCE(op, ops) \
	VEXTRACTF64X4 $1, Z0, Y1; \
	op            Y1, Y0, Y0; \
	VEXTRACTF128  $1, Y0, X1; \
	op            X1, X0, X0; \
	VMOVHLPS      X0, X0, X1; \
	op            X1, X0, X0; \
	VMOVSHDUP     X0, X1; \
	ops           X1, X0, X0

// FMA2 adds one row's share of a rank-1 update: acc0 += b0·a and
// acc1 += b1·a, with b0, b1 the two halves of a B row and a the row's A
// value, broadcast.
#define FMA2(b0, b1, a, acc0, acc1) \
	VFMADD231PS b0, a, acc0; \
	VFMADD231PS b1, a, acc1

// FMA4x32 is the rank-1 update of a 4×32 block: B row in b0, b1, the rows'
// A values in a0–a3, accumulators Z0–Z7.
#define FMA4x32(b0, b1, a0, a1, a2, a3) \
	FMA2(b0, b1, a0, Z0, Z1); \
	FMA2(b0, b1, a1, Z2, Z3); \
	FMA2(b0, b1, a2, Z4, Z5); \
	FMA2(b0, b1, a3, Z6, Z7)

// FMA8x32 is the rank-1 update of an 8×32 block: B row in Z16, Z17, the
// rows' A values in Z18–Z25, accumulators Z0–Z15.
#define FMA8x32 \
	FMA4x32(Z16, Z17, Z18, Z19, Z20, Z21); \
	FMA2(Z16, Z17, Z22, Z8, Z9); \
	FMA2(Z16, Z17, Z23, Z10, Z11); \
	FMA2(Z16, Z17, Z24, Z12, Z13); \
	FMA2(Z16, Z17, Z25, Z14, Z15)

// ZERO4 clears four registers; ZERO8 and ZERO16 clear the accumulators
// Z0–Z7 and Z0–Z15.
#define ZERO4(a, b, c, d) \
	VPXORD a, a, a; \
	VPXORD b, b, b; \
	VPXORD c, c, c; \
	VPXORD d, d, d

#define ZERO8 \
	ZERO4(Z0, Z1, Z2, Z3); \
	ZERO4(Z4, Z5, Z6, Z7)

#define ZERO16 \
	ZERO8; \
	ZERO4(Z8, Z9, Z10, Z11); \
	ZERO4(Z12, Z13, Z14, Z15)

// BETAROW sets acc0, acc1 to beta[r]·C[r, 0:32] for one row r of a C block:
// beta[r] at off(R11) (broadcast into t), the row's halves at lo and hi.
#define BETAROW(off, lo, hi, t, acc0, acc1) \
	VBROADCASTSS off(R11), t; \
	VMULPS       lo, t, acc0; \
	VMULPS       hi, t, acc1

// STOREROW stores acc0, acc1 into one row of a C block (halves at lo, hi).
#define STOREROW(lo, hi, acc0, acc1) \
	VMOVUPS acc0, lo; \
	VMOVUPS acc1, hi

// C4BETA sets Z0–Z7 to beta[r]·C[r, 0:32] for the 4 rows of a C block:
// beta at R11, C at DX, row stride R10 (bytes), 3·R10 in R13; Z8–Z11 are
// clobbered.
#define C4BETA \
	BETAROW(0, 0(DX), 64(DX), Z8, Z0, Z1); \
	BETAROW(4, 0(DX)(R10*1), 64(DX)(R10*1), Z9, Z2, Z3); \
	BETAROW(8, 0(DX)(R10*2), 64(DX)(R10*2), Z10, Z4, Z5); \
	BETAROW(12, 0(DX)(R13*1), 64(DX)(R13*1), Z11, Z6, Z7)

// C4STORE stores Z0–Z7 into the 4×32 C block (registers as in C4BETA).
#define C4STORE \
	STOREROW(0(DX), 64(DX), Z0, Z1); \
	STOREROW(0(DX)(R10*1), 64(DX)(R10*1), Z2, Z3); \
	STOREROW(0(DX)(R10*2), 64(DX)(R10*2), Z4, Z5); \
	STOREROW(0(DX)(R13*1), 64(DX)(R13*1), Z6, Z7)

// C8BETA is C4BETA for the 8 rows of an 8×32 block (Z0–Z15), rows 4–7 at
// BX; Z16 is clobbered.
#define C8BETA \
	BETAROW(0, 0(DX), 64(DX), Z16, Z0, Z1); \
	BETAROW(4, 0(DX)(R10*1), 64(DX)(R10*1), Z16, Z2, Z3); \
	BETAROW(8, 0(DX)(R10*2), 64(DX)(R10*2), Z16, Z4, Z5); \
	BETAROW(12, 0(DX)(R13*1), 64(DX)(R13*1), Z16, Z6, Z7); \
	BETAROW(16, 0(BX), 64(BX), Z16, Z8, Z9); \
	BETAROW(20, 0(BX)(R10*1), 64(BX)(R10*1), Z16, Z10, Z11); \
	BETAROW(24, 0(BX)(R10*2), 64(BX)(R10*2), Z16, Z12, Z13); \
	BETAROW(28, 0(BX)(R13*1), 64(BX)(R13*1), Z16, Z14, Z15)

// C8STORE stores Z0–Z15 into the 8×32 C block (registers as in C8BETA).
#define C8STORE \
	C4STORE; \
	STOREROW(0(BX), 64(BX), Z8, Z9); \
	STOREROW(0(BX)(R10*1), 64(BX)(R10*1), Z10, Z11); \
	STOREROW(0(BX)(R10*2), 64(BX)(R10*2), Z12, Z13); \
	STOREROW(0(BX)(R13*1), 64(BX)(R13*1), Z14, Z15)

// func gemm4x32AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32)
// C[r,0:32] = beta[r]·C[r,0:32] + Σ_p A[r,p]·B[p,0:32], r < 4 (beta nil: C overwritten).
TEXT ·gemm4x32AVX512(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R9
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R10
	MOVQ beta+56(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	LEAQ (R8)(R8*2), R12
	LEAQ (R10)(R10*2), R13
	TESTQ R11, R11
	JZ   g4zero
	C4BETA
	JMP          g4loop

g4zero:
	ZERO8

g4loop:
	CMPQ CX, $2
	JLT  g4tail
	VMOVUPS      0(DI), Z8
	VMOVUPS      64(DI), Z9
	VBROADCASTSS 0(SI), Z10
	VBROADCASTSS 0(SI)(R8*1), Z11
	VBROADCASTSS 0(SI)(R8*2), Z12
	VBROADCASTSS 0(SI)(R12*1), Z13
	FMA4x32(Z8, Z9, Z10, Z11, Z12, Z13)
	ADDQ         R9, DI
	VMOVUPS      0(DI), Z14
	VMOVUPS      64(DI), Z15
	VBROADCASTSS 4(SI), Z16
	VBROADCASTSS 4(SI)(R8*1), Z17
	VBROADCASTSS 4(SI)(R8*2), Z18
	VBROADCASTSS 4(SI)(R12*1), Z19
	FMA4x32(Z14, Z15, Z16, Z17, Z18, Z19)
	ADDQ         R9, DI
	ADDQ         $8, SI
	SUBQ         $2, CX
	JMP          g4loop

g4tail:
	TESTQ        CX, CX
	JZ           g4store
	VMOVUPS      0(DI), Z8
	VMOVUPS      64(DI), Z9
	VBROADCASTSS 0(SI), Z10
	VBROADCASTSS 0(SI)(R8*1), Z11
	VBROADCASTSS 0(SI)(R8*2), Z12
	VBROADCASTSS 0(SI)(R12*1), Z13
	FMA4x32(Z8, Z9, Z10, Z11, Z12, Z13)

g4store:
	C4STORE
	VZEROUPPER
	RET

// func gemm1x32AVX512(k int, a *float32, b *float32, ldb int, c *float32, beta *float32)
TEXT ·gemm1x32AVX512(SB), NOSPLIT, $0-48
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ ldb+24(FP), R9
	MOVQ c+32(FP), DX
	MOVQ beta+40(FP), R11
	SHLQ $2, R9
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ R11, R11
	JZ   g1zero
	BETAROW(0, 0(DX), 64(DX), Z8, Z0, Z1)
	JMP          g1loop

g1zero:
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1

g1loop:
	CMPQ CX, $4
	JLT  g1tail
	VBROADCASTSS 0(SI), Z10
	VBROADCASTSS 4(SI), Z11
	VBROADCASTSS 8(SI), Z12
	VBROADCASTSS 12(SI), Z13
	VFMADD231PS  0(DI), Z10, Z0
	VFMADD231PS  64(DI), Z10, Z1
	ADDQ         R9, DI
	VFMADD231PS  0(DI), Z11, Z2
	VFMADD231PS  64(DI), Z11, Z3
	ADDQ         R9, DI
	VFMADD231PS  0(DI), Z12, Z4
	VFMADD231PS  64(DI), Z12, Z5
	ADDQ         R9, DI
	VFMADD231PS  0(DI), Z13, Z6
	VFMADD231PS  64(DI), Z13, Z7
	ADDQ         R9, DI
	ADDQ         $16, SI
	SUBQ         $4, CX
	JMP          g1loop

g1tail:
	TESTQ        CX, CX
	JZ           g1store
	VBROADCASTSS 0(SI), Z10
	VFMADD231PS  0(DI), Z10, Z0
	VFMADD231PS  64(DI), Z10, Z1
	ADDQ         R9, DI
	ADDQ         $4, SI
	DECQ         CX
	JMP          g1tail

g1store:
	VADDPS  Z2, Z0, Z0
	VADDPS  Z3, Z1, Z1
	VADDPS  Z6, Z4, Z4
	VADDPS  Z7, Z5, Z5
	VADDPS  Z4, Z0, Z0
	VADDPS  Z5, Z1, Z1
	VMOVUPS Z0, 0(DX)
	VMOVUPS Z1, 64(DX)
	VZEROUPPER
	RET

// func expSubAVX512(s *float32, n int, m float32) float32
// s[j] = exp(s[j]-m) for j < n (n a multiple of 16); returns the sum.
TEXT ·expSubAVX512(SB), NOSPLIT, $0-28
	MOVQ         s+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Z16
	EXPCONST
	VPXORD       Z29, Z29, Z29

eloop:
	TESTQ        CX, CX
	JZ           edone
	VMOVUPS      0(SI), Z0
	VSUBPS       Z16, Z0, Z0
	EXP16(Z0, Z2, Z3) // exactly 0 below −86
	VMOVUPS      Z3, 0(SI)
	VADDPS       Z3, Z29, Z29
	ADDQ         $64, SI
	SUBQ         $16, CX
	JMP          eloop

edone:
	VMOVAPS       Z29, Z0
	HREDUCE(VADDPS, VADDSS)
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// func fmaLoopAVX512(iters int) float32
TEXT ·fmaLoopAVX512(SB), NOSPLIT, $0-12
	MOVQ iters+0(FP), CX
	BCAST(0x3f7fffef, Z12) // 0.999999
	BCAST(0x33d6bf95, Z13) // 1e-7
	BCAST(0x3f800000, Z0)
	VMOVAPS Z0, Z1
	VMOVAPS Z0, Z2
	VMOVAPS Z0, Z3
	VMOVAPS Z0, Z4
	VMOVAPS Z0, Z5
	VMOVAPS Z0, Z6
	VMOVAPS Z0, Z7
	VMOVAPS Z0, Z8
	VMOVAPS Z0, Z9
	VMOVAPS Z0, Z10
	VMOVAPS Z0, Z11

floop:
	TESTQ       CX, CX
	JZ          fdone
	VFMADD213PS Z13, Z12, Z0
	VFMADD213PS Z13, Z12, Z1
	VFMADD213PS Z13, Z12, Z2
	VFMADD213PS Z13, Z12, Z3
	VFMADD213PS Z13, Z12, Z4
	VFMADD213PS Z13, Z12, Z5
	VFMADD213PS Z13, Z12, Z6
	VFMADD213PS Z13, Z12, Z7
	VFMADD213PS Z13, Z12, Z8
	VFMADD213PS Z13, Z12, Z9
	VFMADD213PS Z13, Z12, Z10
	VFMADD213PS Z13, Z12, Z11
	DECQ        CX
	JMP         floop

fdone:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z5, Z4, Z4
	VADDPS Z7, Z6, Z6
	VADDPS Z9, Z8, Z8
	VADDPS Z11, Z10, Z10
	VADDPS Z2, Z0, Z0
	VADDPS Z6, Z4, Z4
	VADDPS Z10, Z8, Z8
	VADDPS Z4, Z0, Z0
	VADDPS Z8, Z0, Z0
	VZEROUPPER
	MOVSS  X0, ret+8(FP)
	RET

// func readSumAVX512(p *float32, n int) float32   (n a multiple of 64)
TEXT ·readSumAVX512(SB), NOSPLIT, $0-20
	MOVQ   p+0(FP), SI
	MOVQ   n+8(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3

rloop:
	TESTQ  CX, CX
	JZ     rdone
	VADDPS 0(SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	VADDPS 128(SI), Z2, Z2
	VADDPS 192(SI), Z3, Z3
	ADDQ   $256, SI
	SUBQ   $64, CX
	JMP    rloop

rdone:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z2, Z0, Z0
	HREDUCE(VADDPS, VADDSS)
	VZEROUPPER
	MOVSS         X0, ret+16(FP)
	RET

// func scaleMaxAVX512(s *float32, n int, scale float32) float32
// s[j] *= scale for j < n (n a multiple of 16; scale 1 leaves s as is);
// returns max_j s[j]. NaNs are not propagated.
TEXT ·scaleMaxAVX512(SB), NOSPLIT, $0-28
	MOVQ         s+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS scale+16(FP), Z16
	BCAST(0xff800000, Z0) // -Inf
	VMOVAPS      Z0, Z1

mloop:
	CMPQ    CX, $32
	JLT     mtail
	VMULPS  0(SI), Z16, Z2
	VMULPS  64(SI), Z16, Z3
	VMOVUPS Z2, 0(SI)
	VMOVUPS Z3, 64(SI)
	VMAXPS  Z2, Z0, Z0
	VMAXPS  Z3, Z1, Z1
	ADDQ    $128, SI
	SUBQ    $32, CX
	JMP     mloop

mtail:
	TESTQ   CX, CX
	JZ      mdone
	VMULPS  0(SI), Z16, Z2
	VMOVUPS Z2, 0(SI)
	VMAXPS  Z2, Z0, Z0

mdone:
	VMAXPS        Z1, Z0, Z0
	HREDUCE(VMAXPS, VMAXSS)
	VZEROUPPER
	MOVSS         X0, ret+24(FP)
	RET

// func gemm4x32ATAVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32)
// As gemm4x32AVX512 but A is stored transposed: A[r,p] = a[p*lda + r].
TEXT ·gemm4x32ATAVX512(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ b+24(FP), DI
	MOVQ ldb+32(FP), R9
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R10
	MOVQ beta+56(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R13
	TESTQ R11, R11
	JZ   t4zero
	C4BETA
	JMP          t4loop

t4zero:
	ZERO8

t4loop:
	CMPQ CX, $2
	JLT  t4tail
	VMOVUPS      0(DI), Z8
	VMOVUPS      64(DI), Z9
	VBROADCASTSS 0(SI), Z10
	VBROADCASTSS 4(SI), Z11
	VBROADCASTSS 8(SI), Z12
	VBROADCASTSS 12(SI), Z13
	FMA4x32(Z8, Z9, Z10, Z11, Z12, Z13)
	ADDQ         R9, DI
	ADDQ         R8, SI
	VMOVUPS      0(DI), Z14
	VMOVUPS      64(DI), Z15
	VBROADCASTSS 0(SI), Z16
	VBROADCASTSS 4(SI), Z17
	VBROADCASTSS 8(SI), Z18
	VBROADCASTSS 12(SI), Z19
	FMA4x32(Z14, Z15, Z16, Z17, Z18, Z19)
	ADDQ         R9, DI
	ADDQ         R8, SI
	SUBQ         $2, CX
	JMP          t4loop

t4tail:
	TESTQ        CX, CX
	JZ           t4store
	VMOVUPS      0(DI), Z8
	VMOVUPS      64(DI), Z9
	VBROADCASTSS 0(SI), Z10
	VBROADCASTSS 4(SI), Z11
	VBROADCASTSS 8(SI), Z12
	VBROADCASTSS 12(SI), Z13
	FMA4x32(Z8, Z9, Z10, Z11, Z12, Z13)

t4store:
	C4STORE
	VZEROUPPER
	RET

// func softmaxColsAVX512(s *float32, rows int, ld int, cols int, m *float32, l *float32, alpha *float32)
// Online-softmax update of a transposed score block: for every column r
// (cols a multiple of 16), m' = max(m[r], max_j s[j*ld+r]); alpha[r] =
// exp(m[r]−m'); s[j*ld+r] = exp(s[j*ld+r]−m'); l[r] = l[r]·alpha[r] + Σ_j s[j*ld+r];
// m[r] = m'.
TEXT ·softmaxColsAVX512(SB), NOSPLIT, $0-56
	MOVQ s+0(FP), SI
	MOVQ rows+8(FP), BX
	MOVQ ld+16(FP), R9
	MOVQ cols+24(FP), CX
	MOVQ m+32(FP), R10
	MOVQ l+40(FP), R11
	MOVQ alpha+48(FP), R12
	SHLQ $2, R9
	EXPCONST

scol:
	TESTQ   CX, CX
	JZ      sdone
	// pass 1: column max
	VMOVUPS 0(R10), Z0     // m
	VMOVAPS Z0, Z1         // running max
	MOVQ    SI, DI
	MOVQ    BX, DX

smax:
	TESTQ  DX, DX
	JZ     smaxdone
	VMAXPS 0(DI), Z1, Z1
	ADDQ   R9, DI
	DECQ   DX
	JMP    smax

smaxdone:
	// alpha = exp(m - m')
	VSUBPS  Z1, Z0, Z2
	EXP16(Z2, Z3, Z4)
	VMOVUPS Z4, 0(R12)
	VMOVUPS Z1, 0(R10)
	// pass 2: p = exp(s - m'), column sums
	VPXORD  Z5, Z5, Z5
	MOVQ    SI, DI
	MOVQ    BX, DX

sexp:
	TESTQ   DX, DX
	JZ      sexpdone
	VMOVUPS 0(DI), Z2
	VSUBPS  Z1, Z2, Z2
	EXP16(Z2, Z3, Z6)
	VMOVUPS Z6, 0(DI)
	VADDPS  Z6, Z5, Z5
	ADDQ    R9, DI
	DECQ    DX
	JMP     sexp

sexpdone:
	// l = l*alpha + sum
	VMOVUPS     0(R11), Z7
	VFMADD213PS Z5, Z4, Z7
	VMOVUPS     Z7, 0(R11)
	ADDQ        $64, SI
	ADDQ        $64, R10
	ADDQ        $64, R11
	ADDQ        $64, R12
	SUBQ        $16, CX
	JMP         scol

sdone:
	VZEROUPPER
	RET

// func gemm8x32AVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32, panels int)
// For p < panels: C[r,32p:32p+32] = beta[r]·C[r,…] + Σ_q A[r,q]·B[q,32p:32p+32], r < 8
// (beta nil: C overwritten).
TEXT ·gemm8x32AVX512(SB), NOSPLIT, $0-72
	MOVQ panels+64(FP), AX
	MOVQ lda+16(FP), R8
	MOVQ ldb+32(FP), R9
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R10
	MOVQ beta+56(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	LEAQ (R8)(R8*2), R12  // 3·lda
	LEAQ (R10)(R10*2), R13 // 3·ldc

gemm8x32panel:
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+24(FP), DI
	LEAQ (SI)(R8*4), R14  // A row 4
	LEAQ (DX)(R10*4), BX  // C row 4
	TESTQ R11, R11
	JZ    gemm8x32zero
	C8BETA
	JMP   gemm8x32loop

gemm8x32zero:
	ZERO16

gemm8x32loop:
	TESTQ CX, CX
	JZ    gemm8x32store
	VMOVUPS 0(DI), Z16
	VMOVUPS 64(DI), Z17
	VBROADCASTSS 0(SI), Z18
	VBROADCASTSS 0(SI)(R8*1), Z19
	VBROADCASTSS 0(SI)(R8*2), Z20
	VBROADCASTSS 0(SI)(R12*1), Z21
	VBROADCASTSS 0(R14), Z22
	VBROADCASTSS 0(R14)(R8*1), Z23
	VBROADCASTSS 0(R14)(R8*2), Z24
	VBROADCASTSS 0(R14)(R12*1), Z25
	FMA8x32
	ADDQ R9, DI
	ADDQ $4, SI
	ADDQ $4, R14
	DECQ CX
	JMP  gemm8x32loop

gemm8x32store:
	C8STORE
	ADDQ $128, DX
	MOVQ b+24(FP), DI
	ADDQ $128, DI
	MOVQ DI, b+24(FP)
	DECQ AX
	JNZ  gemm8x32panel
	VZEROUPPER
	RET

// func gemm8x32ATAVX512(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, beta *float32, panels int)
// For p < panels: C[r,32p:32p+32] = beta[r]·C[r,…] + Σ_q A[r,q]·B[q,32p:32p+32], r < 8,
// A stored transposed: A[r,q] = a[q*lda+r].
TEXT ·gemm8x32ATAVX512(SB), NOSPLIT, $0-72
	MOVQ panels+64(FP), AX
	MOVQ lda+16(FP), R8
	MOVQ ldb+32(FP), R9
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), R10
	MOVQ beta+56(FP), R11
	SHLQ $2, R8
	SHLQ $2, R9
	SHLQ $2, R10
	LEAQ (R10)(R10*2), R13 // 3·ldc

gemm8x32ATpanel:
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+24(FP), DI
	LEAQ (DX)(R10*4), BX  // C row 4
	TESTQ R11, R11
	JZ    gemm8x32ATzero
	C8BETA
	JMP   gemm8x32ATloop

gemm8x32ATzero:
	ZERO16

gemm8x32ATloop:
	TESTQ CX, CX
	JZ    gemm8x32ATstore
	VMOVUPS 0(DI), Z16
	VMOVUPS 64(DI), Z17
	VBROADCASTSS 0(SI), Z18
	VBROADCASTSS 4(SI), Z19
	VBROADCASTSS 8(SI), Z20
	VBROADCASTSS 12(SI), Z21
	VBROADCASTSS 16(SI), Z22
	VBROADCASTSS 20(SI), Z23
	VBROADCASTSS 24(SI), Z24
	VBROADCASTSS 28(SI), Z25
	FMA8x32
	ADDQ R9, DI
	ADDQ R8, SI
	DECQ CX
	JMP  gemm8x32ATloop

gemm8x32ATstore:
	C8STORE
	ADDQ $128, DX
	MOVQ b+24(FP), DI
	ADDQ $128, DI
	MOVQ DI, b+24(FP)
	DECQ AX
	JNZ  gemm8x32ATpanel
	VZEROUPPER
	RET

// func dotsAVX512(q *float32, d int, k *float32, ldk int, n int, out *float32)
// out[j] = Σ_{c<d} q[c]·k[j*ldk+c] for j < n; d a multiple of 16.
TEXT ·dotsAVX512(SB), NOSPLIT, $0-48
	MOVQ q+0(FP), SI
	MOVQ d+8(FP), R8
	MOVQ k+16(FP), DI
	MOVQ ldk+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ out+40(FP), DX
	SHLQ $2, R9

dkey:
	TESTQ  CX, CX
	JZ     ddone
	LEAQ   (DI)(R9*8), R10 // prefetch the row 8 keys ahead (first 256 bytes)
	PREFETCHT0 0(R10)
	PREFETCHT0 64(R10)
	PREFETCHT0 128(R10)
	PREFETCHT0 192(R10)
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	XORQ   AX, AX
	MOVQ   R8, BX

dch:
	CMPQ        BX, $32
	JLT         dch16
	VMOVUPS     0(DI)(AX*4), Z2
	VMOVUPS     64(DI)(AX*4), Z3
	VFMADD231PS 0(SI)(AX*4), Z2, Z0
	VFMADD231PS 64(SI)(AX*4), Z3, Z1
	ADDQ        $32, AX
	SUBQ        $32, BX
	JMP         dch

dch16:
	TESTQ       BX, BX
	JZ          dred
	VMOVUPS     0(DI)(AX*4), Z2
	VFMADD231PS 0(SI)(AX*4), Z2, Z0

dred:
	VADDPS        Z1, Z0, Z0
	HREDUCE(VADDPS, VADDSS)
	MOVSS         X0, 0(DX)
	ADDQ          $4, DX
	ADDQ          R9, DI
	DECQ          CX
	JMP           dkey

ddone:
	VZEROUPPER
	RET

// func pv64AVX512(k int, p *float32, v *float32, ldv int, o *float32)
// o[0:64] = Σ_{j<k} p[j]·v[j*ldv : j*ldv+64] (o overwritten), one pass over
// the V rows with 8 accumulators (even and odd keys) and a prefetch of the
// row 8 keys ahead.
TEXT ·pv64AVX512(SB), NOSPLIT, $0-40
	MOVQ   k+0(FP), CX
	MOVQ   p+8(FP), SI
	MOVQ   v+16(FP), DI
	MOVQ   ldv+24(FP), R9
	MOVQ   o+32(FP), DX
	SHLQ   $2, R9
	ZERO8

pvloop:
	CMPQ         CX, $2
	JLT          pvtail
	LEAQ         (DI)(R9*8), R10
	PREFETCHT0   0(R10)
	PREFETCHT0   64(R10)
	PREFETCHT0   128(R10)
	PREFETCHT0   192(R10)
	VBROADCASTSS 0(SI), Z8
	VBROADCASTSS 4(SI), Z9
	VFMADD231PS  0(DI), Z8, Z0
	VFMADD231PS  64(DI), Z8, Z1
	VFMADD231PS  128(DI), Z8, Z2
	VFMADD231PS  192(DI), Z8, Z3
	ADDQ         R9, DI
	VFMADD231PS  0(DI), Z9, Z4
	VFMADD231PS  64(DI), Z9, Z5
	VFMADD231PS  128(DI), Z9, Z6
	VFMADD231PS  192(DI), Z9, Z7
	ADDQ         R9, DI
	ADDQ         $8, SI
	SUBQ         $2, CX
	JMP          pvloop

pvtail:
	TESTQ        CX, CX
	JZ           pvstore
	VBROADCASTSS 0(SI), Z8
	VFMADD231PS  0(DI), Z8, Z0
	VFMADD231PS  64(DI), Z8, Z1
	VFMADD231PS  128(DI), Z8, Z2
	VFMADD231PS  192(DI), Z8, Z3

pvstore:
	VADDPS  Z4, Z0, Z0
	VADDPS  Z5, Z1, Z1
	VADDPS  Z6, Z2, Z2
	VADDPS  Z7, Z3, Z3
	VMOVUPS Z0, 0(DX)
	VMOVUPS Z1, 64(DX)
	VMOVUPS Z2, 128(DX)
	VMOVUPS Z3, 192(DX)
	VZEROUPPER
	RET

// func packTAVX512(q *float32, idx *int32, d int, scale float32, dst *float32, ldd int)
// dst[c*ldd + i] = scale·q[idx[i] + c] for c < d, i < 16: a 16-row
// transpose-and-scale with one VGATHERDPS per channel.
TEXT ·packTAVX512(SB), NOSPLIT, $0-48
	MOVQ         q+0(FP), SI
	MOVQ         idx+8(FP), AX
	MOVQ         d+16(FP), CX
	VBROADCASTSS scale+24(FP), Z2
	MOVQ         dst+32(FP), DI
	MOVQ         ldd+40(FP), R9
	SHLQ         $2, R9
	VMOVDQU32    0(AX), Z1

ploop:
	TESTQ      CX, CX
	JZ         pdone
	KXNORW     K1, K1, K1
	VGATHERDPS (SI)(Z1*4), K1, Z0
	VMULPS     Z2, Z0, Z0
	VMOVUPS    Z0, 0(DI)
	ADDQ       $4, SI
	ADDQ       R9, DI
	DECQ       CX
	JMP        ploop

pdone:
	VZEROUPPER
	RET

// func scaleToAVX512(dst *float32, src *float32, n int, f float32)
// dst[i] = f·src[i] for i < n (n a multiple of 16).
TEXT ·scaleToAVX512(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         src+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS f+24(FP), Z2

sloop:
	TESTQ   CX, CX
	JZ      sdone2
	VMULPS  0(SI), Z2, Z0
	VMOVUPS Z0, 0(DI)
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX
	JMP     sloop

sdone2:
	VZEROUPPER
	RET
