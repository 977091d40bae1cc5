#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine: system packages (oneDNN for the native
# engine; PyTorch for the peer benchmark and parity tests; Chromium for browser tests; dcm2niix,
# dcmtk, GDCM's gdcmconv (libgdcm-tools) and pydicom's sample files for the DICOM tests; Redis
# for the queue tests), then
# npm ci, whose install script builds the native addon.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs="libdnnl-dev python3-torch chromium dcm2niix dcmtk libgdcm-tools python3-pydicom redis-server"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing$missing"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi
npm ci --no-audit --no-fund
