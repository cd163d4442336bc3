//go:build amd64 && !purego

#include "textflag.h"

// Micro-kernels. All compute C[mr×nr] += alpha · Σ_p A[:,p] ⊗ B[p,:] for
// p < kc, with
//   A row r at step p:  a + r·rs + p·ks   (bytes; packed or unpacked A)
//   B row p:            b + p·bs          (bytes; nr contiguous floats)
//   C row r:            c + r·ldc         (bytes; nr contiguous floats)
// The Go wrappers guarantee every address touched is inside a slice.

// ---------------------------------------------------------------- AVX-512

#define ZB2(src, t, acc0, acc1) \
	VBROADCASTSS src, t; \
	VFMADD231PS t, Z0, acc0; \
	VFMADD231PS t, Z1, acc1

#define ZST2(acc0, acc1) \
	VMOVUPS (DX), Z0; \
	VMOVUPS 64(DX), Z1; \
	VFMADD231PS acc0, Z2, Z0; \
	VFMADD231PS acc1, Z2, Z1; \
	VMOVUPS Z0, (DX); \
	VMOVUPS Z1, 64(DX); \
	ADDQ R8, DX

// Prefetch the 12 rows × 128 B of the C tile at DX (row stride AX; DX is
// left at the last row) while the k loop runs: C is often out of L1/L2
// (an ldc of 4 KB aliases its rows to one L1 set).
#define PREFC1 \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX); \
	ADDQ AX, DX

#define PREFC12 \
	PREFC1; PREFC1; PREFC1; PREFC1; PREFC1; PREFC1; \
	PREFC1; PREFC1; PREFC1; PREFC1; PREFC1; \
	PREFETCHT0 (DX); \
	PREFETCHT0 64(DX)

// The 24 accumulators of the 12×32 block.
#define ZERO24 \
	VPXORD Z8, Z8, Z8; \
	VPXORD Z9, Z9, Z9; \
	VPXORD Z10, Z10, Z10; \
	VPXORD Z11, Z11, Z11; \
	VPXORD Z12, Z12, Z12; \
	VPXORD Z13, Z13, Z13; \
	VPXORD Z14, Z14, Z14; \
	VPXORD Z15, Z15, Z15; \
	VPXORD Z16, Z16, Z16; \
	VPXORD Z17, Z17, Z17; \
	VPXORD Z18, Z18, Z18; \
	VPXORD Z19, Z19, Z19; \
	VPXORD Z20, Z20, Z20; \
	VPXORD Z21, Z21, Z21; \
	VPXORD Z22, Z22, Z22; \
	VPXORD Z23, Z23, Z23; \
	VPXORD Z24, Z24, Z24; \
	VPXORD Z25, Z25, Z25; \
	VPXORD Z26, Z26, Z26; \
	VPXORD Z27, Z27, Z27; \
	VPXORD Z28, Z28, Z28; \
	VPXORD Z29, Z29, Z29; \
	VPXORD Z30, Z30, Z30; \
	VPXORD Z31, Z31, Z31

// C[12×32] += alpha · accumulators (c, ldc and alpha from the frame).
#define STORE12 \
	MOVQ         c+48(FP), DX; \
	MOVQ         ldc+56(FP), R8; \
	VBROADCASTSS alpha+64(FP), Z2; \
	ZST2(Z8, Z9); \
	ZST2(Z10, Z11); \
	ZST2(Z12, Z13); \
	ZST2(Z14, Z15); \
	ZST2(Z16, Z17); \
	ZST2(Z18, Z19); \
	ZST2(Z20, Z21); \
	ZST2(Z22, Z23); \
	ZST2(Z24, Z25); \
	ZST2(Z26, Z27); \
	ZST2(Z28, Z29); \
	ZST2(Z30, Z31)

// func kern12x32(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)
TEXT ·kern12x32(SB), NOSPLIT, $0-68
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), R10
	MOVQ rs+16(FP), R8
	MOVQ ks+24(FP), R9
	MOVQ b+32(FP), DI
	MOVQ bs+40(FP), BX
	LEAQ (R10)(R8*2), R11
	ADDQ R8, R11
	LEAQ (R11)(R8*2), R12
	ADDQ R8, R12
	LEAQ (R12)(R8*2), R13
	ADDQ R8, R13

	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), AX
	PREFC12
	ZERO24
	TESTQ CX, CX
	JZ    z12store

