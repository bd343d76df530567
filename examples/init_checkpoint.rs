//! A freshly initialised checkpoint of a preset, and a clip of synthetic face-crop frames at its
//! image size: the inputs of `tdfas dump` / tools/compare_dump.py at full size without training.
//!
//! `cargo run --release --example init_checkpoint -- PRESET OUT_DIR [SEED]`
//! writes OUT_DIR/model.safetensors and OUT_DIR/frames/NNNN.png.

use anyhow::{Context, Result};
use tdfas::model::checkpoint::Progress;
use tdfas::model::fastd::FasTd;
use tdfas::model::Config;
use tdfas::train::checkpoint;
use tdfas::Gpu;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(preset), Some(out)) = (args.first(), args.get(1)) else {
        anyhow::bail!("usage: init_checkpoint PRESET OUT_DIR [SEED]");
    };
    let seed: u64 = args.get(2).map(|s| s.parse()).transpose().context("SEED must be an integer")?.unwrap_or(1);
    let cfg = Config::preset(preset)?;
    let gpu = Gpu::new()?;
    tdfas::ops::tune(&gpu)?;
    let model = FasTd::new(&gpu, cfg.clone(), seed)?;
    let out = std::path::Path::new(out);
    let frames = out.join("frames");
    std::fs::create_dir_all(&frames).with_context(|| format!("creating {}", frames.display()))?;
    let progress = Progress { stage: 2, step: 0, seed, stage_done: true, init: None };
    checkpoint::save(&gpu, &out.join("model.safetensors"), &model, None, &progress)?;
    let h = cfg.image_size as u32;
    for i in 0..(cfg.frames - 1) * cfg.interval + 1 {
        // a smooth gradient that moves a little from frame to frame
        let img = image::RgbImage::from_fn(h, h, |x, y| {
            let t = i as u32 * 7;
            image::Rgb([((x + t) * 255 / h) as u8, ((y * 2 + t) * 255 / (2 * h)) as u8, (((x ^ y) + t) % 256) as u8])
        });
        img.save(frames.join(format!("{i:04}.png")))?;
    }
    println!("{}: {preset} preset, {h}x{h}, seed {seed}", out.display());
    Ok(())
}
