#include "textflag.h"

// Constants of Accum5, each broadcast to 8 float32 lanes (32 bytes) at
// the offsets named: exp(t) = 2^k · 2^(j/8) · e^f with n = 8k + j =
// round(t·8·log2 e), f = t − n·(ln 2)/8 (ln 2 split into an exactly
// representable high part and a low correction, so |f| ≤ ln2/16), 2^(j/8)
// from an 8-entry table (VPERMPS), and e^f by its degree-3 Taylor
// polynomial (truncation error < 1.5e-7 relative; with rounding < 3e-7).
// s is clamped to 170, so k ≥ −123 and 2^k is built in the exponent field.
// 0 −1/2, 32 8·log2 e, 64 ln2/8 high, 96 ln2/8 low, 128 1/6, 160 1/2,
// 192 1, 224 1, 256 exponent bias 127, 288 clamp 170, 320 table 2^(j/8)
// j = 0…7, 352 tail masks (8 × all ones, 8 × zero).
DATA msconst<>+0(SB)/4, $0xbf000000
DATA msconst<>+4(SB)/4, $0xbf000000
DATA msconst<>+8(SB)/4, $0xbf000000
DATA msconst<>+12(SB)/4, $0xbf000000
DATA msconst<>+16(SB)/4, $0xbf000000
DATA msconst<>+20(SB)/4, $0xbf000000
DATA msconst<>+24(SB)/4, $0xbf000000
DATA msconst<>+28(SB)/4, $0xbf000000
DATA msconst<>+32(SB)/4, $0x4138aa3b
DATA msconst<>+36(SB)/4, $0x4138aa3b
DATA msconst<>+40(SB)/4, $0x4138aa3b
DATA msconst<>+44(SB)/4, $0x4138aa3b
DATA msconst<>+48(SB)/4, $0x4138aa3b
DATA msconst<>+52(SB)/4, $0x4138aa3b
DATA msconst<>+56(SB)/4, $0x4138aa3b
DATA msconst<>+60(SB)/4, $0x4138aa3b
DATA msconst<>+64(SB)/4, $0x3db18000
DATA msconst<>+68(SB)/4, $0x3db18000
DATA msconst<>+72(SB)/4, $0x3db18000
DATA msconst<>+76(SB)/4, $0x3db18000
DATA msconst<>+80(SB)/4, $0x3db18000
DATA msconst<>+84(SB)/4, $0x3db18000
DATA msconst<>+88(SB)/4, $0x3db18000
DATA msconst<>+92(SB)/4, $0x3db18000
DATA msconst<>+96(SB)/4, $0xb7de8083
DATA msconst<>+100(SB)/4, $0xb7de8083
DATA msconst<>+104(SB)/4, $0xb7de8083
DATA msconst<>+108(SB)/4, $0xb7de8083
DATA msconst<>+112(SB)/4, $0xb7de8083
DATA msconst<>+116(SB)/4, $0xb7de8083
DATA msconst<>+120(SB)/4, $0xb7de8083
DATA msconst<>+124(SB)/4, $0xb7de8083
DATA msconst<>+128(SB)/4, $0x3e2aaaab
DATA msconst<>+132(SB)/4, $0x3e2aaaab
DATA msconst<>+136(SB)/4, $0x3e2aaaab
DATA msconst<>+140(SB)/4, $0x3e2aaaab
DATA msconst<>+144(SB)/4, $0x3e2aaaab
DATA msconst<>+148(SB)/4, $0x3e2aaaab
DATA msconst<>+152(SB)/4, $0x3e2aaaab
DATA msconst<>+156(SB)/4, $0x3e2aaaab
DATA msconst<>+160(SB)/4, $0x3f000000
DATA msconst<>+164(SB)/4, $0x3f000000
DATA msconst<>+168(SB)/4, $0x3f000000
DATA msconst<>+172(SB)/4, $0x3f000000
DATA msconst<>+176(SB)/4, $0x3f000000
DATA msconst<>+180(SB)/4, $0x3f000000
DATA msconst<>+184(SB)/4, $0x3f000000
DATA msconst<>+188(SB)/4, $0x3f000000
DATA msconst<>+192(SB)/4, $0x3f800000
DATA msconst<>+196(SB)/4, $0x3f800000
DATA msconst<>+200(SB)/4, $0x3f800000
DATA msconst<>+204(SB)/4, $0x3f800000
DATA msconst<>+208(SB)/4, $0x3f800000
DATA msconst<>+212(SB)/4, $0x3f800000
DATA msconst<>+216(SB)/4, $0x3f800000
DATA msconst<>+220(SB)/4, $0x3f800000
DATA msconst<>+224(SB)/4, $0x3f800000
DATA msconst<>+228(SB)/4, $0x3f800000
DATA msconst<>+232(SB)/4, $0x3f800000
DATA msconst<>+236(SB)/4, $0x3f800000
DATA msconst<>+240(SB)/4, $0x3f800000
DATA msconst<>+244(SB)/4, $0x3f800000
DATA msconst<>+248(SB)/4, $0x3f800000
DATA msconst<>+252(SB)/4, $0x3f800000
DATA msconst<>+256(SB)/4, $0x0000007f
DATA msconst<>+260(SB)/4, $0x0000007f
DATA msconst<>+264(SB)/4, $0x0000007f
DATA msconst<>+268(SB)/4, $0x0000007f
DATA msconst<>+272(SB)/4, $0x0000007f
DATA msconst<>+276(SB)/4, $0x0000007f
DATA msconst<>+280(SB)/4, $0x0000007f
DATA msconst<>+284(SB)/4, $0x0000007f
DATA msconst<>+288(SB)/4, $0x432a0000
DATA msconst<>+292(SB)/4, $0x432a0000
DATA msconst<>+296(SB)/4, $0x432a0000
DATA msconst<>+300(SB)/4, $0x432a0000
DATA msconst<>+304(SB)/4, $0x432a0000
DATA msconst<>+308(SB)/4, $0x432a0000
DATA msconst<>+312(SB)/4, $0x432a0000
DATA msconst<>+316(SB)/4, $0x432a0000
DATA msconst<>+320(SB)/4, $0x3f800000
DATA msconst<>+324(SB)/4, $0x3f8b95c2
DATA msconst<>+328(SB)/4, $0x3f9837f0
DATA msconst<>+332(SB)/4, $0x3fa5fed7
DATA msconst<>+336(SB)/4, $0x3fb504f3
DATA msconst<>+340(SB)/4, $0x3fc5672a
DATA msconst<>+344(SB)/4, $0x3fd744fd
DATA msconst<>+348(SB)/4, $0x3feac0c7
DATA msconst<>+352(SB)/4, $0xffffffff
DATA msconst<>+356(SB)/4, $0xffffffff
DATA msconst<>+360(SB)/4, $0xffffffff
DATA msconst<>+364(SB)/4, $0xffffffff
DATA msconst<>+368(SB)/4, $0xffffffff
DATA msconst<>+372(SB)/4, $0xffffffff
DATA msconst<>+376(SB)/4, $0xffffffff
DATA msconst<>+380(SB)/4, $0xffffffff
DATA msconst<>+384(SB)/4, $0x00000000
DATA msconst<>+388(SB)/4, $0x00000000
DATA msconst<>+392(SB)/4, $0x00000000
DATA msconst<>+396(SB)/4, $0x00000000
DATA msconst<>+400(SB)/4, $0x00000000
DATA msconst<>+404(SB)/4, $0x00000000
DATA msconst<>+408(SB)/4, $0x00000000
DATA msconst<>+412(SB)/4, $0x00000000
GLOBL msconst<>(SB), RODATA|NOPTR, $416

