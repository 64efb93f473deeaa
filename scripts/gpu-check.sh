#!/usr/bin/env bash
# gpu-check.sh — check lungctl's CUDA mean-shift backends on a GPU machine
# that has the NVIDIA driver but no Go toolchain.
#
# Build the tagged test binary on the build machine first (needs
# scripts/install-cuda-build-deps.sh there):
#
#   go test -c -tags lungcuda -o bin/cluster-cuda.test ./internal/cluster/cuda/
#
# then copy the repository (or at least bin/cluster-cuda.test and this
# script, keeping the layout) to the GPU machine and run, from the
# repository root:
#
#   bash scripts/gpu-check.sh
#
# It prints the GPU (nvidia-smi), runs the CUDA tests (GPU modes vs the CPU
# Grid and BruteForce backends: same partition, adjusted Rand ≥ 0.99, modes
# within 0.01 bandwidths) with -test.v, then the benchmark sweep N = 1e4,
# 1e5, 1e6 of the mode search (Backend.Shift, lung-like 5-D points, one
# search per point): CPU Grid (default, path reuse), CPU Grid exact,
# cuda-grid (path-assisted, its default) and cuda-grid-exact, cuda-brute (at
# N = 1e5 also 3 steps with every mode moving; at 1e6 only 3 steps), and a
# table. Then, when bin/lungctl-cuda exists (make
# build-cuda), lungctl detect on a phantom scan with --device cpu, cuda and
# cuda-brute, timed, and the top candidates side by side.
#
# GFLOP/s (brute variants only) counts the flops every (mode, point) pair
# executes: the tiled kernel computes |x−y|² in expanded form with D fused
# multiply-adds (2·D = 10 flops for D = 5). Pairs inside the truncation radius do more (exp,
# weight, D+1 sums) that is not counted, so the figure is a lower bound.
# pairs/s = (active modes × N) summed over steps / time; %peak = GFLOP/s
# over the FP32 peak (multiprocessors × 128 lanes × 2 × clock).
#
# Environment: BIN (test binary, default bin/cluster-cuda.test), OUT (logs,
# default out/gpu-check, git-ignored), TESTS (-test.run regexp, default
# CUDA), NS (powers of ten to benchmark, default "4 5 6"; "4 5" keeps the
# run short), BENCHTIME (default 1x).
# Exit status: that of the tests (benchmark failures are reported, too).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
BIN=${BIN:-bin/cluster-cuda.test}
OUT=${OUT:-out/gpu-check}
TESTS=${TESTS:-CUDA}
NS=${NS:-4 5 6}
BENCHTIME=${BENCHTIME:-1x}
case $BIN in /*) ;; *) BIN=$root/$BIN ;; esac
mkdir -p "$OUT"
case $OUT in /*) ;; *) OUT=$root/$OUT ;; esac

if [[ ! -x $BIN ]]; then
	echo "gpu-check: $BIN not found; build it with: go test -c -tags lungcuda -o bin/cluster-cuda.test ./internal/cluster/cuda/" >&2
	exit 2
fi
if ! command -v nvidia-smi >/dev/null; then
	echo "gpu-check: nvidia-smi not found: is the NVIDIA driver installed?" >&2
	exit 2
fi
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -1)
[[ -n $gpu ]] || gpu=$(nvidia-smi -L | head -1)
echo "gpu-check: GPU: $gpu"
echo "gpu-check: host: $(nproc) CPUs, $(uname -srm)"
if ldd "$BIN" | grep -q "not found"; then
	echo "gpu-check: $BIN has missing libraries:" >&2
	ldd "$BIN" | grep "not found" >&2
	exit 2
fi

# The tests run in the package directory, like go test does.
cd "$root/internal/cluster/cuda"
echo "== tests (-test.run $TESTS)"
"$BIN" -test.v -test.run "$TESTS" -test.timeout 15m 2>&1 | tee "$OUT/test.log"
test_rc=${PIPESTATUS[0]}
echo "gpu-check: tests exit status $test_rc"

nre=$(echo "$NS" | tr -d ' ')
echo "== benchmarks (N = 1e[$nre], -test.benchtime $BENCHTIME)"
"$BIN" -test.run '^$' -test.bench "CUDAShift/.*/N=1e[$nre]\$" -test.benchtime "$BENCHTIME" -test.timeout 60m 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
[[ $bench_rc == 0 ]] || echo "gpu-check: benchmarks exit status $bench_rc" >&2

echo
echo "GPU: $gpu"
awk '
/^BenchmarkCUDAShift\// {
	name = $1
	sub(/^BenchmarkCUDAShift\//, "", name)
	sub(/-[0-9]+$/, "", name)            # GOMAXPROCS suffix
	k = split(name, part, "/")
	v = part[1]; n = part[k]; sub(/^N=/, "", n)
	delete m
	for (i = 3; i < NF; i += 2) m[$(i + 1)] = $i
	sec = m["ns/op"] / 1e9
	gf = ("GFLOP/s" in m) ? sprintf("%.1f", m["GFLOP/s"]) : "-"
	ps = ("pairs/s" in m) ? sprintf("%.3g", m["pairs/s"]) : "-"
	pk = ("%peak" in m) ? sprintf("%.1f", m["%peak"]) : "-"
	rows[++r] = sprintf("%-28s %-5s %10.4f %9d %12s %10s %6s", v, n, sec, m["maxiters"], ps, gf, pk)
}
END {
	printf "%-28s %-5s %10s %9s %12s %10s %6s\n", "backend", "N", "seconds", "maxiters", "pairs/s", "GFLOP/s", "%peak"
	for (i = 1; i <= r; i++) print rows[i]
	print "(GFLOP/s: flops every (mode, point) pair executes, 2*D for the tiled kernel; a lower bound; see the script header)"
}' "$OUT/bench.log" | tee "$OUT/table.txt"

# End to end: lungctl detect on a synthetic full-size scan with the CPU and
# the CUDA backend (bin/lungctl-cuda, from make build-cuda), when present.
LUNGCTL=${LUNGCTL:-$root/bin/lungctl-cuda}
if [[ -x $LUNGCTL ]]; then
	e2e=$(mktemp -d)
	echo "== end to end: $LUNGCTL detect, --device cpu vs cuda, on phantom seed 101"
	"$LUNGCTL" phantom -o "$e2e/ph" --seed 101 -q
	scan=$(ls -d "$e2e"/ph/*/ | head -1)
	for dev in cpu cuda cuda-brute; do
		TIMEFORMAT="detect --device $dev: %R s wall"
		time "$LUNGCTL" detect "$scan" --device "$dev" -o "$e2e/c_$dev.csv" -q
	done
	echo "top candidates (cpu | cuda):"
	paste -d'|' <(head -6 "$e2e/c_cpu.csv" | cut -d, -f2-5) <(head -6 "$e2e/c_cuda.csv" | cut -d, -f2-5)
	cp "$e2e"/c_*.csv "$OUT"/ 2>/dev/null
	rm -rf "$e2e"
fi
exit "$test_rc"
