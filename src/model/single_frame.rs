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
    // Each intermediate is freed after its last use (see Tape::free); f_b stay for the OFF blocks.
    let mut x = m.cbr("single.conv0", frames)?;
    m.t.free(frames);
    let mut f = Vec::new();
    let mut pooled = Vec::new();
    for b in 1..=3 {
        let h1 = m.cbr(&format!("single.block{b}.conv1"), x)?;
        if b == 1 {
            m.t.free(x); // conv0's output feeds only block 1; the pooled x_b feed the concat too
        }
        let h2 = m.cbr(&format!("single.block{b}.conv2"), h1)?;
        m.t.free(h1);
        let fb = m.cbr(&format!("single.block{b}.conv3"), h2)?;
        m.t.free(h2);
        x = pool::t_maxpool2(m.t, fb)?;
        f.push(fb);
        pooled.push(x);
    }
    let x1 = resize::t_resize(m.t, pooled[0], s, s)?;
    let x2 = resize::t_resize(m.t, pooled[1], s, s)?;
    let cat = concat::t_concat_channels(m.t, &[x1, x2, pooled[2]])?;
    m.t.free_all(&[x1, x2, pooled[0], pooled[1], pooled[2]]);
    let h1 = m.cbr("single.head.conv1", cat)?;
    m.t.free(cat);
    let h2 = m.cbr("single.head.conv2", h1)?;
    m.t.free(h1);
    let d = m.conv_bias("single.head.out", h2)?;
    m.t.free(h2);
    let depth = elementwise::t_relu(m.t, d)?;
    m.t.free(d);
    Ok(SingleFrame { f: [f[0], f[1], f[2]], depth })
}
