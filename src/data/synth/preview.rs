//! Contact sheet of a benchmark: for live, print and replay (first clip of the test split, else
//! train or dev), the first frames in rows, each as frame | depth | mask, classes side by side.

use crate::data::generic::{frame_files, sorted_dirs};
use crate::data::imageops::{crop_resize, load, save, Img, Rect};
use anyhow::{bail, Result};
use std::path::Path;

const ROWS: usize = 4;
const GAP: usize = 2;

pub fn preview(root: &Path, out_png: &Path) -> Result<()> {
    let mut columns: Vec<Vec<[Img; 3]>> = Vec::new();
    for class in ["live", "print", "replay"] {
        let Some(clip) = ["test", "train", "dev"]
            .iter()
            .filter_map(|s| sorted_dirs(&root.join(s).join(class)).ok()?.into_iter().next())
            .next()
        else {
            continue;
        };
        let frames = frame_files(&clip)?;
        let mut rows = Vec::new();
        for p in frames.values().take(ROWS) {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            let side = |suffix: &str| -> Result<Img> {
                let q = clip.join(format!("{stem}_{suffix}.png"));
                let mut g = if q.is_file() { load(&q, true)? } else { Img::new(1, 1, 1) };
                g.c = 1;
                Ok(g)
            };
            rows.push([load(p, false)?, side("depth")?, side("mask")?]);
        }
        columns.push(rows);
    }
    if columns.is_empty() {
        bail!("{}: no live/print/replay clips to preview", root.display());
    }
    let tile = columns[0][0][0].w.max(16);
    let ncols = columns.len() * 3;
    let (w, h) = (ncols * (tile + GAP) + GAP, ROWS * (tile + GAP) + GAP);
    let mut sheet = Img::new(w, h, 3);
    sheet.data.iter_mut().for_each(|v| *v = 255.0);
    for (c, rows) in columns.iter().enumerate() {
        for (r, tiles) in rows.iter().enumerate() {
            for (k, img) in tiles.iter().enumerate() {
                let t = crop_resize(img, Rect::full(img.w, img.h), tile);
                let (x0, y0) = (GAP + (c * 3 + k) * (tile + GAP), GAP + r * (tile + GAP));
                for y in 0..tile {
                    for x in 0..tile {
                        for ch in 0..3 {
                            let v = t.at(x, y, if t.c == 1 { 0 } else { ch });
                            sheet.set(x0 + x, y0 + y, ch, v);
                        }
                    }
                }
            }
        }
    }
    save(&sheet, out_png)
}
