//go:build amd64 && !purego

#include "textflag.h"

// Eight float64 lanes per iteration below; the tail runs the same body
// under K1 = (1 << remaining) − 1.

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
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1

sbody:
	VMOVUPS.Z (SI), K1, Y0
	VCVTPS2PD Y0, Z0
	VADDPD    Z0, Z1, Z1
	ADDQ $32, SI
	SUBQ $8, CX
	JMP  sloop

sdone:
	VEXTRACTF64X4 $1, Z1, Y2
	VADDPD        Y2, Y1, Y1
	VEXTRACTF128  $1, Y1, X2
	VADDPD        X2, X1, X1
	VPERMILPD     $1, X1, X2
	VADDSD        X2, X1, X1
	VMOVSD        X1, ret+16(FP)
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
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K1

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
	VEXTRACTF64X4 $1, Z1, Y2
	VADDPD        Y2, Y1, Y1
	VEXTRACTF128  $1, Y1, X2
	VADDPD        X2, X1, X1
	VPERMILPD     $1, X1, X2
	VADDSD        X2, X1, X1
	VMOVSD        X1, ret+24(FP)
	VZEROUPPER
	RET
