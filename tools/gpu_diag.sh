#!/bin/bash
# Finds which tests of ops_cnn / ops_temporal_and_losses do not finish on the GPU adapter: each test alone, 25 s cap.
set -u
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
m=$(cat .gpu/manifest_dir 2>/dev/null || echo /work/main)   # see tools/gpu_run.sh prepare
mkdir -p "$(dirname "$m")" && ln -sfn "$PWD" "$m"
mkdir -p .gpu/t && python3 -c "import tarfile; tarfile.open('.gpu/tests.tar.xz').extractall('.gpu/t')"
for b in .gpu/t/ops_cnn-* .gpu/t/ops_temporal_and_losses-*; do
  for t in $($b --list 2>/dev/null | grep ': test$' | sed 's/: test$//'); do
    s=$SECONDS; timeout 25 $b --exact "$t" --test-threads 1 > /tmp/one.log 2>&1; rc=$?
    echo "$(basename $b) $t rc=$rc $((SECONDS - s)) s" >> "$OUT/diag.txt"
    [ $rc = 0 ] || tail -5 /tmp/one.log >> "$OUT/diag.txt"
  done
done
echo done
