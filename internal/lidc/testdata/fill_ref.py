#!/usr/bin/env python3
"""Independent reference for package lidc's contour filling.

Usage: fill_ref.py SERIES_DIR XML_FILE

Reads the LIDC XML with ElementTree and the slice positions with pydicom
(nothing shared with the Go code), and for every reader's nodule >= 3 mm
prints (JSON on stdout) the voxels of two masks, as [i, j, k] with i =
xCoord, j = yCoord, k = slice index in ascending ImagePositionPatient z:

  "pylidc": pylidc's Annotation.boolean_mask(include_contour_points=False)
            written out again: matplotlib Path.contains_points on pixel
            centres, inclusion contours OR-ed in file order with each
            contour's own points cleared right after it, then exclusion
            contours cleared (inside and points).
  "rule":   the same, but the cleared "points" of a contour are all integer
            points on its closed polyline (what package lidc documents), not
            only its vertices; differs from "pylidc" only where an outline
            skips pixels.

Without matplotlib, skimage.measure.points_in_poly is the inside test.
Exit status 3 with a message on stderr when a module is missing.
"""
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

try:
    import numpy as np
    import pydicom
except ImportError as e:  # pragma: no cover
    sys.stderr.write("missing python module: %s\n" % e)
    sys.exit(3)

try:
    from matplotlib.path import Path

    def inside(poly, pts):
        return Path(poly, closed=True).contains_points(pts)

    INSIDE = "matplotlib.path.Path.contains_points"
except ImportError:
    try:
        from skimage.measure import points_in_poly

        def inside(poly, pts):
            return points_in_poly(pts, poly)

        INSIDE = "skimage.measure.points_in_poly"
    except ImportError as e:
        sys.stderr.write("missing python module: %s\n" % e)
        sys.exit(3)


def local(tag):
    return tag.rsplit("}", 1)[-1]


def child(el, name):
    for c in el:
        if local(c.tag) == name:
            return c
    return None


def children(el, name):
    return [c for c in el if local(c.tag) == name]


def lattice(poly):
    """All integer points on the closed polyline through poly."""
    out = set()
    n = len(poly)
    for e in range(n):
        (x0, y0), (x1, y1) = poly[e], poly[(e + 1) % n]
        g = math.gcd(abs(x1 - x0), abs(y1 - y0))
        if g == 0:
            out.add((x0, y0))
            continue
        for t in range(g + 1):
            out.add((x0 + t * (x1 - x0) // g, y0 + t * (y1 - y0) // g))
    return out


def main():
    series, xml = sys.argv[1], sys.argv[2]
    zs = []
    for f in sorted(os.listdir(series)):
        if f.endswith(".dcm"):
            ds = pydicom.dcmread(os.path.join(series, f), stop_before_pixels=True)
            zs.append(float(ds.ImagePositionPatient[2]))
    zs.sort()
    root = ET.parse(xml).getroot()
    out = {"inside_test": INSIDE, "nodules": []}
    for si, sess in enumerate(children(root, "readingSession")):
        for nod in children(sess, "unblindedReadNodule"):
            rois = []
            for roi in children(nod, "roi"):
                pts = [(int(child(e, "xCoord").text), int(child(e, "yCoord").text))
                       for e in children(roi, "edgeMap")]
                if len(pts) < 2:
                    continue
                z = float(child(roi, "imageZposition").text)
                k = min(range(len(zs)), key=lambda i: abs(zs[i] - z))
                inc = child(roi, "inclusion")
                incl = inc is None or inc.text.strip().upper() != "FALSE"
                rois.append((k, incl, pts))
            if not rois:
                continue
            allp = np.array([p for _, _, pts in rois for p in pts])
            x0, y0 = allp.min(0)
            x1, y1 = allp.max(0)
            xx, yy = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1), indexing="ij")
            test = np.c_[xx.ravel(), yy.ravel()]
            masks = {}
            for variant in ("pylidc", "rule"):
                vox = {}
                for k in sorted(set(r[0] for r in rois)):
                    on = set()
                    for kk, incl, pts in rois:
                        if kk != k or not incl:
                            continue
                        c = inside(np.array(pts), test)
                        on |= set(map(tuple, test[c].tolist()))
                        on -= set(pts) if variant == "pylidc" else lattice(pts)
                    for kk, incl, pts in rois:
                        if kk != k or incl:
                            continue
                        c = inside(np.array(pts), test)
                        on -= set(map(tuple, test[c].tolist()))
                        on -= set(pts) if variant == "pylidc" else lattice(pts)
                    vox[k] = on
                masks[variant] = sorted([int(x), int(y), int(k)] for k, s in vox.items() for x, y in s)
            out["nodules"].append({"session": si, "id": child(nod, "noduleID").text.strip(),
                                   "pylidc": masks["pylidc"], "rule": masks["rule"]})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
