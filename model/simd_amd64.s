//go:build amd64 && !purego

#include "textflag.h"

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
