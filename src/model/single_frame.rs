//! The single-frame part (weights shared by all frames): three blocks, multi-scale concat, depth head.

use anyhow::Result;

use super::Builder;
use crate::graph::Var;
use crate::ops::{concat, elementwise, pool, resize};

pub struct SingleFrame {
    /// pre-pool block outputs f_1, f_2, f_3 (the OFF blocks' inputs)
    pub f: [Var; 3],
    /// D_single: [frames, 1, S, S]
    pub depth: Var,
}

/// frames: [N, 3, H, W] normalised pixels.
pub fn forward(m: &mut Builder, frames: Var) -> Result<SingleFrame> {
    let s = m.cfg.map_size();
    let mut x = m.cbr("single.conv0", frames)?;
    let mut f = Vec::new();
    let mut pooled = Vec::new();
    for b in 1..=3 {
        let h = m.cbr(&format!("single.block{b}.conv1"), x)?;
        let h = m.cbr(&format!("single.block{b}.conv2"), h)?;
        let fb = m.cbr(&format!("single.block{b}.conv3"), h)?;
        x = pool::t_maxpool2(m.t, fb)?;
        f.push(fb);
        pooled.push(x);
    }
    let x1 = resize::t_resize(m.t, pooled[0], s, s)?;
    let x2 = resize::t_resize(m.t, pooled[1], s, s)?;
    let cat = concat::t_concat_channels(m.t, &[x1, x2, pooled[2]])?;
    let h = m.cbr("single.head.conv1", cat)?;
    let h = m.cbr("single.head.conv2", h)?;
    let d = m.conv_bias("single.head.out", h)?;
    let depth = elementwise::t_relu(m.t, d)?;
    Ok(SingleFrame { f: [f[0], f[1], f[2]], depth })
}
