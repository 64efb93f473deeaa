"""Independent check of a DICOM SEG written by lungctl, with pydicom, numpy and nibabel.

usage: check_seg.py SEG LABELS.nii.gz X Y Z SOURCE_FILE...

SEG       the Segmentation to check
LABELS    the same label volume written as NIfTI (WriteLabelMap), the oracle
X Y Z     a finding centre (LPS mm) that segment 1 must cover
SOURCE    the source series' files

Checks, failing with exit status 1 and a message:
  - pydicom reads the file; SOP class, modality, BINARY type;
  - pixel_array has NumberOfFrames frames of Rows x Columns, every frame has a set pixel;
  - each frame's Source Image is a source instance and its ImagePositionPatient is that
    instance's; shared orientation and spacing are the source's;
  - the frames equal, pixel for pixel, a nearest-neighbour sampling of LABELS at the
    source pixel centres computed here with nibabel's RAS affine (a pixel centre exactly
    half-way between voxel centres may round either way);
  - segment 1's frame nearest Z has a set pixel within 2 mm of (X, Y).
Prints a JSON summary on success.
"""
import json
import sys

import nibabel as nib
import numpy as np
import pydicom


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


seg_path, lab_path = sys.argv[1], sys.argv[2]
target = np.array([float(v) for v in sys.argv[3:6]])
sources = sys.argv[6:]

ds = pydicom.dcmread(seg_path)
if ds.SOPClassUID != "1.2.840.10008.5.1.4.1.1.66.4" or ds.Modality != "SEG" or ds.SegmentationType != "BINARY":
    fail("not a BINARY Segmentation: %s %s %s" % (ds.SOPClassUID, ds.Modality, ds.SegmentationType))
nf = int(ds.NumberOfFrames)
px = ds.pixel_array
if px.ndim == 2:
    px = px[np.newaxis]
if px.shape != (nf, ds.Rows, ds.Columns):
    fail("pixel_array shape %s, want (%d, %d, %d)" % (px.shape, nf, ds.Rows, ds.Columns))
pffg = ds.PerFrameFunctionalGroupsSequence
if len(pffg) != nf:
    fail("%d per-frame items for %d frames" % (len(pffg), nf))
