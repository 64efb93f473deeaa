// Package nn holds the float32 3-D operations of lungctl's CNN: im2col /
// col2im for 3-D convolution with any kernel, stride and zero padding, 2×2×2
// style max pooling with argmax gradients, a small GEMM wrapper, and the
// network built from them (see Net). Tensors are plain []float32 in C order:
// a single sample's activations are [C, D, H, W] with W fastest, exactly
// PyTorch's NCDHW layout without the batch axis, so weights exported from
// PyTorch (conv [out, in, kd, kh, kw], linear [out, in]) are used unchanged.
package nn

import (
	"sync"

	"gonum.org/v1/gonum/blas"
	gblas "gonum.org/v1/gonum/blas/gonum"
)

// Shape3 is the spatial size (D, H, W) of a 3-D activation, in voxels.
type Shape3 [3]int

// Len is D*H*W.
func (s Shape3) Len() int { return s[0] * s[1] * s[2] }

// ConvGeom describes one 3-D convolution: input channels and spatial size,
// a cubic kernel of side K voxels, stride and zero padding in voxels.
type ConvGeom struct {
	Cin    int
	In     Shape3
	K      int
	Stride int
	Pad    int
}

// Out is the spatial output size: (n + 2·Pad − K)/Stride + 1 per axis (floor).
func (g ConvGeom) Out() Shape3 {
	var o Shape3
	for a := 0; a < 3; a++ {
		o[a] = (g.In[a]+2*g.Pad-g.K)/g.Stride + 1
	}
	return o
}

// Rows is the number of im2col rows, Cin·K³ (the GEMM inner dimension).
func (g ConvGeom) Rows() int { return g.Cin * g.K * g.K * g.K }

// Im2Col unfolds x ([Cin, D, H, W]) into col ([Cin·K³, Do·Ho·Wo]); row
// (ci, kd, kh, kw) in that order (PyTorch's weight order), zeros where the
// kernel reaches into the padding.
func Im2Col(g ConvGeom, x, col []float32) {
	o := g.Out()
	if g.Stride == 1 && o[1] == g.In[1] && o[2] == g.In[2] {
		im2colSame(g, x, col)
		return
	}
	P := o.Len()
	D, H, W := g.In[0], g.In[1], g.In[2]
	row := 0
	for ci := 0; ci < g.Cin; ci++ {
		xc := x[ci*D*H*W : (ci+1)*D*H*W]
		for kd := 0; kd < g.K; kd++ {
			for kh := 0; kh < g.K; kh++ {
				for kw := 0; kw < g.K; kw++ {
					dst := col[row*P : (row+1)*P]
					row++
					n := 0
					for od := 0; od < o[0]; od++ {
						id := od*g.Stride - g.Pad + kd
						for oh := 0; oh < o[1]; oh++ {
							ih := oh*g.Stride - g.Pad + kh
							seg := dst[n : n+o[2]]
							n += o[2]
							if id < 0 || id >= D || ih < 0 || ih >= H {
								clear(seg)
								continue
							}
							src := xc[(id*H+ih)*W : (id*H+ih+1)*W]
							if g.Stride == 1 {
								// iw = ow - Pad + kw; valid ow range [lo, hi)
								lo := g.Pad - kw
								hi := W + g.Pad - kw
								if lo < 0 {
									lo = 0
								}
								if hi > o[2] {
									hi = o[2]
								}
								if lo >= hi {
									clear(seg)
									continue
								}
								clear(seg[:lo])
								copy(seg[lo:hi], src[lo-g.Pad+kw:hi-g.Pad+kw])
								clear(seg[hi:])
								continue
							}
							for ow := range seg {
								iw := ow*g.Stride - g.Pad + kw
								if iw < 0 || iw >= W {
									seg[ow] = 0
								} else {
									seg[ow] = src[iw]
								}
							}
						}
					}
				}
			}
		}
	}
}

