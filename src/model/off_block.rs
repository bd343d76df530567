//! The Optical-Flow-guided Feature block (short-term motion between frames t and t+1).

use anyhow::Result;

use super::Builder;
use crate::graph::Var;
use crate::ops::elementwise::t_sub;
use crate::ops::sobel::{t_sobel, SobelDir};
use crate::ops::{concat, pool};

/// OFF block at level `l` on pre-pool features `f` of all B * Nf frames (clip-major).
/// `prev` is o_{l-1} for the B * (Nf-1) pairs. `f` is freed on the tape once read. Returns o_l: [B * (Nf-1), off_out, h/2, w/2].
pub fn forward(m: &mut Builder, l: usize, f: Var, prev: Option<Var>, clips: usize) -> Result<Var> {
    let nf = m.cfg.frames;
    // reduce runs once on all frames: r of frame t+1 in pair t is r of frame t+1 in pair t+1
    let r = m.cbr(&format!("off{l}.reduce"), f)?;
    m.t.free(f); // f_l feeds only this block's reduce
    let sx = t_sobel(m.t, r, SobelDir::X)?;
    let sy = t_sobel(m.t, r, SobelDir::Y)?;
    let r_t = m.gather(r, clips, nf, 0, nf - 1)?;
    let r_t1 = m.gather(r, clips, nf, 1, nf - 1)?;
    let mut parts = vec![
        r_t,
        m.gather(sx, clips, nf, 0, nf - 1)?,
        m.gather(sy, clips, nf, 0, nf - 1)?,
        m.gather(sx, clips, nf, 1, nf - 1)?,
        m.gather(sy, clips, nf, 1, nf - 1)?,
        t_sub(m.t, r_t1, r_t)?,
    ];
    if let Some(p) = prev {
        parts.push(p);
    }
    // r, its Sobel maps and the parts are not read again (`prev` is the caller's, freed there)
    m.t.free_all(&[r, sx, sy, r_t1]);
    let cat = concat::t_concat_channels(m.t, &parts)?;
    m.t.free_all(&parts[..6]);
    let fused = m.cbr(&format!("off{l}.fuse"), cat)?;
    m.t.free(cat);
    let o = pool::t_maxpool2(m.t, fused)?;
    m.t.free(fused);
    Ok(o)
}
