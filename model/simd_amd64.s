//go:build amd64 && !purego

#include "textflag.h"

// func geluMulAVX512(w, v *float32, n int)
//
// w[i] = GELU(w[i])·v[i], 16 lanes per iteration; the tail is handled by
// the same body under a partial lane mask (masked loads and stores touch no
// memory outside [0, n)). Formula in simd.go.
//
// Constants:
//   Z10 0            Z11 log2(e)      Z12 ln2 hi       Z13 ln2 lo
//   Z14..Z19 exp polynomial (Cephes expf, highest degree first)
//   Z20 1/√2         Z21 p            Z22 1            Z23..Z27 a1..a5
//   Z28 2            Z29 0.5          Z30 −87.3 (exp argument floor)
//   Z31 0x7fffffff (abs mask)
TEXT ·geluMulAVX512(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), DI
	MOVQ v+8(FP), SI
	MOVQ n+16(FP), CX

	VPXORD Z10, Z10, Z10
	MOVL $0x3fb8aa3b, AX // 1.44269504
	VPBROADCASTD AX, Z11
	MOVL $0x3f318000, AX // 0.693359375
	VPBROADCASTD AX, Z12
	MOVL $0xb95e8083, AX // -2.12194440e-4
	VPBROADCASTD AX, Z13
	MOVL $0x39506967, AX // 1.9875691500e-4
	VPBROADCASTD AX, Z14
	MOVL $0x3ab743ce, AX // 1.3981999507e-3
	VPBROADCASTD AX, Z15
	MOVL $0x3c088908, AX // 8.3334519073e-3
	VPBROADCASTD AX, Z16
	MOVL $0x3d2aa9c1, AX // 4.1665795894e-2
	VPBROADCASTD AX, Z17
	MOVL $0x3e2aaaaa, AX // 1.6666665459e-1
	VPBROADCASTD AX, Z18
	MOVL $0x3f000000, AX // 5.0000001201e-1 (rounds to 0.5)
	VPBROADCASTD AX, Z19
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

loop:
	TESTQ CX, CX
	JLE  done
	CMPQ CX, $16
	JGE  body
	// Tail: K1 = (1 << CX) − 1.
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1

body:
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

	// e = exp(s): n = round(s·log2e), r = s − n·ln2, e = (1 + r + r²·P(r))·2ⁿ
	VMULPS       Z11, Z6, Z8
	VRNDSCALEPS  $0, Z8, Z8
	VFNMADD231PS Z12, Z8, Z6
	VFNMADD231PS Z13, Z8, Z6
	VMOVAPS      Z14, Z7
	VFMADD213PS  Z15, Z6, Z7
	VFMADD213PS  Z16, Z6, Z7
	VFMADD213PS  Z17, Z6, Z7
	VFMADD213PS  Z18, Z6, Z7
	VFMADD213PS  Z19, Z6, Z7
	VMULPS       Z6, Z6, Z9
	VFMADD213PS  Z6, Z9, Z7
	VADDPS       Z22, Z7, Z7
	VSCALEFPS    Z8, Z7, Z7

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
	JMP  loop

done:
	VZEROUPPER
	RET

// func normAffineAVX512(y, x, w, b *float32, n int, mean, inv float64)
TEXT ·normAffineAVX512(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ w+16(FP), R8
	MOVQ b+24(FP), R9
	MOVQ n+32(FP), CX
	VBROADCASTSD mean+40(FP), Z3
	VBROADCASTSD inv+48(FP), Z4
	MOVL $0xff, AX
	KMOVW AX, K1

nloop:
	TESTQ CX, CX
	JLE  ndone
	CMPQ CX, $8
	JGE  nbody
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1

nbody:
	VMOVUPS.Z (SI), K1, Y0
	VMOVUPS.Z (R8), K1, Y1
	VMOVUPS.Z (R9), K1, Y2
	VCVTPS2PD Y0, Z0
	VSUBPD    Z3, Z0, Z0 // (x − mean)·inv in float64
	VMULPD    Z4, Z0, Z0
	VCVTPD2PS Z0, Y0     // one rounding to float32
	VMULPS    Y1, Y0, Y0 // ·w, + b: rounded separately
	VADDPS    Y2, Y0, Y0
	VMOVUPS   Y0, K1, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	SUBQ $8, CX
	JMP  nloop

ndone:
	VZEROUPPER
	RET
