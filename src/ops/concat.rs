//! Concatenation along channels (dim 1 of NCHW) or the batch (dim 0), and slices, their inverses.
//! All are strided block copies done by one kernel (shaders/concat.wgsl), so they stay inside the
//! step's compute passes. Any rank >= 2 works for channels, >= 1 for the batch.
//! Channel concats of up to 7 parts, each optionally a batch gather (`gather_concat`), run as one
//! dispatch forward and one backward (shaders/concat_multi*.wgsl) where the shapes allow vec4s.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::ops::elementwise;
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels =
    OpKernels { shaders: &[CONCAT, CONCAT_MULTI, CONCAT_MULTI_BACKWARD, PAIR_DIFF], bench: &[] };
const CONCAT: Shader = crate::shader!("concat", ["main"]);
const CONCAT_MULTI: Shader = crate::shader!("concat_multi", ["forward"]);
const CONCAT_MULTI_BACKWARD: Shader = crate::shader!("concat_multi_backward", ["backward"]);
const PAIR_DIFF: Shader = crate::shader!("pair_diff", ["forward", "backward"]);

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct Params {
    blocks: u32,
    len: u32,
    src_stride: u32,
    src_off: u32,
    dst_stride: u32,
    dst_off: u32,
    _pad: [u32; 2],
}
crate::uniform!(Params { blocks, len, src_stride, src_off, dst_stride, dst_off, _pad });

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
    let big_stride = big.shape()[dim] * inner;
    let p = if take {
        Params {
            blocks: outer as u32,
            len: len as u32,
            src_stride: big_stride as u32,
            src_off: (start * inner) as u32,
            dst_stride: len as u32,
            dst_off: 0,
            _pad: [0; 2],
        }
    } else {
        Params {
            blocks: outer as u32,
            len: len as u32,
            src_stride: len as u32,
            src_off: 0,
            dst_stride: big_stride as u32,
            dst_off: (start * inner) as u32,
            _pad: [0; 2],
        }
    };
    strided_copy(gpu, src, dst, &p)
}