shared = ds.SharedFunctionalGroupsSequence[0]
iop = np.array([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
sp = [float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing]
row_dir, col_dir = iop[:3], iop[3:]
segments = {int(s.SegmentNumber): s for s in ds.SegmentSequence}

# Source images by (SOP Instance UID, frame number; 0 for a single-frame instance):
# (ImagePositionPatient, ImageOrientationPatient, PixelSpacing).
src = {}
first = None
for p in sources:
    s = pydicom.dcmread(p, stop_before_pixels=True)
    if first is None:
        first = s
    if "PerFrameFunctionalGroupsSequence" in s:
        sh = s.SharedFunctionalGroupsSequence[0]
        for f, item in enumerate(s.PerFrameFunctionalGroupsSequence):
            def get(seq, kw):
                g = item if seq in item else sh
                return [float(v) for v in getattr(g[seq][0], kw)]
            src[(s.SOPInstanceUID, f + 1)] = (get("PlanePositionSequence", "ImagePositionPatient"),
                                              get("PlaneOrientationSequence", "ImageOrientationPatient"),
                                              get("PixelMeasuresSequence", "PixelSpacing"))
    else:
        src[(s.SOPInstanceUID, 0)] = ([float(v) for v in s.ImagePositionPatient],
                                      [float(v) for v in s.ImageOrientationPatient],
                                      [float(v) for v in s.PixelSpacing])
any_src = next(iter(src.values()))
if np.abs(iop - np.array(any_src[1])).max() > 1e-6:
    fail("orientation %s differs from the source's %s" % (iop, any_src[1]))
if np.abs(np.array(sp) - np.array(any_src[2])).max() > 1e-6:
    fail("pixel spacing %s differs from the source's %s" % (sp, any_src[2]))
if ds.StudyInstanceUID != first.StudyInstanceUID or ds.FrameOfReferenceUID != first.FrameOfReferenceUID:
    fail("not in the source's study / frame of reference")
if ds.ReferencedSeriesSequence[0].SeriesInstanceUID != first.SeriesInstanceUID:
    fail("Referenced Series Sequence does not name the source series")

# Oracle: nearest-neighbour sampling of the NIfTI labels at each source pixel centre. A pixel
# centre exactly half-way between voxel centres (common: 0.703125 or 2.5 mm pixels on a 1 mm
# grid) may round either way, so each axis gets both roundings there: a pixel MUST be set
# where every rounding gives the segment and MAY be set where any does.
img = nib.load(lab_path)
lab = np.asarray(img.dataobj)
ras_to_ijk = np.linalg.inv(img.affine)
nz = np.argwhere(lab)
box_lo, box_hi = nz.min(axis=0) - 1, nz.max(axis=0) + 1  # only pixels near labelled voxels matter
rr, cc = np.meshgrid(np.arange(ds.Rows), np.arange(ds.Columns), indexing="ij")
EPS = 1e-4  # NIfTI stores the affine in float32: ~1e-5 mm at 160 mm
must, may = {}, {}
for uid, (pos, _, _) in src.items():
    ipp = np.array(pos)
    lps = ipp[None, None, :] + cc[..., None] * sp[1] * row_dir + rr[..., None] * sp[0] * col_dir
    ras = lps * np.array([-1.0, -1.0, 1.0])
    ijk = ras @ ras_to_ijk[:3, :3].T + ras_to_ijk[:3, 3]
    near = np.all((ijk >= box_lo) & (ijk <= box_hi), axis=-1)
    if not near.any():
        continue
    sel = ijk[near]
    up = np.floor(sel + 0.5 + EPS).astype(np.int64)
    down = np.ceil(sel - 0.5 - EPS).astype(np.int64)
    combos = []
    for c in range(8):
        idx = np.where(np.array([(c >> a) & 1 for a in range(3)], dtype=bool), up, down)
        inside = np.all((idx >= 0) & (idx < np.array(lab.shape)), axis=-1)
        vals = np.zeros(len(sel), dtype=np.int64)
        ii = idx[inside]
        vals[inside] = lab[ii[:, 0], ii[:, 1], ii[:, 2]]
        combos.append(vals)
    for v in np.unique(np.stack(combos)):
        if v == 0:
            continue
        eq = [c == v for c in combos]
        mu, ma = np.zeros(near.shape, bool), np.zeros(near.shape, bool)
        mu[near], ma[near] = np.logical_and.reduce(eq), np.logical_or.reduce(eq)
        if mu.any():
            must[(int(v), uid)] = mu
        may[(int(v), uid)] = ma

seen = set()
mismatch = 0
total = 0
best = None  # (z distance, xy distance) for segment 1
for f in range(nf):
    item = pffg[f]
    segnum = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
    if segnum not in segments:
        fail("frame %d names segment %d, not in SegmentSequence" % (f, segnum))
    ipp = np.array([float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient])
    srcimg = item.DerivationImageSequence[0].SourceImageSequence[0]
    uid = (srcimg.ReferencedSOPInstanceUID, int(srcimg.get("ReferencedFrameNumber", 0)))
    if uid not in src:
        fail("frame %d references %s, not a source image" % (f, uid))
    if np.abs(ipp - np.array(src[uid][0])).max() > 1e-4:
        fail("frame %d at %s but its source image is at %s" % (f, ipp, src[uid][0]))
    dim = [int(v) for v in item.FrameContentSequence[0].DimensionIndexValues]
    if dim[0] != segnum:
        fail("frame %d dimension index %s does not start with its segment %d" % (f, dim, segnum))
    mask = px[f] != 0
    if not mask.any():
        fail("frame %d is empty" % f)
    key = (segnum, uid)
    if key in seen:
        fail("two frames for segment %d on %s" % key)
    seen.add(key)
    ma = may.get(key)
    if ma is None:
        fail("frame %d (segment %d on %s) has %d pixels where the labels have none" % (f, segnum, uid, mask.sum()))
    mu = must.get(key, np.zeros_like(mask))
    mismatch += int((mu & ~mask).sum() + (mask & ~ma).sum())
    total += int(mask.sum())
    if segnum == 1:
        rows, cols = np.nonzero(mask)
        lps = ipp[None, :] + cols[:, None] * sp[1] * row_dir + rows[:, None] * sp[0] * col_dir
        dz = abs(ipp[2] - target[2])
        dxy = float(np.min(np.hypot(lps[:, 0] - target[0], lps[:, 1] - target[1])))
        if best is None or dz < best[0]:
            best = (dz, dxy, float(ipp[2]), int(mask.sum()))
missing = set(must) - seen
if missing:
    fail("the labels cover %d (segment, slice) pairs that have no frame, e.g. %s" % (len(missing), sorted(missing)[0]))
if total == 0 or mismatch > 0:
    fail("frames differ from the oracle in %d pixels (%d set)" % (mismatch, total))
if best is None:
    fail("segment 1 has no frame")
if best[1] > 2.0:
    fail("segment 1's frame nearest z=%.2f (at z=%.2f) has no pixel within 2 mm of (%.2f, %.2f): nearest %.2f mm"
         % (target[2], best[2], target[0], target[1], best[1]))
print(json.dumps({"frames": nf, "segments": sorted(segments), "mismatch": mismatch, "compared": total,
                  "nearest_z": best[2], "nearest_xy_mm": best[1], "pixels_on_nearest": best[3]}))
