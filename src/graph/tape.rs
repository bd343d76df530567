//! The tape: ops record themselves during the forward pass; `backward` walks the records in
//! reverse and calls each op's hand-written gradient (micrograd's engine, with GPU tensors).

use std::collections::HashMap;
use std::rc::Rc;

use anyhow::{bail, Result};

use crate::gpu::{Arg, Gpu};
use crate::tensor::Tensor;

/// A value on the tape: a handle to its tensor, which returns to the pool when the last handle
/// drops. Ops take their inputs by value, so an intermediate is freed right after its last
/// reader (liveness by ownership, checked by the compiler); clone a Var to read it again later.
/// What a backward reads is saved by its closure (`save`), so gradients need no handle.
#[derive(Clone)]
pub struct Var(Rc<Value>);

struct Value {
    id: usize,
    tensor: Tensor,
}

impl Var {
    /// Its index on the tape (`Grads` are indexed by it).
    pub fn id(&self) -> usize {
        self.0.id
    }
}

impl std::fmt::Debug for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Var({}, {:?})", self.0.id, self.0.tensor)
    }
}

/// Gradient of one op over a list of inputs (`Tape::record_var`): given dL/d(output), returns
/// dL/d(input) for each input (None where the input needs no gradient).
pub type BackwardFn<'g> = Box<dyn FnOnce(&Gpu, &Tensor) -> Result<Vec<Option<Tensor>>> + 'g>;

/// Recomputes a tape value from what its op saved anyway (a BatchNorm's output from its input and
/// statistics), so that ops reading it in their backward need not keep it alive.
pub type Recompute<'g> = Rc<dyn Fn(&Gpu) -> Result<Tensor> + 'g>;

/// A value an op's backward reads: kept, or recomputed when the backward runs.
pub enum Saved<'g> {
    Kept(Tensor),
    Recomputed(Recompute<'g>),
}

impl Saved<'_> {
    pub fn get(&self, gpu: &Gpu) -> Result<Tensor> {
        match self {
            Saved::Kept(t) => Ok(t.clone()),
            Saved::Recomputed(f) => f(gpu),
        }
    }
}

struct Node<'g> {
    name: &'static str,
    /// ids of the input and output values (the tape holds no tensors)
    inputs: Vec<usize>,
    output: usize,
    backward: BackwardFn<'g>,
}

pub struct Tape<'g> {
    pub gpu: &'g Gpu,
    shapes: Vec<Vec<usize>>,
    requires_grad: Vec<bool>,
    nodes: Vec<Node<'g>>,
    /// When false (inference, frozen parts) nothing is recorded.
    pub grad_enabled: bool,
    /// When true, every op's output is read back and checked for NaN/Inf (slow; debugging).
    pub detect_anomaly: bool,
    anomaly: Option<String>,
    /// Values that can be recomputed in the backward (`set_recompute`).
    recompute: HashMap<usize, Recompute<'g>>,
}

/// Gradients from one backward walk, indexed by Var.
pub struct Grads {
    grads: Vec<Option<Tensor>>,
}

impl Grads {
    pub fn get(&self, v: &Var) -> Option<&Tensor> {
        self.grads.get(v.id()).and_then(|g| g.as_ref())
    }
}

