package edt

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAgainstBruteForce compares with the direct minimum over all features.
func TestAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 20; trial++ {
		nx, ny, nz := 1+r.IntN(9), 1+r.IntN(9), 1+r.IntN(9)
		sp := [3]float64{0.5 + r.Float64(), 0.5 + r.Float64(), 0.5 + 2*r.Float64()}
		n := nx * ny * nz
		f := make([]float32, n)
		var feat [][3]int
		for k := 0; k < nz; k++ {
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					p := i + nx*(j+ny*k)
					if r.Float64() < 0.08 {
						feat = append(feat, [3]int{i, j, k})
					} else {
						f[p] = Inf
					}
				}
			}
		}
		Transform3(f, nx, ny, nz, sp, nil)
		for k := 0; k < nz; k++ {
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					want := math.Inf(1)
					for _, q := range feat {
						dx, dy, dz := float64(i-q[0])*sp[0], float64(j-q[1])*sp[1], float64(k-q[2])*sp[2]
						want = math.Min(want, dx*dx+dy*dy+dz*dz)
					}
					got := float64(f[i+nx*(j+ny*k)])
					if math.IsInf(want, 1) {
						if got < float64(Inf) {
							t.Fatalf("trial %d (%d,%d,%d): no feature but %g", trial, i, j, k, got)
						}
						continue
					}
					if math.Abs(got-want) > 1e-3*(1+want) {
						t.Fatalf("trial %d (%d,%d,%d): %g want %g", trial, i, j, k, got, want)
					}
				}
			}
		}
	}
}

// TestBoxMatchesWholeWithinBox: on a sub-block holding every feature, the
// block's distances equal the whole transform's, and nothing outside moves.
func TestBoxMatchesWholeWithinBox(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	nx, ny, nz := 12, 9, 7
	sp := [3]float64{0.8, 1, 1.7}
	whole := make([]float32, nx*ny*nz)
	for p := range whole {
		whole[p] = Inf
	}
	lo, hi := [3]int{2, 1, 1}, [3]int{9, 7, 5}
	for n := 0; n < 6; n++ {
		i, j, k := lo[0]+r.IntN(hi[0]-lo[0]+1), lo[1]+r.IntN(hi[1]-lo[1]+1), lo[2]+r.IntN(hi[2]-lo[2]+1)
		whole[i+nx*(j+ny*k)] = 0
	}
	box := append([]float32(nil), whole...)
	for p := range box {
		if box[p] != 0 {
			box[p] = 42 // outside the block it must stay as it was
		}
	}
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				if p := i + nx*(j+ny*k); box[p] != 0 {
					box[p] = Inf
				}
			}
		}
	}
	Transform3(whole, nx, ny, nz, sp, nil)
	Transform3Box(box, nx, ny, nz, lo, hi, sp, nil)
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				p := i + nx*(j+ny*k)
				in := i >= lo[0] && i <= hi[0] && j >= lo[1] && j <= hi[1] && k >= lo[2] && k <= hi[2]
				switch {
				case in && math.Abs(float64(box[p]-whole[p])) > 1e-3*(1+float64(whole[p])):
					t.Fatalf("(%d,%d,%d): box %g whole %g", i, j, k, box[p], whole[p])
				case !in && whole[p] != 0 && box[p] != 42:
					t.Fatalf("(%d,%d,%d) outside the block changed to %g", i, j, k, box[p])
				}
			}
		}
	}
}

// TestLineAgainstBruteForce checks the 1-D transform on binary lines (the
// two-sweep path) and on lines of arbitrary finite values (the envelope),
// with Inf gaps, against the direct minimum.
func TestLineAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var ws Workspace
	for trial := 0; trial < 400; trial++ {
		n := 1 + r.IntN(40)
		s := float32(0.3 + 2*r.Float64())
		in := make([]float32, n)
		binary := trial%2 == 0
		for q := range in {
			switch {
			case r.Float64() < 0.7:
				in[q] = Inf
			case binary:
				in[q] = 0
			default:
				in[q] = float32(50 * r.Float64())
			}
		}
		row := append([]float32(nil), in...)
		ws.Line(row, s)
		for q := range row {
			want := float64(Inf)
			for p, v := range in {
				if v < Inf {
					d := float64(q-p) * float64(s)
					want = math.Min(want, d*d+float64(v))
				}
			}
			if math.Abs(float64(row[q])-want) > 1e-4*(1+want) {
				t.Fatalf("trial %d (binary %v) q=%d: %g want %g (in %v)", trial, binary, q, row[q], want, in)
			}
		}
	}
}

// BenchmarkTransform3 times a 96³ transform of sparse features.
func BenchmarkTransform3(b *testing.B) {
	const n = 96
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, n*n*n)
	for p := range src {
		src[p] = Inf
		if r.Float64() < 0.01 {
			src[p] = 0
		}
	}
	f := make([]float32, len(src))
	var ws Workspace
	for b.Loop() {
		copy(f, src)
		Transform3(f, n, n, n, [3]float64{1, 1, 1}, &ws)
	}
}

