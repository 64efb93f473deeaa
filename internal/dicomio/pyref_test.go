package dicomio

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/pyref"
)

// pyRefScript computes, with pydicom and numpy only, independent reference
// values for DICOM files given on stdin (one path a line): per frame the
// stored values' count/min/max/sum/weighted sum, the HU after this
// project's documented rule (written out again here, not shared with the Go
// code), and per-frame ImagePositionPatient.
const pyRefScript = `
import sys, json
import numpy as np
import pydicom
def fg(ds, i, seq, attr):
    for grp in ('PerFrameFunctionalGroupsSequence', 'SharedFunctionalGroupsSequence'):
        g = ds.get(grp)
        if not g:
            continue
        item = g[i] if grp.startswith('Per') else g[0]
        s = item.get(seq)
        if s and attr in s[0]:
            return s[0][attr].value
    return ds.get(attr)
out = {}
for path in sys.stdin.read().split('\n'):
    if not path:
        continue
    try:
        ds = pydicom.dcmread(path, force=True)
        a = ds.pixel_array
        n = int(ds.get('NumberOfFrames', 1) or 1)
        if n == 1:
            a = a[None]
        frames = []
        pad = ds.get('PixelPaddingValue')
        lim = ds.get('PixelPaddingRangeLimit')
        for i in range(n):
            f = a[i].astype(np.int64)
            w = (np.arange(f.size, dtype=np.int64) % 9973).reshape(f.shape)
            slope = fg(ds, i, 'PixelValueTransformationSequence', 'RescaleSlope')
            icpt = fg(ds, i, 'PixelValueTransformationSequence', 'RescaleIntercept')
            slope = 1.0 if slope is None else float(slope)
            icpt = 0.0 if icpt is None else float(icpt)
            hu = np.round(f * slope + icpt)
            hu = np.where(hu < -1100, -1000, hu)
            hu = np.clip(hu, -32768, 32767)
            if pad is not None:
                lo, hi = int(pad), int(pad)
                if lim is not None:
                    lo, hi = min(lo, int(lim)), max(hi, int(lim))
                hu = np.where((f >= lo) & (f <= hi), -1000, hu)
            hu = hu.astype(np.int64)
            ipp = fg(ds, i, 'PlanePositionSequence', 'ImagePositionPatient')
            gfov = ds.get('GridFrameOffsetVector')
            if ipp is not None and gfov is not None and n > 1 and 'PerFrameFunctionalGroupsSequence' not in ds:
                o = np.array([float(x) for x in ds.ImageOrientationPatient])
                nrm = np.cross(o[:3], o[3:])
                ipp = list(np.array([float(x) for x in ipp]) + float(gfov[i]) * nrm)
            frames.append(dict(n=int(f.size), min=int(f.min()), max=int(f.max()), sum=int(f.sum()), wsum=int((f*w).sum()),
                               husum=int(hu.sum()), huwsum=int((hu*w).sum()), humin=int(hu.min()), humax=int(hu.max()),
                               ipp=[float(x) for x in ipp] if ipp is not None else None))
        out[path] = dict(frames=frames)
    except Exception as e:
        out[path] = dict(error=repr(e)[:200])
print(json.dumps(out))
`

// pyFrame is pydicom's view of one frame.
type pyFrame struct {
	N, Min, Max, Sum, Wsum      int64
	Husum, Huwsum, Humin, Humax int64
	IPP                         []float64
}

type pyFile struct {
	Frames []pyFrame
	Error  string
}

// pyRef runs pyRefScript over files; it skips the test when python3 or
// pydicom is missing.
func pyRef(t *testing.T, files []string) map[string]pyFile {
	t.Helper()
	py := pyref.Python(t, "pydicom", "numpy")
	cmd := exec.Command(py, "-c", pyRefScript)
	cmd.Stdin = strings.NewReader(strings.Join(files, "\n"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python reference failed: %v", err)
	}
	var m map[string]pyFile
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("python reference output: %v", err)
	}
	return m
}

// stats is the Go side of pyFrame for a slice of values.
func stats(v []int32) (n, mn, mx, sum, wsum int64) {
	mn, mx = 1<<62, -1<<62
	for i, x := range v {
		y := int64(x)
		mn, mx = min(mn, y), max(mx, y)
		sum += y
		wsum += y * int64(i%9973)
	}
	return int64(len(v)), mn, mx, sum, wsum
}
