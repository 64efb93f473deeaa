"""Independent reference for internal/eval: the LUNA16 scoring rules written
out in Python with sklearn.metrics.roc_curve and numpy.interp, as the official
noduleCADEvaluationLUNA16.py computes them (this is a fresh implementation of
its semantics, not a copy).

usage: luna16_reference.py annotations.csv excluded.csv seriesuids.csv candidates.csv
prints JSON: counts, sensitivities at the 7 operating points, CPM.
"""
import csv
import json
import math
import sys

import numpy as np
from sklearn.metrics import roc_curve


def rows(path):
    with open(path, newline="") as f:
        r = csv.reader(f)
        head = next(r)
        idx = {h: i for i, h in enumerate(head)}
        return [(row[idx["seriesuid"]], float(row[idx["coordX"]]), float(row[idx["coordY"]]),
                 float(row[idx["coordZ"]]), row, idx) for row in r if row]


def main():
    ann_path, exc_path, uid_path, cand_path = sys.argv[1:5]
    uids = [line.strip() for line in open(uid_path) if line.strip()]
    by_scan = lambda: {u: [] for u in uids}
    inc, exc, cands = by_scan(), by_scan(), by_scan()
    for s, x, y, z, row, idx in rows(ann_path):
        if s in inc:
            inc[s].append((x, y, z, float(row[idx["diameter_mm"]])))
    for s, x, y, z, row, idx in rows(exc_path):
        if s in exc:
            exc[s].append((x, y, z, float(row[idx["diameter_mm"]])))
    for s, x, y, z, row, idx in rows(cand_path):
        if s in cands:
            cands[s].append((x, y, z, float(row[idx["probability"]])))

    gt, prob, excl = [], [], []
    n_fp = n_ign = n_dup = 0
    for s in uids:
        cs = cands[s]
        if len(cs) > 100:
            ps = sorted((c[3] for c in cs), reverse=True)
            cut = ps[100]
            cs = [c for c in cs if c[3] > cut]
        alive = set(range(len(cs)))
        for (x, y, z, d) in inc[s]:
            r2 = (d / 2.0) ** 2
            hits = [k for k, c in enumerate(cs) if (c[0] - x) ** 2 + (c[1] - y) ** 2 + (c[2] - z) ** 2 < r2]
            for k in hits:
                alive.discard(k)
            if hits:
                n_dup += len(hits) - 1
                gt.append(1.0); prob.append(max(cs[k][3] for k in hits)); excl.append(False)
            else:
                gt.append(1.0); prob.append(-1e9); excl.append(True)
        for (x, y, z, d) in exc[s]:
            if d < 0:
                d = 10.0
            r2 = (d / 2.0) ** 2
            for k, c in enumerate(cs):
                if k in alive and (c[0] - x) ** 2 + (c[1] - y) ** 2 + (c[2] - z) ** 2 < r2:
                    alive.discard(k)
                    n_ign += 1
        for k in sorted(alive):
            n_fp += 1
            gt.append(0.0); prob.append(cs[k][3]); excl.append(False)

    g = [v for v, e in zip(gt, excl) if not e]
    p = [v for v, e in zip(prob, excl) if not e]
    detected = sum(g)
    total = sum(gt)
    fpr, tpr, _ = roc_curve(g, p)
    fps = fpr * (len(p) - detected) / len(uids)
    sens = tpr * detected / total
    points = [0.125, 0.25, 0.5, 1, 2, 4, 8]
    at = np.interp(points, fps, sens)
    print(json.dumps({"nodules": int(total), "detected": int(detected), "fp": n_fp, "ignored": n_ign,
                      "dup": n_dup, "sens_at": [float(v) for v in at], "cpm": float(np.mean(at))}))


if __name__ == "__main__":
    main()
