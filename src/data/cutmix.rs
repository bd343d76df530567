//! CutMix for depth supervision (Yun et al. 2019, with the labels cut as the pixels): a training
//! frame takes a rectangle of another frame of its batch, and its depth and mask labels take the
//! same rectangle of the other frame's labels. A live face with a patch of a print in it, or a
//! print with a patch of a live face, must then be told apart region by region: what makes a
//! region live has to be in that region (skin, paper, screen), not in how the whole picture
//! looks (a portrait's light, framing and background), which is what a network trained on
//! rendered faces otherwise learns and what does not carry to real cameras.
//!
//! The rectangle is aligned to the depth map's cells, so every label cell is wholly one frame's
//! and the labels stay exact. Stage 1 only: stage 2's binary label of a mixed clip would be
//! undefined.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::Clip;

/// Gives each single-frame clip of a batch, with probability `share`, a rectangle of the next
/// clip in the batch (the batch is shuffled, so the partner is a random one): pixels (all three
/// channels), depth and mask alike. `size` is the frame side, `map` the label map side; a
/// rectangle spans 2 to 3/4 of the map's cells in each direction. Clips of another layout (not
/// one frame of `size` and one map of `map`) are left alone.
pub fn cutmix(clips: &mut [Clip], share: f64, size: usize, map: usize, rng: &mut ChaCha8Rng) {
    if share <= 0.0 || clips.len() < 2 || map < 3 || !size.is_multiple_of(map) {
        return;
    }
    let one_frame =
        |c: &Clip| c.frames.len() == 3 * size * size && c.depth.len() == map * map && c.mask.len() == map * map;
    if !clips.iter().all(one_frame) {
        return;
    }
    let cell = size / map;
    let originals: Vec<Clip> = clips.to_vec();
    for k in 0..clips.len() {
        if !rng.random_bool(share.min(1.0)) {
            continue;
        }
        let other = &originals[(k + 1) % originals.len()];
        let (w, h) = (rng.random_range(2..=map * 3 / 4), rng.random_range(2..=map * 3 / 4));
        let (x0, y0) = (rng.random_range(0..=map - w), rng.random_range(0..=map - h));
        let clip = &mut clips[k];
        for cy in y0..y0 + h {
            let cells = cy * map + x0..cy * map + x0 + w;
            clip.depth[cells.clone()].copy_from_slice(&other.depth[cells.clone()]);
            clip.mask[cells.clone()].copy_from_slice(&other.mask[cells]);
        }
        for ch in 0..3 {
            for y in y0 * cell..(y0 + h) * cell {
                let row = ch * size * size + y * size;
                let px = row + x0 * cell..row + (x0 + w) * cell;
                clip.frames[px.clone()].copy_from_slice(&other.frames[px]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// A single-frame clip whose every pixel and label value is `v`.
    fn flat(v: f32, size: usize, map: usize) -> Clip {
        Clip {
            video_id: format!("v{v}"),
            instrument: "live".into(),
            label: 1,
            frames: vec![v; 3 * size * size],
            depth: vec![v; map * map],
            mask: vec![v; map * map],
        }
    }

    #[test]
    fn a_rectangle_of_the_partner_moves_with_its_labels_cell_for_cell() {
        let (size, map) = (16, 4);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut clips = vec![flat(1.0, size, map), flat(2.0, size, map)];
        cutmix(&mut clips, 1.0, size, map, &mut rng);
        for (k, clip) in clips.iter().enumerate() {
            let (own, other) = if k == 0 { (1.0, 2.0) } else { (2.0, 1.0) };
            // the cells taken from the partner: a rectangle of 2-3 cells each way
            let taken: Vec<usize> = (0..map * map).filter(|&i| clip.depth[i] == other).collect();
            assert!(taken.len() >= 4 && taken.len() <= 9, "{taken:?}");
            let (xs, ys): (Vec<usize>, Vec<usize>) = taken.iter().map(|i| (i % map, i / map)).unzip();
            let (w, h) = (
                xs.iter().max().unwrap() - xs.iter().min().unwrap() + 1,
                ys.iter().max().unwrap() - ys.iter().min().unwrap() + 1,
            );
            assert_eq!(w * h, taken.len(), "not a rectangle: {taken:?}");
            assert_eq!(clip.mask, clip.depth);
            // every pixel follows its cell's label, in every channel; the rest is the clip's own
            for ch in 0..3 {
                for y in 0..size {
                    for x in 0..size {
                        let label = clip.depth[(y / (size / map)) * map + x / (size / map)];
                        assert_eq!(clip.frames[ch * size * size + y * size + x], label, "({ch}, {x}, {y})");
                    }
                }
            }
            assert!(clip.depth.iter().all(|&d| d == own || d == other));
        }
    }

    #[test]
    fn share_zero_or_another_layout_changes_nothing_and_a_seed_repeats() {
        let (size, map) = (16, 4);
        let batch: Vec<Clip> = (0..6).map(|i| flat(i as f32, size, map)).collect();
        let mut off = batch.clone();
        cutmix(&mut off, 0.0, size, map, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(off, batch);
        // two frames per clip (stage 2's clips) are not mixed
        let mut two: Vec<Clip> =
            batch.iter().map(|c| Clip { frames: [c.frames.clone(), c.frames.clone()].concat(), ..c.clone() }).collect();
        let before = two.clone();
        cutmix(&mut two, 1.0, size, map, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(two, before);
        // the same rng seed gives the same batch, another seed another one
        let run = |seed| {
            let mut b = batch.clone();
            cutmix(&mut b, 0.5, size, map, &mut ChaCha8Rng::seed_from_u64(seed));
            b
        };
        assert_eq!(run(3), run(3));
        assert!((0..8).any(|s| run(s) != run(3)));
        assert_ne!(run(3), batch);
    }
}
