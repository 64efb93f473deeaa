"""Print, for each DICOM file given, the attributes a derived object references.

usage: dump_refs.py FILE...
Prints JSON: a list of {path, sop_class, sop_instance, ipp, iop, spacing, rows, cols, for,
study, series, patient/study module strings}, read with pydicom (headers only).
"""
import json
import sys

import pydicom


def s(ds, kw):
    v = ds.get(kw, "")
    return "" if v is None else str(v)


out = []
for path in sys.argv[1:]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    out.append({
        "path": path,
        "sop_class": s(ds, "SOPClassUID"), "sop_instance": s(ds, "SOPInstanceUID"),
        "ipp": [float(x) for x in ds.ImagePositionPatient],
        "iop": [float(x) for x in ds.ImageOrientationPatient],
        "spacing": [float(x) for x in ds.PixelSpacing],
        "rows": int(ds.Rows), "cols": int(ds.Columns),
        "for": s(ds, "FrameOfReferenceUID"), "study": s(ds, "StudyInstanceUID"), "series": s(ds, "SeriesInstanceUID"),
        "PatientName": s(ds, "PatientName"), "PatientID": s(ds, "PatientID"),
        "PatientBirthDate": s(ds, "PatientBirthDate"), "PatientSex": s(ds, "PatientSex"),
        "StudyDate": s(ds, "StudyDate"), "StudyTime": s(ds, "StudyTime"), "StudyID": s(ds, "StudyID"),
        "AccessionNumber": s(ds, "AccessionNumber"), "ReferringPhysicianName": s(ds, "ReferringPhysicianName"),
    })
print(json.dumps(out))
