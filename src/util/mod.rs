//! Small helpers with no dependency on the rest of the crate, used by several layers: atomic file
//! writes, the progress bar, the bitmap font of the report pictures and previews, FNV hashing,
//! UTC dates, the `TDFAS_*` settings.

pub mod font;
pub mod fs;
pub mod hash;
pub mod outputs;
pub mod png;
#[cfg(not(target_arch = "wasm32"))]
pub mod progress;
#[cfg(not(target_arch = "wasm32"))]
pub mod scratch;
pub mod settings;
pub mod text;
pub mod time;

/// The greatest common divisor of `a` and `b` (`gcd(a, 0) = a`).
pub fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
