//! The FAS-TD model of MODEL.md, read like the paper's figure 5: the single-frame part, the OFF
//! blocks (short-term motion), the ConvGRU (long-term motion), fusion and the binary head, and the
//! clip score (eq. 18).

pub mod checkpoint;
pub mod config;
pub mod conv_gru;
pub mod fastd;
pub mod init;
pub mod off_block;
pub mod score;
pub mod single_frame;

use std::collections::HashMap;

use anyhow::Result;

use crate::graph::params::ParamKind;
use crate::graph::{ParamStore, Tape, Var};
use crate::ops::{batchnorm, conv, gather};
pub use config::{Config, Stage, Variant};

/// Builds the graph on a tape: puts each parameter on the tape once (so weights used at several
/// steps accumulate their gradients) and knows whether BatchNorm runs in training mode.
pub struct Builder<'a, 'g> {
    pub t: &'a mut Tape<'g>,
    pub params: &'a ParamStore,
    pub cfg: &'a Config,
    /// Training forward: BatchNorms of trainable parts use batch statistics and update their
    /// running statistics; frozen parts and evaluation use running statistics.
    pub training: bool,
    vars: HashMap<String, Var>,
}

impl<'a, 'g> Builder<'a, 'g> {
    pub fn new(t: &'a mut Tape<'g>, params: &'a ParamStore, cfg: &'a Config, training: bool) -> Self {
        Self { t, params, cfg, training, vars: HashMap::new() }
    }

    /// The tape variable of a parameter.
    pub fn p(&mut self, name: &str) -> Result<Var> {
        if let Some(v) = self.vars.get(name) {
            return Ok(v.clone());
        }
        let v = self.params.var(self.t, name)?;
        self.vars.insert(name.to_string(), v.clone());
        Ok(v)
    }

    /// The (name, var) of every parameter used so far, for the optimizer.
    pub fn param_vars(&self) -> Vec<(String, Var)> {
        self.vars.iter().map(|(n, v)| (n.clone(), v.clone())).collect()
    }

    /// conv k x k (no bias) -> BatchNorm -> ReLU, the paper's basic block.
    pub fn cbr(&mut self, name: &str, x: Var) -> Result<Var> {
        // inference folds the BatchNorm into the conv where the conv kernel applies the ReLU too
        // (elsewhere the fold and a separate ReLU cost more dispatches than the BatchNorm)
        let co = self.params.get(&format!("{name}.weight"))?.dim(0);
        if !self.training
            && !self.t.grad_enabled
            && conv::settings(self.t.gpu)?.fuse_inference.get()
            && conv::relu_epilogue(self.t.gpu, co)?
        {
            return self.cbr_fused(name, x);
        }
        let w = self.p(&format!("{name}.weight"))?;
        let y = conv::t_conv2d(self.t, x, w, None)?;
        let gamma = self.p(&format!("{name}.bn.weight"))?;
        let beta = self.p(&format!("{name}.bn.bias"))?;
        let trainable = self.params.param(&format!("{name}.bn.weight"))?.trainable;
        let rm = self.params.get(&format!("{name}.bn.running_mean"))?.clone();
        let rv = self.params.get(&format!("{name}.bn.running_var"))?.clone();
        debug_assert_eq!(self.params.param(&format!("{name}.bn.running_mean"))?.kind, ParamKind::RunningStat);
        let (eps, momentum) = (self.cfg.bn_eps as f32, self.cfg.bn_momentum as f32);
        batchnorm::t_batchnorm_relu(self.t, y, gamma, beta, &rm, &rv, self.training && trainable, eps, momentum)
    }

    /// `cbr` for inference (no gradients, running statistics): the BatchNorm folded into the conv's
    /// weight and a bias, the ReLU in the conv's epilogue; equal to `cbr` up to rounding.
    fn cbr_fused(&mut self, name: &str, x: Var) -> Result<Var> {
        let get = |what: &str| self.params.get(&format!("{name}.{what}"));
        let (w, gamma, beta) = (get("weight")?, get("bn.weight")?, get("bn.bias")?);
        let (rm, rv) = (get("bn.running_mean")?, get("bn.running_var")?);
        let gpu = self.t.gpu;
        let (wf, bf) = batchnorm::fold_into_conv(gpu, w, gamma, beta, rm, rv, self.cfg.bn_eps as f32)?;
        let y = conv::conv2d_relu(gpu, self.t.value(&x), &wf, Some(&bf))?;
        Ok(self.t.leaf(y, false))
    }

    /// conv k x k with bias, no activation.
    pub fn conv_bias(&mut self, name: &str, x: Var) -> Result<Var> {
        let w = self.p(&format!("{name}.weight"))?;
        let b = self.p(&format!("{name}.bias"))?;
        conv::t_conv2d(self.t, x, w, Some(b))
    }

    /// From a batch laid out clip-major ([B * per_clip, ...]), the items `start .. start + len`
    /// of every clip, clip-major again.
    pub fn gather(&mut self, x: Var, clips: usize, per_clip: usize, start: usize, len: usize) -> Result<Var> {
        if clips == 1 && start == 0 && len == per_clip {
            return Ok(x);
        }
        gather::t_gather_batch(self.t, x, clips, per_clip, start, len)
    }
}