// TestTransform2MatchesTransform3: the 2-D transform of an image is the
// 3-D one of a single slice (which TestAgainstBruteForce checks).
func TestTransform2MatchesTransform3(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for trial := 0; trial < 20; trial++ {
		w, h := 1+r.IntN(40), 1+r.IntN(40)
		sx, sy := 0.4+r.Float64(), 0.4+r.Float64()
		a := make([]float32, w*h)
		for p := range a {
			a[p] = Inf
			if r.Float64() < 0.05 {
				a[p] = 0
			}
		}
		b := append([]float32(nil), a...)
		Transform2(a, w, h, float32(sx), float32(sy), nil)
		Transform3(b, w, h, 1, [3]float64{sx, sy, 1}, nil)
		for p := range a {
			if a[p] != b[p] {
				t.Fatalf("trial %d pixel %d: %g, Transform3 %g", trial, p, a[p], b[p])
			}
		}
	}
}

// TestWithin3Box compares Within3Box with Transform3Box on random binary
// volumes and sub-blocks: the same squared distance wherever that is at
// most maxMM² (bit for bit on a 1 mm grid), more than maxMM² elsewhere,
// and nothing outside the block changed.
func TestWithin3Box(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var ws Workspace
	for trial := 0; trial < 60; trial++ {
		nx, ny, nz := 1+r.IntN(24), 1+r.IntN(24), 1+r.IntN(16)
		sp := [3]float64{1, 1, 1}
		if trial%2 == 1 {
			sp = [3]float64{0.5 + r.Float64(), 0.5 + r.Float64(), 0.5 + 2*r.Float64()}
		}
		maxMM := 4 * r.Float64()
		n := nx * ny * nz
		in := make([]float32, n)
		density := []float64{0.002, 0.02, 0.2}[trial%3]
		for p := range in {
			in[p] = Inf
			if r.Float64() < density {
				in[p] = 0
			}
		}
		var lo, hi [3]int
		dims := [3]int{nx, ny, nz}
		for a := 0; a < 3; a++ {
			lo[a] = r.IntN(dims[a]) - 2
			hi[a] = lo[a] + r.IntN(dims[a]+3)
		}
		want := append([]float32(nil), in...)
		Transform3Box(want, nx, ny, nz, lo, hi, sp, nil)
		got := append([]float32(nil), in...)
		Within3Box(got, nx, ny, nz, lo, hi, sp, maxMM, &ws)
		m2 := float32(maxMM * maxMM)
		for p := range in {
			i, j, k := p%nx, (p/nx)%ny, p/(nx*ny)
			inBlock := i >= lo[0] && i <= hi[0] && j >= lo[1] && j <= hi[1] && k >= lo[2] && k <= hi[2]
			switch {
			case !inBlock:
				if got[p] != in[p] {
					t.Fatalf("trial %d (%d,%d,%d) outside the block: %g, was %g", trial, i, j, k, got[p], in[p])
				}
			case want[p] <= m2:
				exact := sp == [3]float64{1, 1, 1}
				if exact && got[p] != want[p] || math.Abs(float64(got[p]-want[p])) > 1e-4*(1+float64(want[p])) {
					t.Fatalf("trial %d (%d,%d,%d): %g, Transform3Box %g (max %g mm)", trial, i, j, k, got[p], want[p], maxMM)
				}
			default:
				if !(got[p] > m2) {
					t.Fatalf("trial %d (%d,%d,%d): %g, want above %g (Transform3Box %g)", trial, i, j, k, got[p], m2, want[p])
				}
			}
		}
	}
}

// BenchmarkRing compares the two transforms on a lesion box of 60³ voxels
// (1 mm) whose feature is a vessel tree crossing it, for distances to
// 3 mm (nodule's ground-glass ring).
func BenchmarkRing(b *testing.B) {
	const n = 60
	f := make([]float32, n*n*n)
	in := make([]float32, n*n*n)
	for p := range in {
		i, j, k := p%n, (p/n)%n, p/(n*n)
		in[p] = Inf
		if (i-30)*(i-30)+(j-30)*(j-30) < 4 || (j-20)*(j-20)+(k-25)*(k-25) < 3 || (i-k)*(i-k)+(j-40)*(j-40) < 3 {
			in[p] = 0
		}
	}
	sp := [3]float64{1, 1, 1}
	var ws Workspace
	for _, c := range []struct {
		name string
		run  func()
	}{
		{"Transform3Box", func() { Transform3Box(f, n, n, n, [3]int{}, [3]int{n - 1, n - 1, n - 1}, sp, &ws) }},
		{"Within3Box", func() { Within3Box(f, n, n, n, [3]int{}, [3]int{n - 1, n - 1, n - 1}, sp, 3, &ws) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				copy(f, in)
				c.run()
			}
		})
	}
}
