package nn

import "github.com/lungctl/lungctl/internal/cpufeat"

//go:noescape
func kern4x16(k int, a *float32, lda int, b *float32, ldb int, c *float32, ldc int, acc int)

// useKernel selects the assembly micro-kernel (AVX2 and FMA3 present).
var useKernel = cpufeat.AVX2FMA
