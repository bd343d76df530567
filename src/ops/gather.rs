//! Batch gathers: the same items of every group along the batch (`gather_batch`, the model's
//! per-clip frame selection), and a channel concat of up to 7 parts, each optionally such a
//! gather (`gather_concat`, the OFF block's inputs), in one dispatch forward and one backward
//! (shaders/gather_concat*.wgsl) where the shapes allow vec4s.

use anyhow::{ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::ops::concat::{self, bindable, strided_copy, Params};
use crate::ops::elementwise;
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels { shaders: &[GATHER_CONCAT, GATHER_CONCAT_BACKWARD], bench: &[] };
const GATHER_CONCAT: Shader = crate::shader!("gather_concat", ["forward"]);
const GATHER_CONCAT_BACKWARD: Shader = crate::shader!("gather_concat_backward", ["backward"]);

/// Items `start .. start + len` of every group of `per_group` along the batch, in one strided
/// copy (instead of a slice per group and a concat): x [groups * per_group, ..] ->
/// [groups * len, ..].
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
    let p = Params::new(groups, len * inner, (per_group * inner, start * inner), (len * inner, 0));
    strided_copy(gpu, x, &y, &p)?;
    Ok(y)
}

/// Gradient of `gather_batch`: zeros of `x_shape` with g's groups put back at `start`.
pub(super) fn scatter_batch(
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
    let p = Params::new(groups, len * inner, (len * inner, 0), (per_group * inner, start * inner));
    strided_copy(gpu, g, &gx, &p)?;
    Ok(gx)
}

/// `gather_batch` on the tape.
pub fn t_gather_batch(t: &mut Tape, x: Var, groups: usize, per_group: usize, start: usize, len: usize) -> Result<Var> {
    let x_shape = t.value(&x).shape().to_vec();
    let y = gather_batch(t.gpu, t.value(&x), groups, per_group, start, len)?;
    Ok(t.record("gather_batch", [&x], y, move |gpu, g| {
        Ok([Some(scatter_batch(gpu, g, &x_shape, groups, per_group, start)?)])
    }))
}

// ---- concat of gathered parts in one dispatch ---------------------------------------------------

/// Segments (and distinct sources) one gather_concat dispatch takes: 7 bindings plus the output,
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
pub(super) fn shapes_for_gather_concat(
    srcs: &[&[usize]],
    segs: &[(usize, Pick)],
) -> Result<(usize, usize, Vec<usize>)> {
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

/// Where gather_concat.wgsl can take these shapes: at most 7 segments and sources, every segment
/// made of whole vec4s, grids within the workgroup limits. Returns (items, vec4s per item of each
/// segment). The caller checks that every bound tensor fits one binding.
fn multi_shapes(gpu: &Gpu, srcs: &[&[usize]], segs: &[(usize, Pick)]) -> Option<(usize, Vec<usize>)> {
    let (items, inner, cs) = shapes_for_gather_concat(srcs, segs).ok()?;
    let max = gpu.device.limits().max_compute_workgroups_per_dimension as usize;
    let blocks: Vec<usize> = cs.iter().map(|c| c * inner / 4).collect();
    let src_items = srcs.iter().map(|s| s[0]).max().unwrap_or(0);
    let fits = segs.len() <= MAX_SEGS
        && srcs.len() <= MAX_SEGS
        && cs.iter().all(|c| (c * inner).is_multiple_of(4))
        && blocks.iter().all(|b| b.div_ceil(WG) <= max)
        && items.max(src_items) <= max;
    fits.then_some((items, blocks))
}

/// Threads a workgroup of gather_concat*.wgsl.
const WG: usize = 256;

/// Channel concat of segments, segment i all channels of `srcs[segs[i].0]` at the batch items
/// `segs[i].1` picks (`Pick::all` for the whole batch): one dispatch for the model's OFF inputs
/// (a block's reduced maps and their Sobel maps at frames t and t + 1 of every clip) instead of
/// one per gather and one per part of the concat.
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
        let mut args: Vec<Arg> = (0..MAX_SEGS).map(|i| Arg::of(srcs[segs.get(i).unwrap_or(&segs[0]).0])).collect();
        args.push(Arg::of(&y));
        let groups = [blocks.iter().max().unwrap().div_ceil(WG) as u32, items as u32, segs.len() as u32];
        let cost = Cost::elementwise(y.numel(), 0.0, 2.0);
        gpu.dispatch(&GATHER_CONCAT, "forward", &p, &args, groups, cost)?;
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
        concat::put_channels(gpu, &part, &y, c0)?;
        c0 += c;
    }
    Ok(y)
}

/// The backward's uniform, or None where gather_concat_backward.wgsl cannot take these segments
/// (a source read by more than 2, a count over 16 bits). Slot k is the k-th source with `needs`.
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
        let mut args = vec![Arg::of(gy)];
        args.extend(needed.iter().copied().map(Arg::of));
        args.extend(scratch.iter().map(Arg::of));
        let block = p.src.iter().map(|s| s[0] as usize).max().unwrap_or(0);
        let items = p.src.iter().map(|s| s[1]).max().unwrap_or(0);
        let groups = [block.div_ceil(WG) as u32, items, needed.len() as u32];
        let cost = Cost::elementwise(needed.iter().map(|t| t.numel()).sum(), 0.0, 2.0);
        gpu.dispatch(&GATHER_CONCAT_BACKWARD, "backward", &p, &args, groups, cost)?;
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
                let part = concat::slice(gpu, gy, 1, c0, c)?;
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
