//! Concatenation along channels (dim 1 of NCHW) or the batch (dim 0), and slices, their inverses.
//! All are strided block copies done by one kernel (shaders/concat.wgsl), so they stay inside the
//! step's compute passes. Any rank >= 2 works for channels, >= 1 for the batch. A channel concat
//! whose parts are whole vec4s runs as one `gather::gather_concat` dispatch instead.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::ops::gather::{self, Pick};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[CONCAT], bench: &[] };
const CONCAT: Shader = crate::shader!("concat", ["main"]);

/// A strided block copy: block b copies `len` values from `src_off + b * src_stride` of the
/// source to `dst_off + b * dst_stride` of the destination.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(super) struct Params {
    blocks: u32,
    len: u32,
    src_stride: u32,
    src_off: u32,
    dst_stride: u32,
    dst_off: u32,
    _pad: [u32; 2],
}
crate::uniform!(Params { blocks, len, src_stride, src_off, dst_stride, dst_off, _pad });

impl Params {
    /// `blocks` blocks of `len`, read at (stride, offset) `src` and written at `dst`.
    pub(super) fn new(blocks: usize, len: usize, src: (usize, usize), dst: (usize, usize)) -> Params {
        Params {
            blocks: blocks as u32,
            len: len as u32,
            src_stride: src.0 as u32,
            src_off: src.1 as u32,
            dst_stride: dst.0 as u32,
            dst_off: dst.1 as u32,
            _pad: [0; 2],
        }
    }
}

/// A tensor one storage binding can hold.
pub(super) fn bindable(gpu: &Gpu, t: &Tensor) -> bool {
    t.byte_len() <= gpu.max_binding() && t.is_contiguous_buffer()
}

/// (outer, inner) of a shape around `dim`: elements = outer * shape[dim] * inner.
fn split(shape: &[usize], dim: usize) -> (usize, usize) {
    (shape[..dim].iter().product(), shape[dim + 1..].iter().product())
}

/// Copies the region [start, start + src.shape[dim]) of `dst` along `dim` from `src`, or
/// (`take`) the same region of `src` into all of `dst`.
fn copy_region(gpu: &Gpu, src: &Tensor, dst: &Tensor, dim: usize, start: usize, take: bool) -> Result<()> {
    let (small, big) = if take { (dst, src) } else { (src, dst) };
    let (outer, inner) = split(big.shape(), dim);
    let len = small.shape()[dim] * inner;
    let (region, whole) = ((big.shape()[dim] * inner, start * inner), (len, 0));
    let p = if take { Params::new(outer, len, region, whole) } else { Params::new(outer, len, whole, region) };
    strided_copy(gpu, src, dst, &p)
}

/// The block copy of `p`: one concat.wgsl dispatch, or, when a tensor is larger than one binding or
/// spans buffers, one buffer copy per block (copies have no binding limit: bit-identical).
pub(super) fn strided_copy(gpu: &Gpu, src: &Tensor, dst: &Tensor, p: &Params) -> Result<()> {
    let n = p.blocks as usize * p.len as usize;
    if bindable(gpu, src) && bindable(gpu, dst) {
        let cost = Cost::elementwise(n, 0.0, 2.0);
        return gpu.dispatch(&CONCAT, "main", p, &[Arg::of(src), Arg::of(dst)], gpu.groups_1d(n), cost);
    }
    for b in 0..p.blocks as usize {
        let (s, d) = (p.src_off as usize + b * p.src_stride as usize, p.dst_off as usize + b * p.dst_stride as usize);
        gpu.copy(src, s, dst, d, p.len as usize);
    }
    Ok(())
}

fn dim_name(dim: usize) -> &'static str {
    if dim == 0 {
        "concat_batch"
    } else {
        "concat_channels"
    }
}

/// Concatenation along `dim` (0 or 1): every other dimension must agree.
pub fn concat(gpu: &Gpu, xs: &[&Tensor], dim: usize) -> Result<Tensor> {
    let what = dim_name(dim);
    ensure!(!xs.is_empty(), "{what}: no inputs");
    let first = xs[0].shape();
    ensure!(first.len() > dim, "{what}: input 0 has shape {first:?}, no dimension {dim}");
    for (i, x) in xs.iter().enumerate() {
        let s = x.shape();
        let same = s.len() == first.len() && s.iter().zip(first).enumerate().all(|(d, (a, b))| d == dim || a == b);
        ensure!(same, "{what}: input {i} has shape {s:?}, input 0 has {first:?} (only dim {dim} may differ)");
    }
    let mut shape = first.to_vec();
    shape[dim] = xs.iter().map(|x| x.shape()[dim]).sum();
    let y = Tensor::empty(gpu, &shape);
    let mut start = 0;
    for x in xs {
        copy_region(gpu, x, &y, dim, start, false)?;
        start += x.shape()[dim];
    }
    Ok(y)
}