z12loop:
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	ZB2((R10), Z2, Z8, Z9)
	ZB2((R10)(R8*1), Z3, Z10, Z11)
	ZB2((R10)(R8*2), Z4, Z12, Z13)
	ZB2((R11), Z5, Z14, Z15)
	ZB2((R11)(R8*1), Z6, Z16, Z17)
	ZB2((R11)(R8*2), Z7, Z18, Z19)
	ZB2((R12), Z2, Z20, Z21)
	ZB2((R12)(R8*1), Z3, Z22, Z23)
	ZB2((R12)(R8*2), Z4, Z24, Z25)
	ZB2((R13), Z5, Z26, Z27)
	ZB2((R13)(R8*1), Z6, Z28, Z29)
	ZB2((R13)(R8*2), Z7, Z30, Z31)
	ADDQ R9, R10
	ADDQ R9, R11
	ADDQ R9, R12
	ADDQ R9, R13
	ADDQ BX, DI
	DECQ CX
	JNZ  z12loop

z12store:
	STORE12
	VZEROUPPER
	RET

// kern4x32 prefetches B 2^PFSHIFT k steps ahead (2 KB for packed panels);
// this measured 10–20 % faster than relying on the hardware prefetcher
// when streaming out-of-cache weights. Prefetches past the end are hints
// and never fault.
#define PFSHIFT 4

// func kern4x32(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)
// The small-M (decode) kernel: B streams once, two k steps per iteration
// into two accumulator sets.
TEXT ·kern4x32(SB), NOSPLIT, $0-68
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), R10
	MOVQ rs+16(FP), R8
	MOVQ ks+24(FP), R9
	MOVQ b+32(FP), DI
	MOVQ bs+40(FP), BX
	LEAQ (R10)(R8*2), R11
	ADDQ R8, R11
	MOVQ BX, R12
	SHLQ $PFSHIFT, R12
	ADDQ DI, R12
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	MOVQ   CX, AX
	SHRQ   $1, AX
	JZ     z4tail

z4loop:
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	ADDQ BX, R12
	PREFETCHT0 (R12)
	PREFETCHT0 64(R12)
	ADDQ BX, R12
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	ZB2((R10), Z2, Z8, Z9)
	ZB2((R10)(R8*1), Z3, Z10, Z11)
	ZB2((R10)(R8*2), Z4, Z12, Z13)
	ZB2((R11), Z5, Z14, Z15)
	ADDQ    R9, R10
	ADDQ    R9, R11
	ADDQ    BX, DI
	VMOVUPS (DI), Z24
	VMOVUPS 64(DI), Z25
	VBROADCASTSS (R10), Z2
	VFMADD231PS  Z2, Z24, Z16
	VFMADD231PS  Z2, Z25, Z17
	VBROADCASTSS (R10)(R8*1), Z3
	VFMADD231PS  Z3, Z24, Z18
	VFMADD231PS  Z3, Z25, Z19
	VBROADCASTSS (R10)(R8*2), Z4
	VFMADD231PS  Z4, Z24, Z20
	VFMADD231PS  Z4, Z25, Z21
	VBROADCASTSS (R11), Z5
	VFMADD231PS  Z5, Z24, Z22
	VFMADD231PS  Z5, Z25, Z23
	ADDQ    R9, R10
	ADDQ    R9, R11
	ADDQ    BX, DI
	DECQ    AX
	JNZ     z4loop

z4tail:
	TESTQ $1, CX
	JZ    z4sum
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	ZB2((R10), Z2, Z8, Z9)
	ZB2((R10)(R8*1), Z3, Z10, Z11)
	ZB2((R10)(R8*2), Z4, Z12, Z13)
	ZB2((R11), Z5, Z14, Z15)

z4sum:
	VADDPS Z16, Z8, Z8
	VADDPS Z17, Z9, Z9
	VADDPS Z18, Z10, Z10
	VADDPS Z19, Z11, Z11
	VADDPS Z20, Z12, Z12
	VADDPS Z21, Z13, Z13
	VADDPS Z22, Z14, Z14
	VADDPS Z23, Z15, Z15
	MOVQ         c+48(FP), DX
	MOVQ         ldc+56(FP), R8
	VBROADCASTSS alpha+64(FP), Z2
	ZST2(Z8, Z9)
	ZST2(Z10, Z11)
	ZST2(Z12, Z13)
	ZST2(Z14, Z15)
	VZEROUPPER
	RET

