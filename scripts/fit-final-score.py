#!/usr/bin/env python3
"""Refit detect.FinalScore's logistic model from a second-stage dump.

    LUNGCTL_STAGE2=stage2.csv LUNGCTL_PHANTOM_SEEDS=1-20 \
        go test ./internal/detect -run TestDumpStage2 -timeout 40m
    python3 scripts/fit-final-score.py stage2.csv

prints the finalModel values for internal/detect/refine.go: the features'
means and standard deviations over the candidates, the coefficients of an
L2 logistic regression (C = 1) on the standardised features, and the
intercept, and the reference probabilities TestFinalScore checks. Needs
numpy and scikit-learn.
"""
import csv
import math
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler


def features(r):
    seg = r["segmented"] == "1"
    sph = float(r["sph"]) if seg else 0.0
    blob = float(r["blob"]) if seg else 0.0
    meand = max(float(r["meand"]), 0.5) if seg else 0.5
    # A body under LUNA16's 3 mm is a voxel or two: its share of faces on
    # the wall is the grid's, not a shape's.
    wall = float(r["wall"]) if seg and meand >= 3 else 0.0
    return [float(r["stage1"]), sph, blob,
            math.log(max(float(r["cdiam"]), 0.5)), math.log(meand), wall]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rows = list(csv.DictReader(open(sys.argv[1])))
    x = np.array([features(r) for r in rows])
    y = np.array([int(r["hit"]) for r in rows])
    sc = StandardScaler().fit(x)
    m = LogisticRegression(C=1.0, max_iter=2000).fit(sc.transform(x), y)
    p = m.predict_proba(sc.transform(x))[:, 1]
    print(f"// {len(rows)} candidates, {y.sum()} hits; training AUC {roc_auc_score(y, p):.4f}")
    fmt = lambda v: ", ".join(f"{a:.6g}" for a in v)
    print(f"mean:      [6]float64{{{fmt(sc.mean_)}}},")
    print(f"scale:     [6]float64{{{fmt(sc.scale_)}}},")
    print(f"coef:      [6]float64{{{fmt(m.coef_[0])}}},")
    print(f"intercept: {m.intercept_[0]:.6g},")
    # The reference values of detect's TestFinalScore.
    for v in ([0.8, 0.9, 0.7, math.log(8), math.log(8), 0.0],
              [0.3, 0.5, 0.3, math.log(5), math.log(6), 0.3],
              [0.5, 0.0, 0.0, math.log(6), math.log(0.5), 0.0]):
        print(f"// predict_proba{v!r:.60} = {m.predict_proba(sc.transform([v]))[0, 1]:.10g}")


if __name__ == "__main__":
    main()
