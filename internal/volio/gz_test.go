package volio

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"path/filepath"
	"sync"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/lungctl/lungctl/internal/dicomio"
	"github.com/lungctl/lungctl/internal/resample"
	"github.com/lungctl/lungctl/internal/shareddata"
	"github.com/lungctl/lungctl/internal/volume"
)

func gzipStd(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := stdgzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzipStd(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := stdgzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false) // our writer must produce exactly one member
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zr.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("data after the first gzip member: %v", err)
	}
	return out
}

// TestGzipParallelIsStandardGzip checks that the block-parallel writer makes
// one ordinary gzip member that Go's standard library decodes to the input
// (CRC and size checked by the reader), for sizes around block boundaries
// and several levels.
func TestGzipParallelIsStandardGzip(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	src := make([]byte, 3*gzBlock+12345)
	for i := range src { // compressible but not trivial
		src[i] = byte(int(rng.NormFloat64()*8) + i/4096)
	}
	for _, n := range []int{0, 1, 352, gzBlock - 1, gzBlock, gzBlock + 1, len(src)} {
		levels := []int{-2, 1, 6, 9}
		if testing.Short() {
			levels = []int{-2, 1}
		}
		for _, level := range levels {
			for _, workers := range []int{1, 3} {
				in := src[:n]
				parts := [][]byte{in}
				if n > 352 {
					parts = [][]byte{in[:352], in[352:]}
				}
				var buf bytes.Buffer
				if err := writeGzipParallel(&buf, parts, level, workers); err != nil {
					t.Fatal(err)
				}
				if out := gunzipStd(t, buf.Bytes()); !bytes.Equal(out, in) {
					t.Fatalf("n=%d level=%d workers=%d: round trip differs", n, level, workers)
				}
			}
		}
	}
	if err := writeGzipParallel(io.Discard, [][]byte{src}, 12, 1); err == nil {
		t.Error("level 12 accepted")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, fmt.Errorf("disk full")
	}
	return len(p), nil
}

func TestGzipParallelWriteError(t *testing.T) {
	src := make([]byte, 20*gzBlock)
	for i := range src {
		src[i] = byte(i * 7 / 3)
	}
	// Must return the error (and not deadlock) wherever it happens.
	for _, n := range []int{0, 5, 100, 50000} {
		if err := writeGzipParallel(&failWriter{n: n}, [][]byte{src}, 1, 2); err == nil {
			t.Errorf("failing writer after %d bytes: no error", n)
		}
	}
}

var (
	ctOnce sync.Once
	ctVol  *volume.Volume[int16]
	ctSrc  string
)

// realisticCT returns a chest CT in HU on a 1 mm grid of about 360×360×330
// voxels: LIDC-IDRI-0001 (real scanner noise) resampled when the shared data
// is present, else a synthetic chest with noise. Used to measure gzip.
func realisticCT(tb testing.TB) (*volume.Volume[int16], string) {
	ctOnce.Do(func() {
		ctVol = loadLIDCResampled()
		ctSrc = "LIDC-IDRI-0001 resampled to 1 mm"
		if ctVol == nil {
			ctVol = syntheticChest(360, 360, 330)
			ctSrc = "synthetic chest"
		}
	})
	return ctVol, ctSrc
}

// loadLIDCResampled loads LIDC-IDRI-0001 with the real loader and
// resamples it to 1 mm (nil when the shared data is absent or fails).
func loadLIDCResampled() *volume.Volume[int16] {
	sc, err := dicomio.Load(shareddata.Path("lidc-idri-0001"), dicomio.Options{})
	if err != nil {
		return nil
	}
	v, err := resample.Stack(sc.HU, sc.Positions, volume.Vec3{1, 1, 1}, nil)
	if err != nil {
		return nil
	}
	return v
}

// syntheticChest is an elliptic body (soft tissue 40 HU, noise σ 20) with two
// lungs (−850 HU) in air (−1000), rounded to int16.
func syntheticChest(nx, ny, nz int) *volume.Volume[int16] {
	g := volume.Grid{Dims: [3]int{nx, ny, nz}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	v := volume.New[int16](g)
	rng := rand.New(rand.NewSource(7))
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			y := (float64(j) - float64(ny)/2) / (0.35 * float64(ny))
			for i := 0; i < nx; i++ {
				x := (float64(i) - float64(nx)/2) / (0.45 * float64(nx))
				hu := -1000.0
				if x*x+y*y < 1 {
					hu = 40 + rng.NormFloat64()*20
					lx := (math.Abs(x) - 0.45) / 0.3
					if lx*lx+y*y/0.6 < 1 {
						hu = -850 + rng.NormFloat64()*20
					}
				}
				v.Set(i, j, k, int16(math.Round(hu)))
			}
		}
	}
	return v
}