impl<'g> Tape<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        Self {
            gpu,
            shapes: Vec::new(),
            requires_grad: Vec::new(),
            nodes: Vec::new(),
            grad_enabled: true,
            detect_anomaly: false,
            anomaly: None,
            recompute: HashMap::new(),
        }
    }

    /// A leaf value: an input (requires_grad = false) or a parameter.
    pub fn leaf(&mut self, t: Tensor, requires_grad: bool) -> Var {
        let id = self.shapes.len();
        self.shapes.push(t.shape().to_vec());
        self.requires_grad.push(requires_grad && self.grad_enabled);
        Var(Rc::new(Value { id, tensor: t }))
    }

    /// The tensor of `v` (held by `v` itself: the tape holds no values).
    pub fn value<'v>(&self, v: &'v Var) -> &'v Tensor {
        &v.0.tensor
    }

    /// Declares that `v` can be recomputed by `f` (from tensors `f` shares with the backward of the
    /// op that made `v`): ops that save `v` for their backward (`save`) then keep `f` instead.
    /// Only for a value whose op was recorded (else `f` would keep its inputs alive for nothing).
    pub fn set_recompute(&mut self, v: &Var, f: Recompute<'g>) {
        if self.grad_enabled && self.requires_grad[v.id()] {
            self.recompute.insert(v.id(), f);
        }
    }

    /// What an op's backward should hold to read `v`: its recipe when it has one, else the value.
    pub fn save(&self, v: &Var) -> Saved<'g> {
        match self.recompute.get(&v.id()) {
            Some(f) => Saved::Recomputed(f.clone()),
            None => Saved::Kept(self.value(v).clone()),
        }
    }

    pub fn requires_grad(&self, v: &Var) -> bool {
        self.requires_grad[v.id()]
    }

    /// Records the output of an op of `N` inputs. Its gradient closure returns one gradient per
    /// input, an arity the compiler checks; it is kept only if some input needs a gradient.
    pub fn record<const N: usize>(
        &mut self,
        name: &'static str,
        inputs: [&Var; N],
        output: Tensor,
        backward: impl FnOnce(&Gpu, &Tensor) -> Result<[Option<Tensor>; N]> + 'g,
    ) -> Var {
        self.record_var(name, &inputs, output, Box::new(move |gpu, g| Ok(Vec::from(backward(gpu, g)?))))
    }

    /// `record` for an op over a list of inputs (concat; conv with an optional bias): the number
    /// of gradients is checked when the backward walk calls the closure.
    pub fn record_var(&mut self, name: &'static str, inputs: &[&Var], output: Tensor, backward: BackwardFn<'g>) -> Var {
        if self.detect_anomaly && self.anomaly.is_none() {
            match self.gpu.download(&output) {
                Ok(values) => {
                    if let Some(i) = values.iter().position(|x| !x.is_finite()) {
                        self.anomaly = Some(format!(
                            "op `{name}` (tape node {}) produced {} at element {i} of its {:?} output",
                            self.nodes.len(),
                            values[i],
                            output.shape()
                        ));
                    }
                }
                Err(e) => self.anomaly = Some(format!("op `{name}`: {e}")),
            }
        }
        let needs = self.grad_enabled && inputs.iter().any(|v| self.requires_grad(v));
        let out = self.leaf(output, false);
        if needs {
            self.requires_grad[out.id()] = true;
            let inputs = inputs.iter().map(|v| v.id()).collect();
            self.nodes.push(Node { name, inputs, output: out.id(), backward });
        }
        out
    }

    /// With `detect_anomaly`, the first op that produced a non-finite value.
    pub fn anomaly(&self) -> Option<&str> {
        self.anomaly.as_deref()
    }

    /// Walks the tape backwards from `loss` (seeded with ones), accumulating gradients where a
    /// value feeds several ops. Records GPU work only; nothing is read back.
    pub fn backward(self, loss: &Var) -> Result<Grads> {
        self.backward_with(loss, None)
    }

    /// Like `backward`, with an explicit upstream gradient for `output` (used by gradient tests).
    pub fn backward_with(mut self, output: &Var, seed: Option<Tensor>) -> Result<Grads> {
        let gpu = self.gpu;
        // Gradients of each value as they arrive, summed (one dispatch for up to 7) when the
        // walk reaches the op that made the value, or at the end for leaves.
        let mut pending: Vec<Vec<Tensor>> = vec![Vec::new(); self.shapes.len()];
        let shape = self.shapes[output.id()].clone();
        let seed = match seed {
            Some(s) => {
                if s.shape() != shape.as_slice() {
                    bail!("backward seed shape {:?} != output shape {:?}", s.shape(), shape);
                }
                s
            }
            None => Tensor::filled(gpu, &shape, 1.0),
        };
        pending[output.id()].push(seed);
        // Each backward closure holds what it needs (the tape holds no values): each saved
        // tensor is freed once the last closure that saved it has run.
        let shapes = std::mem::take(&mut self.shapes);
        self.recompute.clear();
        let nodes = std::mem::take(&mut self.nodes);
        for node in nodes.into_iter().rev() {
            // An op output's gradient is needed only by this node: taken, it returns to the pool.
            let parts = std::mem::take(&mut pending[node.output]);
            let Some(g_out) = sum_grads(gpu, parts)? else { continue };
            let input_grads = (node.backward)(gpu, &g_out)?;
            if input_grads.len() != node.inputs.len() {
                bail!(
                    "backward of `{}` returned {} gradients for {} inputs",
                    node.name,
                    input_grads.len(),
                    node.inputs.len()
                );
            }
            for (&input, g) in node.inputs.iter().zip(input_grads) {
                let Some(g) = g else { continue };
                if !self.requires_grad[input] {
                    continue;
                }
                if g.shape() != shapes[input].as_slice() {
                    bail!(
                        "backward of `{}`: gradient shape {:?} != input shape {:?}",
                        node.name,
                        g.shape(),
                        shapes[input]
                    );
                }
                let parts = &mut pending[input];
                let big = g.byte_len() > DEFER_BYTES;
                parts.push(g);
                // large gradients are added as they come (memory); a full set of 7 is summed now
                if parts.len() == SUM_MAX || (big && parts.len() > 1) {
                    let sum = sum_grads(gpu, std::mem::take(parts))?;
                    parts.extend(sum);
                }
            }
        }
        let grads = pending.into_iter().map(|parts| sum_grads(gpu, parts)).collect::<Result<_>>()?;
        Ok(Grads { grads })
    }
}

