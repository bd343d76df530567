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
    // Each value is moved into its last reader, which frees it (see `Var`); f_b stay for the
    // OFF blocks, the pooled x_1, x_2 for the multi-scale concat.
    let mut x = m.cbr("single.conv0", frames)?;
    let mut f = Vec::new();
    let mut pooled = Vec::new();
    for b in 1..=3 {
        let h1 = m.cbr(&format!("single.block{b}.conv1"), x)?;
        let h2 = m.cbr(&format!("single.block{b}.conv2"), h1)?;
        let fb = m.cbr(&format!("single.block{b}.conv3"), h2)?;
        x = pool::t_maxpool2(m.t, fb.clone())?;
        f.push(fb);
        if b < 3 {
            pooled.push(x.clone());
        }
    }
    let [p1, p2]: [Var; 2] = pooled.try_into().expect("two pooled scales");
    let x1 = resize::t_resize(m.t, p1, s, s)?;
    let x2 = resize::t_resize(m.t, p2, s, s)?;
    let cat = concat::t_concat_channels(m.t, vec![x1, x2, x])?;
    let h1 = m.cbr("single.head.conv1", cat)?;
    let h2 = m.cbr("single.head.conv2", h1)?;
    let d = m.conv_bias("single.head.out", h2)?;
    // stage1.revive: a dead output gets the gradient that would raise it back (MODEL.md)
    let depth = if m.training && m.cfg.stage1.revive {
        elementwise::t_relu_revive(m.t, d)?
    } else {
        elementwise::t_relu(m.t, d)?
    };
    Ok(SingleFrame { f: f.try_into().expect("three blocks"), depth })
}
