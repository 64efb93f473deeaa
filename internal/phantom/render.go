package phantom

import (
	"math"
	"sync"

	"github.com/lungctl/lungctl/internal/volume"
)

// vec is a world point or direction in LPS mm.
type vec = volume.Vec3

func add(a, b vec) vec           { return vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func sub(a, b vec) vec           { return vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func scale(a vec, s float64) vec { return vec{a[0] * s, a[1] * s, a[2] * s} }
func dot(a, b vec) float64       { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a vec) float64         { return math.Sqrt(dot(a, a)) }
func unit(a vec) vec             { return scale(a, 1/norm(a)) }
func cross(a, b vec) vec {
	return vec{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// shape is a solid described by an approximate signed distance in mm
// (negative inside); the renderer corrects it by the numerical gradient near
// the surface, so the function only needs to be smooth, not exact.
type shape interface {
	// box returns an axis-aligned world box (mm) that contains the solid.
	box() (lo, hi vec)
	// sdf returns the approximate signed distance of world point p.
	sdf(x, y, z float64) float64
}

// Lung-mask effects of a layer.
const (
	lungNone  = iota // leaves the lung coverage alone (vessels)
	lungSet          // the solid is lung parenchyma
	lungErase        // the solid is not lung (airways, bone)
	lungMax          // the solid is part of the lung mask (nodules)
)

// layer paints one solid with a constant HU or an HU function of position.
type layer struct {
	s    shape
	hu   float32
	huFn func(x, y, z float64) float32
	lung int
	// lip bounds how fast sdf changes along x (mm per mm); 0 means 1.5.
	lip float64
	lo  vec
	hi  vec
}

func newLayer(s shape, hu float32, lung int) layer {
	lo, hi := s.box()
	return layer{s: s, hu: hu, lung: lung, lo: lo, hi: hi}
}

// coverage returns the fraction (0..1) of the voxel box centred at (x,y,z)
// with extents sp (mm) that the solid covers, from the signed distance d at
// the centre; band is the distance beyond which the answer is 0 or 1.
func coverage(s shape, x, y, z, d float64, sp vec, band float64) float64 {
	if d <= -band {
		return 1
	}
	const h = 0.1
	fx0, fx1 := s.sdf(x-h, y, z), s.sdf(x+h, y, z)
	fy0, fy1 := s.sdf(x, y-h, z), s.sdf(x, y+h, z)
	fz0, fz1 := s.sdf(x, y, z-h), s.sdf(x, y, z+h)
	gx, gy, gz := (fx1-fx0)/(2*h), (fy1-fy0)/(2*h), (fz1-fz0)/(2*h)
	gn := math.Sqrt(gx*gx + gy*gy + gz*gz)
	if gn < 1e-9 {
		if d < 0 {
			return 1
		}
		return 0
	}
	// Distance along the normal and the voxel's extent along it: a linear
	// ramp over that extent preserves the solid's volume for a plane.
	dist := d / gn
	w := (math.Abs(gx)*sp[0] + math.Abs(gy)*sp[1] + math.Abs(gz)*sp[2]) / gn
	// On a curved surface the ramp overestimates convex solids by
	// (κ1+κ2)·w²/24 per unit area: shift it by that much, κ1+κ2 being the
	// Laplacian of the (normalised) distance field.
	lap := (fx0 + fx1 + fy0 + fy1 + fz0 + fz1 - 6*d) / (h * h) / gn
	shift := lap * w * w / 24
	shift = math.Max(-w/4, math.Min(w/4, shift))
	dist += shift
	c := 0.5 - dist/w
	if c < 0 {
		return 0
	}
	if c > 1 {
		return 1
	}
	return c
}

// voxelBand is the distance (mm) beyond which a voxel with extents sp is
// entirely inside or outside a surface: half the voxel's largest extent
// along any normal (its diagonal), with a 25 % margin for fields whose
// gradient exceeds 1.
func voxelBand(sp vec) float64 { return 0.625 * norm(sp) }

// renderSlice paints the layers onto one z-slice: buf holds HU, lcov the lung
// coverage, both nx*ny, x fastest.
func renderSlice(g volume.Grid, k int, layers []layer, buf, lcov []float32) {
	nx, ny := g.Dims[0], g.Dims[1]
	sp := g.Spacing
	band := voxelBand(sp)
	z := g.Origin[2] + float64(k)*sp[2]
	for li := range layers {
		L := &layers[li]
		if z < L.lo[2]-band || z > L.hi[2]+band {
			continue
		}
		i0 := int(math.Floor((L.lo[0] - band - g.Origin[0]) / sp[0]))
		i1 := int(math.Ceil((L.hi[0] + band - g.Origin[0]) / sp[0]))
		j0 := int(math.Floor((L.lo[1] - band - g.Origin[1]) / sp[1]))
		j1 := int(math.Ceil((L.hi[1] + band - g.Origin[1]) / sp[1]))
		i0, j0 = max(i0, 0), max(j0, 0)
		i1, j1 = min(i1, nx-1), min(j1, ny-1)
		lip := L.lip
		if lip == 0 {
			lip = 1.5
		}
		for j := j0; j <= j1; j++ {
			y := g.Origin[1] + float64(j)*sp[1]
			row := j * nx
			for i := i0; i <= i1; {
				x := g.Origin[0] + float64(i)*sp[0]
				d := L.s.sdf(x, y, z)
				if d >= band {
					// sphere tracing: the field changes by at most lip per mm
					i += 1 + int((d-band)/(lip*sp[0]))
					continue
				}
				n := 1
				c := float32(1)
				if d <= -band {
					n = 1 + int((-d-band)/(lip*sp[0]))
				} else {
					c = float32(coverage(L.s, x, y, z, d, sp, band))
				}
				for e := min(i+n, i1+1); i < e; i++ {
					if c <= 0 {
						continue
					}
					hu := L.hu
					if L.huFn != nil {
						hu = L.huFn(g.Origin[0]+float64(i)*sp[0], y, z)
					}
					o := row + i
					buf[o] += c * (hu - buf[o])
					switch L.lung {
					case lungSet:
						lcov[o] += c * (1 - lcov[o])
					case lungErase:
						lcov[o] -= c * lcov[o]
					case lungMax:
						lcov[o] = max(lcov[o], c)
					}
				}
			}
		}
	}
}

// renderVolume renders every slice in parallel: background, layers, noise
// (σ = noise HU, stream per slice so the result does not depend on the
// number of workers), rounding and clamping to [−1024, 3071] HU. With circle
// set, voxels outside the scanner's field-of-view circle become −1000 HU and
// leave the lung mask. lung may be nil. workers goroutines share the slices.
func renderVolume(hu *volume.Volume[int16], lung *volume.Volume[uint8], background float32, layers []layer, noise float64, seed int64, circle bool, workers int) {
	g := hu.Grid
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	n := nx * ny
	workers = max(1, min(workers, nz))
	var wg sync.WaitGroup
	next := make(chan int, nz)
	for k := 0; k < nz; k++ {
		next <- k
	}
	close(next)
	cx, cy := float64(nx-1)/2, float64(ny-1)/2
	r2 := float64(nx) * float64(nx) / 4
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, n)
			lcov := make([]float32, n)
			for k := range next {
				for i := range buf {
					buf[i] = background
					lcov[i] = 0
				}
				renderSlice(g, k, layers, buf, lcov)
				rng := newRand(seed, 1<<32+uint64(k))
				out := hu.Data[k*n : (k+1)*n]
				var mout []uint8
				if lung != nil {
					mout = lung.Data[k*n : (k+1)*n]
				}
				for j := 0; j < ny; j++ {
					dy := float64(j) - cy
					for i := 0; i < nx; i++ {
						o := j*nx + i
						if circle {
							dx := float64(i) - cx
							if dx*dx+dy*dy > r2 {
								out[o] = -1000
								if mout != nil {
									mout[o] = 0
								}
								continue
							}
						}
						v := float64(buf[o])
						if noise > 0 {
							v += noise * rng.NormFloat64()
						}
						v = math.Round(v)
						if v < -1024 {
							v = -1024
						} else if v > 3071 {
							v = 3071
						}
						out[o] = int16(v)
						if mout != nil {
							if lcov[o] >= 0.5 {
								mout[o] = 1
							} else {
								mout[o] = 0
							}
						}
					}
				}
			}
		}()
	}
	wg.Wait()
}

// InScanCircle reports whether pixel (i, j) of an nx×ny slice lies inside the
// scanner's circular field of view (diameter nx pixels, centred on the
// image), where Generate renders anatomy; outside it the scan holds padding.
func InScanCircle(i, j, nx, ny int) bool {
	dx, dy := float64(i)-float64(nx-1)/2, float64(j)-float64(ny-1)/2
	return dx*dx+dy*dy <= float64(nx)*float64(nx)/4
}