// func fmaLoop512(n int)
// 12 independent VFMADD231PS zmm chains, n iterations: 384·n FLOP.
TEXT ·fmaLoop512(SB), NOSPLIT, $0-8
	MOVQ   n+0(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	TESTQ  CX, CX
	JZ     fma512done

fma512loop:
	VFMADD231PS Z0, Z1, Z8
	VFMADD231PS Z0, Z1, Z9
	VFMADD231PS Z0, Z1, Z10
	VFMADD231PS Z0, Z1, Z11
	VFMADD231PS Z0, Z1, Z12
	VFMADD231PS Z0, Z1, Z13
	VFMADD231PS Z0, Z1, Z14
	VFMADD231PS Z0, Z1, Z15
	VFMADD231PS Z0, Z1, Z16
	VFMADD231PS Z0, Z1, Z17
	VFMADD231PS Z0, Z1, Z18
	VFMADD231PS Z0, Z1, Z19
	DECQ        CX
	JNZ         fma512loop

fma512done:
	VZEROUPPER
	RET

// ---------------------------------------------------------------- AVX2

#define YB2(src, t, acc0, acc1) \
	VBROADCASTSS src, t; \
	VFMADD231PS t, Y0, acc0; \
	VFMADD231PS t, Y1, acc1

#define YST2(acc0, acc1) \
	VMOVUPS (DX), Y0; \
	VMOVUPS 32(DX), Y1; \
	VFMADD231PS acc0, Y2, Y0; \
	VFMADD231PS acc1, Y2, Y1; \
	VMOVUPS Y0, (DX); \
	VMOVUPS Y1, 32(DX); \
	ADDQ R8, DX

// func kern6x16(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)
TEXT ·kern6x16(SB), NOSPLIT, $0-68
	MOVQ   kc+0(FP), CX
	MOVQ   a+8(FP), R10
	MOVQ   rs+16(FP), R8
	MOVQ   ks+24(FP), R9
	MOVQ   b+32(FP), DI
	MOVQ   bs+40(FP), BX
	LEAQ   (R10)(R8*2), R11
	ADDQ   R8, R11

	// Prefetch the C tile (6 rows × 64 B), as in kern12x32.
	MOVQ       c+48(FP), DX
	MOVQ       ldc+56(FP), AX
	PREFETCHT0 (DX)
	PREFETCHT0 63(DX)
	ADDQ       AX, DX
	PREFETCHT0 (DX)
	PREFETCHT0 63(DX)
	ADDQ       AX, DX
	PREFETCHT0 (DX)
	PREFETCHT0 63(DX)
	ADDQ       AX, DX
	PREFETCHT0 (DX)
	PREFETCHT0 63(DX)
	ADDQ       AX, DX
	PREFETCHT0 (DX)
	PREFETCHT0 63(DX)
	ADDQ       AX, DX
	PREFETCHT0 (DX)
	PREFETCHT0 63(DX)
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	TESTQ  CX, CX
	JZ     y6store

y6loop:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	YB2((R10), Y2, Y4, Y5)
	YB2((R10)(R8*1), Y3, Y6, Y7)
	YB2((R10)(R8*2), Y2, Y8, Y9)
	YB2((R11), Y3, Y10, Y11)
	YB2((R11)(R8*1), Y2, Y12, Y13)
	YB2((R11)(R8*2), Y3, Y14, Y15)
	ADDQ R9, R10
	ADDQ R9, R11
	ADDQ BX, DI
	DECQ CX
	JNZ  y6loop

y6store:
	MOVQ         c+48(FP), DX
	MOVQ         ldc+56(FP), R8
	VBROADCASTSS alpha+64(FP), Y2
	YST2(Y4, Y5)
	YST2(Y6, Y7)
	YST2(Y8, Y9)
	YST2(Y10, Y11)
	YST2(Y12, Y13)
	YST2(Y14, Y15)
	VZEROUPPER
	RET

// func fmaLoop256(n int)
// 12 independent VFMADD231PS ymm chains, n iterations: 192·n FLOP.
TEXT ·fmaLoop256(SB), NOSPLIT, $0-8
	MOVQ   n+0(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15
	TESTQ  CX, CX
	JZ     fma256done

fma256loop:
	VFMADD231PS Y0, Y1, Y4
	VFMADD231PS Y0, Y1, Y5
	VFMADD231PS Y0, Y1, Y6
	VFMADD231PS Y0, Y1, Y7
	VFMADD231PS Y0, Y1, Y8
	VFMADD231PS Y0, Y1, Y9
	VFMADD231PS Y0, Y1, Y10
	VFMADD231PS Y0, Y1, Y11
	VFMADD231PS Y0, Y1, Y12
	VFMADD231PS Y0, Y1, Y13
	VFMADD231PS Y0, Y1, Y14
	VFMADD231PS Y0, Y1, Y15
	DECQ        CX
	JNZ         fma256loop

fma256done:
	VZEROUPPER
	RET

// func readSum512(p *float32, n int) float32
// Sum of n floats (n a multiple of 128) with 8 zmm accumulators: the read
// bandwidth probe.
TEXT ·readSum512(SB), NOSPLIT, $0-20
	MOVQ   p+0(FP), SI
	MOVQ   n+8(FP), CX
	SHRQ   $7, CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	TESTQ  CX, CX
	JZ     rsdone

rsloop:
	VADDPS (SI), Z0, Z0
	VADDPS 64(SI), Z1, Z1
	VADDPS 128(SI), Z2, Z2
	VADDPS 192(SI), Z3, Z3
	VADDPS 256(SI), Z4, Z4
	VADDPS 320(SI), Z5, Z5
	VADDPS 384(SI), Z6, Z6
	VADDPS 448(SI), Z7, Z7
	ADDQ   $512, SI
	DECQ   CX
	JNZ    rsloop

rsdone:
	VADDPS        Z1, Z0, Z0
	VADDPS        Z3, Z2, Z2
	VADDPS        Z5, Z4, Z4
	VADDPS        Z7, Z6, Z6
	VADDPS        Z2, Z0, Z0
	VADDPS        Z6, Z4, Z4
	VADDPS        Z4, Z0, Z0
	VEXTRACTF32X8 $1, Z0, Y1
	VADDPS        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPS        X1, X0, X0
	VHADDPS       X0, X0, X0
	VHADDPS       X0, X0, X0
	MOVSS         X0, ret+16(FP)
	VZEROUPPER
	RET

// One k step of the 12×32 block on a packed sliver (12 floats at a(R10))
// and a packed panel (32 floats at b(DI)): a and b are byte offsets.
#define P12STEP(b, b64, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) \
	VMOVUPS b(DI), Z0; \
	VMOVUPS b64(DI), Z1; \
	ZB2(a0(R10), Z2, Z8, Z9); \
	ZB2(a1(R10), Z3, Z10, Z11); \
	ZB2(a2(R10), Z4, Z12, Z13); \
	ZB2(a3(R10), Z5, Z14, Z15); \
	ZB2(a4(R10), Z6, Z16, Z17); \
	ZB2(a5(R10), Z7, Z18, Z19); \
	ZB2(a6(R10), Z2, Z20, Z21); \
	ZB2(a7(R10), Z3, Z22, Z23); \
	ZB2(a8(R10), Z4, Z24, Z25); \
	ZB2(a9(R10), Z5, Z26, Z27); \
	ZB2(a10(R10), Z6, Z28, Z29); \
	ZB2(a11(R10), Z7, Z30, Z31)

// func kern12x32p(kc int, a *float32, rs, ks uintptr, b *float32, bs uintptr, c *float32, ldc uintptr, alpha float32)
//
// kern12x32 for a packed A sliver and a packed B panel: rs = 4, ks = 48 and
// bs = 128 bytes are implied (the arguments are ignored), so the k loop runs
// four steps per iteration with constant offsets and two pointer updates.
TEXT ·kern12x32p(SB), NOSPLIT, $0-68
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), R10
	MOVQ b+32(FP), DI
	MOVQ c+48(FP), DX
	MOVQ ldc+56(FP), AX
	PREFC12
	ZERO24
	MOVQ  CX, AX
	SHRQ  $2, AX
	ANDQ  $3, CX
	TESTQ AX, AX
	JZ    p12tail

p12loop4:
	P12STEP(0, 64, 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44)
	P12STEP(128, 192, 48, 52, 56, 60, 64, 68, 72, 76, 80, 84, 88, 92)
	P12STEP(256, 320, 96, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140)
	P12STEP(384, 448, 144, 148, 152, 156, 160, 164, 168, 172, 176, 180, 184, 188)
	ADDQ $192, R10
	ADDQ $512, DI
	DECQ AX
	JNZ  p12loop4

p12tail:
	TESTQ CX, CX
	JZ    p12store

p12loop1:
	P12STEP(0, 64, 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44)
	ADDQ $48, R10
	ADDQ $128, DI
	DECQ CX
	JNZ  p12loop1

p12store:
	STORE12
	VZEROUPPER
	RET
