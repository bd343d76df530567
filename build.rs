//! Says whether the page's WebAssembly (tools/build_web.sh's `target/web/`) is there to embed:
//! `tdfas web` needs it; every other command builds and runs without it.

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web");
    let files = ["tdfas_web.js", "tdfas_web_bg.wasm"].map(|f| dir.join(f));
    println!("cargo::rustc-check-cfg=cfg(tdfas_web_bundle)");
    // Watch the folder (a missing path would rerun this script, and rebuild tdfas, every time)
    // for the files' arrival, and the files for their rewrites.
    let _ = std::fs::create_dir_all(&dir);
    println!("cargo::rerun-if-changed={}", dir.display());
    if files.iter().all(|f| f.is_file()) {
        for f in &files {
            println!("cargo::rerun-if-changed={}", f.display());
        }
        println!("cargo::rustc-cfg=tdfas_web_bundle");
    }
}
