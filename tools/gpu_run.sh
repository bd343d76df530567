#!/bin/bash
# One prepared run on a lent NVIDIA GPU (see ../shared/GPU.md and BENCHMARKS.md): correctness first
# (every test binary on the NVIDIA adapter, a paper-preset dump against PyTorch), then the
# side-by-side benchmark and the profile. Needs .gl/ (Vulkan loader debs) and .gpu/ (release
# binaries + tests.tar.gz of the test executables) carried from the CPU machine; logs go to $OUT.
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
# Test binaries carry the build machine's paths (CARGO_MANIFEST_DIR, CARGO_BIN_EXE_tdfas).
mkdir -p /work && ln -sfn "$PWD" /work/main
mkdir -p target/release && cp .gpu/tdfas target/release/tdfas
mkdir -p .gpu/t && tar -xzf .gpu/tests.tar.gz -C .gpu/t
T=.gpu/tdfas
{ nvidia-smi -L; $T info; } > "$OUT/info_tests.txt" 2>&1
# 1. correctness: every test binary, on the NVIDIA adapter (the default ranking picks the discrete GPU)
for t in .gpu/t/*; do
  s=$SECONDS
  timeout 120 "$t" --test-threads 4 > /tmp/test.log 2>&1; rc=$?
  echo "== $(basename "$t") rc=$rc $((SECONDS - s)) s: $(grep -E '^test result' /tmp/test.log | tail -1)" >> "$OUT/info_tests.txt"
  [ "$rc" = 0 ] || grep -E "FAILED|panicked|failed|Error|error" /tmp/test.log | head -30 >> "$OUT/info_tests.txt"
done
# 2. a paper-preset checkpoint (a few steps on the small synthetic set), dumped and checked against PyTorch
{
  $T synth --out /tmp/s --preset small --seed 1 && \
  timeout 120 $T train --data /tmp/s --out /tmp/p --preset paper --steps 8 --checkpoint-every 100 && \
  clip=$(find /tmp/s/test/live -mindepth 1 -maxdepth 1 -type d | sort | head -1) && \
  $T dump --checkpoint /tmp/p/model.safetensors --input "$clip" --out /tmp/dump.safetensors && \
  timeout 120 python3 tools/compare_dump.py --checkpoint /tmp/p/model.safetensors --dump /tmp/dump.safetensors
} > "$OUT/dump.txt" 2>&1
# 3. side by side: tdfas and PyTorch (fp32 TF32 off and on) at the paper preset, then the profile
timeout 150 $T bench --preset paper --json "$OUT/tdfas_h200.json" > "$OUT/bench.txt" 2>&1
timeout 60 $T profile --preset paper >> "$OUT/bench.txt" 2>&1
timeout 120 python3 tools/bench_torch.py --preset paper --json "$OUT/torch_h200.json" > "$OUT/torch_bench.txt" 2>&1
python3 tools/compare_bench.py "$OUT/tdfas_h200.json" "$OUT/torch_h200.json" --markdown > "$OUT/compare.md" 2>&1
echo done
