//! The ConvGRU cell (paper eq. 9), long-term motion across the frames of a clip:
//!   R = sigmoid(conv([H, X])), U = sigmoid(conv([H, X])), Hc = tanh(conv([R * H, X])),
//!   H' = (1 - U) * H + U * Hc.

use anyhow::Result;

use super::Builder;
use crate::graph::Var;
use crate::ops::gather::{t_gather_concat, Pick};
use crate::ops::gru::{t_gru_gates, t_gru_update};

/// One step of cell `name` (e.g. "gru1"): h [B, hidden, S, S], x the items `pick` takes of `xs`
/// ([B, c_x, S, S]) -> new h. Taking x inside the concats saves a gather dispatch per step.
pub fn step(m: &mut Builder, name: &str, h: Var, xs: Var, pick: Pick) -> Result<Var> {
    let all = Pick::all(m.t.value(&h).shape()[0]);
    let hx = t_gather_concat(m.t, vec![h.clone(), xs.clone()], &[(0, all), (1, pick)])?;
    let pre_r = m.conv_bias(&format!("{name}.reset"), hx.clone())?;
    let pre_u = m.conv_bias(&format!("{name}.update"), hx)?;
    let (u, rh) = t_gru_gates(m.t, pre_r, pre_u, h.clone())?;
    let rhx = t_gather_concat(m.t, vec![rh, xs], &[(0, all), (1, pick)])?;
    let pre_c = m.conv_bias(&format!("{name}.cand"), rhx)?;
    t_gru_update(m.t, u, h, pre_c)
}
