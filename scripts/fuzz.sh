#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 3m).
# New crashers land in the package's testdata/fuzz/<Target>/ and become
# regression tests that plain `go test` runs.
set -euo pipefail
t=${1:-3m}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' '^func Fuzz' internal | while read -r f; do
  pkg=./$(dirname "$f")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "== $pkg $target ($t)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg"
  done
done
