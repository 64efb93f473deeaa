"""Read a label map NIfTI with nibabel and report, per label, the LPS centroid.

usage: check_labelmap.py FILE
Prints JSON {"shape": [...], "dtype": ..., "labels": {"1": {"count": n, "lps": [x, y, z]}, ...}}.
nibabel's affine maps voxel indices to RAS mm; LPS = RAS with x and y negated.
"""
import json
import sys

import nibabel as nib
import numpy as np

img = nib.load(sys.argv[1])
data = np.asarray(img.dataobj)
out = {"shape": list(data.shape), "dtype": str(data.dtype), "labels": {},
       "sform_code": int(img.header["sform_code"]), "qform_code": int(img.header["qform_code"])}
for lab in np.unique(data):
    if lab == 0:
        continue
    ijk = np.argwhere(data == lab).astype(np.float64)
    ras = nib.affines.apply_affine(img.affine, ijk)
    c = ras.mean(axis=0)
    out["labels"][str(int(lab))] = {"count": int(len(ijk)), "lps": [-c[0], -c[1], c[2]]}
print(json.dumps(out))
