//! The Optical-Flow-guided Feature block (short-term motion between frames t and t+1).

use anyhow::Result;

use super::Builder;
use crate::graph::Var;
use crate::ops::gather::{t_gather_concat, Pick};
use crate::ops::pair_diff::t_pair_diff;
use crate::ops::pool;
use crate::ops::sobel::t_sobel_xy;

/// OFF block at level `l` on pre-pool features `f` of all B * Nf frames (clip-major).
/// `prev` is o_{l-1} for the B * (Nf-1) pairs. Returns o_l: [B * (Nf-1), off_out, h/2, w/2].
pub fn forward(m: &mut Builder, l: usize, f: Var, prev: Option<Var>, clips: usize) -> Result<Var> {
    let nf = m.cfg.frames;
    // reduce runs once on all frames: r of frame t+1 in pair t is r of frame t+1 in pair t+1
    let r = m.cbr(&format!("off{l}.reduce"), f)?;
    // [sobel_x(r), sobel_y(r)] per frame, as the concat reads them
    let sxy = t_sobel_xy(m.t, r.clone())?;
    // r_t1 - r_t straight from r; r_t, sx_t, sy_t, sx_t1, sy_t1 are gathered inside the concat's
    // one dispatch (and its backward puts the frames' gradients back in one)
    let diff = t_pair_diff(m.t, r.clone(), clips, nf)?;
    let (t0, t1) = (frames(clips, nf, 0), frames(clips, nf, 1));
    let pairs_all = Pick::all(clips * (nf - 1));
    // [r_t, sx_t, sy_t, sx_t1, sy_t1, r_t1 - r_t, o_{l-1}]
    let mut srcs = vec![r, sxy, diff];
    let mut segs = vec![(0, t0), (1, t0), (1, t1), (2, pairs_all)];
    if let Some(p) = prev {
        srcs.push(p);
        segs.push((3, pairs_all));
    }
    let cat = t_gather_concat(m.t, srcs, &segs)?;
    let fused = m.cbr(&format!("off{l}.fuse"), cat)?;
    pool::t_maxpool2(m.t, fused)
}

/// Frames `start .. start + nf - 1` of each of `clips` clips of `nf` frames (a pair's first or
/// second frame).
fn frames(clips: usize, nf: usize, start: usize) -> Pick {
    Pick { groups: clips, per_group: nf, start, len: nf - 1 }
}