// HSUM stores the sum of the 8 lanes of y (x: its low half) at off(SI).
#define HSUM(y, x, off) VEXTRACTF128 $1, y, X6; VADDPS X6, x, x; VHADDPS x, x, x; VHADDPS x, x, x; VMOVSS x, off(SI)

// func Accum5(x0, x1, x2, x3, x4, w *float32, runs *int32, nruns int, yb *[48]float32, out *[6]float32)
//
// For the points i of the nruns runs [runs[2j], runs[2j+1]) of the arrays
// x0…x4 (weights w[i]; w == nil: weight 1) with s = Σ_a (x_a[i] − y_a)² < r²
// it computes k = w[i]·exp(−s/2) and sets out = {Σ k, Σ k·(x0−y0), …,
// Σ k·(x4−y4)} (float32 sums). yb holds y0…y4 and r², each broadcast to 8
// lanes. The last block of 8 of a run may read up to 7 values past its end
// (the caller guarantees that they are addressable); those lanes are masked
// out.
//
// Registers: Y0 Σk, Y1–Y5 Σk·d_a, Y6–Y10 d_a, Y11 s, Y12–Y13 masks, Y13–Y14
// exp temporaries, Y15 r²; R8–R12 x_a, R13 w, SI runs, DX runs left,
// BX index, CX run end, DI yb, R14 constants.
TEXT ·Accum5(SB), NOSPLIT, $0-80
	MOVQ x0+0(FP), R8
	MOVQ x1+8(FP), R9
	MOVQ x2+16(FP), R10
	MOVQ x3+24(FP), R11
	MOVQ x4+32(FP), R12
	MOVQ w+40(FP), R13
	MOVQ runs+48(FP), SI
	MOVQ nruns+56(FP), DX
	MOVQ yb+64(FP), DI
	LEAQ msconst<>(SB), R14
	VMOVUPS 160(DI), Y15
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y2, Y2, Y2
	VXORPS  Y3, Y3, Y3
	VXORPS  Y4, Y4, Y4
	VXORPS  Y5, Y5, Y5