// im2colSame is Im2Col for stride 1 when each output plane has the input
// plane's size (the "same" padding 2·Pad = K−1 in H and W): for each kernel
// offset and output depth the valid rows form one contiguous block of the
// input plane shifted by kw − Pad, so it is one copy plus zeroing of the
// |kw − Pad| wrapped-around columns of each row.
func im2colSame(g ConvGeom, x, col []float32) {
	o := g.Out()
	P := o.Len()
	D, H, W := g.In[0], g.In[1], g.In[2]
	plane := H * W
	row := 0
	for ci := 0; ci < g.Cin; ci++ {
		xc := x[ci*D*plane : (ci+1)*D*plane]
		for kd := 0; kd < g.K; kd++ {
			for kh := 0; kh < g.K; kh++ {
				oh0 := max(0, g.Pad-kh)
				oh1 := min(H, H+g.Pad-kh)
				for kw := 0; kw < g.K; kw++ {
					dst := col[row*P : (row+1)*P]
					row++
					sh := kw - g.Pad
					for od := 0; od < o[0]; od++ {
						id := od - g.Pad + kd
						dp := dst[od*plane : (od+1)*plane]
						if id < 0 || id >= D || oh0 >= oh1 || sh >= W || -sh >= W {
							clear(dp)
							continue
						}
						clear(dp[:oh0*W])
						clear(dp[oh1*W:])
						blk := dp[oh0*W : oh1*W]
						n := len(blk)
						srcBase := (id*H+oh0-g.Pad+kh)*W + sh
						a, b := max(0, -sh), max(0, sh)
						copy(blk[a:n-b], xc[srcBase+a:srcBase+n-b])
						if sh != 0 {
							for r := 0; r < n; r += W {
								if sh < 0 {
									clear(blk[r : r-sh])
								} else {
									clear(blk[r+W-sh : r+W])
								}
							}
						}
					}
				}
			}
		}
	}
}

// Col2Im is the adjoint of Im2Col: it adds every element of col back onto
// the input position it was copied from, accumulating into dx ([Cin, D, H,
// W]); callers zero dx first. Padding positions are dropped.
func Col2Im(g ConvGeom, col, dx []float32) {
	o := g.Out()
	P := o.Len()
	D, H, W := g.In[0], g.In[1], g.In[2]
	row := 0
	for ci := 0; ci < g.Cin; ci++ {
		xc := dx[ci*D*H*W : (ci+1)*D*H*W]
		for kd := 0; kd < g.K; kd++ {
			for kh := 0; kh < g.K; kh++ {
				for kw := 0; kw < g.K; kw++ {
					src := col[row*P : (row+1)*P]
					row++
					n := 0
					for od := 0; od < o[0]; od++ {
						id := od*g.Stride - g.Pad + kd
						for oh := 0; oh < o[1]; oh++ {
							ih := oh*g.Stride - g.Pad + kh
							seg := src[n : n+o[2]]
							n += o[2]
							if id < 0 || id >= D || ih < 0 || ih >= H {
								continue
							}
							dst := xc[(id*H+ih)*W : (id*H+ih+1)*W]
							if g.Stride == 1 {
								lo := g.Pad - kw
								hi := W + g.Pad - kw
								if lo < 0 {
									lo = 0
								}
								if hi > o[2] {
									hi = o[2]
								}
								if lo >= hi {
									continue
								}
								d := dst[lo-g.Pad+kw : hi-g.Pad+kw]
								s := seg[lo:hi]
								for i := range d {
									d[i] += s[i]
								}
								continue
							}
							for ow, v := range seg {
								iw := ow*g.Stride - g.Pad + kw
								if iw >= 0 && iw < W {
									dst[iw] += v
								}
							}
						}
					}
				}
			}
		}
	}
}

var impl gblas.Implementation

var scratch sync.Pool // *[]float32

func getScratch(n int) *[]float32 {
	if p, ok := scratch.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	s := make([]float32, n)
	return &s
}

// transpose writes the r×c matrix src (row stride lds) as its c×r
// transpose into dst (row stride r), in 32×32 tiles for cache locality.
func transpose(r, c int, src []float32, lds int, dst []float32) {
	const t = 32
	for i0 := 0; i0 < r; i0 += t {
		i1 := min(i0+t, r)
		for j0 := 0; j0 < c; j0 += t {
			j1 := min(j0+t, c)
			for i := i0; i < i1; i++ {
				row := src[i*lds : i*lds+j1]
				for j := j0; j < j1; j++ {
					dst[j*r+i] = row[j]
				}
			}
		}
	}
}

