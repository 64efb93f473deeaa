#!/usr/bin/env bash
# install-cuda-build-deps.sh — install what `go build -tags lungcuda` needs on
# a Debian 12 (bookworm) build machine: cuda.h and nvcc (nvidia-cuda-toolkit
# 11.8, Debian's non-free component) and a libcuda.so to link against
# (libcuda1, pulled in by nvidia-cuda-dev). No GPU and no kernel driver are
# needed to BUILD: recommends (nvidia-kernel-dkms, …) are not installed. The
# binary then runs only where the NVIDIA driver is installed.
#
# Usage (as root): bash scripts/install-cuda-build-deps.sh [--no-nvcc]
# Download ~1.6 GB, ~4-5 GB on disk; measured on the project's 2-core build
# machine (2026-12): 99 s for nvidia-cuda-dev + libcuda1 (1,490 MB), 21 s
# more for nvidia-cuda-toolkit (132 MB). --no-nvcc skips the toolkit: enough
# for `make vet-cuda`, `make build-cuda` and `scripts/gpu-check.sh --pack`,
# not for `make ptx` nor `scripts/gpu-check.sh --sass` (ptxas, cuobjdump).
# Idempotent: re-running is harmless.
set -euo pipefail
nvcc=1
case ${1:-} in
--no-nvcc) nvcc=0 ;;
"") ;;
*) echo "usage: install-cuda-build-deps.sh [--no-nvcc]" >&2; exit 2 ;;
esac

if [[ $(id -u) -ne 0 ]]; then
	echo "install-cuda-build-deps: run as root (apt-get install)" >&2
	exit 1
fi
. /etc/os-release
if [[ ${VERSION_CODENAME:-} != bookworm ]]; then
	echo "install-cuda-build-deps: written for Debian bookworm, found ${PRETTY_NAME:-unknown}" >&2
	exit 1
fi

# The contrib and non-free components in their own sources file, in the same
# deb822 format as /etc/apt/sources.list.d/debian.sources (main stays where it
# is). non-free holds the CUDA packages; contrib holds nvidia-support and
# nvidia-alternative, which libcuda1 depends on (without contrib apt reports
# "libcuda1 : Depends: nvidia-support but it is not installable").
src=/etc/apt/sources.list.d/lungctl-nonfree.sources
if ! grep -qs '^Components: contrib non-free$' "$src"; then
	cat >"$src" <<'SRC'
# Added by lungctl scripts/install-cuda-build-deps.sh: Debian's non-free
# and contrib components for nvidia-cuda-toolkit (nvcc, cuda.h) and libcuda1.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	echo "install-cuda-build-deps: wrote $src"
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# nvidia-cuda-toolkit: nvcc, ptxas; it depends on nvidia-cuda-dev (cuda.h,
# libcudart, …), which depends on libcuda1 (libcuda.so.1 + the libcuda.so
# link the Go linker needs for -lcuda).
pkgs=(nvidia-cuda-dev libcuda1)
[[ $nvcc == 1 ]] && pkgs+=(nvidia-cuda-toolkit)
apt-get install -y --no-install-recommends "${pkgs[@]}"

# Check what the lungcuda build needs.
ok=1
for f in /usr/include/cuda.h; do
	[[ -e $f ]] || { echo "install-cuda-build-deps: missing $f" >&2; ok=0; }
done
if ! ls /usr/lib/x86_64-linux-gnu/libcuda.so >/dev/null 2>&1; then
	echo "install-cuda-build-deps: missing /usr/lib/x86_64-linux-gnu/libcuda.so (link name)" >&2
	ok=0
fi
if [[ $nvcc == 1 ]]; then
	for tool in nvcc ptxas cuobjdump; do
		command -v $tool >/dev/null || { echo "install-cuda-build-deps: $tool not on PATH" >&2; ok=0; }
	done
fi
[[ $ok == 1 ]] || exit 1
if [[ $nvcc == 1 ]]; then
	nvcc --version | tail -2
	echo "install-cuda-build-deps: done (cuda.h, libcuda.so, nvcc, ptxas, cuobjdump present)"
else
	echo "install-cuda-build-deps: done (cuda.h, libcuda.so present; no nvcc)"
fi
