#!/usr/bin/env python3
"""
phantom-indep.py -- an independent synthetic chest-CT phantom generator
(DICOM series + truth.csv), to check lungctl on lesions, anatomy and
acquisitions that its own generator (internal/phantom) does not make. It
was written from a description of the task and of the truth format only,
without reading internal/phantom or any other lungctl source, so that its
modelling choices are not the detector's.

Usage (numpy, scipy and pydicom; about 20 s and 2 GB per scan):
  phantom-indep.py --out DIR --seed S --count N [--kernel standard|sharp]
         [--noise HU] [--slice-mm T] [--small] [--first K]

  python3 scripts/phantom-indep.py --out ind1 --seed 1 --count 20
  lungctl run ind1 -o out1
  lungctl eval --annotations ind1/truth.csv --by kind out1/candidates.csv

Each patient is DIR/INDEP-XXXX/ (one CT Image Storage file per slice) and
DIR/truth.csv has one row per lesion in the columns of lungctl phantom's
truth.csv (seriesuid, coordX/Y/Z in LPS mm, diameter_mm, malignancy, kind,
type, solid_diameter_mm, long_axis_mm, short_axis_mm, volume_mm3,
spiculated, location). --first K starts at patient K and writes
truth_K.csv, to split one set over processes (concatenate the files'
rows); a patient's bytes depend only on --seed and its index.

Model (all geometry analytic, in DICOM patient coordinates LPS, mm):
  * Fine grid: in-plane = the output pixel grid (512x512, PixelSpacing px),
    along z = slice spacing / m (m integer, fine step <= 0.625 mm).  Every
    object is a signed-distance field d (mm, <0 inside); its partial-volume
    occupancy on the fine grid is the linear ramp clip(0.5 - d/px, 0, 1), which
    is the box-filter coverage of a locally flat surface.  Tubes thinner than
    0.6 px are drawn at radius 0.6 px with their contrast scaled by (r/rmin)^2
    so that the integrated attenuation of thin vessels is preserved.
  * Anatomy per fine slice (2-D, vectorised): body superellipse with skin,
    subcutaneous fat, muscle; thoracic cavity; 12 rib pairs (elliptic
    cross-section tubes with cortex + marrow, descending anteriorly, costal
    cartilage); sternum; spine (vertebral bodies, discs, canal, posterior
    elements); mediastinal fat, heart (rotated ellipsoid, contrast chambers),
    aorta (ascending/arch/descending), SVC, pulmonary trunk, oesophagus,
    supra-aortic arteries; diaphragm domes (liver, spleen, stomach with gas
    below); lungs = cavity minus mediastinum/spine, below apex paraboloids,
    above the diaphragm, all deformed by low-frequency random fields.
    Parenchyma -880..-820 HU + smooth variation + gravity (posterior) gradient;
    optional fissures (thin sheets) and emphysema (lucent blobs).
  * Pulmonary vessels: per lung one arterial and two venous trees grown by
    recursive territory bisection (points sampled in the lung are split along
    their principal axis; branch heads to the centroid of its territory;
    radii follow Murray's law r^3 = r1^3 + r2^3, ~8 mm at the hilum down to
    ~0.3 mm), gently curved.  Bronchi (air lumen + wall) run beside the
    arteries down to ~1.5 mm, connected by main bronchi to the trachea.
  * Lesions are rendered on the fine grid, weighted by the lung occupancy
    (so juxtapleural lesions are flattened against the pleura).
  * Acquisition: slice-profile = box of width SliceThickness averaged over the
    fine z samples; in-plane Gaussian PSF (FWHM 0.6-1.2 mm); 'sharp' kernels add
    an unsharp mask (edge overshoot); noise = white noise filtered in 2-D
    Fourier space with sqrt(|f|)*window(f) (so the NPS ~ |f|*W(f)^2, as FBP
    gives), SD scaled to --noise in the lung, a bit higher in the body centre;
    clip to the stored range, round; outside the reconstruction circle a
    padding value.

Truth conventions (truth.csv, one row per lesion):
  coordX/Y/Z   occupancy-weighted centroid of the rendered lesion (after the
               lung-occupancy weighting) in world LPS mm, like LUNA16.
  long_axis_mm longest in-plane (axial) extent on the fine slice where the
               lesion's axial area is largest; short_axis_mm = largest extent
               perpendicular to it (both from the >=50% occupancy mask).
  diameter_mm  = (long + short) / 2, the mean axial diameter (Lung-RADS style).
               For spiculated lesions all size metrics are of the core only
               (spicules excluded).
  volume_mm3   integral of the occupancy (core only for spiculated).
  solid_diameter_mm  mean axial diameter of the solid part (0 = non-solid,
               = diameter for solid/calcified).
"""
import argparse
import math
import os
import sys
import time

import numpy as np
from scipy import ndimage
from scipy import fft as sfft
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

F32 = np.float32
NPIX = 512
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
KINDS = ["round", "lobulated", "spiculated", "groundglass", "partsolid",
         "calcified", "juxtapleural", "juxtavascular", "mass", "small"]
HEADER = ("seriesuid,coordX,coordY,coordZ,diameter_mm,malignancy,kind,type,"
          "solid_diameter_mm,long_axis_mm,short_axis_mm,volume_mm3,spiculated,location")


# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------
def occ(d, h):
    """Partial-volume occupancy of a signed distance d (mm) for ramp width h."""
    return np.clip(0.5 - d * (1.0 / h), 0.0, 1.0).astype(F32, copy=False)


def smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def unit(v):
    v = np.asarray(v, float)
    n = np.linalg.norm(v)
    return v / n if n > 1e-9 else np.array([1.0, 0, 0])


def perp(d, rng):
    """random unit vector perpendicular to d"""
    v = rng.normal(size=3)
    v -= d * (v @ d)
    return unit(v)


def uid(rng):
    return "2.25." + str(int.from_bytes(rng.bytes(15), "big"))