/// The block copy of `p`: one concat.wgsl dispatch, or, when a tensor is larger than one binding or
/// spans buffers, one buffer copy per block (copies have no binding limit: bit-identical).
fn strided_copy(gpu: &Gpu, src: &Tensor, dst: &Tensor, p: &Params) -> Result<()> {
    let n = p.blocks as usize * p.len as usize;
    let max = gpu.max_binding();
    let whole = |t: &Tensor| t.byte_len() <= max && t.is_contiguous_buffer();
    if whole(src) && whole(dst) {
        let cost = Cost::elementwise(n, 0.0, 2.0);
        return gpu.dispatch(&CONCAT, "main", p, &[Arg::T(src), Arg::T(dst)], gpu.groups_1d(n), cost);
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

/// Items `start .. start + len` of every group of `per_group` along the batch, in one copy:
/// x [groups * per_group, ..] -> [groups * len, ..] (the model's per-clip frame selection; one
/// dispatch where slices plus a concat took 2 * groups).
pub fn gather_batch(
    gpu: &Gpu,
    x: &Tensor,
    groups: usize,
    per_group: usize,
    start: usize,
    len: usize,
) -> Result<Tensor> {
    let s = x.shape();
    ensure!(
        !s.is_empty() && s[0] == groups * per_group,
        "gather_batch: input {s:?} is not {groups} groups of {per_group}"
    );
    ensure!(
        len > 0 && start + len <= per_group,
        "gather_batch: range {start}..{} is outside groups of {per_group}",
        start + len
    );
    let inner: usize = s[1..].iter().product();
    let mut shape = s.to_vec();
    shape[0] = groups * len;
    let y = Tensor::empty(gpu, &shape);
    let p = Params {
        blocks: groups as u32,
        len: (len * inner) as u32,
        src_stride: (per_group * inner) as u32,
        src_off: (start * inner) as u32,
        dst_stride: (len * inner) as u32,
        dst_off: 0,
        _pad: [0; 2],
    };
    strided_copy(gpu, x, &y, &p)?;
    Ok(y)
}

/// Gradient of `gather_batch`: zeros of `x_shape` with g's groups put back at `start`.
fn scatter_batch(
    gpu: &Gpu,
    g: &Tensor,
    x_shape: &[usize],
    groups: usize,
    per_group: usize,
    start: usize,
) -> Result<Tensor> {
    let inner: usize = x_shape[1..].iter().product();
    let len = g.shape()[0] / groups;
    let gx = Tensor::zeros(gpu, x_shape);
    let p = Params {
        blocks: groups as u32,
        len: (len * inner) as u32,
        src_stride: (len * inner) as u32,
        src_off: 0,
        dst_stride: (per_group * inner) as u32,
        dst_off: (start * inner) as u32,
        _pad: [0; 2],
    };
    strided_copy(gpu, g, &gx, &p)?;
    Ok(gx)
}

pub fn concat_channels(gpu: &Gpu, xs: &[&Tensor]) -> Result<Tensor> {
    if xs.len() > 1 && xs.len() <= MAX_SEGS {
        let segs: Vec<(usize, Pick)> = xs.iter().enumerate().map(|(i, x)| (i, Pick::all(x.shape()[0]))).collect();
        let shapes: Vec<&[usize]> = xs.iter().map(|t| t.shape()).collect();
        if shapes_for_gather_concat(&shapes, &segs).is_ok() {
            return gather_concat(gpu, xs, &segs);
        }
    }
    concat(gpu, xs, 1)
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
    if dim == 1 && xs.len() > 1 && xs.len() <= MAX_SEGS {
        let segs: Vec<(usize, Pick)> =
            xs.iter().enumerate().map(|(i, x)| (i, Pick::all(t.value(x).shape()[0]))).collect();
        let shapes: Vec<&[usize]> = xs.iter().map(|v| t.value(v).shape()).collect();
        if shapes_for_gather_concat(&shapes, &segs).is_ok() {
            return t_gather_concat(t, xs, &segs);
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

/// `gather_batch` on the tape.
pub fn t_gather_batch(t: &mut Tape, x: Var, groups: usize, per_group: usize, start: usize, len: usize) -> Result<Var> {
    let x_shape = t.value(&x).shape().to_vec();
    let y = gather_batch(t.gpu, t.value(&x), groups, per_group, start, len)?;
    Ok(t.record("gather_batch", [&x], y, move |gpu, g| {
        Ok([Some(scatter_batch(gpu, g, &x_shape, groups, per_group, start)?)])
    }))
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

// ---- concat of gathered parts in one dispatch ---------------------------------------------------

/// Segments (and distinct sources) one concat_multi dispatch takes: 7 bindings plus the output,
/// the 8 storage buffers WebGPU guarantees.
pub const MAX_SEGS: usize = 7;

/// Which batch items of a source a `gather_concat` segment takes: items `start .. start + len` of
/// every group of `per_group` (clip-major frames), as `gather_batch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick {
    pub groups: usize,
    pub per_group: usize,
    pub start: usize,
    pub len: usize,
}

impl Pick {
    /// Every item of a batch of `items`, in order.
    pub fn all(items: usize) -> Pick {
        Pick { groups: items, per_group: 1, start: 0, len: 1 }
    }
    fn is_all(&self) -> bool {
        self.per_group == 1
    }
    /// source item read by output item n
    pub fn source_item(&self, n: usize) -> usize {
        (n / self.len) * self.per_group + self.start + n % self.len
    }
}

/// Checks the segments of a `gather_concat` and returns (output items, inner, channels per
/// segment).
fn shapes_for_gather_concat(srcs: &[&[usize]], segs: &[(usize, Pick)]) -> Result<(usize, usize, Vec<usize>)> {
    ensure!(!segs.is_empty(), "gather_concat: no segments");
    let mut items = None;
    let mut inner = None;
    let mut cs = Vec::new();
    for (i, &(src, pick)) in segs.iter().enumerate() {
        ensure!(src < srcs.len(), "gather_concat: segment {i} reads source {src} of {}", srcs.len());
        let s = srcs[src];
        ensure!(s.len() >= 2, "gather_concat: source {src} has shape {s:?}, no channels");
        ensure!(
            pick.len > 0 && pick.start + pick.len <= pick.per_group && s[0] == pick.groups * pick.per_group,
            "gather_concat: segment {i} takes {pick:?} of source {src} with shape {s:?}"
        );
        let n = pick.groups * pick.len;
        let hw: usize = s[2..].iter().product();
        ensure!(
            *items.get_or_insert(n) == n && *inner.get_or_insert(hw) == hw,
            "concat_channels: segment {i} gives {n} items of shape {:?}, segment 0 {:?} items of {:?} values",
            &s[1..],
            items,
            inner
        );
        cs.push(s[1]);
    }
    for k in 0..srcs.len() {
        ensure!(segs.iter().any(|s| s.0 == k), "gather_concat: no segment reads source {k}");
    }
    Ok((items.unwrap(), inner.unwrap(), cs))
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MultiParams {
    out_block: u32,
    segs: u32,
    _p: [u32; 2],
    seg: [[u32; 4]; MAX_SEGS],
    seg2: [[u32; 4]; MAX_SEGS],
}
crate::uniform!(MultiParams { out_block, segs, _p, seg, seg2 });

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct MultiBackParams {
    out_block: u32,
    _p: [u32; 3],
    src: [[u32; 4]; MAX_SEGS],
    rd: [[u32; 4]; MAX_SEGS],
}
crate::uniform!(MultiBackParams { out_block, _p, src, rd });

/// Where concat_multi can take these shapes: at most 7 segments and sources, every segment made
/// of whole vec4s, grids within the workgroup limits. Returns (items, vec4s per item of each
/// segment). The caller checks that every bound tensor fits one binding.
fn multi_shapes(gpu: &Gpu, srcs: &[&[usize]], segs: &[(usize, Pick)]) -> Option<(usize, Vec<usize>)> {
    let (items, inner, cs) = shapes_for_gather_concat(srcs, segs).ok()?;
    let max = gpu.device.limits.max_compute_workgroups_per_dimension as usize;
    let blocks: Vec<usize> = cs.iter().map(|c| c * inner / 4).collect();
    let src_items = srcs.iter().map(|s| s[0]).max().unwrap_or(0);
    let fits = segs.len() <= MAX_SEGS
        && srcs.len() <= MAX_SEGS
        && cs.iter().all(|c| (c * inner).is_multiple_of(4))
        && blocks.iter().all(|b| b.div_ceil(WG) <= max)
        && items.max(src_items) <= max;
    fits.then_some((items, blocks))
}

/// Threads a workgroup of concat_multi*.wgsl.
const WG: usize = 256;

/// Channel concat of segments, segment i all channels of `srcs[segs[i].0]` at the batch items
/// `segs[i].1` picks (`Pick::all` for the whole batch): one dispatch for the model's OFF inputs
/// (a block's reduced maps and their Sobel maps at frames t and t + 1 of every clip), where
/// gathers and a concat took one dispatch each.
pub fn gather_concat(gpu: &Gpu, srcs: &[&Tensor], segs: &[(usize, Pick)]) -> Result<Tensor> {
    let shapes: Vec<&[usize]> = srcs.iter().map(|t| t.shape()).collect();
    let (items, _, cs) = shapes_for_gather_concat(&shapes, segs)?;
    let mut shape = srcs[segs[0].0].shape().to_vec();
    shape[0] = items;
    shape[1] = cs.iter().sum();
    let y = Tensor::empty(gpu, &shape);
    let fits = bindable(gpu, &y) && srcs.iter().all(|t| bindable(gpu, t));
    if let (Some((items, blocks)), true) = (multi_shapes(gpu, &shapes, segs), fits) {
        let mut p = MultiParams {
            out_block: blocks.iter().sum::<usize>() as u32,
            segs: segs.len() as u32,
            _p: [0; 2],
            seg: [[0; 4]; MAX_SEGS],
            seg2: [[0; 4]; MAX_SEGS],
        };
        let mut c0 = 0;
        for (i, (&(_, pick), &block)) in segs.iter().zip(&blocks).enumerate() {
            p.seg[i] = [c0 as u32, block as u32, pick.len as u32, pick.per_group as u32];
            p.seg2[i] = [pick.start as u32, 0, 0, 0];
            c0 += block;
        }
        // segment slots past the last bind segment 0's source again (not read)
        let mut args: Vec<Arg> = (0..MAX_SEGS).map(|i| Arg::T(srcs[segs.get(i).unwrap_or(&segs[0]).0])).collect();
        args.push(Arg::T(&y));
        let groups = [blocks.iter().max().unwrap().div_ceil(WG) as u32, items as u32, segs.len() as u32];
        let cost = Cost::elementwise(y.numel(), 0.0, 2.0);
        gpu.dispatch(&CONCAT_MULTI, "forward", &p, &args, groups, cost)?;
        return Ok(y);
    }
    // general path: gathers and region copies (bit-identical)
    let mut c0 = 0;
    for (&(src, pick), &c) in segs.iter().zip(&cs) {
        let part = if pick.is_all() {
            srcs[src].clone()
        } else {
            gather_batch(gpu, srcs[src], pick.groups, pick.per_group, pick.start, pick.len)?
        };
        copy_region(gpu, &part, &y, 1, c0, false)?;
        c0 += c;
    }
    Ok(y)
}

/// The backward's uniform, or None where concat_multi_backward cannot take these segments (a
/// source read by more than 2, a count over 16 bits). Slot k is the k-th source with `needs`.
fn multi_back_params(gpu: &Gpu, srcs: &[&[usize]], segs: &[(usize, Pick)], needs: &[bool]) -> Option<MultiBackParams> {
    let (_, blocks) = multi_shapes(gpu, srcs, segs)?;
    let mut p = MultiBackParams {
        out_block: blocks.iter().sum::<usize>() as u32,
        _p: [0; 3],
        src: [[0; 4]; MAX_SEGS],
        rd: [[0; 4]; MAX_SEGS],
    };
    let mut firsts = Vec::new();
    let mut c0 = 0;
    for &b in &blocks {
        firsts.push(c0);
        c0 += b;
    }
    let small = |v: usize| v < 1 << 16;
    for (slot, k) in (0..srcs.len()).filter(|&k| needs[k]).enumerate() {
        let reads: Vec<usize> = (0..segs.len()).filter(|&i| segs[i].0 == k).collect();
        if reads.len() > 2 {
            return None;
        }
        let (a, pa) = (reads[0], segs[reads[0]].1);
        // one reader: segment b takes nothing (g_b = 0; per_group 1 keeps its division defined)
        let (b, pb) = match reads.get(1) {
            Some(&b) => (b, segs[b].1),
            None => (a, Pick { groups: 0, per_group: 1, start: 0, len: 0 }),
        };
        if ![pa.len, pa.per_group, pa.start, pb.len, pb.per_group, pb.start].iter().all(|&v| small(v)) {
            return None;
        }
        let pack = |lo: usize, hi: usize| (lo | hi << 16) as u32;
        p.src[slot] = [blocks[a] as u32, srcs[k][0] as u32, firsts[a] as u32, firsts[b] as u32];
        p.rd[slot] = [pack(pa.len, pa.per_group), pack(pa.start, pb.len), pack(pb.per_group, pb.start), 0];
    }
    Some(p)
}

/// A tensor one storage binding can hold.
fn bindable(gpu: &Gpu, t: &Tensor) -> bool {
    t.byte_len() <= gpu.max_binding() && t.is_contiguous_buffer()
}

/// Gradients of `gather_concat` (sources of shapes `srcs`) for the sources with `needs[k]`: every
/// segment's part of `gy` put back at the items it was read from, summed over the segments
/// reading one source.
pub fn gather_concat_backward(
    gpu: &Gpu,
    gy: &Tensor,
    srcs: &[&[usize]],
    segs: &[(usize, Pick)],
    needs: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    if !needs.iter().any(|&n| n) {
        return Ok(vec![None; srcs.len()]);
    }
    let (_, _, cs) = shapes_for_gather_concat(srcs, segs)?;
    let grads: Vec<Option<Tensor>> = srcs.iter().zip(needs).map(|(s, &n)| n.then(|| Tensor::empty(gpu, s))).collect();
    let needed: Vec<&Tensor> = grads.iter().flatten().collect();
    let fits = bindable(gpu, gy) && needed.iter().all(|t| bindable(gpu, t));
    if let (Some(p), true) = (multi_back_params(gpu, srcs, segs, needs), fits) {
        // unused gradient bindings get scratch tensors (distinct: they are written bindings)
        let scratch: Vec<Tensor> = (needed.len()..MAX_SEGS).map(|_| Tensor::empty(gpu, &[4])).collect();
        let mut args = vec![Arg::T(gy)];
        args.extend(needed.iter().map(|t| Arg::T(t)));
        args.extend(scratch.iter().map(Arg::T));
        let block = p.src.iter().map(|s| s[0] as usize).max().unwrap_or(0);
        let items = p.src.iter().map(|s| s[1]).max().unwrap_or(0);
        let groups = [block.div_ceil(WG) as u32, items, needed.len() as u32];
        let cost = Cost::elementwise(needed.iter().map(|t| t.numel()).sum(), 0.0, 2.0);
        gpu.dispatch(&CONCAT_MULTI_BACKWARD, "backward", &p, &args, groups, cost)?;
        return Ok(grads);
    }
    // general path: a slice of gy per segment, scattered back and summed
    let mut out = vec![None; srcs.len()];
    for (k, src) in srcs.iter().enumerate() {
        if !needs[k] {
            continue;
        }
        let mut acc: Option<Tensor> = None;
        let mut c0 = 0;
        for (&(s, pick), &c) in segs.iter().zip(&cs) {
            if s == k {
                let part = slice(gpu, gy, 1, c0, c)?;
                let part = if pick.is_all() {
                    part
                } else {
                    scatter_batch(gpu, &part, src, pick.groups, pick.per_group, pick.start)?
                };
                acc = Some(match acc {
                    None => part,
                    Some(a) => elementwise::add(gpu, &a, &part)?,
                });
            }
            c0 += c;
        }
        out[k] = acc;
    }
    Ok(out)
}

/// `gather_concat` on the tape: one gradient per source (a source read by several segments gets
/// their sum from the one backward dispatch).
pub fn t_gather_concat(t: &mut Tape, srcs: Vec<Var>, segs: &[(usize, Pick)]) -> Result<Var> {
    let values: Vec<&Tensor> = srcs.iter().map(|v| t.value(v)).collect();
    let y = gather_concat(t.gpu, &values, segs)?;
    let needs: Vec<bool> = srcs.iter().map(|v| t.requires_grad(v)).collect();
    // the backward needs only the sources' shapes
    let shapes: Vec<Vec<usize>> = values.iter().map(|v| v.shape().to_vec()).collect();
    let segs = segs.to_vec();
    Ok(t.record_var(
        "concat_channels",
        &srcs.iter().collect::<Vec<_>>(),
        y,
        Box::new(move |gpu, g| {
            let refs: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
            gather_concat_backward(gpu, g, &refs, &segs, &needs)
        }),
    ))
}

// ---- temporal difference of the frame pairs of clips ---------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PairParams {
    n: u32,
    block: u32,
    nf: u32,
    _p0: u32,
}
crate::uniform!(PairParams { n, block, nf, _p0 });

/// The vec4 kernel takes frames of whole vec4s, each tensor in one binding.
fn pair_kernel_fits(gpu: &Gpu, a: &Tensor, b: &Tensor, block: usize) -> bool {
    block.is_multiple_of(4) && bindable(gpu, a) && bindable(gpu, b)
}

/// x [clips * nf, ...] (clip-major frames) -> y [clips * (nf - 1), ...], y[pair t of a clip] =
/// frame t + 1 - frame t (the OFF block's temporal difference). One dispatch (pair_diff.wgsl)
/// where frames are whole vec4s, else two gathers and a subtraction.
pub fn pair_diff(gpu: &Gpu, x: &Tensor, clips: usize, nf: usize) -> Result<Tensor> {
    let s = x.shape();
    ensure!(
        nf >= 2 && !s.is_empty() && s[0] == clips * nf,
        "pair_diff: input {s:?} is not {clips} clips of {nf} >= 2 frames"
    );
    let block: usize = s[1..].iter().product();
    let mut shape = s.to_vec();
    shape[0] = clips * (nf - 1);
    let y = Tensor::empty(gpu, &shape);
    if !pair_kernel_fits(gpu, x, &y, block) {
        let a = gather_batch(gpu, x, clips, nf, 1, nf - 1)?;
        let b = gather_batch(gpu, x, clips, nf, 0, nf - 1)?;
        return elementwise::sub(gpu, &a, &b);
    }
    let n = y.numel() / 4;
    let p = PairParams { n: n as u32, block: (block / 4) as u32, nf: nf as u32, _p0: 0 };
    let cost = Cost::elementwise(y.numel(), 1.0, 3.0);
    gpu.dispatch(&PAIR_DIFF, "forward", &p, &[Arg::T(x), Arg::T(&y)], gpu.groups_1d(n), cost)?;
    Ok(y)
}

/// Gradient of `pair_diff`: gx [x_shape], frame t gets gy[pair t - 1] - gy[pair t] (within its
/// clip).
pub fn pair_diff_backward(gpu: &Gpu, gy: &Tensor, x_shape: &[usize], nf: usize) -> Result<Tensor> {
    let clips = x_shape[0] / nf;
    let block: usize = x_shape[1..].iter().product();
    let gx = Tensor::empty(gpu, x_shape);
    if !pair_kernel_fits(gpu, gy, &gx, block) {
        let up = scatter_batch(gpu, gy, x_shape, clips, nf, 1)?;
        let down = scatter_batch(gpu, gy, x_shape, clips, nf, 0)?;
        return elementwise::sub(gpu, &up, &down);
    }
    let n = gx.numel() / 4;
    let p = PairParams { n: n as u32, block: (block / 4) as u32, nf: nf as u32, _p0: 0 };
    let cost = Cost::elementwise(gx.numel(), 1.0, 3.0);
    gpu.dispatch(&PAIR_DIFF, "backward", &p, &[Arg::T(gy), Arg::T(&gx)], gpu.groups_1d(n), cost)?;
    Ok(gx)
}

/// `pair_diff` on the tape.
pub fn t_pair_diff(t: &mut Tape, x: Var, clips: usize, nf: usize) -> Result<Var> {
    let x_shape = t.value(&x).shape().to_vec();
    let y = pair_diff(t.gpu, t.value(&x), clips, nf)?;
    Ok(t.record("pair_diff", [&x], y, move |gpu, g| Ok([Some(pair_diff_backward(gpu, g, &x_shape, nf)?)])))
}
