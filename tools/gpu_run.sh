#!/bin/bash
# One prepared run on a lent NVIDIA GPU (see ../shared/GPU.md and BENCHMARKS.md), sized to about 8
# minutes, the most wanted results first:
#   1. `tdfas info`: the adapter, and the conv autotune's candidate table (every candidate's probe
#      time and its check against the reference kernel; the tuning cache comes back too);
#   2. the conv op tests and the autotune test on the GPU adapter;
#   3. `tdfas bench --preset paper`, `tools/bench_torch.py --preset paper` (fp32 TF32 off, TF32 on,
#      autocast float16), `tools/compare_bench.py`, then `tdfas profile --preset paper` (each
#      kernel's share of the adapter's measured FMA and bandwidth peaks);
#   4. every other test binary, while time is left;
#   5. a paper-preset checkpoint dumped and checked against PyTorch, while time is left.
# Results go to $OUT/docs/gpu-runs/DATE-h200/ (copy that folder into docs/gpu-runs/).
#
#   bash tools/gpu_run.sh prepare   # here, on the CPU machine: .gl/ (loaders), .gpu/ (binaries + tests)
#   then one device call: carry [".gl", ".gpu"], command `bash tools/gpu_run.sh`, timeout_s 560
set -u
if [ "${1:-}" = prepare ]; then
  set -e
  bash ../shared/gpu/prepare.sh
  # the test executables (the last line per target of `cargo test --no-run`), stripped
  exes=$(cargo test --release --no-run 2>&1 | grep -v "benches/" | sed -n 's/.*Executable .*(\(target\/release\/deps\/[^)]*\)).*/\1/p')
  rm -rf /tmp/gpu_tests && mkdir -p /tmp/gpu_tests
  for e in $exes; do strip -o "/tmp/gpu_tests/$(basename "$e")" "$e"; done
  # xz shares the binaries' common code (about 3x smaller than gzip: the carry holds 64 MiB)
  tar -cJf .gpu/tests.tar.xz -C /tmp/gpu_tests .
  # only tdfas runs there (not the bench executables prepare.sh copies), stripped
  find .gpu -maxdepth 1 -type f ! -name tdfas ! -name tests.tar.xz -delete
  strip .gpu/tdfas
  # test binaries carry this checkout's path (CARGO_MANIFEST_DIR): the run links it to its tree
  pwd > .gpu/manifest_dir
  du -sh .gl .gpu
  exit 0
fi

START=$SECONDS
BUDGET=${BUDGET:-480}                       # seconds for the whole run (the device call allows 600)
left() { echo $((BUDGET - (SECONDS - START))); }
# `within CAP cmd...`: runs cmd under a timeout of CAP seconds or what is left, if 10 s are left
within() {
  local cap=$1; shift
  local t; t=$(left); [ "$t" -lt "$cap" ] && cap=$t
  [ "$cap" -ge 10 ] || { echo "skipped for time: $*"; return 124; }
  timeout "$cap" "$@"
}
D=${OUT:-/tmp/gpu_out}/docs/gpu-runs/$(date -u +%F)-h200
mkdir -p "$D"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export TDFAS_TUNING_CACHE="$D/tuning.json"
m=$(cat .gpu/manifest_dir 2>/dev/null || echo /work/main)
mkdir -p "$(dirname "$m")" && ln -sfn "$PWD" "$m"
mkdir -p target/release && cp .gpu/tdfas target/release/tdfas
# extracted by Python (there with PyTorch), whether or not the machine has xz
mkdir -p .gpu/t && python3 -c "import tarfile; tarfile.open('.gpu/tests.tar.xz').extractall('.gpu/t')"
T=.gpu/tdfas

# 1. the adapter and the autotune (it runs at the first conv: every candidate checked and timed)
{ nvidia-smi -L; within 90 $T info; } > "$D/info.txt" 2>&1
# one test binary with the default test threads: every Gpu of a process shares one wgpu device
# (several devices in one process hung on this driver with 4 threads); the timeout still guards
run_test() {
  local t=$1 s=$SECONDS rc
  within "${2:-90}" "$t" > /tmp/test.log 2>&1; rc=$?
  echo "== $(basename "$t") rc=$rc $((SECONDS - s)) s: $(grep -E '^test result' /tmp/test.log | tail -1)" >> "$D/tests.txt"
  [ "$rc" = 0 ] || grep -E "FAILED|panicked|failed|Error|error|skipped" /tmp/test.log | head -30 >> "$D/tests.txt"
  # a hang (timeout) is what the shared device should have fixed: say so, then the old way
  if [ "$rc" = 124 ]; then
    echo "   HANG with several test threads: rerun with --test-threads 1" >> "$D/tests.txt"
    s=$SECONDS
    within "${2:-90}" "$t" --test-threads 1 > /tmp/test.log 2>&1; rc=$?
    echo "== $(basename "$t") --test-threads 1 rc=$rc $((SECONDS - s)) s: $(grep -E '^test result' /tmp/test.log | tail -1)" >> "$D/tests.txt"
  fi
}
# 2. the conv kernels on the GPU adapter
for t in .gpu/t/ops_conv-* .gpu/t/tuning-*; do run_test "$t" 60; done
# 3. side by side (PyTorch in three modes: about a minute each), then the profile
within 150 $T bench --preset paper --json "$D/tdfas_h200.json" > "$D/bench.txt" 2>&1
within 180 python3 tools/bench_torch.py --preset paper --json "$D/torch_h200.json" > "$D/torch_bench.txt" 2>&1
python3 tools/compare_bench.py "$D/tdfas_h200.json" "$D/torch_h200.json" --markdown > "$D/compare.md" 2>&1
within 60 $T profile --preset paper > "$D/profile.txt" 2>&1
# 4. every other test binary
for t in .gpu/t/*; do
  case $(basename "$t") in ops_conv-*|tuning-*) continue ;; esac
  run_test "$t" 60
done
# 5. a paper-preset checkpoint (a few steps on the small synthetic set), dumped and checked against PyTorch
{
  within 20 $T synth --out /tmp/s --preset small --seed 1 && \
  within 90 $T train --data /tmp/s --out /tmp/p --preset paper --steps 8 --checkpoint-every 100 && \
  clip=$(find /tmp/s/test/live -mindepth 1 -maxdepth 1 -type d | sort | head -1) && \
  within 30 $T dump --checkpoint /tmp/p/model.safetensors --input "$clip" --out /tmp/dump.safetensors && \
  within 60 python3 tools/compare_dump.py --checkpoint /tmp/p/model.safetensors --dump /tmp/dump.safetensors
} > "$D/dump.txt" 2>&1
echo "done in $((SECONDS - START)) s" | tee -a "$D/info.txt"