class Smooth:
    """Smooth random field: sum of n random plane waves (SD ~1)."""

    def __init__(self, rng, n, lmin, lmax):
        d = rng.normal(size=(n, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        lam = rng.uniform(lmin, lmax, n)
        self.k = d * (2 * np.pi / lam)[:, None]
        self.ph = rng.uniform(0, 2 * np.pi, n)
        self.a = math.sqrt(2.0 / n)

    def at(self, x, y, z):
        out = 0.0
        for (kx, ky, kz), ph in zip(self.k, self.ph):
            out = out + np.cos(kx * x + ky * y + kz * z + ph)
        return out * self.a

    def plane(self, xs, ys, z):
        """evaluate on the (len(ys), len(xs)) grid at fixed z: one complex matmul"""
        EB = np.exp(1j * (np.outer(ys, self.k[:, 1]) + (self.k[:, 2] * z + self.ph)[None, :]))
        EA = np.exp(1j * np.outer(self.k[:, 0], xs))
        return ((EB @ EA).real * self.a).astype(F32)


def capsule(X, Y, Z, a, b, ra, rb, rmin=0.0):
    """Signed distance to a tapered capsule a->b (radii ra->rb), broadcasting.
    Returns (d, amp): amp<1 scales contrast of parts thinner than rmin."""
    ab = b - a
    L2 = max(float(ab @ ab), 1e-9)
    t = ((X - a[0]) * ab[0] + (Y - a[1]) * ab[1] + (Z - a[2]) * ab[2]) * (1.0 / L2)
    t = np.clip(t, 0.0, 1.0)
    dx = X - (a[0] + t * ab[0])
    dy = Y - (a[1] + t * ab[1])
    dz = Z - (a[2] + t * ab[2])
    dist = np.sqrt(dx * dx + dy * dy + dz * dz)
    r = ra + t * (rb - ra)
    if rmin > 0 and min(ra, rb) < rmin:
        re = np.maximum(r, rmin)
        return dist - re, np.minimum(1.0, (r / rmin) ** 2)
    return dist - r, None


def smin(a, b, k):
    h = np.maximum(k - np.abs(a - b), 0.0) / k
    return np.minimum(a, b) - h * h * k * 0.25


# ----------------------------------------------------------------------------
# patient parameters
# ----------------------------------------------------------------------------
class Patient:
    pass


def make_patient(seed, idx, args):
    rng = np.random.default_rng([abs(seed), idx, 7])
    P = Patient()
    P.rng = rng
    P.idx = idx
    P.pid = "INDEP-%04d" % ((((seed - 1) % 10) * 1000 + idx + 1) % 10000)
    # ---- acquisition
    P.px = round(U(rng, 0.65, 0.80), 4)
    P.fov = P.px * NPIX
    if args.slice_mm:
        P.dz = float(args.slice_mm)
    elif args.small:
        P.dz = 2.5
    else:
        P.dz = float(rng.choice([1.0, 1.25, 2.0, 2.5], p=[0.1, 0.35, 0.3, 0.25]))
    thick_opts = {1.0: [1.0, 1.0, 1.25], 1.25: [1.25, 1.25, 1.5], 2.0: [2.0, 2.0, 2.5],
                  2.5: [2.5, 2.5, 3.0]}
    P.T = float(rng.choice(thick_opts.get(P.dz, [P.dz])))
    P.kernel = args.kernel or str(rng.choice(["standard", "sharp"]))
    if P.kernel == "sharp":
        P.kname = str(rng.choice(["LUNG", "B70f", "BONE"]))
        P.fwhm = U(rng, 0.6, 0.85)
        P.usm_amt, P.usm_sig = U(rng, 0.3, 0.6), U(rng, 0.8, 1.2)
        P.nps_fc = U(rng, 0.85, 1.1)
        P.noise = args.noise if args.noise is not None else U(rng, 30, 60)
    else:
        P.kname = str(rng.choice(["STANDARD", "B30f"]))
        P.fwhm = U(rng, 0.8, 1.2)
        P.usm_amt, P.usm_sig = 0.0, 1.0
        P.nps_fc = U(rng, 0.4, 0.6)
        P.noise = args.noise if args.noise is not None else U(rng, 15, 40)
    P.kvp = int(rng.choice([100, 120, 120, 140]))
    P.contrast = rng.random() < 0.35
    P.pixrep = int(rng.integers(0, 2))
    if P.pixrep == 0:
        P.intercept, P.bits_stored = -1024, int(rng.choice([12, 16]))
        P.pad_stored = 0
    else:
        P.intercept, P.bits_stored = int(rng.choice([0, -1024])), 16
        P.pad_stored = -2000
    P.set_padding_tag = rng.random() < 0.5
    P.age = int(rng.integers(45, 86))
    P.sex = str(rng.choice(["M", "F"]))
    # ---- image placement (image centre = scanner iso-centre-ish)
    xc_img, yc_img = U(rng, -8, 8), U(rng, -15, 15)
    P.x0 = xc_img - (NPIX - 1) / 2 * P.px
    P.y0 = yc_img - (NPIX - 1) / 2 * P.px
    P.img_c = (xc_img, yc_img)
    # ---- body / cavity (half axes, mm)
    P.n_sh = U(rng, 2.1, 2.6)
    P.cav_w = U(rng, 118, 140)
    P.cav_ha, P.cav_hp = U(rng, 72, 88), U(rng, 60, 72)
    P.mus_l, P.mus_a, P.mus_p = U(rng, 10, 18), U(rng, 10, 18), U(rng, 42, 58)
    P.fat_l, P.fat_a, P.fat_p = U(rng, 4, 30), U(rng, 4, 26), U(rng, 4, 14)
    P.skin = U(rng, 1.5, 2.5)
    lim = P.fov / 2 - 14
    over = P.cav_w + P.mus_l + P.fat_l - lim
    if over > 0:
        cut = min(over, P.fat_l - 4)
        P.fat_l -= cut
        over -= cut
        if over > 0:
            P.cav_w -= over
    # body centre: its mid-AP at image centre +- offset
    P.cx = xc_img + U(rng, -8, 8)
    front = P.cav_ha + P.mus_a + P.fat_a
    back = P.cav_hp + P.mus_p + P.fat_p
    P.cy = yc_img + (front - back) / 2 + U(rng, -10, 10)
    P.mx = P.cx                                   # midline
    # ---- z layout (world mm; +z = superior)
    P.z_apex = U(rng, -60, 20)
    P.H_ld = U(rng, 165, 200)
    P.z_domeR = P.z_apex - P.H_ld
    P.z_domeL = P.z_domeR - U(rng, 8, 25)
    P.margins = (U(rng, 5, 12), U(rng, 5, 12)) if P.dz <= 1.25 else (U(rng, 12, 28), U(rng, 8, 25))
    # ---- spine, trachea, mediastinum
    P.r_vb = U(rng, 14, 17)
    P.y_vb = P.cy + P.cav_hp - P.r_vb - U(rng, 2, 7)
    P.r_can = U(rng, 6.5, 8)
    P.y_can = P.y_vb + P.r_vb + P.r_can + 1.0
    P.v_pitch = U(rng, 24, 29)
    P.v_phase = U(rng, 0, P.v_pitch)
    P.bone_cort = U(rng, 450, 750)
    P.bone_marrow = U(rng, 130, 260)
    P.w_ant, P.w_post = U(rng, 3, 10), U(rng, 19, 27)
    P.fat_med = U(rng, -105, -75)
    P.fat_sub = U(rng, -115, -85)
    P.muscle = U(rng, 35, 55)
    P.z_car = P.z_apex - U(rng, 65, 85)
    P.r_tr = U(rng, 7.5, 9.5)
    P.w_tr = U(rng, 1.5, 2.2)
    P.x_tr = P.mx + U(rng, -3, 3)
    P.y_tr = P.y_vb - P.r_vb - U(rng, 14, 19) - P.r_tr * 0.5
    # heart
    P.hax, P.hay, P.haz = U(rng, 55, 68), U(rng, 42, 52), U(rng, 45, 58)
    P.hth = math.radians(U(rng, 25, 45))
    P.hx = P.mx + U(rng, 14, 26)
    P.hy = P.cy - P.cav_ha + P.hay + U(rng, 8, 18)
    P.hz = P.z_domeL + U(rng, 10, 25)
    # contrast HU
    if P.contrast:
        P.hu_art, P.hu_ven = U(rng, 130, 300), U(rng, 110, 200)
        P.hu_aorta = U(rng, 140, 300)
        P.hu_svc = U(rng, 150, 700)
        P.hu_myo, P.hu_blood = U(rng, 80, 120), U(rng, 140, 260)
        P.hu_liver, P.hu_spleen = U(rng, 90, 120), U(rng, 100, 140)
    else:
        P.hu_art = P.hu_ven = U(rng, 35, 50)
        P.hu_aorta = P.hu_svc = P.hu_blood = U(rng, 35, 50)
        P.hu_myo = U(rng, 40, 50)
        P.hu_liver, P.hu_spleen = U(rng, 50, 65), U(rng, 40, 50)
    # lung parenchyma
    P.lung_base = U(rng, -880, -820)
    P.lung_grad = U(rng, 40, 100) if rng.random() < 0.6 else U(rng, 0, 20)
    P.lung_var = U(rng, 5, 15)
    P.emphysema = rng.random() < 0.25
    P.fissures = rng.random() < 0.6
    P.stomach_gas = rng.random() < 0.5
    P.table = rng.random() < 0.75
    # smooth fields
    P.n_cav = Smooth(rng, 6, 60, 140)
    P.n_med = Smooth(rng, 6, 40, 100)
    P.n_lung = Smooth(rng, 6, 25, 80)
    P.n_dia = Smooth(rng, 5, 60, 140)
    P.amp_cav, P.amp_med, P.amp_dia = U(rng, 1.0, 2.5), U(rng, 2, 5), U(rng, 3, 7)
    return P


def U(rng, a, b):
    return float(rng.uniform(a, b))


# ----------------------------------------------------------------------------
# anatomy: precomputation of z-independent 2-D maps
# ----------------------------------------------------------------------------
def superellipse_R(theta, a, b_ant, b_post, n):
    """boundary radius along direction theta (y down = posterior)"""
    c, s = np.abs(np.cos(theta)), np.sin(theta)
    b = np.where(s < 0, b_ant, b_post)
    s = np.abs(s)
    return ((c / a) ** n + (s / b) ** n) ** (-1.0 / n)


def precompute(P):
    rng = P.rng
    P.xs = (P.x0 + np.arange(NPIX) * P.px).astype(F32)
    P.ys = (P.y0 + np.arange(NPIX) * P.px).astype(F32)
    X, Y = P.xs[None, :], P.ys[:, None]
    DX, DY = X - P.cx, Y - P.cy
    P.rho = np.sqrt(DX * DX + DY * DY).astype(F32)
    th = np.arctan2(DY, DX)
    # posterior back flatter (higher exponent handled by the same n; fine)
    P.R_cav = superellipse_R(th, P.cav_w, P.cav_ha, P.cav_hp, P.n_sh).astype(F32)
    P.R_mus = superellipse_R(th, P.cav_w + P.mus_l, P.cav_ha + P.mus_a, P.cav_hp + P.mus_p,
                             P.n_sh).astype(F32)
    P.R_body = superellipse_R(th, P.cav_w + P.mus_l + P.fat_l, P.cav_ha + P.mus_a + P.fat_a,
                              P.cav_hp + P.mus_p + P.fat_p, P.n_sh + 0.3).astype(F32)
    # rib angle phi: 0 = posterior midline, pi = anterior midline
    P.phi = np.arctan2(np.abs(DX), DY).astype(F32)
    P.left = np.broadcast_to(X >= P.mx, (NPIX, NPIX))
    # ribs: 12 per side
    top = P.z_apex + U(rng, 0, 8)
    pitch = (top - (P.z_domeR - 25)) / 11.0
    P.ribs = []
    for side in (0, 1):
        for k in range(12):
            zp = top - k * pitch + U(rng, -2, 2) + (side * U(rng, -3, 3))
            # drop = head -> lowest (antero-lateral) point; rise = cartilage back up to sternum
            if k == 0:
                drop, rise, plow, pend, pcart = U(rng, 25, 35), 0, 2.3, 2.6, 2.3
            elif k < 7:
                drop, rise, plow, pend, pcart = U(rng, 80, 110), U(rng, 20, 45), U(rng, 2.2, 2.5), 3.05, U(rng, 2.2, 2.5)
            elif k < 10:
                drop, rise, plow, pend, pcart = U(rng, 70, 95), U(rng, 5, 20), U(rng, 2.1, 2.4), U(rng, 2.4, 2.7), U(rng, 1.9, 2.2)
            else:
                drop, rise, plow, pend, pcart = U(rng, 35, 55), 0, 2.2, (1.9 if k == 10 else 1.5), 9
            tr, tz = U(rng, 2.4, 3.4), U(rng, 4.5, 6.5) * (1.3 if k == 0 else 1)
            P.ribs.append(dict(side=side, zp=zp, drop=drop, rise=rise, plow=plow, pend=pend,
                               pcart=pcart, tr=tr, tz=tz))
    p0 = 0.25
    P.rib_phi0 = p0
    P.rib_gap = U(rng, 1.0, 2.0)
    # diaphragm surface D(x,y) (+noise); abdomen below it
    domes = []
    for side, zd in ((0, P.z_domeR), (1, P.z_domeL)):
        sx = -1 if side == 0 else 1
        domes.append(dict(xc=P.mx + sx * U(rng, 50, 68), yc=P.cy + U(rng, -15, 5), z=zd,
                          cx=U(rng, 0.007, 0.011), ca=U(rng, 0.004, 0.007),
                          cp=U(rng, 0.009, 0.013)))
    Ds = []
    for d in domes:
        dy = Y - d["yc"]
        cyy = np.where(dy < 0, d["ca"], d["cp"])
        Ds.append(d["z"] - d["cx"] * (X - d["xc"]) ** 2 - cyy * dy ** 2)
    D = np.maximum(Ds[0], Ds[1])
    D = D + P.amp_dia * P.n_dia.plane(P.xs, P.ys, 0.0)
    gy, gx = np.gradient(D, P.px)
    P.Dz = D.astype(F32)
    P.Dg = np.sqrt(1 + gx * gx + gy * gy).astype(F32)
    # apex paraboloids
    Zt = []
    for side, sx in ((0, -1), (1, 1)):
        ax, ay = P.mx + sx * U(rng, 32, 48), P.cy + U(rng, 5, 25)
        za = P.z_apex - (U(rng, 0, 10) if side == 1 else 0)
        c = U(rng, 0.012, 0.02)
        Zt.append(za - c * ((X - ax) ** 2 + ((Y - ay) / 1.15) ** 2))
    Zt = np.where(P.left, Zt[1], Zt[0])
    gy, gx = np.gradient(Zt, P.px)
    P.Zt = Zt.astype(F32)
    P.Ztg = np.sqrt(1 + gx * gx + gy * gy).astype(F32)
    # mediastinal band: |x - mx| - w(y)
    P.absdx = np.abs(P.xs - P.mx).astype(F32)
    t = smoothstep(P.cy - P.cav_ha * 0.9, P.cy - P.cav_ha * 0.2, P.ys)
    P.band_w = (P.w_ant + (P.w_post - P.w_ant) * t).astype(F32)
    # abdomen (below diaphragm): liver / spleen / stomach / rest
    liver_d = (X - P.mx) - (20 + 0.45 * (P.cy - Y))
    A = P.hu_liver * occ(liver_d, 3.0) + 30.0 * (1 - occ(liver_d, 3.0))
    spl = np.sqrt(((X - (P.mx + 0.68 * P.cav_w)) / 32) ** 2 + ((Y - (P.cy + 0.4 * P.cav_hp)) / 50) ** 2)
    a_s = occ((spl - 1) * 32, 3.0)
    A = A + a_s * (P.hu_spleen - A)
    sc = (P.mx + 0.38 * P.cav_w, P.cy - 0.25 * P.cav_ha)
    st = np.sqrt(((X - sc[0]) / 42) ** 2 + ((Y - sc[1]) / 36) ** 2)
    a_st = occ((st - 1) * 36, 3.0) * (X > P.mx + 15)
    A = A + a_st * (15.0 - A)
    P.abd = A.astype(F32)
    P.gas = (a_st * occ(Y - (sc[1] - 14), 2.0)).astype(F32) if P.stomach_gas else None
    # table
    V0 = np.full((NPIX, NPIX), -1000.0, F32)
    if P.table:
        yb = P.cy + P.cav_hp + P.mus_p + P.fat_p + U(rng, 2, 15)
        curv = U(rng, 0.0, 0.0015)
        yt = yb + curv * (X - P.cx) ** 2
        dtop = Y - yt
        tt = U(rng, 6, 12)
        plate = occ(-dtop, P.px) * occ(dtop - tt, P.px) * occ(np.abs(X - P.cx) - 230, P.px)
        skin_ = occ(np.abs(dtop - 1.0) - 1.0, P.px) + occ(np.abs(dtop - tt + 1) - 1.0, P.px)
        V0 = V0 + plate * (U(rng, -750, -500) - V0)
        V0 = V0 + np.clip(skin_, 0, 1) * plate * (U(rng, 100, 300) - V0)
    P.V0 = V0.astype(F32)
    # fissures: oblique (both) + horizontal (right)
    P.fiss = []
    if P.fissures:
        for side, sx in ((0, -1), (1, 1)):
            if rng.random() < 0.85:
                zm = (P.z_car - 10 + P.z_domeR) / 2 + U(rng, -10, 10)
                sl = U(rng, 0.75, 1.1)
                xl = P.mx + sx * 70
                # higher posteriorly; laterally the fissure lies more posterior (axial
                # sections show it running antero-medial -> postero-lateral)
                lat = np.abs(X - P.mx)
                Zf = zm + sl * (Y - P.cy) - U(rng, 0.4, 0.8) * (lat - 60) \
                    + 3 * P.n_med.plane(P.xs, P.ys, 50.0)
                gy, gx = np.gradient(Zf, P.px)
                side_mask = (P.left if side == 1 else ~P.left)
                P.fiss.append((Zf.astype(F32), np.sqrt(1 + gx * gx + gy * gy).astype(F32),
                               side_mask, None))
        if rng.random() < 0.6 and P.fiss:
            zh = P.z_car - U(rng, 35, 55)
            Zf = zh + U(rng, -0.1, 0.1) * (Y - P.cy) + 2 * P.n_lung.plane(P.xs, P.ys, 0.0)
            gy, gx = np.gradient(Zf, P.px)
            P.fiss.append((Zf.astype(F32), np.sqrt(1 + gx * gx + gy * gy).astype(F32),
                           ~P.left, "minor"))
    P.fiss_hu = U(rng, -150, 50)
    # tubes (mediastinal vessels): nodes (n,3), radius per node, HU, exclude-from-lung
    y_asc = P.cy - P.cav_ha * U(rng, 0.22, 0.38)
    x_asc = P.mx - U(rng, 4, 14)
    P.z_arch = P.z_car + U(rng, 10, 22)
    r_ao, r_ad = U(rng, 12, 16), U(rng, 10, 13)
    x_desc = P.mx + P.r_vb + r_ad * 0.55
    y_desc = P.y_vb - P.r_vb * 0.45
    zb = P.z_domeR - 160
    aorta = np.array([[x_asc + 4, P.hy - 5, P.hz + 0.35 * P.haz],
                      [x_asc, y_asc, P.hz + 0.8 * P.haz],
                      [x_asc, y_asc + 3, P.z_arch - 12],
                      [P.mx - 3, (y_asc + y_desc) / 2 - 4, P.z_arch],
                      [x_desc, y_desc - 6, P.z_arch - 12],
                      [x_desc, y_desc, P.z_arch - 40],
                      [x_desc - 2, y_desc, P.z_domeL - 20],
                      [P.mx + 3, y_desc + 2, zb]])
    ar = np.array([r_ao, r_ao, r_ao, (r_ao + r_ad) / 2, r_ad, r_ad, r_ad * 0.95, r_ad * 0.9])
    tubes = [(aorta, ar, P.hu_aorta, True)]
    # supra-aortic arteries
    for dxx, r in ((-8, U(rng, 5, 6.5)), (2, U(rng, 3.5, 4.5)), (12, U(rng, 4.5, 5.5))):
        p0_ = np.array([P.mx + dxx, (y_asc + y_desc) / 2 - 2 + 0.3 * dxx, P.z_arch + 3])
        p1 = p0_ + np.array([1.3 * dxx, -4, 30])
        p2 = p1 + np.array([0.5 * dxx, 0, 80])
        tubes.append((np.array([p0_, p1, p2]), np.array([r, r, r * 0.9]), P.hu_aorta, True))
    # SVC
    svc = np.array([[P.mx - U(rng, 24, 32), y_asc + U(rng, 0, 10), P.z_apex + 80],
                    [P.mx - 28, y_asc + 8, P.z_arch - 20],
                    [P.mx - 26, P.hy - 10, P.hz + 0.55 * P.haz]])
    tubes.append((svc, np.array([8.0, 9.0, 9.5]), P.hu_svc, True))
    # pulmonary trunk -> bifurcation
    P.pa_bif = np.array([P.mx + 6, P.y_tr - U(rng, 4, 12), P.z_car - U(rng, 6, 14)])
    pt = np.array([[P.hx - 5, P.hy - P.hay * 0.55, P.hz + 0.45 * P.haz],
                   [P.mx + 16, P.y_tr - 35, P.pa_bif[2] - 12], P.pa_bif])
    P.r_pt = U(rng, 11, 14)
    tubes.append((pt, np.array([P.r_pt] * 3), P.hu_art, True))
    # oesophagus
    oes = np.array([[P.mx + 2, P.y_vb - P.r_vb - 6, P.z_apex + 80],
                    [P.mx + 6, P.y_vb - P.r_vb - 7, P.z_domeL], [P.mx + 20, P.y_vb - P.r_vb - 20, zb]])
    tubes.append((oes, np.array([7.0, 7.0, 7.0]), 40.0, True))
    P.tubes = tubes
    P.oes_air = rng.random() < 0.4
    P.oes = oes
    # sternum
    P.st_top = P.z_apex - U(rng, 10, 25)
    P.st_bot = P.z_domeR - U(rng, 5, 25)
    P.st_w, P.st_t = U(rng, 11, 16), U(rng, 4.5, 6.5)
    # body profile scale with z
    P.la_HU = None


def layout(P, args):
    """z extent of the scan: from above the apices to below the deepest recess."""
    inside = P.rho < 0.97 * P.R_cav
    z_low = float(P.Dz[inside].min())
    z_top = P.z_apex + P.margins[0]
    z_bot = z_low - P.margins[1]
    if args.small:
        z_top, z_bot = P.z_apex - 30, P.z_apex - 30 - 150
    P.N = int(round((z_top - z_bot) / P.dz)) + 1
    P.z_first = z_top - (P.N - 1) * P.dz          # most inferior slice centre
    P.z_last = z_top
    # fine grid: m samples per slice spacing, J extra samples each side for the profile
    P.m = int(math.ceil(P.dz / 0.625 - 1e-6))
    P.fz = P.dz / P.m
    P.J = int(math.ceil(P.T / 2 / P.fz + 0.5))
    P.nf = (P.N - 1) * P.m + 1 + 2 * P.J
    P.zf0 = P.z_first - P.J * P.fz


def zscale(P, z):
    t = (z - P.z_domeR) / (P.z_apex - P.z_domeR)
    return 1.0 - 0.17 * smoothstep(0.25, 1.15, t) - 0.03 * smoothstep(0, -0.6, t)


def bbox2(P, xmin, xmax, ymin, ymax):
    i0 = max(0, int((xmin - P.x0) / P.px))
    i1 = min(NPIX, int((xmax - P.x0) / P.px) + 2)
    j0 = max(0, int((ymin - P.y0) / P.px))
    j1 = min(NPIX, int((ymax - P.y0) / P.px) + 2)
    if i1 <= i0 or j1 <= j0:
        return None
    return slice(j0, j1), slice(i0, i1)


# ----------------------------------------------------------------------------
# anatomy: one fine axial slice
# ----------------------------------------------------------------------------
def render_slice(P, z):
    h = P.px
    xs, ys = P.xs, P.ys
    s = zscale(P, z)
    ncav = P.n_cav.plane(xs, ys, z)
    d_body = P.rho - s * P.R_body + 1.5 * ncav
    d_mus = P.rho - s * P.R_mus + 2.0 * ncav
    d_cav = P.rho - s * P.R_cav + P.amp_cav * ncav
    V = P.V0.copy()
    V += occ(d_body, h) * (20.0 - V)
    V += occ(d_body + P.skin, h) * (P.fat_sub - V)
    V += occ(d_mus, h) * (P.muscle - V)
    # ---- ribs (only in a band outside the cavity)
    ring = (d_cav > P.rib_gap - 1.5) & (d_cav < P.rib_gap + 9.0)
    jj, ii = np.nonzero(ring)
    if len(jj):
        dc = d_cav[jj, ii]
        ph = P.phi[jj, ii]
        lft = P.left[jj, ii]
        vr = V[jj, ii]
        for rb in P.ribs:
            if z > rb["zp"] + rb["tz"] + 1 or z < rb["zp"] - rb["drop"] - rb["tz"] - 1:
                continue
            sel = (lft == (rb["side"] == 1)) & (ph < rb["pend"]) & (ph > 0.12)
            u = dc - (P.rib_gap + rb["tr"])
            tt = np.clip((ph - P.rib_phi0) / (rb["plow"] - P.rib_phi0), 0, 1)
            zr = rb["zp"] - rb["drop"] * (0.5 - 0.5 * np.cos(np.pi * tt)) \
                + rb["rise"] * smoothstep(rb["plow"], np.pi, ph)
            dzr = z - zr
            q = np.sqrt((u / rb["tr"]) ** 2 + (dzr / rb["tz"]) ** 2)
            a_o = occ((q - 1) * rb["tr"], h) * sel
            cart = ph > rb["pcart"]
            vr += a_o * (np.where(cart, 110.0, P.bone_cort) - vr)
            q2 = np.sqrt((u / (rb["tr"] * 0.55)) ** 2 + (dzr / (rb["tz"] * 0.7)) ** 2)
            a_i = occ((q2 - 1) * rb["tr"] * 0.55, h) * sel * (~cart)
            vr += a_i * (P.bone_marrow - vr)
        V[jj, ii] = vr
    # ---- sternum
    if P.st_bot < z < P.st_top:
        wst = P.st_w * (1.6 if z > P.st_top - 45 else 1.0)
        yst = P.cy - P.cav_ha * s - P.rib_gap - P.st_t
        bb = bbox2(P, P.mx - wst - 3, P.mx + wst + 3, yst - P.st_t - 3, yst + P.st_t + 3)
        if bb:
            Xb, Yb = xs[None, bb[1]] - P.mx, ys[bb[0], None] - yst
            q = np.sqrt((Xb / wst) ** 2 + (Yb / P.st_t) ** 2)
            Vb = V[bb]
            Vb += occ((q - 1) * P.st_t, h) * (P.bone_cort - Vb)
            q2 = np.sqrt((Xb / (wst - 1.5)) ** 2 + (Yb / (P.st_t - 1.5)) ** 2)
            Vb += occ((q2 - 1) * (P.st_t - 1.5), h) * (P.bone_marrow - Vb)
    # ---- cavity fill: mediastinal fat above diaphragm, abdomen below
    d_abd = (z - P.Dz) / P.Dg                     # <0 below the diaphragm
    wab = occ(d_abd, h)
    fill = P.fat_med + wab * (P.abd - P.fat_med)
    if P.gas is not None:
        gz = occ(-(z - (P.Dz - 28)), 2.0) * wab
        fill += P.gas * gz * (-1000.0 - fill)
    a_cav = occ(d_cav, h)
    V += a_cav * (fill - V)
    # ---- mediastinum exclusion distance (for the lungs)
    d_med = P.absdx[None, :] - (P.band_w * (1.0 if s > 0.9 else 1.0))[:, None]
    # ---- spine
    rvb = P.r_vb * (1 + 0.12 * (P.z_apex - z) / 250)
    phase = ((z - P.v_phase) % P.v_pitch) / P.v_pitch
    bb = bbox2(P, P.mx - 45, P.mx + 45, P.y_vb - rvb - 4, P.y_can + P.r_can + 40)
    if bb:
        Xb, Yb = xs[None, bb[1]] - P.mx, ys[bb[0], None]
        Vb = V[bb]
        dvb = np.sqrt((Xb / 1.12) ** 2 + (Yb - P.y_vb) ** 2) - rvb
        if phase < 0.18:                                  # intervertebral disc
            Vb += occ(dvb, h) * (85.0 - Vb)
        else:
            Vb += occ(dvb, h) * (P.bone_cort - Vb)
            Vb += occ(dvb + 1.3, h) * (P.bone_marrow - Vb)
        if 0.15 < phase < 0.85:                           # posterior elements
            dcan = np.sqrt(Xb ** 2 + (Yb - P.y_can) ** 2)
            Vb += occ(dcan - P.r_can - 4.5, h) * occ(P.y_vb - Yb, h) * (P.bone_cort * 0.9 - Vb)
            a = np.array([0.0, P.y_can + P.r_can + 2, 0])
            d_sp, _ = capsule(Xb, Yb, 0.0, a, a + np.array([0, U0(P, 25), 0]), 3.5, 2.5)
            Vb += occ(d_sp, h) * (P.bone_cort * 0.9 - Vb)
            for sx in (-1, 1):
                a = np.array([sx * 7.0, P.y_can - 2, 0])
                d_tp, _ = capsule(Xb, Yb, 0.0, a, a + np.array([sx * 22.0, 8, 0]), 4.0, 3.0)
                Vb += occ(d_tp, h) * (P.bone_cort * 0.85 - Vb)
                d_med[bb] = np.minimum(d_med[bb], d_tp - 2)
            Vb += occ(dcan - P.r_can, h) * (20.0 - Vb)
        else:
            dcan = np.sqrt(Xb ** 2 + (Yb - P.y_can) ** 2)
            Vb += occ(dcan - P.r_can, h) * (20.0 - Vb)
        d_med[bb] = np.minimum(d_med[bb], dvb - 2.5)
    # ---- heart (rotated ellipsoid, cut by the diaphragm)
    dzh = (z - P.hz) / P.haz
    if abs(dzh) < 1:
        k = math.sqrt(1 - dzh * dzh)
        R = max(P.hax, P.hay) * k + 4
        bb = bbox2(P, P.hx - R, P.hx + R, P.hy - R, P.hy + R)
        if bb:
            Xb, Yb = xs[None, bb[1]] - P.hx, ys[bb[0], None] - P.hy
            c, sn = math.cos(P.hth), math.sin(P.hth)
            u = Xb * c + Yb * sn
            v = -Xb * sn + Yb * c
            rr = np.sqrt(u * u + v * v) + 1e-6
            rb_ = rr / np.sqrt((u / P.hax) ** 2 + (v / P.hay) ** 2 + 1e-12)
            dh = rr - k * rb_
            above = 1 - wab[bb]
            Vb = V[bb]
            Vb += occ(dh, h) * above * (P.hu_myo - Vb)
            if P.contrast:
                uu, vv = u + 8, v + 4
                rr2 = np.sqrt(uu * uu + vv * vv) + 1e-6
                rb2 = rr2 / np.sqrt((uu / (P.hax * 0.7)) ** 2 + (vv / (P.hay * 0.65)) ** 2 + 1e-12)
                k2 = math.sqrt(max(0.0, 1 - ((z - P.hz - 5) / (P.haz * 0.75)) ** 2))
                Vb += occ(rr2 - k2 * rb2, h) * above * (P.hu_blood - Vb)
            d_med[bb] = np.minimum(d_med[bb], dh + 1.0)
    # ---- mediastinal tubes
    for nodes, radii, hu, excl in P.tubes:
        for n in range(len(nodes) - 1):
            a, b = nodes[n], nodes[n + 1]
            ra, rb = radii[n], radii[n + 1]
            rm = max(ra, rb)
            if z < min(a[2], b[2]) - rm or z > max(a[2], b[2]) + rm:
                continue
            # xy bbox of the segment portion near this z
            bb = bbox2(P, min(a[0], b[0]) - rm - 2, max(a[0], b[0]) + rm + 2,
                       min(a[1], b[1]) - rm - 2, max(a[1], b[1]) + rm + 2)
            if bb is None:
                continue
            Xb, Yb = xs[None, bb[1]], ys[bb[0], None]
            dt, _ = capsule(Xb, Yb, z, a, b, ra, rb)
            Vb = V[bb]
            Vb += occ(dt, h) * (hu - Vb)
            if excl:
                d_med[bb] = np.minimum(d_med[bb], dt + 1.0)
    if P.oes_air:
        pass  # small air lumen drawn in the 3-D pass
    # ---- lungs
    nmed = P.n_med.plane(xs, ys, z)
    d_med = d_med + P.amp_med * nmed
    d_apex = (z - P.Zt) / P.Ztg
    d_lung = np.maximum(np.maximum(d_cav, -d_med), np.maximum(d_apex, -d_abd))
    a_l = occ(d_lung, h)
    yrel = np.clip((ys - (P.cy - 0.2 * P.cav_ha)) / (P.cav_hp + 0.2 * P.cav_ha), 0, 1)
    lhu = P.lung_base + P.lung_grad * (yrel ** 1.6)[:, None] \
        + P.lung_var * P.n_lung.plane(xs, ys, z)
    V += a_l * (lhu - V)
    # ---- fissures (thin sheets inside the lungs)
    for Zf, Zg, side_mask, kind in P.fiss:
        dfi = (z - Zf) / Zg
        w = occ(np.abs(dfi) - 0.12, h) * a_l * side_mask
        if kind == "minor":
            # only anterior to the oblique fissure of the right lung
            obl = P.fiss[0][0]
            w = w * occ(obl - z, 1.0) * (P.ys[:, None] < P.cy + 10)
        V += w * (P.fiss_hu - V)
    allow = (d_cav < 1.0) & (d_abd > -1.0)
    return V, a_l, allow


def U0(P, a):
    return a + 5.0


# ----------------------------------------------------------------------------
# 3-D helpers on the fine grid
# ----------------------------------------------------------------------------
def bbox3(P, lo, hi):
    i0 = max(0, int(math.floor((lo[0] - P.x0) / P.px)))
    i1 = min(NPIX, int(math.ceil((hi[0] - P.x0) / P.px)) + 1)
    j0 = max(0, int(math.floor((lo[1] - P.y0) / P.px)))
    j1 = min(NPIX, int(math.ceil((hi[1] - P.y0) / P.px)) + 1)
    k0 = max(0, int(math.floor((lo[2] - P.zf0) / P.fz)))
    k1 = min(P.nf, int(math.ceil((hi[2] - P.zf0) / P.fz)) + 1)
    if i1 <= i0 or j1 <= j0 or k1 <= k0:
        return None
    sl = (slice(k0, k1), slice(j0, j1), slice(i0, i1))
    X = P.xs[i0:i1][None, None, :]
    Y = P.ys[j0:j1][None, :, None]
    Z = (P.zf0 + np.arange(k0, k1) * P.fz).astype(F32)[:, None, None]
    return sl, X, Y, Z


def paint_capsules(P, V, segs, mode, allow=None):
    """segs: list of (a, b, ra, rb, hu). mode 'brighten' | 'over'."""
    h = P.px
    rmin = 0.6 * h
    for a, b, ra, rb, hu in segs:
        rm = max(ra, rb, rmin) + 1.5 * h
        lo = np.minimum(a, b) - rm
        hi = np.maximum(a, b) + rm
        r = bbox3(P, lo, hi)
        if r is None:
            continue
        sl, X, Y, Z = r
        d, amp = capsule(X, Y, Z, a, b, ra, rb, rmin)
        w = occ(d, h)
        if amp is not None:
            w = w * amp
        if allow is not None:
            w = w * allow[sl]
        Vb = V[sl]
        if mode == "brighten":
            Vb += np.maximum(w * (hu - Vb), 0.0)
        else:
            Vb += w * (hu - Vb)


# ----------------------------------------------------------------------------
# vessel and airway trees
# ----------------------------------------------------------------------------
def lung_points(P, lungocc, rng):
    cs = max(1, int(round(2.5 / P.px)))
    cz = max(1, int(round(2.5 / P.fz)))
    L = lungocc[::cz, ::cs, ::cs] >= 250
    k, j, i = np.nonzero(L)
    pts = np.stack([P.x0 + i * cs * P.px, P.y0 + j * cs * P.px, P.zf0 + k * cz * P.fz], 1)
    pts += rng.uniform(-1.2, 1.2, pts.shape)
    return pts


def grow_tree(rng, start, dir0, pts, r0, hu, segs, edges=None, rterm_min=0.25):
    """Territory-bisection tree.  Appends (a,b,ra,rb,hu) to segs; if edges is a list,
    appends straight edges (a, b, r, parent_edge) used to build bronchi."""
    stack = [(np.asarray(start, float), unit(dir0), np.arange(len(pts)), r0, -1)]
    while stack:
        p, dprev, idx, r, pe = stack.pop()
        Q = pts[idx]
        n = len(idx)
        if n <= 2 or r < 0.55:
            for q in Q:
                v = q - p
                L = np.linalg.norm(v)
                if L < 0.5:
                    continue
                rt = max(r * (1.0 / n) ** (1 / 3.0), 0.3)
                e = q + v / L * U(rng, 0, 3)
                add_curved(rng, segs, p, e, rt, max(rterm_min, 0.45 * rt), hu)
            continue
        c = Q.mean(0)
        v = c - p
        L = np.linalg.norm(v)
        if L < 1e-3:
            v, L = dprev.copy(), 1.0
        dirn = unit(0.75 * v / L + 0.25 * dprev)
        seg_len = float(np.clip(U(rng, 0.3, 0.55) * L, 1.0, 10 * r + 6))
        b = p + dirn * seg_len
        add_curved(rng, segs, p, b, r, r * 0.96, hu)
        eid = -1
        if edges is not None:
            edges.append((p, b, r, pe))
            eid = len(edges) - 1
        C = np.cov((Q - c).T)
        w, ev = np.linalg.eigh(C)
        proj = (Q - c) @ ev[:, -1]
        thr = np.quantile(proj, U(rng, 0.3, 0.7))
        g1, g2 = idx[proj <= thr], idx[proj > thr]
        if len(g1) == 0 or len(g2) == 0:
            half = n // 2
            g1, g2 = idx[:half], idx[half:]
        for g in (g1, g2):
            rc = r * (len(g) / n) ** (1 / 3.0)
            stack.append((b, dirn, g, rc, eid))


def add_curved(rng, segs, a, b, ra, rb, hu):
    L = np.linalg.norm(b - a)
    if L > 8 and ra > 0.8:
        d = unit(b - a)
        mid = (a + b) / 2 + perp(d, rng) * U(rng, -0.12, 0.12) * L
        rm = (ra + rb) / 2
        segs.append((a, mid, ra, rm, hu))
        segs.append((mid, b, rm, rb, hu))
    else:
        segs.append((a, b, ra, rb, hu))


def find_hilum(P, lungocc, side, z, y):
    k = int(round((z - P.zf0) / P.fz))
    k = min(max(k, 0), P.nf - 1)
    for dy in (0, -6, 6, -12, 12, -18, 18, -24, 24, -30, 30):
        j = int(round((y + dy - P.y0) / P.px))
        if not 0 <= j < NPIX:
            continue
        row = lungocc[k, j]
        cols = np.nonzero(row >= 200)[0]
        xsr = P.x0 + cols * P.px
        if side == 0:
            cols = xsr[xsr < P.mx]
            if len(cols):
                return np.array([cols.max() - 6.0, y + dy, z])
        else:
            cols = xsr[xsr > P.mx]
            if len(cols):
                return np.array([cols.min() + 6.0, y + dy, z])
    sx = -1 if side == 0 else 1
    return np.array([P.mx + sx * 45.0, y, z])


def build_trees(P, lungocc, small=False):
    rng = P.rng
    pts = lung_points(P, lungocc, rng)
    right = pts[:, 0] < P.mx
    vsegs, asegs_wall, asegs_lumen = [], [], []
    M = int(U(rng, 3000, 4500) * (0.35 if small else 1.0))
    P.hila = []
    for side in (0, 1):
        sp = pts[right] if side == 0 else pts[~right]
        if len(sp) < 50:
            continue
        sx = -1 if side == 0 else 1
        # arteries
        zh = P.z_car - U(rng, 12, 22)
        yh = P.y_tr + U(rng, -5, 10)
        hil = find_hilum(P, lungocc, side, zh, yh)
        P.hila.append(hil)
        sel = sp[rng.choice(len(sp), min(M, len(sp)), replace=False)]
        r0 = U(rng, 8.0, 9.5)
        root = P.pa_bif + np.array([sx * 4.0, 0, 0])
        add_curved(rng, vsegs, root, hil, P.r_pt * 0.75, r0, P.hu_art)
        edges = []
        grow_tree(rng, hil, hil - root, sel, r0, P.hu_art, vsegs, edges)
        # bronchi alongside arteries
        rbmin = U(rng, 1.2, 1.8)
        bro_end = {}
        d0 = unit(edges[0][1] - edges[0][0])
        o0 = np.array([0.0, 1.0, 0.6])
        o0 = unit(o0 - d0 * (o0 @ d0))
        carina = np.array([P.x_tr, P.y_tr, P.z_car])
        start0 = None
        bl_ratio = U(rng, 0.75, 0.9)
        for ei, (a, b, r, pe) in enumerate(edges):
            if r < rbmin:
                continue
            d = unit(b - a)
            if pe < 0 or pe not in bro_end:
                if pe >= 0:
                    continue
                o = o0
                rl = r * bl_ratio
                sep = r + rl * 1.25 + 0.8
                sa = a + o * sep
                start0 = sa
            else:
                sa, o_par = bro_end[pe]
                o = o_par - d * (o_par @ d)
                o = unit(o) if np.linalg.norm(o) > 1e-3 else perp(d, rng)
            rl = r * bl_ratio
            sep = r + rl * 1.25 + 0.8
            sb = b + o * sep
            wall = 0.18 * rl + 0.35
            asegs_wall.append((sa, sb, rl + wall, rl + wall, U(rng, 0, 40)))
            asegs_lumen.append((sa, sb, rl, rl, -1000.0))
            bro_end[ei] = (sb, o)
        if start0 is not None:
            rmb = U(rng, 6.0, 7.5) if side == 0 else U(rng, 5.0, 6.5)
            asegs_wall.append((carina, start0, rmb + 1.5, r0 * bl_ratio + 1.2, 35.0))
            asegs_lumen.append((carina, start0, rmb, r0 * bl_ratio, -1000.0))
        # veins: superior and inferior, rooted at the left atrium
        la = np.array([P.hx - 12, P.hy + P.hay * 0.55, P.hz + 0.3 * P.haz])
        zv = zh - U(rng, 22, 35)
        for part in (0, 1):
            sub = sp[sp[:, 2] > zv] if part == 0 else sp[sp[:, 2] <= zv]
            if len(sub) < 20:
                continue
            mv = max(20, int(M * len(sub) / len(sp) * 0.9))
            sel = sub[rng.choice(len(sub), min(mv, len(sub)), replace=False)]
            hv = find_hilum(P, lungocc, side, zv + (8 if part == 0 else -10), yh + U(rng, 0, 15))
            rv = U(rng, 6.5, 8.0)
            add_curved(rng, vsegs, la + np.array([sx * 10.0, 0, 0]), hv, rv + 1, rv, P.hu_ven)
            grow_tree(rng, hv, hv - la, sel, rv, P.hu_ven, vsegs)
    # trachea
    top = np.array([P.x_tr, P.y_tr, P.z_apex + 80])
    car = np.array([P.x_tr, P.y_tr, P.z_car])
    asegs_wall.insert(0, (top, car, P.r_tr + P.w_tr, P.r_tr + P.w_tr, 40.0))
    asegs_lumen.insert(0, (top, car, P.r_tr, P.r_tr * 0.9, -1000.0))
    if P.oes_air:
        o = P.oes
        for n in range(len(o) - 1):
            asegs_lumen.append((o[n], o[n + 1], 2.0, 2.0, -1000.0))
    return vsegs, asegs_wall, asegs_lumen


# ----------------------------------------------------------------------------
# lesions
# ----------------------------------------------------------------------------
def rand_rot(rng):
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def star_sdf(DX, DY, DZ, R0, rot, scales, modes):
    rho = np.sqrt(DX * DX + DY * DY + DZ * DZ) + 1e-6
    ux, uy, uz = DX / rho, DY / rho, DZ / rho
    acc = 0.0
    for i in range(3):
        p = ux * rot[0, i] + uy * rot[1, i] + uz * rot[2, i]
        acc = acc + (p / scales[i]) ** 2
    rad = R0 / np.sqrt(acc)
    if modes:
        f = 0.0
        for nv, w, ph, amp in modes:
            f = f + amp * np.cos(w * (ux * nv[0] + uy * nv[1] + uz * nv[2]) + ph)
        rad = rad * (1 + f)
    return rho - rad


def rand_modes(rng, n, wlo, whi, amp):
    out = []
    for _ in range(n):
        out.append((unit(rng.normal(size=3)), U(rng, wlo, whi), U(rng, 0, 2 * np.pi),
                    amp * U(rng, 0.4, 1.0) / math.sqrt(n)))
    return out


def lesion_spec(rng, kind):
    """Shape / HU parameters of one lesion (before placement)."""
    L = dict(kind=kind, spic=0)
    if kind == "small":
        D = U(rng, 3.0, 4.0)
    elif kind == "round":
        D = math.exp(U(rng, math.log(4), math.log(30)))
    elif kind == "lobulated":
        D = U(rng, 6, 30)
    elif kind == "spiculated":
        D = U(rng, 8, 30)
    elif kind == "groundglass":
        D = U(rng, 6, 30)
    elif kind == "partsolid":
        D = U(rng, 8, 30)
    elif kind == "calcified":
        D = U(rng, 3, 10)
    elif kind == "juxtapleural":
        D = U(rng, 4, 20)
    elif kind == "juxtavascular":
        D = U(rng, 4, 12)
    else:  # mass
        D = U(rng, 30, 75)
    R = D / 2
    L["R"] = R
    L["rot"] = rand_rot(rng)
    L["scales"] = np.array([1.0, U(rng, 0.85, 1.0), U(rng, 0.8, 1.0)])
    L["modes"] = rand_modes(rng, 3, 2, 4, 0.04)
    L["edge"] = U(rng, 0.6, 1.0)
    L["hu"] = U(rng, 20, 60)
    L["type"] = "solid"
    L["location"] = "parenchyma"
    Rb = R * 1.1
    if kind == "small":
        L["scales"] = np.array([1.0, 1.0, U(rng, 0.9, 1.0)])
        L["modes"] = []
    if kind == "lobulated":
        r0 = R * 0.72
        lobes = [(np.zeros(3), r0)]
        for _ in range(int(rng.integers(1, 4))):
            d = unit(rng.normal(size=3))
            rl = r0 * U(rng, 0.45, 0.75)
            lobes.append((d * (r0 + rl * U(rng, -0.1, 0.35)), rl))
        L["lobes"] = lobes
        Rb = max(np.linalg.norm(c) + r for c, r in lobes) + 1
    if kind == "spiculated":
        L["modes"] = rand_modes(rng, 5, 4, 9, 0.22)
        spikes = []
        for _ in range(int(rng.integers(6, 21))):
            d = unit(rng.normal(size=3))
            ln = U(rng, 3, 15)
            spikes.append((d, unit(d + 0.25 * rng.normal(size=3)), ln,
                           min(1.3, 0.08 * R + U(rng, 0.4, 0.8))))
        L["spikes"] = spikes
        L["spic"] = 1
        L["hu"] = U(rng, 25, 55)
        Rb = R * 1.25 + 16
    if kind == "groundglass":
        L["hu"] = U(rng, -700, -400)
        L["type"] = "non-solid"
        L["edge"] = U(rng, 1.5, 3.0)
        L["modes"] = rand_modes(rng, 4, 2, 5, 0.12)
        Rb = R * 1.2 + 3
    if kind == "partsolid":
        L["hu"] = U(rng, -650, -400)
        L["type"] = "part-solid"
        L["edge"] = U(rng, 1.5, 2.5)
        L["modes"] = rand_modes(rng, 4, 2, 5, 0.10)
        Rs = U(rng, 1.5, min(7.5, 0.6 * R))
        off = unit(rng.normal(size=3)) * U(rng, 0, 0.4) * (R - Rs)
        L["core"] = (off, Rs, U(rng, 10, 50), rand_modes(rng, 3, 2, 5, 0.08))
        Rb = R * 1.2 + 3
    if kind == "calcified":
        L["type"] = "calcified"
        if rng.random() < 0.6:
            L["hu"] = U(rng, 300, 1000)
            L["calc"] = None
        else:
            L["hu"] = U(rng, 25, 50)
            L["calc"] = (U(rng, 0.35, 0.6) * R, U(rng, 400, 1000))
    if kind == "mass":
        L["modes"] = rand_modes(rng, 6, 2, 7, 0.2)
        L["hu"] = U(rng, 30, 50)
        L["necrosis"] = U(rng, -10, 20) if rng.random() < 0.5 else None
        L["touch"] = str(rng.choice(["none", "pleura", "mediastinum"]))
        Rb = R * 1.25
    L["Rb"] = Rb
    return L


def malignancy(L, diam, solid_d):
    k = L["kind"]
    if k == "calcified":
        return 1
    if k == "small":
        return 1 if diam < 3.5 else 2
    if k == "mass":
        return 5
    if k == "spiculated":
        return 5 if diam >= 15 else 4
    if k == "groundglass":
        return 2 if diam < 10 else (3 if diam < 20 else 4)
    if k == "partsolid":
        return 4 if solid_d < 6 else 5
    m = 2 if diam < 6 else (3 if diam < 8 else (3 if diam < 15 else 4))
    if k == "lobulated":
        m = min(5, m + 1)
    if k == "juxtapleural" and diam < 10:
        m = max(1, m - 1)
    return m


class Placer:
    """Coarse lung distance map, vessel distance map and the list of placed lesions."""

    def __init__(self, P, lungocc, vsegs):
        self.P = P
        self.cs = max(1, int(round(2.0 / P.px)))
        self.cz = max(1, int(round(2.0 / P.fz)))
        self.sp = np.array([self.cz * P.fz, self.cs * P.px, self.cs * P.px])
        L = lungocc[::self.cz, ::self.cs, ::self.cs] >= 128
        self.L = L
        self.edt = ndimage.distance_transform_edt(L, sampling=self.sp).astype(F32)
        g = np.gradient(ndimage.gaussian_filter(self.edt, 1.0), *self.sp)
        self.grad = g
        # distance to vessels with r >= 1.2 mm (capped at 12 mm)
        vd = np.full(L.shape, 12.0, F32)
        nz, ny, nx = L.shape
        zc = P.zf0 + np.arange(nz) * self.sp[0]
        yc = P.y0 + np.arange(ny) * self.sp[1]
        xc = P.x0 + np.arange(nx) * self.sp[2]
        for a, b, ra, rb, hu in vsegs:
            if max(ra, rb) < 1.2:
                continue
            lo, hi = np.minimum(a, b) - 14, np.maximum(a, b) + 14
            i0, i1 = np.searchsorted(xc, [lo[0], hi[0]])
            j0, j1 = np.searchsorted(yc, [lo[1], hi[1]])
            k0, k1 = np.searchsorted(zc, [lo[2], hi[2]])
            if i1 <= i0 or j1 <= j0 or k1 <= k0:
                continue
            d, _ = capsule(xc[None, None, i0:i1], yc[None, j0:j1, None], zc[k0:k1, None, None],
                           a, b, ra, rb)
            sub = vd[k0:k1, j0:j1, i0:i1]
            np.minimum(sub, d, out=sub)
        self.vd = vd
        self.coords = (xc, yc, zc)
        self.placed = []

    def world(self, k, j, i):
        xc, yc, zc = self.coords
        return np.array([xc[i], yc[j], zc[k]], float)

    def ok_sep(self, c, Rb):
        for c2, R2 in self.placed:
            if np.linalg.norm(c - c2) < Rb + R2 + 3:
                return False
        return True

    def idx(self, c):
        xc, yc, zc = self.coords
        i = int(round((c[0] - xc[0]) / self.sp[2]))
        j = int(round((c[1] - yc[0]) / self.sp[1]))
        k = int(round((c[2] - zc[0]) / self.sp[0]))
        if 0 <= k < self.L.shape[0] and 0 <= j < self.L.shape[1] and 0 <= i < self.L.shape[2]:
            return k, j, i
        return None

    def interior(self, rng, L, avoid_vessels):
        need = L["Rb"] + 3
        cand = self.edt >= need
        if avoid_vessels:
            cand &= self.vd >= L["R"] + 1.0
        ks, js, is_ = np.nonzero(cand)
        if len(ks) == 0:
            return None
        for _ in range(60):
            n = rng.integers(len(ks))
            c = self.world(ks[n], js[n], is_[n]) + rng.uniform(-0.9, 0.9, 3)
            if self.ok_sep(c, L["Rb"]):
                return c
        return None

    def boundary(self, rng, L, where, frac):
        """centre so that the lesion abuts the pleura: costal ('pleura') or mediastinal"""
        P = self.P
        bnd = self.L & (self.edt <= 2.1)
        ks, js, is_ = np.nonzero(bnd)
        for _ in range(300):
            n = rng.integers(len(ks))
            p = self.world(ks[n], js[n], is_[n])
            if p[2] > P.z_apex - 25 or p[2] < P.z_domeR - 5:
                continue
            s = zscale(P, p[2])
            th = math.atan2(p[1] - P.cy, p[0] - P.cx)
            rcav = float(superellipse_R(np.array(th), P.cav_w, P.cav_ha, P.cav_hp, P.n_sh)) * s
            dc = math.hypot(p[0] - P.cx, p[1] - P.cy) - rcav
            costal = dc > -7
            if (where == "pleura") != costal:
                continue
            k, j, i = ks[n], js[n], is_[n]
            g = np.array([self.grad[2][k, j, i], self.grad[1][k, j, i], self.grad[0][k, j, i]])
            if np.linalg.norm(g) < 1e-3:
                continue
            nrm = unit(g)
            target = frac * L["R"]
            c = p + nrm * (target - self.edt[k, j, i])
            ix = self.idx(c)
            if ix is None or self.edt[ix] < 0.5 * target:
                continue
            if self.ok_sep(c, L["Rb"]):
                return c
        return None

    def near_vessel(self, rng, L, vsegs):
        cands = [s for s in vsegs if 0.8 <= (s[2] + s[3]) / 2 <= 3.0 and np.linalg.norm(s[1] - s[0]) > 4]
        for _ in range(400):
            a, b, ra, rb, hu = cands[rng.integers(len(cands))]
            t = U(rng, 0.2, 0.8)
            p = a + t * (b - a)
            rv = ra + t * (rb - ra)
            d = unit(b - a)
            c = p + perp(d, rng) * (rv + L["R"] * U(rng, 0.35, 0.7))
            ix = self.idx(c)
            if ix is None or self.edt[ix] < L["R"] + 4:
                continue
            if self.ok_sep(c, L["Rb"]):
                return c
        return None


def place_lesions(P, kinds, placer, vsegs):
    rng = P.rng
    specs = [lesion_spec(rng, k) for k in kinds]
    specs.sort(key=lambda L: -L["Rb"])
    out = []
    for L in specs:
        c = None
        for attempt in range(6):
            k = L["kind"]
            if k == "juxtapleural":
                c = placer.boundary(rng, L, "pleura", U(rng, 0.25, 0.65))
                L["location"] = "juxtapleural"
            elif k == "juxtavascular":
                c = placer.near_vessel(rng, L, vsegs)
                L["location"] = "juxtavascular"
            elif k == "mass" and L["touch"] != "none":
                c = placer.boundary(rng, L, L["touch"], U(rng, 0.5, 0.8))
                L["location"] = "juxtapleural"
            else:
                solid = k in ("round", "lobulated", "small", "calcified", "spiculated")
                c = placer.interior(rng, L, avoid_vessels=solid)
            if c is not None:
                break
            # shrink and retry
            f = 0.8
            L["R"] *= f
            L["Rb"] *= f
            if "lobes" in L:
                L["lobes"] = [(cc * f, r * f) for cc, r in L["lobes"]]
            if "core" in L:
                off, Rs, hu, md = L["core"]
                L["core"] = (off * f, Rs * f, hu, md)
            if "calc" in L and L["calc"]:
                L["calc"] = (L["calc"][0] * f, L["calc"][1])
        if c is None:
            print("  [warn] could not place", L["kind"], file=sys.stderr)
            continue
        L["c"] = c
        placer.placed.append((c, L["Rb"]))
        out.append(L)
    return out


def axial_axes(w, px):
    """long / short axial axes (mm) on the slice of max area; w (nz,ny,nx)."""
    areas = (w >= 0.5).sum(axis=(1, 2))
    if areas.max() == 0:
        return 0.0, 0.0
    k = int(np.argmax(areas))
    m = w[k] >= 0.5
    er = ndimage.binary_erosion(m)
    jj, ii = np.nonzero(m & ~er)
    pts = np.stack([ii * px, jj * px], 1)
    if len(pts) > 1500:
        pts = pts[:: len(pts) // 1500 + 1]
    if len(pts) < 2:
        return px, px
    d2 = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    a, b = np.unravel_index(np.argmax(d2), d2.shape)
    long_ = math.sqrt(d2[a, b]) + px
    u = (pts[b] - pts[a]) / max(1e-6, math.sqrt(d2[a, b]))
    jj, ii = np.nonzero(m)
    allp = np.stack([ii * px, jj * px], 1)
    pr = allp @ np.array([-u[1], u[0]])
    short = pr.max() - pr.min() + px
    return long_, short


def render_lesion(P, V, lungocc, L):
    """Render one lesion into V (fine grid); return truth dict."""
    h = P.px
    c = L["c"]
    m = L["Rb"] + 3
    r = bbox3(P, c - m, c + m)
    sl, X, Y, Z = r
    DX, DY, DZ = X - c[0], Y - c[1], Z - c[2]
    lw = lungocc[sl].astype(F32) * (1 / 255.0)
    kind = L["kind"]
    Vb = V[sl]
    rng = P.rng
    if kind == "lobulated":
        d = None
        for cc, rl in L["lobes"]:
            dl = np.sqrt((DX - cc[0]) ** 2 + (DY - cc[1]) ** 2 + (DZ - cc[2]) ** 2) - rl
            d = dl if d is None else smin(d, dl, 0.3 * L["lobes"][0][1])
    else:
        d = star_sdf(DX, DY, DZ, L["R"], L["rot"], L["scales"], L["modes"])
    if kind in ("groundglass", "partsolid"):
        e = L["edge"]
        a = (1 - smoothstep(-e, e, d)).astype(F32)
        w = a * lw
        tex = L["hu"] + 35 * P.n_lung.at(X * 2.5, Y * 2.5, Z * 2.5)
        Vb += np.maximum(w * (tex - Vb), 0.0)       # vessels stay visible inside GG
        wall = w
        solid_d = 0.0
        if kind == "partsolid":
            off, Rs, hus, md = L["core"]
            dc = star_sdf(DX - off[0], DY - off[1], DZ - off[2], Rs, L["rot"], np.ones(3), md)
            wc = occ(dc, max(h, 0.8)) * lw
            Vb += wc * (hus - Vb)
            lc, sc = axial_axes(wc, P.px)
            solid_d = (lc + sc) / 2
            wall = np.maximum(w, wc)
        wm = wall
    else:
        a = occ(d, max(h, L["edge"]))
        w = a * lw
        wm = w
        if kind == "mass":
            hu = np.full(w.shape, L["hu"], F32) + 8 * P.n_lung.at(X * 3, Y * 3, Z * 3)
            if L["necrosis"] is not None:
                nec = occ(d + 0.45 * L["R"] + 4 * P.n_med.at(X * 3, Y * 3, Z * 3), 3.0)
                hu = hu + nec * (L["necrosis"] - hu)
            Vb += w * (hu - Vb)
        else:
            Vb += w * (L["hu"] - Vb)
        if kind == "calcified" and L.get("calc"):
            rc, huc = L["calc"]
            dcc = np.sqrt(DX * DX + DY * DY + DZ * DZ) - rc
            Vb += occ(dcc, h) * lw * (huc - Vb)
        if kind == "spiculated":
            for d0, d1, ln, rb in L["spikes"]:
                rad = L["R"] / math.sqrt(sum((d0 @ L["rot"][:, i] / L["scales"][i]) ** 2
                                             for i in range(3)))
                f = sum(amp * math.cos(wv * (d0 @ nv) + ph) for nv, wv, ph, amp in L["modes"])
                base = c + d0 * rad * (1 + f) * 0.85
                tip = base + d1 * (ln + rad * 0.15)
                ds, amp = capsule(X, Y, Z, base, tip, rb, 0.12, 0.6 * h)
                ws = occ(ds, h) * (amp if amp is not None else 1.0) * lw
                Vb += ws * (L["hu"] - Vb)
        solid_d = None
    # ---- truth metrics from the rendered occupancy
    tot = float(wm.sum())
    vox = P.px * P.px * P.fz
    cx = float((wm * X).sum() / tot)
    cy = float((wm * Y).sum() / tot)
    cz = float((wm * Z).sum() / tot)
    la, sa = axial_axes(wm, P.px)
    diam = (la + sa) / 2
    if solid_d is None:
        solid_d = diam
    typ = L["type"]
    return dict(c=(cx, cy, cz), diam=diam, long=la, short=sa, vol=tot * vox,
                solid=solid_d, type=typ, kind=kind, spic=L["spic"], loc=L["location"],
                mal=malignancy(L, diam, solid_d))


def emphysema(P, V, lungocc):
    rng = P.rng
    pts = lung_points(P, lungocc, rng)
    zlim = P.z_domeR + 0.45 * (P.z_apex - P.z_domeR)
    pts = pts[pts[:, 2] > zlim]
    if len(pts) == 0:
        return
    ncl = int(rng.integers(8, 25))
    h = P.px
    for c0 in pts[rng.choice(len(pts), ncl)]:
        for _ in range(int(rng.integers(3, 10))):
            c = c0 + rng.normal(size=3) * 8
            R = U(rng, 1.5, 6)
            r = bbox3(P, c - R - 2, c + R + 2)
            if r is None:
                continue
            sl, X, Y, Z = r
            d = np.sqrt((X - c[0]) ** 2 + (Y - c[1]) ** 2 + (Z - c[2]) ** 2) - R
            w = occ(d, 1.5 * h) * (lungocc[sl].astype(F32) / 255.0)
            Vb = V[sl]
            Vb += w * (U(rng, -995, -955) - Vb)


# ----------------------------------------------------------------------------
# acquisition
# ----------------------------------------------------------------------------
def acquire(P, V, nrng):
    # slice-sensitivity profile: box of width T over the fine samples
    J = P.J
    offs = np.arange(-J, J + 1)
    lo = np.maximum(offs * P.fz - P.fz / 2, -P.T / 2)
    hi = np.minimum(offs * P.fz + P.fz / 2, P.T / 2)
    w = np.clip(hi - lo, 0, None)
    w /= w.sum()
    n_out = P.N
    out = np.zeros((n_out, NPIX, NPIX), F32)
    stop = (n_out - 1) * P.m + 1
    for o, wj in zip(offs, w):
        if wj > 0:
            out += F32(wj) * V[J + o: J + o + stop: P.m]
    del V
    sig = P.fwhm / 2.3548 / P.px
    ndimage.gaussian_filter1d(out, sig, axis=1, output=out, mode="nearest")
    ndimage.gaussian_filter1d(out, sig, axis=2, output=out, mode="nearest")
    if P.usm_amt > 0:
        s2 = P.usm_sig / P.px
        bl = ndimage.gaussian_filter1d(out, s2, axis=1, mode="nearest")
        ndimage.gaussian_filter1d(bl, s2, axis=2, output=bl, mode="nearest")
        out += F32(P.usm_amt) * (out - bl)
        del bl
    # noise: white noise shaped by sqrt(|f|) * window(f)  ->  NPS ~ |f| W^2
    f = sfft.fftfreq(NPIX, d=P.px)
    fr = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    fc = P.nps_fc
    win = np.where(fr < fc, 0.5 * (1 + np.cos(np.pi * fr / fc)), 0.0)
    if P.kernel == "sharp":
        win = win * (1 + 0.8 * fr / fc)
    filt = np.sqrt(fr) * win
    filt /= np.sqrt((filt ** 2).mean())
    filt = filt[:, : NPIX // 2 + 1].astype(F32)
    X, Y = P.xs[None, :], P.ys[:, None]
    rr = np.sqrt((X - P.cx) ** 2 + (Y - P.cy) ** 2) / (P.cav_w + P.mus_l + P.fat_l)
    smap = (P.noise * (0.85 + 0.35 * np.exp(-2.0 * rr ** 2)) / 1.05).astype(F32)
    B = 16
    for s0 in range(0, n_out, B):
        nb = min(B, n_out - s0)
        wn = nrng.standard_normal((nb, NPIX, NPIX), dtype=F32)
        sp = sfft.rfft2(wn, norm="ortho", workers=2)
        sp *= filt
        out[s0:s0 + nb] += sfft.irfft2(sp, s=(NPIX, NPIX), norm="ortho", workers=2) * smap
    return out


def quantize(P, hu):
    X, Y = P.xs[None, :], P.ys[:, None]
    outside = ((X - P.img_c[0]) ** 2 + (Y - P.img_c[1]) ** 2) > (P.fov / 2) ** 2
    lo = -1024.0
    hi = 3071.0
    np.clip(hu, lo, hi, out=hu)
    st = np.rint(hu - P.intercept)
    if P.pixrep == 0:
        st = st.astype(np.uint16)
    else:
        st = st.astype(np.int16)
    st[:, outside] = P.pad_stored
    return st


def write_dicom(P, st, outdir, uids):
    os.makedirs(outdir, exist_ok=True)
    rng = P.rng
    date = "20%02d%02d%02d" % (int(rng.integers(10, 24)), int(rng.integers(1, 13)), int(rng.integers(1, 28)))
    tm = "%02d%02d%02d" % (int(rng.integers(7, 19)), int(rng.integers(0, 60)), int(rng.integers(0, 60)))
    for s in range(P.N):
        inst = P.N - s                      # instance 1 = most superior slice
        z = P.z_first + s * P.dz
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_STORAGE
        sop = uid(rng)
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = "2.25.1234567890123456789"
        meta.ImplementationVersionName = "INDEPGEN1"
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = CT_STORAGE
        ds.SOPInstanceUID = sop
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = tm
        ds.Modality = "CT"
        ds.Manufacturer = "INDEP-PHANTOM"
        ds.PatientName = P.pid
        ds.PatientID = P.pid
        ds.PatientAge = "%03dY" % P.age
        ds.PatientSex = P.sex
        ds.BodyPartExamined = "CHEST"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = uids["study"]
        ds.SeriesInstanceUID = uids["series"]
        ds.FrameOfReferenceUID = uids["frame"]
        ds.StudyID = "1"
        ds.SeriesNumber = 2
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = inst
        ds.SeriesDescription = "CHEST %s %.2fmm" % (P.kname, P.T)
        ds.KVP = P.kvp
        ds.SliceThickness = "%.3g" % P.T
        ds.SpacingBetweenSlices = "%.4g" % P.dz
        ds.ConvolutionKernel = P.kname
        ds.ReconstructionDiameter = "%.2f" % P.fov
        ds.ImagePositionPatient = ["%.4f" % P.x0, "%.4f" % P.y0, "%.4f" % z]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = "%.4f" % z
        ds.PixelSpacing = ["%.4f" % P.px, "%.4f" % P.px]
        ds.Rows = NPIX
        ds.Columns = NPIX
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = P.bits_stored
        ds.HighBit = P.bits_stored - 1
        ds.PixelRepresentation = P.pixrep
        ds.RescaleIntercept = str(P.intercept)
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "-600"
        ds.WindowWidth = "1500"
        if P.set_padding_tag:
            ds.add_new(0x00280120, "US" if P.pixrep == 0 else "SS", P.pad_stored)
        ds.PixelData = st[s].tobytes()
        ds.save_as(os.path.join(outdir, "IM%04d.dcm" % inst), write_like_original=False)


# ----------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------
def lesion_kinds(rng, idx, small):
    n = int(rng.integers(5, 11)) if not small else 5
    ks = [KINDS[(3 * idx + j) % len(KINDS)] for j in range(3)]
    weights = np.array([3, 2, 2, 2, 2, 2, 2, 2, 0.6, 2], float)
    while len(ks) < n:
        k = str(rng.choice(KINDS, p=weights / weights.sum()))
        if k == "mass" and "mass" in ks:
            continue
        ks.append(k)
    return ks


def generate(P, args, outdir):
    t0 = time.time()
    precompute(P)
    layout(P, args)
    V = np.empty((P.nf, NPIX, NPIX), F32)
    lungocc = np.empty((P.nf, NPIX, NPIX), np.uint8)
    allow = np.empty((P.nf, NPIX, NPIX), np.uint8)
    for k in range(P.nf):
        z = P.zf0 + k * P.fz
        v, al, aw = render_slice(P, z)
        V[k] = v
        lungocc[k] = np.rint(al * 255)
        allow[k] = aw
    t1 = time.time()
    if P.emphysema:
        emphysema(P, V, lungocc)
    vsegs, awall, alum = build_trees(P, lungocc, args.small)
    paint_capsules(P, V, vsegs, "brighten", allow)
    paint_capsules(P, V, awall, "over", allow)
    paint_capsules(P, V, alum, "over", None)
    del allow
    t2 = time.time()
    placer = Placer(P, lungocc, vsegs)
    kinds = lesion_kinds(P.rng, P.idx, args.small)
    les = place_lesions(P, kinds, placer, vsegs)
    truths = [render_lesion(P, V, lungocc, L) for L in les]
    del lungocc, placer
    t3 = time.time()
    nrng = np.random.default_rng([abs(args.seed), P.idx, 99])
    hu = acquire(P, V, nrng)
    del V
    st = quantize(P, hu)
    del hu
    t4 = time.time()
    uids = dict(study=uid(P.rng), series=uid(P.rng), frame=uid(P.rng))
    write_dicom(P, st, outdir, uids)
    t5 = time.time()
    print("%s: %d slices dz=%.2f T=%.2f px=%.3f %s noise=%.0f contrast=%d pixrep=%d  "
          "anat %.1fs trees %.1fs (%d segs) lesions %.1fs acq %.1fs write %.1fs  total %.1fs"
          % (P.pid, P.N, P.dz, P.T, P.px, P.kname, P.noise, P.contrast, P.pixrep,
             t1 - t0, t2 - t1, len(vsegs), t3 - t2, t4 - t3, t5 - t4, t5 - t0), flush=True)
    return uids["series"], truths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--kernel", choices=["standard", "sharp"])
    ap.add_argument("--noise", type=float, help="noise SD in the lung (HU)")
    ap.add_argument("--slice-mm", type=float, help="slice spacing (mm); thickness >= spacing")
    ap.add_argument("--small", action="store_true",
                    help="quick preview: 2.5 mm slices over 150 mm, fewer vessels, 5 lesions")
    ap.add_argument("--first", type=int, default=0, help="index of the first patient (for splitting runs)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rows = []
    for i in range(args.first, args.first + args.count):
        P = make_patient(args.seed, i, args)
        series, truths = generate(P, args, os.path.join(args.out, P.pid))
        for t in truths:
            rows.append("%s,%.2f,%.2f,%.2f,%.2f,%d,%s,%s,%.2f,%.2f,%.2f,%.1f,%d,%s" % (
                series, t["c"][0], t["c"][1], t["c"][2], t["diam"], t["mal"], t["kind"], t["type"],
                t["solid"], t["long"], t["short"], t["vol"], t["spic"], t["loc"]))
        # write the truth incrementally (a complete file after every patient)
        name = "truth.csv" if args.first == 0 else "truth_%d.csv" % args.first
        with open(os.path.join(args.out, name + ".tmp"), "w") as f:
            f.write(HEADER + "\n" + "".join(r + "\n" for r in rows))
        os.replace(os.path.join(args.out, name + ".tmp"), os.path.join(args.out, name))


if __name__ == "__main__":
    main()
