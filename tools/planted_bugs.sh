#!/usr/bin/env bash
# Plants one bug at a time in a kernel and shows which test tiers catch it:
#   tier 1 = GPU op vs f64 reference (tests/all/ops_*.rs, optim.rs), tier 3 = PyTorch goldens
#   (op goldens in the same files, whole model in tests/all/model.rs). Tier 2 (finite differences)
#   guards the references themselves. Restores every file afterwards.
set -u
cd "$(dirname "$0")/.."
plant() { # name file old new
  local name=$1 file=$2 old=$3 new=$4
  cp "$file" /tmp/planted.bak
  python3 - "$file" "$old" "$new" <<'PY'
import sys
p, old, new = sys.argv[1:]
s = open(p).read()
assert old in s, f"{old!r} not in {p}"
open(p, "w").write(s.replace(old, new, 1))
PY
  echo "== $name: $file: '$old' -> '$new'"
  cargo test --no-fail-fast --test all -- ops_conv:: ops_temporal_and_losses:: optim:: model:: 2>&1 \
    | grep -E "^test .* FAILED$" | sed 's/^/   caught by /'
  cp /tmp/planted.bak "$file"
}
plant "conv weight-gradient sign" shaders/conv2d_weight_grad.wgsl "gw[((o0 + i) * p.cin + c0 + j) * kk + tap] = red[" "gw[((o0 + i) * p.cin + c0 + j) * kk + tap] = -red["
plant "Sobel centre-row weight" shaders/sobel.wgsl "+ 2.0 * (at(base, r, c + 1)" "+ 1.0 * (at(base, r, c + 1)"
plant "GRU update gate swapped" shaders/gru_update.wgsl "h[i] = (1.0 - u[i]) * h_prev[i] + u[i] * tanh_safe(pre_c[i]);" "h[i] = u[i] * h_prev[i] + (1.0 - u[i]) * tanh_safe(pre_c[i]);"
plant "contrastive loss drops horizontal neighbours" shaders/depth_loss.wgsl "if (dr != 0 || dc != 0) {" "if (dr != 0) {"
plant "Adadelta square_avg without the square" shaders/adadelta.wgsl "(1.0 - prm.rho) * gi * gi" "(1.0 - prm.rho) * gi"
