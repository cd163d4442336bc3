//go:build amd64 && !purego

#include "textflag.h"

// Lane masks: full iterations use K1 = all lanes; the tail runs the same
// body under K1 = (1 << remaining) − 1, so masked loads and stores touch no
// memory outside [0, n).

// func affineSwishAVX512(dst, src *float32, n int, s, t float32)
//
// Constants:
//   Z11 log2(e)   Z12 ln2 hi   Z13 ln2 lo   Z14..Z19 exp polynomial
//   Z20 s   Z21 t   Z22 1   Z23 −87.3   Z24 88.8   Z25 sign bit
TEXT ·affineSwishAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS s+24(FP), Z20
	VBROADCASTSS t+28(FP), Z21

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
	MOVL $0x3f000000, AX // 0.5
	VPBROADCASTD AX, Z19
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
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1

swbody:
	VMOVUPS.Z (SI), K1, Z0
	VMULPS    Z20, Z0, Z0 // y = x·s + t, two roundings
	VADDPS    Z21, Z0, Z0

	// u = clamp(−y); e = exp(u)
	VPXORD Z25, Z0, Z6
	VMAXPS Z6, Z23, Z6
	VMINPS Z6, Z24, Z6
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
