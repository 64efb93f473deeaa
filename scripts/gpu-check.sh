#!/usr/bin/env bash
# gpu-check.sh — check lungctl's CUDA mean-shift backends on a GPU machine in
# one call, within a time budget, and print the README's GPU table.
#
# Two modes:
#
#   bash scripts/gpu-check.sh --pack
#       On the build machine (Go, cgo, cuda.h, libcuda: scripts/
#       install-cuda-build-deps.sh): make gpu-test build-cuda, then pack what
#       a GPU machine without Go needs into out/gpu-carry (git-ignored):
#       cluster-cuda.test.gz, lungctl-cuda.gz and, when $LIDC (default
#       ../shared/data/lidc-idri-0001) holds LIDC-IDRI-0001,
#       lidc-idri-0001.tar.xz (~27 MB; all three ~48 MB, under a 64 MiB
#       transfer limit together with the tracked tree).
#
#   bash scripts/gpu-check.sh --emulate
#       On the build machine, no GPU: the lungcuda tests against the kernels
#       compiled for the CPU behind a fake libcuda (internal/cluster/cuda/
#       emu; logic, barriers and warp collectives, not speed or races).
#
#   bash scripts/gpu-check.sh --sass
#       On the build machine: the brute kernels' pair loop counted in
#       instructions per pair in the sm_90 SASS of the committed PTX (the
#       figure meanshift.cu and the README quote).
#
#   OUT=DIR bash scripts/gpu-check.sh
#       On the GPU machine, from the repository root (out/gpu-carry beside
#       it, or Go there: it then runs make gpu-test build-cuda itself). In
#       this order, each stage cut to what is left of BUDGET seconds
#       (default 360; the whole run stays within about BUDGET + 30 s):
#       nvidia-smi (card, driver); the tagged CUDA tests (GPU vs CPU Grid
#       and BruteForce, single- and multi-scale: exact searches the same
#       partition with modes within 0.01 bandwidths, path-assisted ARI ≥
#       0.99, bit-identical repeats); the benchmark sweep N = 1e4, 1e5, 1e6
#       of the mode search, CPU (all cores) vs GPU, on single-scale
#       lung-like points and on multi-scale points (scales 1, 2, 4, 8 as
#       detect emits them); lungctl detect --device cpu vs cuda on a
#       full-size phantom (lungctl phantom --size full) and on
#       LIDC-IDRI-0001, timed, the candidates files compared with cmp;
#       compute-sanitizer memcheck and racecheck on TestCUDASmallAllKernels
#       (every kernel path on ~1,500 points), when the tool is there and
#       time is left. Everything goes to stdout and to $OUT (default
#       out/gpu-check): summary.md (the tables), tests.log, bench.log,
#       e2e.log, candidates.txt, sanitizer.log (and build.log when it built).
#
# GFLOP/s (brute variant only) counts the flops every (mode, point) pair
# executes: the tiled kernel computes |x−y|² in expanded form with D fused
# multiply-adds (2·D = 10 flops for D = 5); pairs inside the truncation
# radius do more (exp, weight, D+1 sums), not counted, so the figure is a
# lower bound. %peak is over the FP32 peak (multiprocessors × 128 lanes × 2
# × clock).
#
# Environment: OUT, BUDGET (seconds, default 360), CARRY (default
# out/gpu-carry), LIDC (LIDC-IDRI-0001's parent folder), TESTS (-test.run
# regexp, default CUDA), NS (powers of ten to benchmark, default "4 5 6").
# Exit status: that of the tests (2 when nothing could run).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CARRY=${CARRY:-out/gpu-carry}
LIDC=${LIDC:-../shared/data/lidc-idri-0001}
case $CARRY in /*) ;; *) CARRY=$root/$CARRY ;; esac

if [[ ${1:-} == --pack ]]; then
	make gpu-test build-cuda || exit 1
	mkdir -p "$CARRY"
	gzip -9 -c bin/cluster-cuda.test >"$CARRY/cluster-cuda.test.gz" || exit 1
	gzip -9 -c bin/lungctl-cuda >"$CARRY/lungctl-cuda.gz" || exit 1
	if [[ -d $LIDC/LIDC-IDRI-0001 ]]; then
		if [[ ! -s $CARRY/lidc-idri-0001.tar.xz ]]; then
			tar -C "$LIDC" -cf - LIDC-IDRI-0001 | xz -9 -T2 >"$CARRY/lidc-idri-0001.tar.xz" || exit 1
		fi
	else
		echo "gpu-check --pack: no $LIDC/LIDC-IDRI-0001: the LIDC check will be skipped" >&2
	fi
	du -b "$CARRY"/* | awk -v c="$CARRY" '{s += $1; print} END {printf "total %.1f MB in %s (carry it: out/gpu-carry)\n", s / 1e6, c}'
	exit 0
fi

if [[ ${1:-} == --emulate ]]; then
	# No GPU needed: the kernels' source compiled as C++ by g++ behind a fake
	# libcuda.so.1 (internal/cluster/cuda/emu: every CUDA thread a fiber,
	# warp collectives and barriers checked for divergence and deadlock,
	# device memory filled with garbage), and the lungcuda tests (the real
	# host code) run against it with -test.short. It checks the kernels'
	# logic and their interface with the host code; not speed, not races,
	# not the PTX (a GPU run does). EMU_TESTS picks the tests (a -test.run
	# regexp); the default ones take ~10 minutes on 2 cores. EMU_E2E=1 also
	# compares lungctl detect --device cuda (emulated) with --device cpu.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# EMU_ASAN=1: the emulator built with AddressSanitizer (out-of-bounds
	# device-memory and shared-memory accesses; ~3x slower).
	asan=() pre=
	if [[ -n ${EMU_ASAN:-} ]]; then
		asan=(-O1 -g -fsanitize=address -fno-omit-frame-pointer)
		pre=$(gcc -print-file-name=libasan.so)
		export ASAN_OPTIONS=detect_leaks=0:detect_stack_use_after_return=0
	fi
	g++ -std=c++17 -O2 -fPIC -shared -fno-strict-aliasing -w "${asan[@]}" -o "$tmp/libcuda.so.1" internal/cluster/cuda/emu/cuemu.cpp || exit 1
	CGO_ENABLED=1 go test -c -tags lungcuda -o "$tmp/cluster-cuda.test" ./internal/cluster/cuda/ || exit 1
	cd internal/cluster/cuda
	LD_PRELOAD=$pre LD_LIBRARY_PATH=$tmp "$tmp/cluster-cuda.test" -test.short -test.v -test.timeout 60m \
		-test.run "${EMU_TESTS:-^Test(CUDAArgs|CUDASelectBackend|CUDAAcceptsScale|CUDASmallAllKernels|CUDAScaleDims|CUDAWeightsAndDims|CUDAShiftMatchesGrid|CUDAMeanShift)\$}"
	rc=$?
	if [[ -n ${EMU_E2E:-} ]]; then
		# lungctl detect --device cuda (emulated) vs cpu on a small phantom
		# (~55,000 points; ~2 minutes).
		cd "$root" && make build-cuda >/dev/null || exit 1
		bin/lungctl-cuda phantom -o "$tmp/ph" --seed 3 --size small -q || exit 1
		scan=$(ls -d "$tmp"/ph/*/ | head -1)
		bin/lungctl-cuda detect "$scan" --device cpu -q -o "$tmp/cpu.csv" || exit 1
		LD_PRELOAD=$pre LD_LIBRARY_PATH=$tmp bin/lungctl-cuda detect "$scan" --device cuda -o "$tmp/cuda.csv" || exit 1
		if cmp "$tmp/cpu.csv" "$tmp/cuda.csv"; then
			echo "gpu-check --emulate: detect --device cuda (emulated) and cpu: identical candidates files"
		else
			echo "gpu-check --emulate: detect --device cuda (emulated) and cpu: candidates differ" >&2
			rc=1
		fi
	fi
	exit $rc
