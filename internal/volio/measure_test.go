package volio

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // cannot fail for RUSAGE_SELF; only logged
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestMeasureGzip prints wall and CPU time and ratio of every gzip
// library/level on the realistic CT volume (the table in the report). It is
// a measurement, not a check: run it with VOLIO_MEASURE=1 -v.
func TestMeasureGzip(t *testing.T) {
	if os.Getenv("VOLIO_MEASURE") == "" {
		t.Skip("set VOLIO_MEASURE=1 to measure gzip libraries and levels")
	}
	v, src := realisticCT(t)
	parts := [][]byte{encodeNIfTIHeader(v.Grid, dtInt16, 16, ""), leBytes(v.Data)}
	n := len(parts[0]) + len(parts[1])
	t.Logf("volume: %s, dims %v, %.1f MB", src, v.Dims, float64(n)/1e6)
	var l1 []byte
	for rep := 0; rep < 2; rep++ {
		for _, c := range gzCases() {
			var buf bytes.Buffer
			buf.Grow(n / 2)
			c0, w0 := cpuTime(), time.Now()
			if err := c.write(&buf, parts); err != nil {
				t.Fatal(err)
			}
			wall, cpu := time.Since(w0), cpuTime()-c0
			t.Logf("%-26s wall %6.2f s  cpu %6.2f s  %6.1f MB/s(cpu)  ratio %.3f  size %.1f MB",
				c.name, wall.Seconds(), cpu.Seconds(), float64(n)/1e6/cpu.Seconds(), float64(n)/float64(buf.Len()), float64(buf.Len())/1e6)
			if c.name == "parallel-klauspost-L1" {
				l1 = buf.Bytes()
			}
		}
	}
	for _, lib := range []string{"stdlib", "klauspost"} {
		c0, w0 := cpuTime(), time.Now()
		var r io.Reader
		if lib == "stdlib" {
			r, _ = stdgzip.NewReader(bytes.NewReader(l1))
		} else {
			r, _ = kgzip.NewReader(bytes.NewReader(l1))
		}
		if _, err := io.Copy(io.Discard, struct{ io.Reader }{r}); err != nil {
			t.Fatal(err)
		}
		t.Logf("gunzip %-10s wall %.2f s cpu %.2f s", lib, time.Since(w0).Seconds(), (cpuTime() - c0).Seconds())
	}
}

// TestMeasureNibabel times our .nii.gz write/read against nibabel's on the
// same volume (CPU seconds; process CPU time in python). Run with
// VOLIO_MEASURE=1 -v.
func TestMeasureNibabel(t *testing.T) {
	if os.Getenv("VOLIO_MEASURE") == "" {
		t.Skip("set VOLIO_MEASURE=1 to compare with nibabel")
	}
	py := python(t)
	v, src := realisticCT(t)
	dir := t.TempDir()
	path := dir + "/ct.nii.gz"
	c0, w0 := cpuTime(), time.Now()
	if err := WriteNIfTI(path, v, NIfTIOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: lungctl write wall %.2f s cpu %.2f s", src, time.Since(w0).Seconds(), (cpuTime() - c0).Seconds())
	c0, w0 = cpuTime(), time.Now()
	if _, err := ReadHU(path); err != nil {
		t.Fatal(err)
	}
	t.Logf("lungctl read  wall %.2f s cpu %.2f s", time.Since(w0).Seconds(), (cpuTime() - c0).Seconds())
	out := runPy(t, py, `
import sys, time, numpy as np, nibabel as nib
t0, w0 = time.process_time(), time.time()
img = nib.load(sys.argv[1]); d = np.asarray(img.dataobj)
t1, w1 = time.process_time(), time.time()
nib.save(nib.Nifti1Image(d, img.affine), sys.argv[2])
t2, w2 = time.process_time(), time.time()
print("nibabel read  wall %.2f s cpu %.2f s (dtype %s)" % (w1-w0, t1-t0, d.dtype))
print("nibabel write wall %.2f s cpu %.2f s (default compresslevel)" % (w2-w1, t2-t1))
`, path, dir+"/nib.nii.gz")
	t.Logf("\n%s", out)
}
