//! The paper's figure 7 as a PNG: per class a row of RGB frame | single-frame depth |
//! multi-frame depth, with the class and video score written above the row.
//! Depth maps (S x S, values expected in [0, 1], clamped) are upscaled nearest-neighbour to the
//! RGB size and coloured with viridis.

use super::font::{draw_text, text_width, GLYPH_H};
use anyhow::{bail, Context, Result};
use image::{Rgb, RgbImage};
use std::path::Path;

/// One row of the depth figure.
pub struct GridRow {
    pub class: String,
    pub rgb: RgbImage,
    /// `map * map` values, row-major.
    pub single_depth: Vec<f32>,
    /// `map * map` values, row-major.
    pub multi_depth: Vec<f32>,
    pub map: usize,
    pub score: f64,
}

/// viridis sampled at 8 even stops (matplotlib / viridisLite), interpolated linearly.
const VIRIDIS: [[u8; 3]; 8] = [
    [0x44, 0x01, 0x54],
    [0x46, 0x32, 0x7e],
    [0x36, 0x5c, 0x8d],
    [0x27, 0x7f, 0x8e],
    [0x1f, 0xa1, 0x87],
    [0x4a, 0xc1, 0x6d],
    [0xa0, 0xda, 0x39],
    [0xfd, 0xe7, 0x25],
];

pub fn viridis(v: f32) -> Rgb<u8> {
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    let x = v * (VIRIDIS.len() - 1) as f32;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let t = x - i as f32;
    let mix = |c: usize| (VIRIDIS[i][c] as f32 * (1.0 - t) + VIRIDIS[i + 1][c] as f32 * t).round() as u8;
    Rgb([mix(0), mix(1), mix(2)])
}

const PAD: u32 = 6;
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);

/// Paints a `map x map` depth map into a `w x h` block at (x0, y0), nearest-neighbour.
fn blit_depth(img: &mut RgbImage, x0: u32, y0: u32, w: u32, h: u32, depth: &[f32], map: usize) {
    for y in 0..h {
        let sy = (y as usize * map / h as usize).min(map - 1);
        for x in 0..w {
            let sx = (x as usize * map / w as usize).min(map - 1);
            img.put_pixel(x0 + x, y0 + y, viridis(depth[sy * map + sx]));
        }
    }
}

fn check_rows(rows: &[GridRow], path: &Path) -> Result<(u32, u32)> {
    let Some(first) = rows.first() else {
        bail!("write_depth_grid {}: no rows", path.display());
    };
    let (w, h) = first.rgb.dimensions();
    if w == 0 || h == 0 {
        bail!("write_depth_grid {}: row 0 has an empty RGB image", path.display());
    }
    for (i, r) in rows.iter().enumerate() {
        if r.rgb.dimensions() != (w, h) {
            bail!(
                "write_depth_grid {}: row {i} RGB is {:?}, row 0 is {:?}",
                path.display(),
                r.rgb.dimensions(),
                (w, h)
            );
        }
        let n = r.map * r.map;
        if r.map == 0 || r.single_depth.len() != n || r.multi_depth.len() != n {
            bail!(
                "write_depth_grid {}: row {i} ('{}'): map {} needs {n} values, got single {} / multi {}",
                path.display(),
                r.class,
                r.map,
                r.single_depth.len(),
                r.multi_depth.len()
            );
        }
    }
    Ok((w, h))
}

pub fn write_depth_grid(path: &Path, rows: &[GridRow]) -> Result<()> {
    let (cw, ch) = check_rows(rows, path)?;
    // Large text when the column titles fit the cells, otherwise small, otherwise short titles.
    let long = ["RGB", "SINGLE-FRAME DEPTH", "MULTI-FRAME DEPTH"];
    let fits = |scale| text_width(long[1], scale) + PAD <= cw;
    let scale = if fits(2) { 2 } else { 1 };
    let titles = if fits(1) { long } else { ["RGB", "SINGLE-FRAME", "MULTI-FRAME"] };
    let line = GLYPH_H * scale + PAD;
    let width = 3 * cw + 4 * PAD;
    let bar_h = 12;
    let height = line + 2 * PAD + rows.len() as u32 * (line + ch + PAD) + bar_h + line + PAD;
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    for (c, t) in titles.iter().enumerate() {
        draw_text(&mut img, PAD + c as u32 * (cw + PAD), PAD, t, scale, BLACK);
    }
    let mut y = line + 2 * PAD; // header, then a gap before the first row label
    for r in rows {
        let label = format!("{}  SCORE {:.3}", r.class, r.score);
        draw_text(&mut img, PAD, y, &label, scale, BLACK);
        y += line;
        image::imageops::replace(&mut img, &r.rgb, PAD as i64, y as i64);
        blit_depth(&mut img, 2 * PAD + cw, y, cw, ch, &r.single_depth, r.map);
        blit_depth(&mut img, 3 * PAD + 2 * cw, y, cw, ch, &r.multi_depth, r.map);
        y += ch + PAD;
    }
    // Colour bar for depth 0 .. 1 under the depth columns.
    let (bx, bw) = (2 * PAD + cw, 2 * cw + PAD);
    for x in 0..bw {
        let c = viridis(x as f32 / (bw - 1).max(1) as f32);
        for dy in 0..bar_h {
            img.put_pixel(bx + x, y + dy, c);
        }
    }
    y += bar_h + 2;
    draw_text(&mut img, bx, y, "DEPTH 0", scale, BLACK);
    draw_text(&mut img, (bx + bw).saturating_sub(text_width("1", scale)), y, "1", scale, BLACK);
    img.save(path).with_context(|| format!("writing {}", path.display()))
}
