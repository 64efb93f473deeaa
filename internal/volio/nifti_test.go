package volio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"

	"github.com/lungctl/lungctl/internal/testfs"
)

// rotation returns the rotation matrix about unit axis u by angle th (rad).
func rotation(u volume.Vec3, th float64) [3][3]float64 {
	n := math.Sqrt(u[0]*u[0] + u[1]*u[1] + u[2]*u[2])
	x, y, z := u[0]/n, u[1]/n, u[2]/n
	c, s := math.Cos(th), math.Sin(th)
	C := 1 - c
	return [3][3]float64{
		{c + x*x*C, x*y*C - z*s, x*z*C + y*s},
		{y*x*C + z*s, c + y*y*C, y*z*C - x*s},
		{z*x*C - y*s, z*y*C + x*s, c + z*z*C},
	}
}

// obliqueGrid is a small grid rotated 25° about (1,2,3) with anisotropic
// spacing and a non-trivial origin, all in LPS mm.
func obliqueGrid(dims [3]int) volume.Grid {
	return volume.Grid{
		Dims:      dims,
		Spacing:   volume.Vec3{0.7, 0.9, 2.5},
		Origin:    volume.Vec3{-123.4, 56.7, -310.25},
		Direction: rotation(volume.Vec3{1, 2, 3}, 25*math.Pi/180),
	}
}

func patternHU(g volume.Grid) *volume.Volume[int16] {
	v := volume.New[int16](g)
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				v.Set(i, j, k, int16(-1024+i*7+j*31+k*101))
			}
		}
	}
	return v
}

func gridClose(t *testing.T, got, want volume.Grid, tol float64) {
	t.Helper()
	if got.Dims != want.Dims {
		t.Fatalf("dims %v, want %v", got.Dims, want.Dims)
	}
	for a := 0; a < 3; a++ {
		if math.Abs(got.Spacing[a]-want.Spacing[a]) > tol {
			t.Errorf("spacing %v, want %v", got.Spacing, want.Spacing)
		}
		if math.Abs(got.Origin[a]-want.Origin[a]) > tol*100 {
			t.Errorf("origin %v, want %v", got.Origin, want.Origin)
		}
		for r := 0; r < 3; r++ {
			if math.Abs(got.Direction[r][a]-want.Direction[r][a]) > tol {
				t.Errorf("direction %v, want %v", got.Direction, want.Direction)
				return
			}
		}
	}
}

func TestQuaternionRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	axes := []volume.Vec3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}, {1, 2, 3}}
	for trial := 0; trial < 400; trial++ {
		var u volume.Vec3
		var th float64
		if trial < 60 { // exact multiples of 90° hit the tr ≤ 0.5 branches
			u = axes[trial%len(axes)]
			th = float64(trial%4) * math.Pi / 2
			if trial%7 == 0 {
				th = math.Pi
			}
		} else {
			u = volume.Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
			th = rng.Float64() * 2 * math.Pi
		}
		m := rotation(u, th)
		improper := trial%2 == 1
		if improper { // a left-handed frame: flip the third axis
			for r := 0; r < 3; r++ {
				m[r][2] = -m[r][2]
			}
		}
		b, c, d, qfac := matrixToQuatern(m)
		if (qfac < 0) != improper {
			t.Fatalf("trial %d: qfac %v for improper=%v", trial, qfac, improper)
		}
		back := quaternToMatrix(b, c, d)
		for r := 0; r < 3; r++ {
			back[r][2] *= qfac
			for cc := 0; cc < 3; cc++ {
				if math.Abs(back[r][cc]-m[r][cc]) > 1e-6 { // near 180° a = sqrt(1-|bcd|²) loses digits
					t.Fatalf("trial %d (axis %v, %.3f rad): got %v, want %v", trial, u, th, back, m)
				}
			}
		}
	}
}

// headerFloat reads a float32 field of a little-endian header.
func headerFloat(b []byte, off int) float64 {
	return float64(math.Float32frombits(binary.LittleEndian.Uint32(b[off:])))
}

func TestNIfTIWorldRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		grid volume.Grid
	}{
		{"axial", volume.Grid{Dims: [3]int{9, 7, 5}, Spacing: volume.Vec3{0.703125, 0.703125, 2.5},
			Origin: volume.Vec3{-180, -170.5, -340}, Direction: volume.Identity}},
		{"oblique", obliqueGrid([3]int{9, 7, 5})},
		{"lefthanded", func() volume.Grid {
			g := obliqueGrid([3]int{9, 7, 5})
			for r := 0; r < 3; r++ {
				g.Direction[r][2] = -g.Direction[r][2]
			}
			return g
		}()},
	} {
		for _, ext := range []string{".nii", ".nii.gz"} {
			t.Run(tc.name+ext, func(t *testing.T) {
				v := patternHU(tc.grid)
				path := filepath.Join(dir, tc.name+ext)
				if err := WriteNIfTI(path, v, NIfTIOptions{Description: "test"}); err != nil {
					t.Fatal(err)
				}
				got, err := ReadHU(path)
				if err != nil {
					t.Fatal(err)
				}
				gridClose(t, got.Grid, v.Grid, 2e-6)
				hg, err := ReadGrid(path)
				if err != nil {
					t.Fatal(err)
				}
				gridClose(t, hg, v.Grid, 2e-6)
				if !slicesEqual(got.Data, v.Data) {
					t.Fatal("voxel data differ after round trip")
				}
				// A world point: voxel (3,4,2) and a continuous index.
				for _, idx := range []volume.Vec3{{3, 4, 2}, {0.5, 6.25, 4}} {
					w0 := v.IndexToWorld(idx)
					w1 := got.IndexToWorld(idx)
					for a := 0; a < 3; a++ {
						if math.Abs(w0[a]-w1[a]) > 1e-4 {
							t.Errorf("world of %v: %v after round trip, want %v", idx, w1, w0)
						}
					}
					back := got.WorldToIndex(w0)
					for a := 0; a < 3; a++ {
						if math.Abs(back[a]-idx[a]) > 1e-4 {
							t.Errorf("index of %v: %v, want %v", w0, back, idx)
						}
					}
				}
				// The raw header must hold RAS: srow · (i,j,k,1) = (-x, -y, z)
				// of the LPS world point, independently of our decoder.
				raw := readAllMaybeGz(t, path)
				if c := binary.LittleEndian.Uint16(raw[254:]); c != 1 {
					t.Errorf("sform_code %d, want 1", c)
				}
				if c := binary.LittleEndian.Uint16(raw[252:]); c != 1 {
					t.Errorf("qform_code %d, want 1", c)
				}
				if u := raw[123]; u != 2 {
					t.Errorf("xyzt_units %d, want 2 (mm)", u)
				}
				idx := volume.Vec3{3, 4, 2}
				w := v.IndexToWorld(idx)
				want := [3]float64{-w[0], -w[1], w[2]}
				for r := 0; r < 3; r++ {
					s := headerFloat(raw, 280+16*r+12)
					for c := 0; c < 3; c++ {
						s += headerFloat(raw, 280+16*r+4*c) * idx[c]
					}
					if math.Abs(s-want[r]) > 1e-3 {
						t.Errorf("srow %d gives %.4f, want RAS %.4f", r, s, want[r])
					}
				}
				for a := 0; a < 3; a++ {
					if p := headerFloat(raw, 80+4*a); math.Abs(p-v.Spacing[a]) > 1e-6 {
						t.Errorf("pixdim[%d] = %v, want %v", a+1, p, v.Spacing[a])
					}
				}
				// Same grid from the qform alone (method 2) and pixdim only.
				q := bytes.Clone(raw)
				binary.LittleEndian.PutUint16(q[254:], 0)
				h, err := parseNIfTIHeader(q)
				if err != nil {
					t.Fatal(err)
				}
				gridClose(t, h.grid, v.Grid, 2e-6)
				binary.LittleEndian.PutUint16(q[252:], 0)
				h, err = parseNIfTIHeader(q)
				if err != nil {
					t.Fatal(err)
				}
				m1 := volume.Grid{Dims: v.Dims, Spacing: v.Spacing, Direction: [3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}}
				gridClose(t, h.grid, m1, 1e-6)
			})
		}
	}
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func readAllMaybeGz(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		b = gunzipStd(t, b)
	}
	return b
}

