package dicomio

import (
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/lungctl/lungctl/internal/hounsfield"
	"github.com/lungctl/lungctl/internal/pyref"
	"github.com/lungctl/lungctl/internal/volume"
	"github.com/lungctl/lungctl/internal/warn"
)

// tiltScript: pydicom computes, for every file of a folder, the world
// position of a few pixels (IPP + col·Δc·row_dir + row·Δr·col_dir) and the
// HU there, listed in the order pydicom itself sorts the slices (by IPP
// projected on the IOP normal).
const tiltScript = `
import sys, json, glob, os
import numpy as np
import pydicom
d = sys.argv[1]
pix = [(0, 0), (100, 200), (255, 255), (400, 30), (511, 511)]
out = []
for f in sorted(glob.glob(os.path.join(d, '**', '*'), recursive=True)):
    try:
        ds = pydicom.dcmread(f)
        a = ds.pixel_array
    except Exception:
        continue
    ipp = np.array([float(x) for x in ds.ImagePositionPatient])
    iop = np.array([float(x) for x in ds.ImageOrientationPatient])
    dr, dc = (float(x) for x in ds.PixelSpacing)
    rowdir, coldir = iop[:3], iop[3:]
    s, b = float(ds.get('RescaleSlope', 1)), float(ds.get('RescaleIntercept', 0))
    pts = []
    for r, c in pix:
        w = ipp + c * dc * rowdir + r * dr * coldir
        pts.append(dict(r=r, c=c, world=list(w), hu=float(a[r, c]) * s + b))
    out.append(dict(key=float(ipp @ np.cross(rowdir, coldir)), ipp=list(ipp), pts=pts))
out.sort(key=lambda x: x['key'])
print(json.dumps(out))
`

func TestGantryTiltGeometry(t *testing.T) {
	dir := dataDir(t, "ct-head-ge-gantry-tilt")
	sc, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	hounsfield.Normalize(sc.HU.Data) // step 2 of the rule, as preprocess applies it
	v := sc.HU
	if v.Dims != [3]int{512, 512, 28} {
		t.Fatalf("dims %v", v.Dims)
	}
	// A tilt warning naming 18.5°.
	tiltWarned := false
	for _, w := range sc.Warnings {
		if w.Code == warn.GantryTilt && strings.Contains(w.Message, "18.5") {
			tiltWarned = true
		}
	}
	if !tiltWarned {
		t.Errorf("no gantry tilt warning naming 18.5°: %q", sc.Warnings)
	}
	// The slice axis runs from the first to the last position, 18.5° off the
	// in-plane normal.
	var col2, normal [3]float64
	for r := 0; r < 3; r++ {
		col2[r] = v.Direction[r][2]
	}
	normal = cross3([6]float64{v.Direction[0][0], v.Direction[1][0], v.Direction[2][0], v.Direction[0][1], v.Direction[1][1], v.Direction[2][1]})
	if a := math.Acos(dot3(col2, normal)) * 180 / math.Pi; math.Abs(a-18.5) > 0.1 {
		t.Errorf("slice axis %.3f° off the normal, want 18.5°", a)
	}
	end := v.IndexToWorld(volume.Vec3{0, 0, 27})
	for a := 0; a < 3; a++ {
		if math.Abs(end[a]-sc.Positions[27][a]) > 1e-6 {
			t.Fatalf("grid end %v != last position %v", end, sc.Positions[27])
		}
	}

	py := pyref.Python(t, "pydicom", "numpy")
	out, err := exec.Command(py, "-c", tiltScript, dir).Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var ref []struct {
		IPP []float64
		Pts []struct {
			R, C  int
			World []float64
			HU    float64
		}
	}
	if err := json.Unmarshal(out, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref) != 28 {
		t.Fatalf("pydicom found %d slices", len(ref))
	}
	row := [3]float64{v.Direction[0][0], v.Direction[1][0], v.Direction[2][0]}
	colv := [3]float64{v.Direction[0][1], v.Direction[1][1], v.Direction[2][1]}
	for k, s := range ref {
		for a := 0; a < 3; a++ {
			if math.Abs(s.IPP[a]-sc.Positions[k][a]) > 1e-4 {
				t.Fatalf("slice %d: position %v, pydicom order gives %v", k, sc.Positions[k], s.IPP)
			}
		}
		for _, p := range s.Pts {
			// World position of voxel (i=c, j=r, k) from the loaded geometry:
			// its true slice position plus the in-plane offsets.
			var w [3]float64
			for a := 0; a < 3; a++ {
				w[a] = sc.Positions[k][a] + float64(p.C)*v.Spacing[0]*row[a] + float64(p.R)*v.Spacing[1]*colv[a]
			}
			for a := 0; a < 3; a++ {
				if math.Abs(w[a]-p.World[a]) > 1e-3 {
					t.Fatalf("slice %d pixel (r%d,c%d): world %v, pydicom %v", k, p.R, p.C, w, p.World)
				}
			}
			want := p.HU
			if want < -1100 {
				want = -1000 // out-of-field fill, per the hounsfield rule
			}
			if got := float64(v.At(p.C, p.R, k)); got != want {
				t.Errorf("slice %d pixel (r%d,c%d): %v HU, pydicom %v", k, p.R, p.C, got, want)
			}
		}
	}
	// At the two ends the sheared grid itself is exact.
	for _, k := range []int{0, 27} {
		p := ref[k].Pts[1]
		w := v.IndexToWorld(volume.Vec3{float64(p.C), float64(p.R), float64(k)})
		for a := 0; a < 3; a++ {
			if math.Abs(w[a]-p.World[a]) > 1e-3 {
				t.Errorf("grid slice %d: IndexToWorld %v, pydicom %v", k, w, p.World)
			}
		}
	}
}
