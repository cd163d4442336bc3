//go:build amd64 && !purego

#include "textflag.h"

// Every kernel below runs a masked loop: full iterations use K1 = all
// lanes (eight float64 or 16 float32), and the tail runs the same body
// under K1 = (1 << remaining) − 1, so masked loads and stores touch no
// memory outside [0, n).

// TAIL_MASK sets K1 = (1 << CX) − 1 (AX clobbered).
#define TAIL_MASK \
	MOVL  $1, AX; \
	SHLL  CX, AX; \
	DECL  AX; \
	KMOVW AX, K1

// HSUM64 adds the eight float64 lanes of Z1 into X1's low lane (Y1, Y2
// clobbered).
#define HSUM64 \
	VEXTRACTF64X4 $1, Z1, Y2; \
	VADDPD        Y2, Y1, Y1; \
	VEXTRACTF128  $1, Y1, X2; \
	VADDPD        X2, X1, X1; \
	VPERMILPD     $1, X1, X2; \
	VADDSD        X2, X1, X1

// func sumAVX512(x *float32, n int) float64
TEXT ·sumAVX512(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VPXORQ Z1, Z1, Z1
	MOVL $0xff, AX
	KMOVW AX, K1

sloop:
	TESTQ CX, CX
	JLE  sdone
	CMPQ CX, $8
	JGE  sbody
	TAIL_MASK

sbody:
	VMOVUPS.Z (SI), K1, Y0
	VCVTPS2PD Y0, Z0
	VADDPD    Z0, Z1, Z1
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  sloop

sdone:
	HSUM64
	VMOVSD X1, ret+16(FP)
	VZEROUPPER
	RET

// func sumSqDevAVX512(x *float32, n int, mean float64) float64
TEXT ·sumSqDevAVX512(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VBROADCASTSD mean+16(FP), Z3
	VPXORQ Z1, Z1, Z1
	MOVL $0xff, AX
	KMOVW AX, K1

qloop:
	TESTQ CX, CX
	JLE  qdone
	CMPQ CX, $8
	JGE  qbody
	TAIL_MASK

qbody:
	VMOVUPS.Z (SI), K1, Y0
	VCVTPS2PD Y0, Z0
	VSUBPD    Z3, Z0, Z0
	VMULPD    Z0, Z0, Z0
	VADDPD    Z0, Z1, K1, Z1 // merge: masked-off lanes keep their sums
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  qloop

qdone:
	HSUM64
	VMOVSD X1, ret+24(FP)
	VZEROUPPER
	RET

// EXP_CONSTANTS loads EXP_Z6's constants: Z11 log2(e), Z12 ln2 hi, Z13 ln2
// lo, Z14..Z19 Cephes expf's polynomial P, highest degree first (AX
// clobbered).
#define EXP_CONSTANTS \
	MOVL $0x3fb8aa3b, AX; /* 1.44269504 */ \
	VPBROADCASTD AX, Z11; \
	MOVL $0x3f318000, AX; /* 0.693359375 */ \
	VPBROADCASTD AX, Z12; \
	MOVL $0xb95e8083, AX; /* -2.12194440e-4 */ \
	VPBROADCASTD AX, Z13; \
	MOVL $0x39506967, AX; /* 1.9875691500e-4 */ \
	VPBROADCASTD AX, Z14; \
	MOVL $0x3ab743ce, AX; /* 1.3981999507e-3 */ \
	VPBROADCASTD AX, Z15; \
	MOVL $0x3c088908, AX; /* 8.3334519073e-3 */ \
	VPBROADCASTD AX, Z16; \
	MOVL $0x3d2aa9c1, AX; /* 4.1665795894e-2 */ \
	VPBROADCASTD AX, Z17; \
	MOVL $0x3e2aaaaa, AX; /* 1.6666665459e-1 */ \
	VPBROADCASTD AX, Z18; \
	MOVL $0x3f000000, AX; /* 5.0000001201e-1 (rounds to 0.5) */ \
	VPBROADCASTD AX, Z19

// EXP_Z6 sets Z7 = e^Z6 for Z6 within [−87.3, 88.8]: n = round(Z6·log2e)
// (Z8), r = Z6 − n·ln2 (Z6), e = (1 + r + r²·P(r))·2ⁿ. It needs
// EXP_CONSTANTS and Z22 = 1; Z6, Z8 and Z9 are clobbered.
#define EXP_Z6 \
	VMULPS       Z11, Z6, Z8; \
	VRNDSCALEPS  $0, Z8, Z8; \
	VFNMADD231PS Z12, Z8, Z6; \
	VFNMADD231PS Z13, Z8, Z6; \
	VMOVAPS      Z14, Z7; \
	VFMADD213PS  Z15, Z6, Z7; \
	VFMADD213PS  Z16, Z6, Z7; \
	VFMADD213PS  Z17, Z6, Z7; \
	VFMADD213PS  Z18, Z6, Z7; \
	VFMADD213PS  Z19, Z6, Z7; \
	VMULPS       Z6, Z6, Z9; \
	VFMADD213PS  Z6, Z9, Z7; \
	VADDPS       Z22, Z7, Z7; \
	VSCALEFPS    Z8, Z7, Z7

// func geluMulAVX512(w, v *float32, n int)
//
// w[i] = GELU(w[i])·v[i], 16 lanes per iteration. Formula in act.go.
//
// Constants:
//   Z10 0            Z11..Z19 EXP_CONSTANTS
//   Z20 1/√2         Z21 p            Z22 1            Z23..Z27 a1..a5
//   Z28 2            Z29 0.5          Z30 −87.3 (exp argument floor)
//   Z31 0x7fffffff (abs mask)
TEXT ·geluMulAVX512(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ n+16(FP), CX

	VPXORD Z10, Z10, Z10
	EXP_CONSTANTS
	MOVL $0x3f3504f3, AX // 0.70710678
	VPBROADCASTD AX, Z20
	MOVL $0x3ea7ba05, AX // 0.3275911
	VPBROADCASTD AX, Z21
	MOVL $0x3f800000, AX // 1
	VPBROADCASTD AX, Z22
	MOVL $0x3e827906, AX // 0.254829592
	VPBROADCASTD AX, Z23
	MOVL $0xbe91a98e, AX // -0.284496736
	VPBROADCASTD AX, Z24
	MOVL $0x3fb5f0e3, AX // 1.421413741
	VPBROADCASTD AX, Z25
	MOVL $0xbfba00e3, AX // -1.453152027
	VPBROADCASTD AX, Z26
	MOVL $0x3f87dc22, AX // 1.061405429
	VPBROADCASTD AX, Z27
	MOVL $0x40000000, AX // 2
	VPBROADCASTD AX, Z28
	MOVL $0x3f000000, AX // 0.5
	VPBROADCASTD AX, Z29
	MOVL $0xc2ae999a, AX // -87.3
	VPBROADCASTD AX, Z30
	MOVL $0x7fffffff, AX
	VPBROADCASTD AX, Z31

	MOVL $0xffff, AX
	KMOVW AX, K1

gloop:
	TESTQ CX, CX
	JLE  gdone
	CMPQ CX, $16
	JGE  gbody
	TAIL_MASK

gbody:
	VMOVUPS.Z (DI), K1, Z0 // x
	VMOVUPS.Z (SI), K1, Z1 // v
	VMULPS    Z20, Z0, Z2  // z = x/√2
	VPANDD    Z31, Z2, Z3  // a = |z|

	// t = 1/(1 + p·a)
	VMOVAPS     Z22, Z4
	VFMADD231PS Z21, Z3, Z4
	VDIVPS      Z4, Z22, Z4

	// poly = t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))
	VMOVAPS     Z27, Z5
	VFMADD213PS Z26, Z4, Z5
	VFMADD213PS Z25, Z4, Z5
	VFMADD213PS Z24, Z4, Z5
	VFMADD213PS Z23, Z4, Z5
	VMULPS      Z4, Z5, Z5

	// s = max(−a², floor)
	VPXORD       Z6, Z6, Z6
	VFNMADD231PS Z3, Z3, Z6
	VMAXPS       Z6, Z30, Z6

	// e = exp(s)
	EXP_Z6

	// q = poly·e ≈ erfc(a); 1 + erf(z) = z < 0 ? q : 2 − q
	VMULPS  Z7, Z5, Z5
	VSUBPS  Z5, Z28, Z9
	VCMPPS  $1, Z10, Z2, K2
	VMOVAPS Z5, K2, Z9

	// w = (0.5·x·(1 + erf))·v
	VMULPS  Z29, Z0, Z0
	VMULPS  Z9, Z0, Z0
	VMULPS  Z1, Z0, Z0
	VMOVUPS Z0, K1, (DI)

	ADDQ $64, DI
	ADDQ $64, SI
	SUBQ $16, CX
	JMP  gloop

gdone:
	VZEROUPPER
	RET

// func affineSwishAVX512(dst, src *float32, n int, s, t float32)
//
// dst[i] = swish(src[i]·s + t), 16 lanes per iteration. Formula in act.go.
//
// Constants:
//   Z11..Z19 EXP_CONSTANTS
//   Z20 s   Z21 t   Z22 1   Z23 −87.3   Z24 88.8   Z25 sign bit
TEXT ·affineSwishAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Z20
	VBROADCASTSS t+28(FP), Z21

	EXP_CONSTANTS
	MOVL $0x3f800000, AX // 1
	VPBROADCASTD AX, Z22
	MOVL $0xc2ae999a, AX // -87.3
	VPBROADCASTD AX, Z23
	MOVL $0x42b1999a, AX // 88.8
	VPBROADCASTD AX, Z24
	MOVL $0x80000000, AX
	VPBROADCASTD AX, Z25

	MOVL $0xffff, AX
	KMOVW AX, K1

swloop:
	TESTQ CX, CX
	JLE  swdone
	CMPQ CX, $16
	JGE  swbody
	TAIL_MASK

swbody:
	VMOVUPS.Z (SI), K1, Z0
	VMULPS    Z20, Z0, Z0 // y = x·s + t, two roundings
	VADDPS    Z21, Z0, Z0

	// u = clamp(−y); e = exp(u)
	VPXORD Z25, Z0, Z6
	VMAXPS Z6, Z23, Z6
	VMINPS Z6, Z24, Z6
	EXP_Z6

	// y / (1 + e)
	VADDPS  Z22, Z7, Z7
	VDIVPS  Z7, Z0, Z0
	VMOVUPS Z0, K1, (DI)

	ADDQ $64, DI
	ADDQ $64, SI
	SUBQ $16, CX
	JMP  swloop

swdone:
	VZEROUPPER
	RET