func TestNIfTIShearedWritesSformOnly(t *testing.T) {
	g := volume.Grid{Dims: [3]int{6, 5, 4}, Spacing: volume.Vec3{0.5, 0.5, 3}, Origin: volume.Vec3{10, 20, 30}, Direction: volume.Identity}
	tilt := 18.5 * math.Pi / 180 // gantry tilt: slice axis leans in y
	g.Direction[1][2], g.Direction[2][2] = math.Sin(tilt), math.Cos(tilt)
	v := patternHU(g)
	path := filepath.Join(t.TempDir(), "shear.nii")
	if err := WriteNIfTI(path, v, NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if c := binary.LittleEndian.Uint16(raw[252:]); c != 0 {
		t.Errorf("qform_code %d for a sheared grid, want 0", c)
	}
	got, err := ReadHU(path)
	if err != nil {
		t.Fatal(err)
	}
	gridClose(t, got.Grid, g, 2e-6)
}

func TestNIfTIMaskAndFloat(t *testing.T) {
	dir := t.TempDir()
	g := obliqueGrid([3]int{5, 4, 3})
	m := volume.New[uint8](g)
	f := volume.New[float32](g)
	for i := range m.Data {
		m.Data[i] = uint8(i % 2)
		f.Data[i] = float32(i)*0.25 - 3.125
	}
	f.Data[7] = float32(math.NaN())
	if err := WriteNIfTI(filepath.Join(dir, "m.nii.gz"), m, NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := WriteNIfTI(filepath.Join(dir, "f.nii"), f, NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	gm, err := ReadMask(filepath.Join(dir, "m.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(gm.Data, m.Data) {
		t.Error("mask differs")
	}
	gf, err := ReadFloat32(filepath.Join(dir, "f.nii"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.Data {
		if gf.Data[i] != f.Data[i] && !(i == 7 && math.IsNaN(float64(gf.Data[i]))) {
			t.Fatalf("float voxel %d = %v, want %v", i, gf.Data[i], f.Data[i])
		}
	}
	// float → HU with a NaN: refused, naming the count (never air).
	if _, err := ReadHU(filepath.Join(dir, "f.nii")); !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "1 of 60 voxels") || !strings.Contains(err.Error(), "f.nii") {
		t.Fatalf("NaN voxel read as HU: %v", err)
	}
	// float → HU: rounding, clamping.
	f.Data[7] = 1.5
	if err := WriteNIfTI(filepath.Join(dir, "f.nii"), f, NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHU(filepath.Join(dir, "f.nii"))
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range f.Data {
		want := int16(math.Round(float64(x)))
		if h.Data[i] != want {
			t.Fatalf("HU voxel %d = %d, want %d (from %v)", i, h.Data[i], want, x)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "f.nii"))
	if dt := binary.LittleEndian.Uint16(raw[70:]); dt != dtFloat32 {
		t.Errorf("float volume written as datatype %d", dt)
	}
}

// niiField lists (offset, size) of every numeric field of the NIfTI-1
// header, for building big-endian test files.
var niiFields = func() [][2]int {
	f := [][2]int{{0, 4}, {32, 4}, {36, 2}}
	for i := 0; i < 8; i++ {
		f = append(f, [2]int{40 + 2*i, 2})
	}
	f = append(f, [2]int{56, 4}, [2]int{60, 4}, [2]int{64, 4}, [2]int{68, 2}, [2]int{70, 2}, [2]int{72, 2}, [2]int{74, 2})
	for i := 0; i < 8; i++ {
		f = append(f, [2]int{76 + 4*i, 4})
	}
	f = append(f, [2]int{108, 4}, [2]int{112, 4}, [2]int{116, 4}, [2]int{120, 2})
	for off := 124; off < 148; off += 4 {
		f = append(f, [2]int{off, 4})
	}
	f = append(f, [2]int{252, 2}, [2]int{254, 2})
	for off := 256; off < 328; off += 4 {
		f = append(f, [2]int{off, 4})
	}
	return f
}()

// buildNIfTI makes an in-memory NIfTI-1 file of datatype dt holding vals on
// grid g, in byte order o, with the given scl_slope/scl_inter.
func buildNIfTI(g volume.Grid, dt int16, vals []float64, o binary.ByteOrder, slope, inter float32) []byte {
	es := dtSize(dt)
	h := encodeNIfTIHeader(g, dt, int16(8*es), "")
	binary.LittleEndian.PutUint32(h[112:], math.Float32bits(slope))
	binary.LittleEndian.PutUint32(h[116:], math.Float32bits(inter))
	if o == binary.BigEndian {
		for _, f := range niiFields {
			swapInPlace(h[f[0]:f[0]+f[1]], f[1])
		}
	}
	data := make([]byte, len(vals)*es)
	for i, x := range vals {
		p := data[i*es:]
		switch dt {
		case dtUint8:
			p[0] = uint8(x)
		case dtInt8:
			p[0] = uint8(int8(x))
		case dtInt16:
			o.PutUint16(p, uint16(int16(x)))
		case dtUint16:
			o.PutUint16(p, uint16(x))
		case dtInt32:
			o.PutUint32(p, uint32(int32(x)))
		case dtUint32:
			o.PutUint32(p, uint32(x))
		case dtFloat32:
			o.PutUint32(p, math.Float32bits(float32(x)))
		case dtFloat64:
			o.PutUint64(p, math.Float64bits(x))
		case dtInt64:
			o.PutUint64(p, uint64(int64(x)))
		case dtUint64:
			o.PutUint64(p, uint64(x))
		}
	}
	return append(h, data...)
}

func TestNIfTIDatatypesAndEndianness(t *testing.T) {
	g := obliqueGrid([3]int{4, 3, 2})
	n := g.Len()
	for _, dt := range []int16{dtUint8, dtInt8, dtInt16, dtUint16, dtInt32, dtUint32, dtFloat32, dtFloat64, dtInt64, dtUint64} {
		for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			for _, sc := range [][2]float32{{0, 0}, {1, 0}, {2, -1024}, {0.5, 3}} {
				vals := make([]float64, n)
				for i := range vals {
					switch dt {
					case dtUint8, dtUint16, dtUint32, dtUint64:
						vals[i] = float64(i * 9)
					case dtInt8:
						vals[i] = float64(i*5 - 60)
					case dtFloat32, dtFloat64:
						vals[i] = float64(i)*1.25 - 7
					default:
						vals[i] = float64(i*37 - 500)
					}
				}
				file := buildNIfTI(g, dt, vals, o, sc[0], sc[1])
				var v *volume.Volume[int16]
				_, err := decodeNIfTI(bytes.NewReader(file), int64(len(file)), func(gg volume.Grid) []int16 {
					v = volume.New[int16](gg)
					return v.Data
				})
				if err != nil {
					t.Fatalf("dt %d %v scl %v: %v", dt, o, sc, err)
				}
				gridClose(t, v.Grid, g, 2e-6)
				for i, x := range vals {
					if sc[0] != 0 {
						x = x*float64(sc[0]) + float64(sc[1])
					}
					if want := int16(math.Round(x)); v.Data[i] != want {
						t.Fatalf("dt %d %v scl %v: voxel %d = %d, want %d", dt, o, sc, i, v.Data[i], want)
					}
				}
				var f *volume.Volume[float32]
				_, err = decodeNIfTI(bytes.NewReader(file), int64(len(file)), func(gg volume.Grid) []float32 {
					f = volume.New[float32](gg)
					return f.Data
				})
				if err != nil {
					t.Fatal(err)
				}
				for i, x := range vals {
					if sc[0] != 0 {
						x = x*float64(sc[0]) + float64(sc[1])
					}
					if math.Abs(float64(f.Data[i])-x) > 1e-4 {
						t.Fatalf("dt %d %v scl %v: float voxel %d = %v, want %v", dt, o, sc, i, f.Data[i], x)
					}
				}
			}
		}
	}
}

// TestNIfTIClampHU: values beyond int16 are clamped and counted while they
// are at most 1 % of the voxels; more is refused (hounsfield.ErrSaturated).
func TestNIfTIClampHU(t *testing.T) {
	g := volume.Grid{Dims: [3]int{200, 1, 1}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	vals := make([]float64, 200)
	copy(vals, []float64{40000, -40000, 1500, -1})
	file := buildNIfTI(g, dtInt32, vals, binary.LittleEndian, 0, 0)
	var v *volume.Volume[int16]
	clamped, err := decodeNIfTI(bytes.NewReader(file), int64(len(file)), func(gg volume.Grid) []int16 {
		v = volume.New[int16](gg)
		return v.Data
	})
	if err != nil || clamped != 2 {
		t.Fatalf("%d clamped, %v", clamped, err)
	}
	if want := []int16{32767, -32768, 1500, -1}; !slicesEqual(v.Data[:4], want) {
		t.Errorf("clamped %v, want %v", v.Data[:4], want)
	}
	g.Dims[0] = 4
	file = buildNIfTI(g, dtInt32, vals[:4], binary.LittleEndian, 0, 0)
	if _, err := decodeNIfTI(bytes.NewReader(file), int64(len(file)), func(gg volume.Grid) []int16 {
		return make([]int16, gg.Len())
	}); !errors.Is(err, hounsfield.ErrSaturated) {
		t.Errorf("2 of 4 voxels clamped: %v, want ErrSaturated", err)
	}
}

func TestNIfTIBadFiles(t *testing.T) {
	dir := t.TempDir()
	g := obliqueGrid([3]int{8, 8, 8})
	good := buildNIfTI(g, dtInt16, make([]float64, g.Len()), binary.LittleEndian, 0, 0)
	patch := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short-header", good[:200], ErrTruncated},
		{"truncated-data", good[:len(good)-10], ErrTruncated},
		{"not-nifti", patch(func(b []byte) { b[0] = 0x55 }), ErrFormat},
		{"bad-magic", patch(func(b []byte) { copy(b[344:], "abc\x00") }), ErrFormat},
		{"pair", patch(func(b []byte) { copy(b[344:], "ni1\x00") }), ErrUnsupported},
		{"nifti2", patch(func(b []byte) { binary.LittleEndian.PutUint32(b, 540) }), ErrUnsupported},
		{"dim0-5", patch(func(b []byte) { binary.LittleEndian.PutUint16(b[40:], 5) }), ErrUnsupported},
		{"4d", patch(func(b []byte) { binary.LittleEndian.PutUint16(b[40:], 4); binary.LittleEndian.PutUint16(b[48:], 3) }), ErrUnsupported},
		{"zero-dim", patch(func(b []byte) { binary.LittleEndian.PutUint16(b[42:], 0) }), ErrFormat},
		{"negative-dim", patch(func(b []byte) { binary.LittleEndian.PutUint16(b[44:], 0xffff) }), ErrFormat},
		{"huge-dims", patch(func(b []byte) {
			for a := 0; a < 3; a++ {
				binary.LittleEndian.PutUint16(b[42+2*a:], 30000)
			}
		}), ErrUnsupported},
		{"big-dims-small-file", patch(func(b []byte) {
			binary.LittleEndian.PutUint16(b[42:], 1000)
			binary.LittleEndian.PutUint16(b[44:], 1000)
		}), ErrTruncated},
		{"bad-datatype", patch(func(b []byte) { binary.LittleEndian.PutUint16(b[70:], 32) }), ErrUnsupported},
		{"bitpix-mismatch", patch(func(b []byte) { binary.LittleEndian.PutUint16(b[72:], 8) }), ErrFormat},
		{"vox-offset", patch(func(b []byte) { binary.LittleEndian.PutUint32(b[108:], math.Float32bits(10)) }), ErrFormat},
		{"zero-affine", patch(func(b []byte) {
			for off := 280; off < 328; off++ {
				b[off] = 0
			}
		}), ErrFormat},
	}
	for _, tc := range cases {
		for _, gz := range []bool{false, true} {
			name := tc.name + ".nii"
			data := tc.data
			if gz {
				name += ".gz"
				data = gzipStd(t, data)
			}
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadHU(path)
			if err == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("%s: error %q does not name the file", name, err)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: error %q is not %v", name, err, tc.want)
			}
		}
	}
	// A truncated gzip stream (cut mid-data).
	full := gzipStd(t, good)
	path := filepath.Join(dir, "cut.nii.gz")
	testfs.WriteFile(t, path, full[:len(full)/2])
	if _, err := ReadHU(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("cut gzip: error %v", err)
	}
	// A gzip file whose CRC-32 trailer does not match its data.
	bad := bytes.Clone(full)
	bad[len(bad)-8] ^= 0xff
	path = filepath.Join(dir, "crc.nii.gz")
	testfs.WriteFile(t, path, bad)
	if _, err := ReadHU(path); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), path) {
		t.Errorf("bad CRC: error %v", err)
	}
	if _, err := ReadHU(filepath.Join(dir, "missing.nii")); err == nil || !strings.Contains(err.Error(), "missing.nii") {
		t.Errorf("missing file: error %v", err)
	}
	if _, err := ReadHU(filepath.Join(dir, "x.png")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown extension: error %v", err)
	}
}

func TestReadHUIntoReusesBuffer(t *testing.T) {
	g := obliqueGrid([3]int{6, 5, 4})
	v := patternHU(g)
	path := filepath.Join(t.TempDir(), "a.nii.gz")
	if err := WriteNIfTI(path, v, NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	dst := volume.New[int16](volume.Grid{Dims: [3]int{10, 10, 10}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity})
	p := &dst.Data[0]
	got, err := ReadHUInto(path, dst)
	if err != nil {
		t.Fatal(err)
	}
	if &got.Data[0] != p {
		t.Error("buffer not reused")
	}
	if !slicesEqual(got.Data, v.Data) || got.Dims != v.Dims {
		t.Error("data differ")
	}
}

// TestNIfTISaturationRefused: an scl_slope of 10³⁰, or uint64 samples of
// 2⁶³, would clamp the whole volume to 32767 HU: refused naming the file.
// A file with 1 of 200 voxels out of range reads with a warning naming it.
func TestNIfTISaturationRefused(t *testing.T) {
	dir := t.TempDir()
	g := volume.Grid{Dims: [3]int{10, 10, 2}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	vals := make([]float64, g.Len())
	for i := range vals {
		vals[i] = float64(i % 50)
	}
	big := make([]float64, g.Len())
	for i := range big {
		big[i] = 1 << 63
	}
	for name, file := range map[string][]byte{
		"slope.nii":  buildNIfTI(g, dtInt16, vals, binary.LittleEndian, 1e30, 0),
		"uint64.nii": buildNIfTI(g, dtUint64, big, binary.LittleEndian, 0, 0),
	} {
		p := filepath.Join(dir, name)
		testfs.WriteFile(t, p, file)
		if _, err := ReadHU(p); !errors.Is(err, hounsfield.ErrSaturated) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrSaturated naming it", name, err)
		}
	}
	vals[7] = 1e6
	p := filepath.Join(dir, "one.nii")
	testfs.WriteFile(t, p, buildNIfTI(g, dtInt32, vals, binary.LittleEndian, 0, 0))
	v, ws, err := ReadHUIntoWarn(p, nil)
	if err != nil || v.Data[7] != 32767 || len(ws) != 1 || ws[0].Code != warn.Saturated || ws[0].File != p || !strings.Contains(ws[0].Message, "1 of 200 voxels") {
		t.Errorf("one voxel out of range: %v %+v", err, ws)
	}
}
