"""Test helper for internal/render: read a folder of axial CT slices with
pydicom (an independent reader), sort them by ImagePositionPatient z, and
write int16 HU voxels (x fastest) to OUT.raw plus the grid to OUT.json.

usage: dicom_to_raw.py OUT file.dcm...
"""
import json
import sys

import numpy as np
import pydicom

out = sys.argv[1]
ds = sorted((pydicom.dcmread(p) for p in sys.argv[2:]), key=lambda d: float(d.ImagePositionPatient[2]))
hu = np.stack([d.pixel_array.astype(np.float64) * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])
hu = np.clip(hu, -32768, 32767).astype("<i2")
hu.tofile(out + ".raw")
z = [float(d.ImagePositionPatient[2]) for d in ds]
row, col = (float(v) for v in ds[0].PixelSpacing)
json.dump({"dims": [int(ds[0].Columns), int(ds[0].Rows), len(ds)],
           "spacing": [col, row, (z[-1] - z[0]) / (len(z) - 1)],
           "origin": [float(v) for v in ds[0].ImagePositionPatient],
           "iop": [float(v) for v in ds[0].ImageOrientationPatient]}, open(out + ".json", "w"))
