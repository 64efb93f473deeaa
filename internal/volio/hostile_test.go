//go:build unix

package volio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/lungctl/lungctl/internal/safefile"
	"github.com/lungctl/lungctl/internal/volume"

	"github.com/lungctl/lungctl/internal/testfs"
)

func allocDuring(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func mhdText(dims, eltype, data string) string {
	return "ObjectType = Image\nNDims = 3\nDimSize = " + dims + "\nElementSpacing = 1 1 1\nElementType = " + eltype + "\nElementDataFile = " + data + "\n"
}

// TestNIfTIGzipBomb: a small .nii.gz that inflates 1000-fold to a volume
// over the budget is refused before the voxels are allocated, naming the
// file and the size.
func TestNIfTIGzipBomb(t *testing.T) {
	testfs.SetBudget(t, 64<<20)
	g := volume.Grid{Dims: [3]int{512, 512, 400}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	hdr := encodeNIfTIHeader(g, dtInt16, 16, "bomb")
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	_, err := zw.Write(hdr)
	if err == nil {
		_, err = zw.Write(make([]byte, 2*g.Len())) // 200 MB of zeros
	}
	testfs.Must(t, err)
	testfs.Must(t, zw.Close())
	p := filepath.Join(t.TempDir(), "bomb.nii.gz")
	testfs.WriteFile(t, p, b.Bytes())
	t.Logf("%d KB file, %d MB of voxels", b.Len()>>10, 2*g.Len()>>20)
	alloc := allocDuring(func() { _, err = ReadHU(p) })
	if !testfs.TooBig(err, p) {
		t.Fatalf("gzip bomb: %v", err)
	}
	t.Logf("refused as wanted: %v", err)
	if alloc > 16<<20 {
		t.Errorf("allocated %d MB", alloc>>20)
	}
	// Dims alone over the budget, whatever the file holds.
	g.Dims = [3]int{4096, 4096, 4096}
	p2 := filepath.Join(t.TempDir(), "dims.nii")
	testfs.WriteFile(t, p2, append(encodeNIfTIHeader(g, dtUint8, 8, "x"), make([]byte, 1000)...))
	if _, err := ReadHU(p2); err == nil || !strings.Contains(err.Error(), p2) {
		t.Errorf("huge dims: %v", err)
	}
}

// TestMHDSparseData: an .mhd over a 64 GB sparse .raw (its header takes
// the last 16 GB, 2³¹ doubles) is refused by the budget, not read.
func TestMHDSparseData(t *testing.T) {
	testfs.SetBudget(t, 1<<30)
	dir := t.TempDir()
	raw := filepath.Join(dir, "big.raw")
	f, _ := os.Create(raw)
	if err := f.Truncate(64 << 30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	testfs.Must(t, f.Close())
	p := filepath.Join(dir, "big.mhd")
	testfs.WriteFile(t, p, []byte(strings.Replace(mhdText("2048 2048 512", "MET_DOUBLE", "big.raw"), "NDims = 3\n", "NDims = 3\nHeaderSize = -1\n", 1)))
	var err error
	alloc := allocDuring(func() { _, err = ReadHU(p) })
	if !testfs.TooBig(err, p) {
		t.Fatalf("64 GB sparse raw: %v", err)
	}
	t.Logf("refused as wanted: %v", err)
	if alloc > 16<<20 {
		t.Errorf("allocated %d MB", alloc>>20)
	}
}

// TestMHDDataFileContained: ElementDataFile must lie beside its header:
// /etc/passwd, ../x and a link leading out are refused, and a FIFO or a
// device is refused without blocking.
func TestMHDDataFileContained(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	testfs.MkdirAll(t, dir)
	testfs.WriteFile(t, filepath.Join(root, "secret.raw"), make([]byte, 8))
	testfs.Symlink(t, filepath.Join(root, "secret.raw"), filepath.Join(dir, "link.raw"))
	for _, name := range []string{"/etc/passwd", "../../secret.raw", "../b/../../secret.raw", "link.raw", "/dev/zero"} {
		p := filepath.Join(dir, "x.mhd")
		testfs.WriteFile(t, p, []byte(mhdText("2 2 2", "MET_UCHAR", name)))
		_, err := ReadHU(p)
		if !errors.Is(err, safefile.ErrOutside) || !strings.Contains(err.Error(), p) {
			t.Errorf("ElementDataFile %s: %v", name, err)
		} else {
			t.Logf("refused as wanted: %v", err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.raw"), 0o644); err == nil {
		p := filepath.Join(dir, "fifo.mhd")
		testfs.WriteFile(t, p, []byte(mhdText("2 2 2", "MET_UCHAR", "pipe.raw")))
		done := make(chan error, 1)
		go func() { _, err := ReadHU(p); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, safefile.ErrNotRegular) {
				t.Errorf("FIFO data file: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a FIFO data file blocked")
		}
	}
	// The .nii itself as a FIFO.
	fifo := filepath.Join(dir, "p.nii")
	if syscall.Mkfifo(fifo, 0o644) == nil {
		done := make(chan error, 1)
		go func() { _, err := ReadHU(fifo); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, safefile.ErrNotRegular) {
				t.Errorf("FIFO .nii: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a FIFO .nii blocked")
		}
	}
}

// TestNaNBlockRefused: a float NIfTI with a block of NaN is refused as HU
// (it used to become −1000 HU, growing the lung mask) and read as is as
// float32.
func TestNaNBlockRefused(t *testing.T) {
	g := volume.Grid{Dims: [3]int{20, 20, 10}, Spacing: volume.Vec3{1, 1, 1}, Direction: volume.Identity}
	vals := make([]float64, g.Len())
	for i := range vals {
		vals[i] = 40
		if i%400 < 100 && i/400 < 5 {
			vals[i] = math.NaN()
		}
	}
	p := filepath.Join(t.TempDir(), "nan.nii")
	testfs.WriteFile(t, p, buildNIfTI(g, dtFloat32, vals, binary.LittleEndian, 0, 0))
	_, err := ReadHU(p)
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "500 of 4000 voxels") {
		t.Fatalf("NaN block: %v", err)
	}
	t.Logf("refused as wanted: %v", err)
	if f, err := ReadFloat32(p); err != nil || !math.IsNaN(float64(f.Data[0])) {
		t.Errorf("float32 read: %v", err)
	}
}

// countingComment yields "Comment = " and then n 'x' bytes without a line
// end, counting what it gave.
type countingComment struct{ off, n, given int }

func (c *countingComment) Read(p []byte) (int, error) {
	const head = "ObjectType = Image\nComment = "
	if c.off >= len(head)+c.n {
		return 0, io.EOF
	}
	p = p[:min(len(p), len(head)+c.n-c.off)]
	for i := range p {
		if c.off+i < len(head) {
			p[i] = head[c.off+i]
		} else {
			p[i] = 'x'
		}
	}
	c.off += len(p)
	c.given += len(p)
	return len(p), nil
}

// TestMHDLongCommentRefused: a header line far over maxMHDHeader (a 400 MB
// Comment used to be read whole first) is refused after reading at most
// maxMHDHeader+1 bytes, with an error naming the file.
func TestMHDLongCommentRefused(t *testing.T) {
	src := &countingComment{n: 64 << 20}
	if _, err := parseMHDHeader(src); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "header longer than 65536 bytes") {
		t.Errorf("endless Comment: %v", err)
	}
	if src.given > maxMHDHeader+1 {
		t.Errorf("read %d bytes of the header, want at most %d", src.given, maxMHDHeader+1)
	}
	p := filepath.Join(t.TempDir(), "long.mhd")
	f, err := os.Create(p)
	testfs.Must(t, err)
	_, err = io.Copy(f, &countingComment{n: 8 << 20})
	testfs.Must(t, err)
	testfs.Must(t, f.Close())
	alloc := allocDuring(func() { _, err = ReadHU(p) })
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), p) {
		t.Errorf("8 MB Comment: %v", err)
	}
	if alloc > 1<<20 {
		t.Errorf("allocated %d KB to refuse the header", alloc>>10)
	}
}
