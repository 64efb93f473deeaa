#!/usr/bin/env bash
# Debian packages lungctl's tests use beyond ../shared/peers/INSTALL.sh
# (idempotent; run as root). Each test skips with a message naming its
# package when it is missing, and fails instead under LUNGCTL_REQUIRE_PEERS=1.
#   dicom3tools          dciodvfy validates the DICOM SEG and SR (internal/export)
#   python3-jsonschema   checks the Slicer markups against the schema (internal/export)
#   chromium             headless browser for the HTML report test (internal/report)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(dicom3tools python3-jsonschema chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "ci-deps: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
