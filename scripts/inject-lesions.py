#!/usr/bin/env python3
"""Lesions of shapes lungctl's own phantom generator does not make, put
into lesion-free scans: a check that detection and measurement are not
tuned to one generator.

    lungctl phantom -o clean --seed 900 --count 6 --nodules -1
    for p in clean/PHANTOM-*; do lungctl preprocess $p -o pp --nii -q; done
    python3 scripts/inject-lesions.py pp inj --seed 7
    lungctl run inj -o out && lungctl eval --annotations inj/truth.csv --by kind out/candidates.csv

The same on a patient's lung (real vessels, texture and noise): six copies
of LIDC-IDRI-0001, each with its own injection seed (the scan's own nodule,
LUNA16's 23.35 mm one at (56.21, 86.34, -115.87), added to the truth by
hand so that it is no false positive):

    lungctl preprocess ../shared/data/lidc-idri-0001/LIDC-IDRI-0001 -o pp --nii
    for s in 11 12 13 14 15 16; do mkdir -p src$s
      ln -s ../pp/LIDC-IDRI-0001.nii src$s/L$s.nii
      ln -s ../pp/LIDC-IDRI-0001_lung.nii src$s/L$s"_lung.nii"
      python3 scripts/inject-lesions.py src$s out$s --seed $s; done

Each 1 mm scan (pp/<id>.nii with its lung mask pp/<id>_lung.nii) gets
seven lesions, placed in the lung at least 4 mm from its edge, 10 mm apart,
where the lung around them is not already dense (mean under -700 HU):

  ellipsoid  solid (0...50 HU), 5-15 mm (equivalent diameter), axis ratio
             1.3-2.2, randomly oriented (two per scan);
  gauss      solid, a Gaussian density profile peaking at 0...60 HU,
             FWHM 5-12 mm (the diameter given) (two per scan);
  gg         ground glass (-650...-500 HU), homogeneous, 8-20 mm, axis
             ratio 1-1.5 (one per scan);
  small      solid balls of 3-5 mm (two per scan).

Each is rendered with 3x3x3 sub-voxels (partial volume), blurred (sigma
0.6 mm in-plane, 1.0 mm along z, a 2.5 mm slice's blur on the 1 mm grid),
with 30 HU of smoothed noise inside it, blended over what was there. The
truth (LUNA16 columns, LPS mm, and kind) goes to DST/truth.csv. Needs numpy,
scipy and nibabel (Debian: python3-numpy python3-scipy python3-nibabel).
"""
import argparse
import csv
import glob
import os

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi


def rotation(rng):
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    return np.array([
        [a*a + b*b - c*c - d*d, 2*(b*c - a*d), 2*(b*d + a*c)],
        [2*(b*c + a*d), a*a - b*b + c*c - d*d, 2*(c*d - a*b)],
        [2*(b*d - a*c), 2*(c*d + a*b), a*a - b*b - c*c + d*d]])


def lesion(rng, kind):
    """Returns (diameter mm, HU, occupancy function of body coordinates, extent mm)."""
    if kind in ("ellipsoid", "gg"):
        if kind == "ellipsoid":
            d, asp, hu = rng.uniform(5, 15), rng.uniform(1.3, 2.2), rng.uniform(0, 50)
        else:
            d, asp, hu = rng.uniform(8, 20), rng.uniform(1.0, 1.5), rng.uniform(-650, -500)
        a = d / 2 / asp ** (1 / 3)
        axes = np.array([a, a, a * asp])
        rot = rotation(rng)
        return d, hu, lambda p: (((p @ rot) / axes) ** 2).sum(-1) <= 1, axes.max()
    if kind == "gauss":
        d, hu = rng.uniform(5, 12), rng.uniform(0, 60)
        s = d / 2.355
        return d, hu, lambda p: np.exp(-(p ** 2).sum(-1) / (2 * s * s)), 2 * s + 1
    d, hu = rng.uniform(3, 5), rng.uniform(0, 60)
    return d, hu, lambda p: (p ** 2).sum(-1) <= (d / 2) ** 2, d / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="folder of preprocessed lesion-free scans (<id>.nii, <id>_lung.nii)")
    ap.add_argument("dst", help="output folder (scans with lesions, truth.csv)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.dst, exist_ok=True)
    rows = []
    for path in sorted(glob.glob(os.path.join(args.src, "*.nii"))):
        if path.endswith("_lung.nii"):
            continue
        sid = os.path.basename(path)[:-4]
        img = nib.load(path)
        vol = np.asarray(img.dataobj).astype(np.float32)
        lung = np.asarray(nib.load(path[:-4] + "_lung.nii").dataobj) > 0
        depth = ndi.distance_transform_edt(lung)
        placed = []
        for kind in ["ellipsoid", "ellipsoid", "gauss", "gauss", "gg", "small", "small"]:
            d, hu, occupancy, ext = lesion(rng, kind)
            for _ in range(2000):
                c = np.array([rng.integers(0, n) for n in vol.shape])
                if not lung[tuple(c)] or depth[tuple(c)] < ext + 4:
                    continue
                margin = int(np.ceil(ext)) + 5  # the rendered box stays inside the scan
                if any(c[i] < margin or c[i] >= vol.shape[i] - margin for i in range(3)):
                    continue
                if any(np.linalg.norm(c - q) < e + ext + 10 for q, e in placed):
                    continue
                r0 = int(np.ceil(ext)) + 1
                if vol[tuple(slice(c[i] - r0, c[i] + r0 + 1) for i in range(3))].mean() > -700:
                    continue
                break
            else:
                continue
            placed.append((c, ext))
            r0, ss = int(np.ceil(ext)) + 5, 3
            n = 2 * r0 + 1
            g = (np.arange(n * ss) + 0.5) / ss - (r0 + 0.5)
            p = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1)
            occ = occupancy(p).astype(np.float32).reshape(n, ss, n, ss, n, ss).mean((1, 3, 5))
            occ = ndi.gaussian_filter(occ, (0.6, 0.6, 1.0))
            noise = ndi.gaussian_filter(rng.normal(0, 30, occ.shape), 0.6)
            box = tuple(slice(c[i] - r0, c[i] + r0 + 1) for i in range(3))
            vol[box] = vol[box] * (1 - occ) + (hu + noise) * occ
            ras = img.affine @ np.array([c[0], c[1], c[2], 1.0])
            rows.append({"seriesuid": sid, "coordX": -ras[0], "coordY": -ras[1], "coordZ": ras[2],
                         "diameter_mm": round(d, 2), "kind": kind})
        out = np.clip(np.round(vol), -1024, 3071).astype(np.int16)
        nib.save(nib.Nifti1Image(out, img.affine, img.header), os.path.join(args.dst, sid + ".nii"))
    with open(os.path.join(args.dst, "truth.csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["seriesuid", "coordX", "coordY", "coordZ", "diameter_mm", "kind"])
        w.writeheader()
        w.writerows(rows)
    print(len(rows), "lesions")


if __name__ == "__main__":
    main()