/// Uniform of elementwise.wgsl (checked against it at first use, see `gpu::reflect`).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct AddParams {
    n: u32,
    s: f32,
    _pad: [u32; 2],
}
crate::uniform!(AddParams { n, s, _pad });

/// Most gradients of one value summed by one grad_sum.wgsl dispatch (its 7 input bindings).
const SUM_MAX: usize = 7;

/// Gradients over this many bytes are added as they arrive instead of summed at once, so that a
/// large activation read by several ops does not hold all its gradients at the same time.
const DEFER_BYTES: u64 = 4 << 20;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SumParams {
    n: u32,
    k: u32,
    _pad: [u32; 2],
}
crate::uniform!(SumParams { n, k, _pad });

/// The sum of the gradients of one value in arrival order (None for none): one grad_sum.wgsl
/// dispatch per 7 when they are whole vec4s in one binding each, else a chain of adds (the same
/// order, so the same rounding).
fn sum_grads(gpu: &Gpu, mut parts: Vec<Tensor>) -> Result<Option<Tensor>> {
    if parts.len() <= 1 {
        return Ok(parts.pop());
    }
    let n = parts[0].numel();
    let bindable = |t: &Tensor| t.is_contiguous_buffer() && t.byte_len() <= gpu.max_binding();
    if n > 0 && n.is_multiple_of(4) && parts.iter().all(bindable) {
        while parts.len() > 1 {
            let take = parts.len().min(SUM_MAX);
            let rest = parts.split_off(take);
            let out = Tensor::empty(gpu, parts[0].shape());
            // slots past `take` bind the first input again (not read)
            let mut args: Vec<crate::gpu::Arg> =
                (0..SUM_MAX).map(|i| crate::gpu::Arg::of(&parts[if i < take { i } else { 0 }])).collect();
            args.push(crate::gpu::Arg::of(&out));
            let p = SumParams { n: (n / 4) as u32, k: take as u32, _pad: [0; 2] };
            let cost = crate::gpu::profiler::Cost::elementwise(n, (take - 1) as f64, (take + 1) as f64);
            gpu.dispatch(&GRAD_SUM, "sum4", &p, &args, gpu.groups_1d(n / 4), cost)?;
            drop(args);
            parts = std::iter::once(out).chain(rest).collect();
        }
        return Ok(parts.pop());
    }
    let mut acc = parts.remove(0);
    for g in parts {
        acc = accumulate(gpu, &acc, &g)?;
    }
    Ok(Some(acc))
}

/// elementwise.wgsl's `add`, named here because the tape is a layer below the ops
/// (`ops::elementwise::KERNELS` declares the file; the runtime caches one pipeline for both).
const ELEMENTWISE_ADD: crate::gpu::shaders::Shader =
    crate::shader!("elementwise" from "elementwise" with "alias T = f32;", ["add"]);

/// grad_sum.wgsl, the tape's own kernel (`ops::elementwise::KERNELS` declares the file too, so
/// that the lists derived from `ops::ALL` include it).
const GRAD_SUM: crate::gpu::shaders::Shader = crate::shader!("grad_sum", ["sum4"]);

/// a + b for two gradients of one value: elementwise.wgsl's `add`, dispatched here because the
/// tape is a layer below the ops (`ops::elementwise::add` records the same kernel).
fn accumulate(gpu: &Gpu, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let out = Tensor::empty(gpu, a.shape());
    let n = a.numel();
    let params = |n: usize| AddParams { n: n as u32, s: 0.0, _pad: [0; 2] };
    let cost = crate::gpu::profiler::Cost::elementwise(n, 1.0, 3.0);
    gpu.dispatch_flat(&ELEMENTWISE_ADD, "add", n, params, &[a, b, &out].map(Arg::of), cost)?;
    Ok(out)
}