runloop:
	TESTQ   DX, DX
	JE      done
	MOVLQSX 0(SI), BX
	MOVLQSX 4(SI), CX
	ADDQ    $8, SI
	DECQ    DX

loop:
	// One block of 8 points; the lanes past the run's end (only in its
	// last block) are masked with the tail-mask table: AX = min(e − i, 8)
	// valid lanes, whose mask is at 352 + 4·(8 − AX).
	MOVQ CX, AX
	SUBQ BX, AX
	TESTQ AX, AX
	JLE  runloop
	CMPQ AX, $8
	JLE  masked
	MOVQ $8, AX

masked:
	NEGQ AX
	ADDQ $8, AX
	SHLQ $2, AX
	ADDQ R14, AX

	// Spatial part of the distance; skip the block when no lane is inside.
	VMOVUPS     (R8)(BX*4), Y6
	VSUBPS      0(DI), Y6, Y6
	VMOVUPS     (R9)(BX*4), Y7
	VSUBPS      32(DI), Y7, Y7
	VMOVUPS     (R10)(BX*4), Y8
	VSUBPS      64(DI), Y8, Y8
	VMULPS      Y6, Y6, Y11
	VFMADD231PS Y7, Y7, Y11
	VFMADD231PS Y8, Y8, Y11
	VCMPPS      $1, Y15, Y11, Y12
	VANDPS      352(AX), Y12, Y12
	VMOVMSKPS   Y12, AX
	TESTL       AX, AX
	JE          next

	// Full 5-D distance (s5 ≥ s, so the spatial mask only adds the tail).
	VMOVUPS     (R11)(BX*4), Y9
	VSUBPS      96(DI), Y9, Y9
	VMOVUPS     (R12)(BX*4), Y10
	VSUBPS      128(DI), Y10, Y10
	VFMADD231PS Y9, Y9, Y11
	VFMADD231PS Y10, Y10, Y11
	VCMPPS      $1, Y15, Y11, Y13
	VANDPS      Y13, Y12, Y12
	VMOVMSKPS   Y12, AX
	TESTL       AX, AX
	JE          next

	// k = exp(−s/2) on s clamped to min(r², 170).
	VMINPS       Y15, Y11, Y13
	VMINPS       288(R14), Y13, Y13
	VMULPS       0(R14), Y13, Y13
	VMULPS       32(R14), Y13, Y14
	VCVTPS2DQ    Y14, Y14
	VCVTDQ2PS    Y14, Y11
	VFNMADD231PS 64(R14), Y11, Y13
	VFNMADD231PS 96(R14), Y11, Y13
	VMOVUPS      128(R14), Y11
	VFMADD213PS  160(R14), Y13, Y11
	VFMADD213PS  192(R14), Y13, Y11
	VFMADD213PS  224(R14), Y13, Y11
	VPERMPS      320(R14), Y14, Y13
	VMULPS       Y13, Y11, Y11
	VPSRAD       $3, Y14, Y14
	VPADDD       256(R14), Y14, Y14
	VPSLLD       $23, Y14, Y14
	VMULPS       Y14, Y11, Y11
	VANDPS       Y12, Y11, Y11
	TESTQ        R13, R13
	JE           acc
	VMULPS       (R13)(BX*4), Y11, Y11

acc:
	VADDPS      Y11, Y0, Y0
	VFMADD231PS Y6, Y11, Y1
	VFMADD231PS Y7, Y11, Y2
	VFMADD231PS Y8, Y11, Y3
	VFMADD231PS Y9, Y11, Y4
	VFMADD231PS Y10, Y11, Y5

next:
	ADDQ $8, BX
	JMP  loop

done:
	MOVQ         out+72(FP), SI
	HSUM(Y0, X0, 0)
	HSUM(Y1, X1, 4)
	HSUM(Y2, X2, 8)
	HSUM(Y3, X3, 12)
	HSUM(Y4, X4, 16)
	HSUM(Y5, X5, 20)
	VZEROUPPER
	RET