type gzCase struct {
	name  string
	write func(w io.Writer, parts [][]byte) error
}

func gzCases() []gzCase {
	var cs []gzCase
	for _, l := range []int{1, 6} {
		cs = append(cs, gzCase{fmt.Sprintf("stdlib-L%d", l), func(w io.Writer, parts [][]byte) error {
			zw, _ := stdgzip.NewWriterLevel(w, l)
			for _, p := range parts {
				zw.Write(p)
			}
			return zw.Close()
		}})
	}
	for _, l := range []int{1, 6} {
		cs = append(cs, gzCase{fmt.Sprintf("klauspost-L%d", l), func(w io.Writer, parts [][]byte) error {
			zw, _ := kgzip.NewWriterLevel(w, l)
			for _, p := range parts {
				if _, err := zw.Write(p); err != nil {
					return err
				}
			}
			return zw.Close()
		}})
	}
	for _, l := range []int{-2, 1, 2, 3, 6, 9} {
		cs = append(cs, gzCase{fmt.Sprintf("parallel-klauspost-L%d", l), func(w io.Writer, parts [][]byte) error {
			return writeGzipParallel(w, parts, l, 0)
		}})
	}
	return cs
}

// BenchmarkGzipCT compresses a real-noise 1 mm chest CT (≈43 M int16 voxels,
// 86 MB) with each library/level; it reports MB/s of input and the
// compression ratio. Run: go test ./internal/volio -run X -bench GzipCT -benchtime=1x
func BenchmarkGzipCT(b *testing.B) {
	v, src := realisticCT(b)
	hdr := encodeNIfTIHeader(v.Grid, dtInt16, 16, "")
	parts := [][]byte{hdr, leBytes(v.Data)}
	n := int64(len(hdr) + 2*len(v.Data))
	b.Logf("volume: %s, dims %v, %d bytes", src, v.Dims, n)
	for _, c := range gzCases() {
		b.Run(c.name, func(b *testing.B) {
			cw := &countWriter{w: io.Discard}
			b.SetBytes(n)
			for i := 0; i < b.N; i++ {
				cw.n = 0
				if err := c.write(cw, parts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/float64(cw.n), "ratio")
		})
	}
}

// BenchmarkGunzipCT decompresses the level-1 parallel file with the standard
// library and with klauspost/compress.
func BenchmarkGunzipCT(b *testing.B) {
	v, _ := realisticCT(b)
	var buf bytes.Buffer
	if err := writeGzipParallel(&buf, [][]byte{encodeNIfTIHeader(v.Grid, dtInt16, 16, ""), leBytes(v.Data)}, 1, 0); err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 1<<20)
	for _, lib := range []string{"stdlib", "klauspost"} {
		b.Run(lib, func(b *testing.B) {
			b.SetBytes(int64(2*len(v.Data) + 352))
			for i := 0; i < b.N; i++ {
				var r io.Reader
				if lib == "stdlib" {
					r, _ = stdgzip.NewReader(bytes.NewReader(buf.Bytes()))
				} else {
					r, _ = kgzip.NewReader(bytes.NewReader(buf.Bytes()))
				}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteNIfTIGz writes a 360×360×330 int16 volume as .nii.gz with
// the default settings (atomic temp file + rename included).
func BenchmarkWriteNIfTIGz(b *testing.B) {
	v, _ := realisticCT(b)
	path := filepath.Join(b.TempDir(), "ct.nii.gz")
	b.SetBytes(int64(2 * len(v.Data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := WriteNIfTI(path, v, NIfTIOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadNIfTIGz reads that file back into a reused buffer.
func BenchmarkReadNIfTIGz(b *testing.B) {
	v, _ := realisticCT(b)
	path := filepath.Join(b.TempDir(), "ct.nii.gz")
	if err := WriteNIfTI(path, v, NIfTIOptions{}); err != nil {
		b.Fatal(err)
	}
	dst := volume.New[int16](v.Grid)
	b.SetBytes(int64(2 * len(v.Data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := ReadHUInto(path, dst)
		if err != nil {
			b.Fatal(err)
		}
		dst = got
	}
}
