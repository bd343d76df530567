//! The ConvGRU cell (paper eq. 9), long-term motion across the frames of a clip:
//!   R = sigmoid(conv([H, X])), U = sigmoid(conv([H, X])), Hc = tanh(conv([R * H, X])),
//!   H' = (1 - U) * H + U * Hc.

use anyhow::Result;

use super::Builder;
use crate::graph::Var;
use crate::ops::concat::t_concat_channels;
use crate::ops::gru::{t_gru_gates, t_gru_update};

/// One step of cell `name` (e.g. "gru1"): h [B, hidden, S, S], x [B, c_x, S, S] -> new h.
pub fn step(m: &mut Builder, name: &str, h: Var, x: Var) -> Result<Var> {
    let hx = t_concat_channels(m.t, &[h, x])?;
    let pre_r = m.conv_bias(&format!("{name}.reset"), hx)?;
    let pre_u = m.conv_bias(&format!("{name}.update"), hx)?;
    let (u, rh) = t_gru_gates(m.t, pre_r, pre_u, h)?;
    let rhx = t_concat_channels(m.t, &[rh, x])?;
    let pre_c = m.conv_bias(&format!("{name}.cand"), rhx)?;
    t_gru_update(m.t, u, h, pre_c)
}
