#!/usr/bin/env bash
# Measures lungctl against the tools its users run today, on the same machine
# in the same run (../shared/peers; install them with ../shared/peers/INSTALL.sh).
# Prints a markdown table of wall times and peak memory; the README's
# performance table is copied from this output. Timings move by tens of
# percent between runs on shared machines: compare ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
SHARED=../shared
LIDC=$SHARED/data/lidc-idri-0001
# zuidhof.py lists one folder flat: give it the folder that holds the slices.
LIDC_LEAF=$(dirname "$(find "$LIDC" -name '*.dcm' | head -1)")
BIN=${BIN:-bin/lungctl}
REPS=${REPS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x "$BIN" ] || CGO_ENABLED=0 go build -o "$BIN" ./cmd/lungctl

# best-of-N wall seconds and peak RSS (MB) of a command
measure() {
  local best="" rss=""
  for _ in $(seq "$REPS"); do
    /usr/bin/time -f '%e %M' -o "$work/t" "$@" >"$work/log" 2>&1 || { cat "$work/log"; return 1; }
    read -r s kb <"$work/t"
    if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; rss=$((kb / 1024)); fi
  done
  echo "$best $rss"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%F)"
echo
echo "| task (LIDC-IDRI-0001, 133x512x512) | tool | wall s (best of $REPS) | peak MB |"
echo "|---|---|---|---|"
read -r t m < <(measure "$BIN" preprocess "$LIDC" -o "$work/lc" -q); lc=$t
echo "| DICOM -> 1 mm HU + lung mask, .nii.gz | lungctl preprocess | $t | $m |"
read -r t m < <(measure "$BIN" preprocess "$LIDC" -o "$work/lc" -q --nii); lcnii=$t
echo "| DICOM -> 1 mm HU + lung mask, .nii | lungctl preprocess --nii | $t | $m |"
read -r t m < <(measure "$BIN" preprocess "$LIDC" -o "$work/lc" -q --no-mask --nii); echo "| DICOM -> 1 mm HU, .nii | lungctl preprocess --no-mask --nii | $t | $m |"
if command -v dcm2niix >/dev/null; then
  mkdir -p "$work/d2n"
  read -r t m < <(measure dcm2niix -z n -o "$work/d2n" "$LIDC"); echo "| DICOM -> NIfTI (no resample, no mask), .nii | dcm2niix -z n | $t | $m |"
  read -r t m < <(measure dcm2niix -z y -o "$work/d2n" "$LIDC"); echo "| DICOM -> NIfTI (no resample, no mask), .nii.gz | dcm2niix -z y | $t | $m |"
fi
if $PY -c 'import pydicom, scipy, skimage, nibabel' 2>/dev/null; then
  read -r t m < <(REPS=1 measure $PY "$SHARED/peers/zuidhof.py" "$LIDC_LEAF" --order 1 --out "$work/zu" --json "$work/zu.json")
  echo "| DICOM -> 1 mm HU + lung mask, .nii | zuidhof.py --order 1 (Kaggle tutorial) | $t | $m |"
  echo
  echo "zuidhof stages: $(cat "$work/zu.json")"
  echo "lungctl preprocess speed-up over zuidhof (.nii vs .nii, like for like): $(awk "BEGIN{printf \"%.1fx\", $t/$lcnii}")"
  echo "lungctl preprocess speed-up over zuidhof (lungctl writing .nii.gz): $(awk "BEGIN{printf \"%.1fx\", $t/$lc}")"
fi
echo
echo "Go stage benchmarks (same run):"
go test -run '^$' -bench 'LoadLIDC$|LoadLIDCReuse|StackLIDC|LungsLIDC|DetectLIDC|WriteNIfTIGz' -benchtime 3x -benchmem \
  ./internal/dicomio ./internal/resample ./internal/segment ./internal/volio ./internal/detect 2>&1 | grep -E '^(Benchmark|ok|FAIL)'

echo
echo "Mean-shift on the same LIDC points (detect --export-points, equal per-axis scaling):"
"$BIN" detect "$LIDC" -o "$work/c.csv" --export-points "$work/pts.npy" -q
BW=$("$BIN" detect --help | sed -n 's/.*--bandwidth-mm float.*default \([0-9.]*\).*/\1/p'); BW=${BW:-4}
/usr/bin/time -f '%e' -o "$work/ms" "$BIN" detect "$LIDC" -o "$work/c2.csv" -q
echo "lungctl detect (whole stage incl. preprocess): $(cat "$work/ms") s"
LUNGCTL_POINTS=$work/pts.npy LUNGCTL_BANDWIDTH=$BW go test -run '^$' -bench 'MeanShiftPointsFile' -benchtime 3x ./internal/cluster 2>&1 | grep -E '^Benchmark'
go test -run '^$' -bench 'MeanShift/' -benchtime 1x ./internal/cluster 2>&1 | grep -E '^Benchmark' || true
echo "lungctl meanshift (flat kernel = scikit-learn's algorithm) on the same points, whole command:"
read -r t m < <(measure "$BIN" meanshift "$work/pts.npy" --bandwidth "$BW" --bin-seeding -o "$work/flat_bin.csv"); echo "  --bin-seeding: $t s, $m MB"
read -r t m < <(measure "$BIN" meanshift "$work/pts.npy" --bandwidth "$BW" -o "$work/flat_all.csv"); echo "  every point a seed: $t s, $m MB"
if $PY -c 'import sklearn' 2>/dev/null; then
  timeout 900 $PY "$SHARED/peers/meanshift_sklearn.py" --points "$work/pts.npy" --bandwidth "$BW" --method sklearn --bin-seeding || echo "sklearn timed out"
  timeout 900 $PY "$SHARED/peers/meanshift_sklearn.py" --points "$work/pts.npy" --bandwidth "$BW" --method sklearn || echo "sklearn timed out"
  # Same partition? sklearn's labels against lungctl's (cluster_all=False,
  # as in the runs above), adjusted Rand index.
  for v in bin:True:flat_bin all:False:flat_all; do
    IFS=: read -r name bs f <<<"$v"
    $PY - "$work/pts.npy" "$BW" "$bs" "$work/$f.csv" "$name" <<'PYEOF'
import sys, numpy as np
from sklearn.cluster import MeanShift
from sklearn.metrics import adjusted_rand_score
X = np.load(sys.argv[1]).astype(float)
m = MeanShift(bandwidth=float(sys.argv[2]), bin_seeding=sys.argv[3] == "True", cluster_all=False).fit(X)
ours = np.loadtxt(sys.argv[4], skiprows=1, dtype=int)
print(f"  ARI lungctl meanshift vs sklearn ({sys.argv[5]}): {adjusted_rand_score(m.labels_, ours):.5f}, clusters {len(m.cluster_centers_)} vs {ours.max() + 1}")
PYEOF
  done
fi

echo
echo "3-D CNN, batch 64 of 32^3 patches (same architecture):"
go test -run '^$' -bench 'Inference|TrainStep' -benchtime 3x ./internal/classify 2>&1 | grep -E '^(Benchmark|ok|FAIL)' || true
if $PY -c 'import torch' 2>/dev/null; then
  $PY "$SHARED/peers/cnn3d_torch.py" --size 32 --batch 64 --threads 2 || true
fi
