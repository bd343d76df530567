//! Small helpers with no dependency on the rest of the crate, used by several layers: atomic file
//! writes, the progress bar, the bitmap font of the report pictures and previews.

pub mod font;
pub mod fs;
pub mod outputs;
pub mod png;
#[cfg(not(target_arch = "wasm32"))]
pub mod progress;
#[cfg(not(target_arch = "wasm32"))]
pub mod scratch;
pub mod settings;
pub mod text;
