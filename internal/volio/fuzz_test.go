package volio

import (
	"bytes"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/membudget"
	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/lungctl/lungctl/internal/volume"

	"github.com/lungctl/lungctl/internal/testfs"
)

// FuzzReadNIfTI feeds arbitrary bytes (plain or gzip NIfTI) to the decoder:
// it must never panic, never allocate more than the input can hold, and
// whatever it accepts must be a valid grid with exactly Grid.Len() voxels.
func FuzzReadNIfTI(f *testing.F) {
	g := obliqueGrid([3]int{3, 2, 2})
	vals := make([]float64, g.Len())
	for i := range vals {
		vals[i] = float64(i*11 - 40)
	}
	for _, dt := range []int16{dtInt16, dtUint8, dtFloat32, dtFloat64} {
		for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			f.Add(buildNIfTI(g, dt, vals, o, 0, 0))
		}
	}
	sc := buildNIfTI(g, dtUint16, vals, binary.LittleEndian, 2, -1024)
	f.Add(sc)
	f.Add(gzipStd(f, sc))
	noS := bytes.Clone(sc)
	binary.LittleEndian.PutUint16(noS[254:], 0) // qform only
	f.Add(noS)
	// A gzip bomb's header: dims claiming 1 GB of voxels.
	big := bytes.Clone(sc)
	binary.LittleEndian.PutUint16(big[42:], 1024)
	binary.LittleEndian.PutUint16(big[44:], 1024)
	binary.LittleEndian.PutUint16(big[46:], 512)
	f.Add(gzipStd(f, big))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Whatever the header claims, nothing over the budget is
		// allocated: set a small one and check every allocation against it.
		old := membudget.Limit()
		membudget.Set(64 << 20)
		defer membudget.Set(old)
		for _, kind := range []int{0, 1} {
			var n, want int
			var err error
			if kind == 0 {
				var v *volume.Volume[int16]
				_, err = decodeNIfTI(bytes.NewReader(b), int64(len(b)), func(gg volume.Grid) []int16 {
					if 2*gg.Len() > 64<<20 {
						t.Fatalf("allocating %v voxels over the budget", gg.Dims)
					}
					v = volume.New[int16](gg)
					return v.Data
				})
				if err == nil {
					n, want = len(v.Data), v.Len()
					if e := v.Check(); e != nil {
						t.Fatalf("accepted invalid grid: %v", e)
					}
				}
			} else {
				var v *volume.Volume[float32]
				_, err = decodeNIfTI(bytes.NewReader(b), int64(len(b)), func(gg volume.Grid) []float32 {
					if 4*gg.Len() > 64<<20 {
						t.Fatalf("allocating %v voxels over the budget", gg.Dims)
					}
					v = volume.New[float32](gg)
					return v.Data
				})
				if err == nil {
					n, want = len(v.Data), v.Len()
				}
			}
			if err == nil && n != want {
				t.Fatalf("%d voxels for grid of %d", n, want)
			}
		}
	})
}

// FuzzParseMHDHeader: arbitrary header text must not panic, and an accepted
// header has a valid grid.
func FuzzParseMHDHeader(f *testing.F) {
	f.Add([]byte("ObjectType = Image\nNDims = 3\nDimSize = 4 3 2\nElementSpacing = 1 1 1\nTransformMatrix = 1 0 0 0 1 0 0 0 1\nOffset = 1 2 3\nElementType = MET_SHORT\nElementDataFile = d.raw\n"))
	f.Add([]byte("NDims = 3\nDimSize = 1 1 1\nCompressedData = True\nElementType = MET_FLOAT\nElementDataFile = LOCAL\n\x00\x00\x00\x00"))
	f.Add([]byte("NDims = 3\nDimSize = 1 1 1\nElementType = MET_UCHAR\nElementDataFile = ../../etc/passwd\n"))
	f.Add([]byte("NDims = 3\nDimSize = 1 1 1\nElementType = MET_UCHAR\nElementDataFile = /etc/passwd\n"))
	root := f.TempDir()
	hdr := filepath.Join(root, "sub", "x.mhd")
	testfs.MkdirAll(f, filepath.Dir(hdr))
	testfs.WriteFile(f, filepath.Join(root, "outside.raw"), []byte{1})
	testfs.WriteFile(f, filepath.Join(root, "sub", "d.raw"), []byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseMHDHeader(bytes.NewReader(b))
		if err == nil {
			if e := h.grid.Validate(); e != nil {
				t.Fatalf("accepted invalid grid: %v", e)
			}
			if h.grid.Len() > maxVoxels || dtSize(h.datatype) == 0 {
				t.Fatalf("accepted %v type %d", h.grid.Dims, h.datatype)
			}
			// Whatever ElementDataFile says, only files beside the header
			// open.
			if !strings.EqualFold(h.dataFile, "LOCAL") {
				if df, err := safefile.OpenBeside(hdr, h.dataFile); err == nil {
					name := df.Name()
					testfs.Must(t, df.Close())
					if rel, err := filepath.Rel(filepath.Dir(hdr), filepath.Join(filepath.Dir(hdr), name)); err != nil || strings.HasPrefix(rel, "..") {
						t.Fatalf("ElementDataFile %q opened %s outside the header's folder", h.dataFile, name)
					}
				}
			}
		}
	})
}
