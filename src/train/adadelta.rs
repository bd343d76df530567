//! The optimizer: Adadelta over the packed arena of trainable parameters, with its state kept
//! per parameter slot (saved in checkpoints, so a resumed run continues exactly).

use anyhow::{bail, Result};

use crate::gpu::Gpu;
use crate::graph::params::ArenaLayout;
use crate::graph::{Grads, ParamStore, Var};
use crate::tensor::Tensor;

pub struct Adadelta {
    pub lr: f32,
    pub rho: f32,
    pub eps: f32,
    /// PyTorch's `weight_decay`: this times each parameter is added to its gradient (0 = none,
    /// as the paper trains; `StageConfig::weight_decay`).
    pub weight_decay: f32,
    pub layout: ArenaLayout,
    grads: Tensor,
    /// square_avg (v) and acc_delta (u) in arena layout
    pub v: Tensor,
    pub u: Tensor,
    /// The stage's weight average (`stageN.average_from`), kept with the optimizer state.
    pub average: Option<crate::train::average::WeightAverage>,
}

impl Adadelta {
    /// Packs the store's trainable parameters and starts from zero state (a fresh optimizer).
    pub fn new(gpu: &Gpu, store: &mut ParamStore, lr: f32, rho: f32, eps: f32) -> Result<Self> {
        let layout = store.pack_trainable(gpu)?;
        let n = layout.len;
        Ok(Self {
            lr,
            rho,
            eps,
            weight_decay: 0.0,
            grads: Tensor::zeros(gpu, &[n]),
            v: Tensor::zeros(gpu, &[n]),
            u: Tensor::zeros(gpu, &[n]),
            layout,
            average: None,
        })
    }

    /// The gradients of the parameters put on a tape as (name, var).
    pub fn collect<'a>(grads: &'a Grads, vars: &'a [(String, Var)]) -> Vec<(&'a str, &'a Tensor)> {
        vars.iter().filter_map(|(n, v)| grads.get(v).map(|g| (n.as_str(), g))).collect()
    }

    /// Gathers the gradients into the arena and updates every trainable parameter in one
    /// dispatch. A parameter with no gradient gets a zero gradient.
    pub fn step(&self, gpu: &Gpu, grads: &[(&str, &Tensor)]) -> Result<()> {
        gpu.clear(&self.grads);
        for (name, offset, n) in &self.layout.slots {
            let Some((_, g)) = grads.iter().find(|(v, _)| v == name) else { continue };
            if g.numel() != *n {
                bail!("gradient of {name} has {} values, the parameter {n}", g.numel());
            }
            gpu.copy(g, 0, &self.grads, *offset, *n);
        }
        crate::ops::adadelta::adadelta_step(
            gpu,
            &self.layout.arena,
            &self.grads,
            &self.v,
            &self.u,
            self.lr,
            self.rho,
            self.eps,
            self.weight_decay,
        )
    }

    /// State of one parameter: (square_avg, acc_delta) views.
    pub fn state(&self, name: &str) -> Option<(Tensor, Tensor)> {
        self.layout
            .slots
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, o, n)| (self.v.view(*o, &[*n]), self.u.view(*o, &[*n])))
    }
}
