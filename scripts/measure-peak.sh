#!/bin/bash
# Measures this machine's fp32 and bf16 peak GFLOP/s on all cores (scripts/peak/peak.c: register-only loops)
# and prints them as the bench's option: --peak-gflops fp32=N,bf16=N. Needs gcc with AVX-512 BF16 support and
# a CPU that has it; run it on a quiet machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
grep -q avx512_bf16 /proc/cpuinfo || { echo "measure-peak: this CPU has no AVX512_BF16 (see /proc/cpuinfo)" >&2; exit 1; }
gcc -O3 -mavx512f -mavx512bf16 -fopenmp "$here/peak/peak.c" -o "$out/peak"
json="$("$out/peak" "${1:-20000000}")"
echo "$json"
node -e 'const j = JSON.parse(process.argv[1]); console.log(`--peak-gflops fp32=${j.fp32},bf16=${j.bf16}`)' "$json"