/// Writes `src` into `dst` at channel `start` (a part of a channel concat).
pub(super) fn put_channels(gpu: &Gpu, src: &Tensor, dst: &Tensor, start: usize) -> Result<()> {
    copy_region(gpu, src, dst, 1, start, false)
}

/// x[.., start .. start + len, ..] along `dim` (0 or 1), as a new tensor.
pub fn slice(gpu: &Gpu, x: &Tensor, dim: usize, start: usize, len: usize) -> Result<Tensor> {
    let s = x.shape();
    ensure!(s.len() > dim, "slice: input {s:?} has no dimension {dim}");
    ensure!(
        len > 0 && start + len <= s[dim],
        "slice: range {start}..{} is outside dimension {dim} of {s:?}",
        start + len
    );
    let mut shape = s.to_vec();
    shape[dim] = len;
    let y = Tensor::empty(gpu, &shape);
    copy_region(gpu, x, &y, dim, start, true)?;
    Ok(y)
}

/// Gradient of a slice: zeros of `x_shape` with `g` placed at `start` along `dim`.
fn unslice(gpu: &Gpu, g: &Tensor, x_shape: &[usize], dim: usize, start: usize) -> Result<Tensor> {
    let gx = Tensor::zeros(gpu, x_shape);
    copy_region(gpu, g, &gx, dim, start, false)?;
    Ok(gx)
}

/// The segments of a channel concat of whole inputs, where `gather_concat` takes them in one
/// dispatch (2 to 7 inputs of matching shapes).
fn one_dispatch(shapes: &[&[usize]]) -> Option<Vec<(usize, Pick)>> {
    if shapes.len() < 2 || shapes.len() > gather::MAX_SEGS {
        return None;
    }
    let segs: Vec<(usize, Pick)> = shapes.iter().enumerate().map(|(i, s)| (i, Pick::all(s[0]))).collect();
    gather::shapes_for_gather_concat(shapes, &segs).is_ok().then_some(segs)
}

pub fn concat_channels(gpu: &Gpu, xs: &[&Tensor]) -> Result<Tensor> {
    let shapes: Vec<&[usize]> = xs.iter().map(|t| t.shape()).collect();
    match one_dispatch(&shapes) {
        Some(segs) => gather::gather_concat(gpu, xs, &segs),
        None => concat(gpu, xs, 1),
    }
}
pub fn slice_channels(gpu: &Gpu, x: &Tensor, start: usize, len: usize) -> Result<Tensor> {
    slice(gpu, x, 1, start, len)
}
pub fn concat_batch(gpu: &Gpu, xs: &[&Tensor]) -> Result<Tensor> {
    concat(gpu, xs, 0)
}
pub fn slice_batch(gpu: &Gpu, x: &Tensor, start: usize, len: usize) -> Result<Tensor> {
    slice(gpu, x, 0, start, len)
}

// ---- tape ops -------------------------------------------------------------------------------

fn t_concat(t: &mut Tape, xs: Vec<Var>, dim: usize) -> Result<Var> {
    if dim == 1 {
        let shapes: Vec<&[usize]> = xs.iter().map(|v| t.value(v).shape()).collect();
        if let Some(segs) = one_dispatch(&shapes) {
            return gather::t_gather_concat(t, xs, &segs);
        }
    }
    let values: Vec<Tensor> = xs.iter().map(|v| t.value(v).clone()).collect();
    let refs: Vec<&Tensor> = values.iter().collect();
    let y = concat(t.gpu, &refs, dim)?;
    let sizes: Vec<usize> = values.iter().map(|v| v.shape()[dim]).collect();
    Ok(t.record_var(
        dim_name(dim),
        &xs.iter().collect::<Vec<_>>(),
        y,
        Box::new(move |gpu, g| {
            let mut start = 0;
            let mut grads = Vec::new();
            for len in sizes {
                grads.push(Some(slice(gpu, g, dim, start, len)?));
                start += len;
            }
            Ok(grads)
        }),
    ))
}

fn t_slice(t: &mut Tape, x: Var, dim: usize, start: usize, len: usize) -> Result<Var> {
    let x_shape = t.value(&x).shape().to_vec();
    let y = slice(t.gpu, t.value(&x), dim, start, len)?;
    let name = if dim == 0 { "slice_batch" } else { "slice_channels" };
    Ok(t.record(name, [&x], y, move |gpu, g| Ok([Some(unslice(gpu, g, &x_shape, dim, start)?)])))
}

pub fn t_concat_channels(t: &mut Tape, xs: Vec<Var>) -> Result<Var> {
    t_concat(t, xs, 1)
}
pub fn t_slice_channels(t: &mut Tape, x: Var, start: usize, len: usize) -> Result<Var> {
    t_slice(t, x, 1, start, len)
}
pub fn t_concat_batch(t: &mut Tape, xs: Vec<Var>) -> Result<Var> {
    t_concat(t, xs, 0)
}
pub fn t_slice_batch(t: &mut Tape, x: Var, start: usize, len: usize) -> Result<Var> {
    t_slice(t, x, 0, start, len)
}