// Gemm computes C = A'·B' + beta·C for row-major float32 matrices, where A'
// is A (m×k) or, when tA, the transpose of A (stored k×m), and likewise B'
// (k×n). Leading dimensions are the stored row lengths.
func Gemm(tA, tB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	if useKernel && (beta == 0 || beta == 1) && k > 0 && m >= 4 && n >= 16 {
		// transposed operands are copied once into pooled scratch so the
		// AVX2 kernel can stream rows; the copy is O(size) against the
		// product's O(m·n·k).
		if tA {
			at := getScratch(m * k)
			transpose(k, m, a, lda, *at)
			a, lda = *at, k
			defer scratch.Put(at)
		}
		if tB {
			bt := getScratch(k * n)
			transpose(n, k, b, ldb, *bt)
			b, ldb = *bt, n
			defer scratch.Put(bt)
		}
		gemmNN(m, n, k, a, lda, b, ldb, beta, c, ldc)
		return
	}
	impl.Sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
}

// gemmNN is C = A·B + beta·C (beta 0 or 1) with the AVX2/FMA 4×16
// micro-kernel on the full 4-row × 16-column tiles and gonum on the edges.
// Column tiles are the outer loop so a K×16 panel of B stays in cache while
// every row tile of A passes over it.
func gemmNN(m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	m4, n16 := m/4*4, n/16*16
	// bounds the kernel relies on (it does no checking itself)
	_ = a[(m4-1)*lda+k-1]
	_ = b[(k-1)*ldb+n16-1]
	_ = c[(m4-1)*ldc+n16-1]
	acc := 0
	if beta == 1 {
		acc = 1
	}
	for j := 0; j < n16; j += 16 {
		for i := 0; i < m4; i += 4 {
			kern4x16(k, &a[i*lda], lda, &b[j], ldb, &c[i*ldc+j], ldc, acc)
		}
	}
	if n16 < n {
		impl.Sgemm(blas.NoTrans, blas.NoTrans, m4, n-n16, k, 1, a, lda, b[n16:], ldb, beta, c[n16:], ldc)
	}
	if m4 < m {
		impl.Sgemm(blas.NoTrans, blas.NoTrans, m-m4, n, k, 1, a[m4*lda:], lda, b, ldb, beta, c[m4*ldc:], ldc)
	}
}

// PoolGeom describes a max pooling with a cubic window of side K voxels and
// stride S over C channels of spatial size In (PyTorch floor mode, no
// padding).
type PoolGeom struct {
	C  int
	In Shape3
	K  int
	S  int
}

// Out is the pooled spatial size, (n − K)/S + 1 per axis.
func (g PoolGeom) Out() Shape3 {
	var o Shape3
	for a := 0; a < 3; a++ {
		o[a] = (g.In[a]-g.K)/g.S + 1
	}
	return o
}

// MaxPool writes y[c, od, oh, ow] = max over the window of x and arg = the
// offset within the channel of the first maximal element (PyTorch's tie
// rule), used by MaxPoolBackward. NaNs are not propagated.
func MaxPool(g PoolGeom, x, y []float32, arg []int32) {
	if g.K == 2 && g.S == 2 {
		maxPool2(g, x, nil, y, arg)
		return
	}
	o := g.Out()
	D, H, W := g.In[0], g.In[1], g.In[2]
	n := 0
	for c := 0; c < g.C; c++ {
		xc := x[c*D*H*W : (c+1)*D*H*W]
		for od := 0; od < o[0]; od++ {
			for oh := 0; oh < o[1]; oh++ {
				for ow := 0; ow < o[2]; ow++ {
					best := int32(-1)
					var bv float32
					for kd := 0; kd < g.K; kd++ {
						for kh := 0; kh < g.K; kh++ {
							base := ((od*g.S+kd)*H+oh*g.S+kh)*W + ow*g.S
							for kw := 0; kw < g.K; kw++ {
								v := xc[base+kw]
								if best < 0 || v > bv {
									best, bv = int32(base+kw), v
								}
							}
						}
					}
					y[n], arg[n] = bv, best
					n++
				}
			}
		}
	}
}

// MaxPoolBiasReLU is MaxPool followed by y = max(y + bias[c], 0): because
// adding a per-channel constant and ReLU are monotone, this equals pooling
// ReLU(x + bias) (the conv block's order) at an eighth of the cost for 2×2×2
// windows. arg still indexes the first maximal element of x.
func MaxPoolBiasReLU(g PoolGeom, x, bias, y []float32, arg []int32) {
	if g.K == 2 && g.S == 2 {
		maxPool2(g, x, bias, y, arg)
		return
	}
	MaxPool(g, x, y, arg)
	o := g.Out().Len()
	for c := 0; c < g.C; c++ {
		for i := c * o; i < (c+1)*o; i++ {
			y[i] = max(y[i]+bias[c], 0)
		}
	}
}