fi

if [[ ${1:-} == --sass ]]; then
	# The brute kernels' pair loop counted in instructions per pair: the
	# committed PTX assembled for sm_90 (ptxas, cuobjdump: nvidia-cuda-
	# toolkit), the loop's path when no pair of a point is in the radius
	# followed through the SASS (every two-predicate branch, the "any pair
	# in radius" test, taken; everything else falls through).
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	ptxas -arch=sm_90 -O3 internal/cluster/cuda/kernels/meanshift.ptx -o "$tmp/ms.cubin" || exit 1
	for km in ms_brute2_5:4 ms_brute2s_5:4 ms_brute2x8_5:8; do
		k=${km%:*} mpt=${km#*:}
		cuobjdump -sass -fun "$k" "$tmp/ms.cubin" | grep -E '^\s+/\*[0-9a-f]{4}\*/' |
			sed -E 's#^\s+/\*([0-9a-f]+)\*/\s+(.*);.*#\1 \2#' >"$tmp/$k.sass"
		python3 - "$tmp/$k.sass" "$k" "$mpt" <<'PY'
import collections, re, sys
lines = [l.split(None, 1) for l in open(sys.argv[1]) if l.strip()]
addr = [int(a, 16) for a, _ in lines]
idx = {a: i for i, a in enumerate(addr)}
ops = [l[1].strip() for l in lines]
first = next(i for i, o in enumerate(ops) if o.startswith('LDS.128'))
lastsync = max(i for i, o in enumerate(ops) if o.startswith('BSYNC B0'))
back = next(i for i in range(lastsync, len(ops)) if ' BRA ' in ' ' + ops[i] + ' ')
target = int(re.search(r'0x([0-9a-f]+)', ops[back]).group(1), 16)
i, cnt = idx[target], collections.Counter()
while True:
    o = ops[i]
    op = o.split()[1] if o.startswith('@') else o.split()[0]
    cnt[op.split('.')[0]] += 1
    if i == back:
        break
    m = re.match(r'@!?U?P\d+ BRA !?U?P\d+, 0x([0-9a-f]+)', o)
    i = idx[int(m.group(1), 16)] if m else i + 1
points = cnt['LDS'] // 2
pairs = points * int(sys.argv[3])
tot = sum(cnt.values())
print(f"{sys.argv[2]}: {tot} instructions per loop trip of {points} points x {sys.argv[3]} modes = "
      f"{tot / pairs:.2f} per pair, {cnt['FFMA'] / pairs:.2f} FFMA ({100 * cnt['FFMA'] / tot:.0f} %); "
      + ', '.join(f'{k} {v}' for k, v in cnt.most_common()))
PY
	done
	exit 0
fi

OUT=${OUT:-out/gpu-check}
mkdir -p "$OUT"
case $OUT in /*) ;; *) OUT=$root/$OUT ;; esac
BUDGET=${BUDGET:-360}
TESTS=${TESTS:-CUDA}
NS=${NS:-4 5 6}
t0=$SECONDS
sum=$OUT/summary.md
: >"$sum"
say() { echo "$*" | tee -a "$sum"; }
# limit WANT RESERVE: WANT seconds, or less so that RESERVE seconds of the
# budget stay for the later stages (at least 5).
limit() {
	local l=$((BUDGET - (SECONDS - t0) - $2))
	((l < $1)) && echo $((l > 5 ? l : 5)) || echo "$1"
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Binaries: built here when Go is there, else unpacked from the carry.
TEST=$root/bin/cluster-cuda.test
LUNGCTL=$root/bin/lungctl-cuda
if command -v go >/dev/null && [[ -z ${NO_BUILD:-} ]]; then
	make gpu-test build-cuda >"$OUT/build.log" 2>&1 || { echo "gpu-check: build failed, see $OUT/build.log" >&2; exit 2; }
elif [[ -s $CARRY/cluster-cuda.test.gz ]]; then
	mkdir -p "$work/bin"
	gunzip -c "$CARRY/cluster-cuda.test.gz" >"$work/bin/cluster-cuda.test" && chmod +x "$work/bin/cluster-cuda.test"
	TEST=$work/bin/cluster-cuda.test
	if [[ -s $CARRY/lungctl-cuda.gz ]]; then
		gunzip -c "$CARRY/lungctl-cuda.gz" >"$work/bin/lungctl-cuda" && chmod +x "$work/bin/lungctl-cuda"
		LUNGCTL=$work/bin/lungctl-cuda
	fi
fi
if [[ ! -x $TEST ]]; then
	echo "gpu-check: no test binary: run 'bash scripts/gpu-check.sh --pack' on the build machine (or have Go here)" >&2
	exit 2
fi
if ! command -v nvidia-smi >/dev/null; then
	echo "gpu-check: nvidia-smi not found: is the NVIDIA driver installed?" >&2
	exit 2
fi
gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -1)
[[ -n $gpu ]] || gpu=$(nvidia-smi -L | head -1)
say "# gpu-check $(date -u +%Y-%m-%d)"
say "GPU: $gpu (name, driver, memory, compute capability)"
say "host: $(nproc) CPUs, $(uname -srm)"
if ldd "$TEST" | grep -q "not found"; then
	echo "gpu-check: $TEST has missing libraries:" >&2
	ldd "$TEST" | grep "not found" >&2
	exit 2
fi

# 1. Tests, in the package directory like go test.
cd "$root/internal/cluster/cuda"
lt=$(limit 200 200)
echo "== tests (-test.run $TESTS, at most $lt s)"
timeout -k 5 "$lt" "$TEST" -test.v -test.count 1 -test.run "$TESTS" 2>&1 | tee "$OUT/tests.log"
test_rc=${PIPESTATUS[0]}
npass=$(grep -c '^--- PASS' "$OUT/tests.log")
nfail=$(grep -c '^--- FAIL' "$OUT/tests.log")
nskip=$(grep -c '^--- SKIP' "$OUT/tests.log")
say ""
say "tests: exit $test_rc$( ((test_rc == 124)) && echo ' (timed out)'), $npass passed, $nfail failed, $nskip skipped"
grep '^--- FAIL' "$OUT/tests.log" | sed 's/^/  /' | tee -a "$sum"

# 2. Benchmarks: single-scale (BenchmarkCUDAShift) and multi-scale
# (BenchmarkCUDAShiftScale), one run each.
nre=$(echo "$NS" | tr -d ' ')
lb=$(limit 170 110)
echo "== benchmarks (N = 1e[$nre], at most $lb s)"
timeout -k 5 "$lb" "$TEST" -test.run '^$' -test.bench "CUDAShift(Scale)?/.*/N=1e[$nre]\$" -test.benchtime 1x 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
((bench_rc == 0)) || say "benchmarks: exit $bench_rc$( ((bench_rc == 124)) && echo ' (timed out: the table is partial)')"
awk '
/^BenchmarkCUDAShift(Scale)?\// {
	name = $1
	set = (name ~ /^BenchmarkCUDAShiftScale\//) ? "multi-scale (scales 1, 2, 4, 8)" : "single-scale"
	sub(/^BenchmarkCUDAShift(Scale)?\//, "", name)
	sub(/-[0-9]+$/, "", name)
	k = split(name, part, "/")
	v = part[1]; n = part[k]; sub(/^N=/, "", n)
	delete m
	for (i = 3; i < NF; i += 2) m[$(i + 1)] = $i
	cell = sprintf("%.4g s", m["ns/op"] / 1e9)
	if ("GFLOP/s" in m) cell = cell sprintf(": %.3g pairs/s, %.1f %% of peak", m["pairs/s"], m["%peak"])
	if ("maxiters" in m) cell = cell sprintf(" (%d steps)", m["maxiters"])
	key = set SUBSEP v
	if (!(key in seen)) { seen[key] = 1; order[++nr] = key }
	val[key, n] = cell
	ns[n] = 1
}
END {
	cur = ""
	for (r = 1; r <= nr; r++) {
		split(order[r], kv, SUBSEP)
		if (kv[1] != cur) {
			cur = kv[1]
			printf "\n%s, one search per point (Backend.Shift):\n\n| backend | 10⁴ points | 10⁵ | 10⁶ |\n|---|---|---|---|\n", cur
		}
		printf "| %s | %s | %s | %s |\n", kv[2], ((order[r], "1e4") in val) ? val[order[r], "1e4"] : "-", ((order[r], "1e5") in val) ? val[order[r], "1e5"] : "-", ((order[r], "1e6") in val) ? val[order[r], "1e6"] : "-"
	}
	print "\n(cpu-*: the CPU Grid on all cores of this machine; % of peak: the flops every pair executes, 2·D, over the FP32 peak)"
}' "$OUT/bench.log" | tee -a "$sum"

# 3. End to end: lungctl detect --device cpu vs cuda.
cd "$work"
e2e=$OUT/e2e.log
: >"$e2e"
: >"$OUT/candidates.txt"
say ""
say "| lungctl detect | --device cpu | --device cuda | candidates files |"
say "|---|---|---|---|"
# detectPair NAME SLUG INPUT: times detect with both devices and compares
# the candidates files (SLUG.cpu.csv, SLUG.cuda.csv).
detectPair() {
	local name=$1 slug=$2 in=$3 dev tc tg
	for dev in cpu cuda; do
		local st=$EPOCHREALTIME
		echo "== $name --device $dev" >>"$e2e"
		timeout -k 5 "$(limit 60 30)" "$LUNGCTL" detect "$in" --device "$dev" -o "$work/$slug.$dev.csv" >>"$e2e" 2>&1
		local rc=$?
		local el
		el=$(awk -v a="$st" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f s", b - a }')
		[[ $rc == 0 ]] || el="failed (exit $rc)"
		[[ $dev == cpu ]] && tc=$el || tg=$el
		{ echo "== $name --device $dev"; cat "$work/$slug.$dev.csv" 2>/dev/null; } >>"$OUT/candidates.txt"
	done
	local a=$work/$slug.cpu.csv b=$work/$slug.cuda.csv same="differ"
	cmp -s "$a" "$b" && same="identical (cmp)"
	[[ -s $a && -s $b ]] || same="missing"
	[[ $same == differ ]] && same="differ: $(diff "$a" "$b" | grep -c '^>') of $(wc -l <"$a") lines"
	say "| $name | $tc | $tg | $same |"
}
if [[ -x $LUNGCTL ]]; then
	if timeout -k 5 "$(limit 60 60)" "$LUNGCTL" phantom -o "$work/ph" --seed 101 --size full -q >>"$e2e" 2>&1; then
		detectPair "full-size phantom (seed 101)" phantom "$(ls -d "$work"/ph/*/ | head -1)"
	else
		say "| full-size phantom | phantom generation failed or timed out | | |"
	fi
	lidc=""
	if [[ -d $LIDC/LIDC-IDRI-0001 ]]; then
		lidc=$LIDC/LIDC-IDRI-0001
	elif [[ -s $CARRY/lidc-idri-0001.tar.xz ]]; then
		mkdir -p "$work/lidc"
		if tar -C "$work/lidc" -xJf "$CARRY/lidc-idri-0001.tar.xz" 2>>"$e2e" ||
			python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$CARRY/lidc-idri-0001.tar.xz" "$work/lidc" 2>>"$e2e"; then
			lidc=$work/lidc/LIDC-IDRI-0001
		fi
	fi
	if [[ -n $lidc ]]; then
		detectPair "LIDC-IDRI-0001" lidc "$lidc"
	else
		say "| LIDC-IDRI-0001 | not here (pack it with --pack, or set LIDC) | | |"
	fi
	say "(wall seconds of the whole command, loading included; the log's seconds.* lines split them)"
else
	say "| (no lungctl-cuda binary: make build-cuda, or --pack) | | | |"
fi
grep -h 'seconds\.' "$e2e" | sed 's/^/  /' >>"$sum"

# 4. compute-sanitizer on small GPU tests, with what is left of the budget.
cd "$root/internal/cluster/cuda"
: >"$OUT/sanitizer.log"
san=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
if [[ -n $san ]]; then
	for tool in memcheck racecheck; do
		ls=$(limit 60 0)
		if ((ls < 20)); then
			say "compute-sanitizer $tool: skipped (budget spent)"
			continue
		fi
		timeout -k 5 "$ls" "$san" --tool "$tool" --error-exitcode 9 "$TEST" -test.short -test.count 1 \
			-test.run 'CUDASmallAllKernels|CUDAArgs' >>"$OUT/sanitizer.log" 2>&1
		rc=$?
		say "compute-sanitizer $tool: exit $rc$( ((rc == 0)) && echo ' (clean)')$( ((rc == 9)) && echo ' (ERRORS: see sanitizer.log)')$( ((rc == 124)) && echo ' (timed out)')"
	done
else
	say "compute-sanitizer: not installed"
fi
say "gpu-check: $((SECONDS - t0)) s"
echo
echo "== summary ($OUT/summary.md)"
cat "$sum"
exit "$test_rc"
