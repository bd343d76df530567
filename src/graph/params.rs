//! The parameter store: named tensors (PyTorch layouts), each trainable or frozen.
//! Trainable parameters can be packed into one arena so one optimizer dispatch updates them all.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};

use crate::gpu::Gpu;
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Learned by gradient descent (conv/linear weights and biases, BatchNorm weight and bias).
    Weight,
    /// Updated by the forward pass (BatchNorm running mean and variance), never by the optimizer.
    RunningStat,
}

pub struct Param {
    pub name: String,
    pub value: Tensor,
    pub kind: ParamKind,
    pub trainable: bool,
}

#[derive(Default)]
pub struct ParamStore {
    pub params: Vec<Param>,
    index: BTreeMap<String, usize>,
}

impl ParamStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, gpu: &Gpu, name: &str, shape: &[usize], data: &[f32], kind: ParamKind) -> Result<()> {
        if self.index.contains_key(name) {
            bail!("parameter {name} defined twice");
        }
        let value = Tensor::upload(gpu, data, shape)?;
        self.index.insert(name.to_string(), self.params.len());
        self.params.push(Param { name: name.to_string(), value, kind, trainable: kind == ParamKind::Weight });
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    pub fn param(&self, name: &str) -> Result<&Param> {
        self.index.get(name).map(|&i| &self.params[i]).ok_or_else(|| anyhow!("no parameter named {name}"))
    }

    pub fn get(&self, name: &str) -> Result<&Tensor> {
        Ok(&self.param(name)?.value)
    }

    /// Puts a parameter on the tape: a leaf that wants a gradient when it is trainable.
    pub fn var(&self, tape: &mut Tape, name: &str) -> Result<Var> {
        let p = self.param(name)?;
        Ok(tape.leaf(p.value.clone(), p.trainable && p.kind == ParamKind::Weight))
    }

    /// Marks every weight whose name starts with `prefix` trainable or frozen.
    pub fn set_trainable(&mut self, prefix: &str, trainable: bool) {
        for p in &mut self.params {
            if p.name.starts_with(prefix) && p.kind == ParamKind::Weight {
                p.trainable = trainable;
            }
        }
    }

    pub fn trainable(&self) -> impl Iterator<Item = &Param> {
        self.params.iter().filter(|p| p.trainable && p.kind == ParamKind::Weight)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.params.iter().map(|p| p.name.as_str())
    }

    /// Replaces a parameter's values (checkpoint loading), checking the shape.
    pub fn set(&mut self, gpu: &Gpu, name: &str, data: &[f32]) -> Result<()> {
        let i = *self.index.get(name).ok_or_else(|| anyhow!("no parameter named {name}"))?;
        let p = &self.params[i];
        if data.len() != p.value.numel() {
            bail!("{name}: {} values for shape {:?}", data.len(), p.value.shape());
        }
        gpu.upload_into(&p.value, data);
        Ok(())
    }

    /// Packs the trainable weights into one arena buffer (each slot aligned for binding) and
    /// returns the layout; their tensors become views into it.
    pub fn pack_trainable(&mut self, gpu: &Gpu) -> Result<ArenaLayout> {
        let align = (gpu.offset_align() / 4) as usize;
        let mut slots = Vec::new();
        let mut total = 0usize;
        let per_buffer = (gpu.max_buffer() / 4) as usize / align * align;
        for (i, p) in self.params.iter().enumerate() {
            if p.trainable && p.kind == ParamKind::Weight {
                let n = p.value.numel();
                // the arena may span buffers (a small max_buffer_size): no parameter crosses one
                if n > per_buffer {
                    bail!(
                        "parameter {} ({n} values) is larger than one buffer of this adapter ({} bytes)",
                        p.name,
                        gpu.max_buffer()
                    );
                }
                if total % per_buffer + n > per_buffer {
                    total = total.next_multiple_of(per_buffer);
                }
                slots.push((i, total, n));
                total += n.div_ceil(align) * align;
            }
        }
        let arena = Tensor::empty_in_buffers(gpu, &[total.max(1)], per_buffer);
        gpu.clear(&arena);
        for &(i, offset, n) in &slots {
            let p = &mut self.params[i];
            gpu.copy(&p.value, 0, &arena, offset, n);
            p.value = arena.view(offset, p.value.shape());
        }
        Ok(ArenaLayout {
            arena,
            slots: slots.iter().map(|&(i, o, n)| (self.params[i].name.clone(), o, n)).collect(),
            len: total.max(1),
        })
    }
}

/// Where each trainable parameter lives in the packed arena: (name, float offset, length).
pub struct ArenaLayout {
    pub arena: Tensor,
    pub slots: Vec<(String, usize, usize)>,
    pub len: usize,
}