// maxPool2NoArg is maxPool2 without argmax (inference): straight-line
// max operations instead of data-dependent branches.
func maxPool2NoArg(g PoolGeom, x, bias, y []float32) {
	o := g.Out()
	D, H, W := g.In[0], g.In[1], g.In[2]
	n := 0
	for c := 0; c < g.C; c++ {
		xc := x[c*D*H*W : (c+1)*D*H*W]
		b := bias[c]
		for od := 0; od < o[0]; od++ {
			for oh := 0; oh < o[1]; oh++ {
				i00 := ((2*od)*H + 2*oh) * W
				r00 := xc[i00 : i00+2*o[2]]
				r01 := xc[i00+W : i00+W+2*o[2]]
				r10 := xc[i00+H*W : i00+H*W+2*o[2]]
				r11 := xc[i00+H*W+W : i00+H*W+W+2*o[2]]
				yo := y[n : n+o[2]]
				n += o[2]
				for ow := range yo {
					w := 2 * ow
					m := max(max(max(r00[w], r00[w+1]), max(r01[w], r01[w+1])),
						max(max(r10[w], r10[w+1]), max(r11[w], r11[w+1])))
					yo[ow] = max(m+b, 0)
				}
			}
		}
	}
}

// maxPool2 is the 2×2×2, stride 2 pooling, with bias and ReLU when bias is
// non-nil; the comparison order (kd, kh, kw) keeps the first maximum.
func maxPool2(g PoolGeom, x, bias, y []float32, arg []int32) {
	o := g.Out()
	D, H, W := g.In[0], g.In[1], g.In[2]
	n := 0
	for c := 0; c < g.C; c++ {
		xc := x[c*D*H*W : (c+1)*D*H*W]
		var b float32
		if bias != nil {
			b = bias[c]
		}
		for od := 0; od < o[0]; od++ {
			for oh := 0; oh < o[1]; oh++ {
				i00 := ((2*od)*H + 2*oh) * W
				i01 := i00 + W
				i10 := i00 + H*W
				i11 := i10 + W
				r00 := xc[i00 : i00+2*o[2]]
				r01 := xc[i01 : i01+2*o[2]]
				r10 := xc[i10 : i10+2*o[2]]
				r11 := xc[i11 : i11+2*o[2]]
				yo := y[n : n+o[2]]
				ao := arg[n : n+o[2]]
				n += o[2]
				for ow := range yo {
					w := 2 * ow
					bv, bi := r00[w], i00+w
					if v := r00[w+1]; v > bv {
						bv, bi = v, i00+w+1
					}
					if v := r01[w]; v > bv {
						bv, bi = v, i01+w
					}
					if v := r01[w+1]; v > bv {
						bv, bi = v, i01+w+1
					}
					if v := r10[w]; v > bv {
						bv, bi = v, i10+w
					}
					if v := r10[w+1]; v > bv {
						bv, bi = v, i10+w+1
					}
					if v := r11[w]; v > bv {
						bv, bi = v, i11+w
					}
					if v := r11[w+1]; v > bv {
						bv, bi = v, i11+w+1
					}
					if bias != nil {
						bv = max(bv+b, 0)
					}
					yo[ow], ao[ow] = bv, int32(bi)
				}
			}
		}
	}
}

// MaxPoolBackward adds dy[c, …] onto dx[c, arg] (dx zeroed by the caller).
func MaxPoolBackward(g PoolGeom, dy []float32, arg []int32, dx []float32) {
	o := g.Out().Len()
	cs := g.In.Len()
	for c := 0; c < g.C; c++ {
		dxc := dx[c*cs : (c+1)*cs]
		for i, a := range arg[c*o : (c+1)*o] {
			dxc[a] += dy[c*o+i]
		}
	}
}

// MaxPoolBiasReLUNoArg is MaxPoolBiasReLU without the argmax (inference):
// for 2×2×2 windows with stride 2 it is branch-free; other windows fall back
// to MaxPoolBiasReLU with a scratch argmax.
func MaxPoolBiasReLUNoArg(g PoolGeom, x, bias, y []float32) {
	if g.K == 2 && g.S == 2 {
		maxPool2NoArg(g, x, bias, y)
		return
	}
	MaxPoolBiasReLU(g, x, bias, y, make([]int32, len(y)))
}
