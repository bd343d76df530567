//! tdfas in the browser: the same engine on WebGPU. `wasm` is the browser build's entry points
//! (tools/build_web.sh compiles this crate for wasm32 and runs wasm-bindgen into `target/web/`);
//! `server` is `tdfas web`, which serves the page (index.html, app.js), that build and a
//! checkpoint on 127.0.0.1. `kernel_checks` are the kernels' reference checks the page runs
//! (`?test=kernels`), natively too in tests/all/web.rs; `bench_rows` its bench view.

pub mod bench_rows;
pub mod kernel_checks;
#[cfg(not(target_arch = "wasm32"))]
pub mod server;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
