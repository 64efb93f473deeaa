package risk

import (
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/lungctl/lungctl/internal/volume"
)

func grid(nx, ny, nz int) volume.Grid {
	return volume.Grid{Dims: [3]int{nx, ny, nz}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
}

func TestLAA950(t *testing.T) {
	g := grid(4, 3, 2) // 24 voxels
	hu := volume.New[int16](g)
	lung := volume.New[uint8](g)
	// 20 lung voxels: 3 at −1000, 1 at exactly −950 (counts: ≤), 1 at −949
	// (does not), 15 at −850. Four voxels outside the mask at −1000 (air
	// outside the body) must not count.
	for i := range hu.Data {
		switch {
		case i < 4:
			hu.Data[i], lung.Data[i] = -1000, 0
		case i < 7:
			hu.Data[i], lung.Data[i] = -1000, 1
		case i == 7:
			hu.Data[i], lung.Data[i] = -950, 2 // any non-zero label is lung
		case i == 8:
			hu.Data[i], lung.Data[i] = -949, 1
		default:
			hu.Data[i], lung.Data[i] = -850, 255
		}
	}
	got, err := LAA950(hu, lung)
	if want := 100 * 4.0 / 20; err != nil || math.Abs(got-want) > 1e-12 {
		t.Errorf("LAA950 = %v, %v; want %v", got, err, want)
	}
}

// TestLAA950Memory: LAA950 counts in place. Its parallel chunks cost a few
// small allocations, never a buffer that grows with the volume (here 3 MB
// of HU and mask).
func TestLAA950Memory(t *testing.T) {
	g := grid(128, 128, 64)
	hu := volume.New[int16](g)
	lung := volume.New[uint8](g)
	for i := range lung.Data {
		lung.Data[i] = uint8(i % 2)
		hu.Data[i] = int16(-1000 + i%100)
	}
	_, _ = LAA950(hu, lung)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const calls = 10
	for range calls {
		if _, err := LAA950(hu, lung); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / calls; per > 4096 {
		t.Errorf("LAA950 allocates %d bytes per call on a %d-voxel volume", per, len(hu.Data))
	}
}

func TestLAA950Rejects(t *testing.T) {
	g := grid(2, 2, 2)
	hu := volume.New[int16](g)
	empty := volume.New[uint8](g)
	if _, err := LAA950(hu, empty); !errors.Is(err, ErrMask) {
		t.Errorf("empty mask: %v", err)
	}
	other := volume.New[uint8](grid(2, 2, 3))
	if _, err := LAA950(hu, other); !errors.Is(err, ErrMask) {
		t.Errorf("dims differ: %v", err)
	}
	short := &volume.Volume[uint8]{Grid: g, Data: make([]uint8, 7)}
	if _, err := LAA950(hu, short); !errors.Is(err, ErrMask) {
		t.Errorf("short mask: %v", err)
	}
	if _, err := LAA950(nil, empty); !errors.Is(err, ErrMask) {
		t.Errorf("nil: %v", err)
	}
	bad := &volume.Volume[int16]{Grid: g, Data: make([]int16, 9)}
	badMask := &volume.Volume[uint8]{Grid: g, Data: make([]uint8, 9)}
	if _, err := LAA950(bad, badMask); !errors.Is(err, ErrMask) {
		t.Errorf("data longer than dims: %v", err)
	}
}

func TestEmphysemaPresent(t *testing.T) {
	for _, c := range []struct {
		pct  float64
		want bool
	}{{0, false}, {4.99, false}, {5, true}, {12.5, true}, {100, true}} {
		if got, err := EmphysemaPresent(c.pct); err != nil || got != c.want {
			t.Errorf("EmphysemaPresent(%v) = %v, %v; want %v", c.pct, got, err, c.want)
		}
	}
	for _, bad := range []float64{-0.1, 100.1, math.NaN(), math.Inf(1)} {
		if _, err := EmphysemaPresent(bad); !errors.Is(err, ErrClinical) {
			t.Errorf("EmphysemaPresent(%v): %v", bad, err)
		}
	}
}
