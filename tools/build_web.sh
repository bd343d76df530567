#!/usr/bin/env bash
# Builds the page's WebAssembly: the tdfas library for wasm32-unknown-unknown (wgpu's WebGPU
# backend), then wasm-bindgen's JavaScript glue, into target/web/ (tdfas_web.js,
# tdfas_web_bg.wasm). Build tdfas after this: `tdfas web` embeds them (build.rs checks).
# Needs the wasm32 target (rust-toolchain.toml installs it) and wasm-bindgen-cli of exactly the
# wasm-bindgen version in Cargo.lock: `cargo install wasm-bindgen-cli --version =<that version>`.
set -euo pipefail
cd "$(dirname "$0")/.."
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }') || true
if [ "$have" != "$want" ]; then
  echo "tools/build_web.sh: wasm-bindgen-cli $want is needed (found: ${have:-none}); install it with" >&2
  echo "  cargo install wasm-bindgen-cli --version =$want" >&2
  exit 1
fi
start=$(date +%s)
cargo rustc --lib --release --target wasm32-unknown-unknown --crate-type cdylib
mkdir -p target/web
wasm-bindgen --target web --no-typescript --out-dir target/web --out-name tdfas_web \
  target/wasm32-unknown-unknown/release/tdfas.wasm
echo "target/web: $(du -b target/web/tdfas_web_bg.wasm | cut -f1) bytes of wasm ($(gzip -9c target/web/tdfas_web_bg.wasm | wc -c) gzipped), built in $(( $(date +%s) - start )) s"
