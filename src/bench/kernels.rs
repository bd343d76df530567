//! The op benchmarks: each kernel family at the shapes the model gives it, its inputs built once
//! and its call timed alone.

use anyhow::Result;

use super::timing::{fit_or_skip, row, time_call};
use super::{Bound, Row};
use crate::gpu::Gpu;
use crate::model::Config;
use crate::ops::{adadelta, batchnorm, conv, depth_loss, gru, linear, pool, resize, sobel};
use crate::tensor::Tensor;

/// One call of a benchmark (records its dispatches), and what builds it from fresh inputs.
type Call = Box<dyn FnMut(&Gpu) -> Result<()>>;
type MakeCall = Box<dyn Fn(&Gpu) -> Result<Call>>;

/// One kernel benchmark: input shapes (checked against the adapter before anything is allocated)
/// and a function that records the dispatches of one call on inputs it builds once.
pub(super) struct KernelBench {
    pub(super) name: String,
    pub(super) family: &'static str,
    pub(super) bound: Bound,
    /// (what, shape) of every tensor the call reads or writes
    pub(super) tensors: Vec<(String, Vec<usize>)>,
    /// builds the inputs, returns the call
    pub(super) make: MakeCall,
}

fn shape_str(s: &[usize]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(","))
}

/// Deterministic values in [-0.5, 0.5): cheap enough for the paper's largest tensors.
pub(super) fn fill(n: usize, seed: usize) -> Vec<f32> {
    (0..n).map(|i| (((i + seed * 7919).wrapping_mul(2654435761) >> 7) % 1000) as f32 / 1000.0 - 0.5).collect()
}

pub(super) fn input(gpu: &Gpu, shape: &[usize], seed: usize) -> Result<Tensor> {
    Tensor::upload(gpu, &fill(shape.iter().product(), seed), shape)
}

/// A distinct conv shape of the model and the layers that use it.
#[derive(Clone, Debug, PartialEq)]
struct ConvShape {
    layers: Vec<String>,
    n: usize,
    cin: usize,
    cout: usize,
    k: usize,
    h: usize,
    /// the backward-input pass runs only where the input needs a gradient
    needs_gx: bool,
    /// the weight gradient runs only for trained layers (every conv is trained in one stage)
    needs_gw: bool,
}

/// Every conv of variant 4 with its batch: stage 1 trains the single-frame part on `batch1`
/// frames; stage 2 trains OFF, GRU on `batch2` clips of Nf frames (MODEL.md).
fn conv_shapes(cfg: &Config) -> Vec<ConvShape> {
    let (h, s, b) = (cfg.image_size, cfg.map_size(), cfg.block);
    let n1 = cfg.stage1.batch;
    let (clips, nf) = (cfg.stage2.batch, cfg.frames);
    let mut v: Vec<(String, usize, usize, usize, usize, usize, bool)> = vec![];
    v.push(("single.conv0".into(), n1, 3, cfg.stem, 3, h, false));
    let mut c_in = cfg.stem;
    for blk in 1..=3 {
        let hb = h >> (blk - 1);
        v.push((format!("single.block{blk}.conv1"), n1, c_in, b[0], 3, hb, true));
        v.push((format!("single.block{blk}.conv2"), n1, b[0], b[1], 3, hb, true));
        v.push((format!("single.block{blk}.conv3"), n1, b[1], b[2], 3, hb, true));
        c_in = b[2];
    }
    v.push(("single.head.conv1".into(), n1, 3 * b[2], cfg.head[0], 3, s, true));
    v.push(("single.head.conv2".into(), n1, cfg.head[0], cfg.head[1], 3, s, true));
    v.push(("single.head.out".into(), n1, cfg.head[1], 1, 3, s, true));
    for l in 1..=3 {
        let hl = h >> (l - 1);
        v.push((format!("off{l}.reduce"), clips * nf, b[2], cfg.off_reduce, 1, hl, false));
        let cin = 6 * cfg.off_reduce + if l > 1 { cfg.off_out } else { 0 };
        v.push((format!("off{l}.fuse"), clips * (nf - 1), cin, cfg.off_out, 3, hl, true));
    }
    v.push(("gru1.{reset,update,cand}".into(), clips, cfg.gru_hidden + cfg.off_out, cfg.gru_hidden, 3, s, true));
    v.push(("gru2.{reset,update,cand}".into(), clips, 1 + cfg.gru_hidden, 1, 3, s, true));
    let mut out: Vec<ConvShape> = vec![];
    for (layer, n, cin, cout, k, hh, needs_gx) in v {
        if let Some(c) = out.iter_mut().find(|c| (c.n, c.cin, c.cout, c.k, c.h) == (n, cin, cout, k, hh)) {
            c.layers.push(layer);
            c.needs_gx |= needs_gx;
        } else {
            out.push(ConvShape { layers: vec![layer], n, cin, cout, k, h: hh, needs_gx, needs_gw: true });
        }
    }
    out
}

pub(super) fn conv_benches(cfg: &Config) -> Vec<KernelBench> {
    let mut v = vec![];
    for c in conv_shapes(cfg) {
        let (n, ci, co, k, h) = (c.n, c.cin, c.cout, c.k, c.h);
        let (xs, ws, ys) = (vec![n, ci, h, h], vec![co, ci, k, k], vec![n, co, h, h]);
        let layers = c.layers.join(" ");
        let tensors = |a: &str, b: &str, c: &str| {
            vec![(a.to_string(), xs.clone()), (b.to_string(), ws.clone()), (c.to_string(), ys.clone())]
        };
        // The kernel the autotune picked, then the other one at the same shape: the evidence for
        // its choice.
        for (family, other) in [("conv2d_forward", false), ("conv2d_forward_other", true)] {
            let (xs1, ws1) = (xs.clone(), ws.clone());
            v.push(KernelBench {
                name: format!("{family} {layers}"),
                family,
                bound: Bound::Compute,
                tensors: tensors("x", "w", "y"),
                make: Box::new(move |gpu| {
                    let (x, w) = (input(gpu, &xs1, 1)?, input(gpu, &ws1, 2)?);
                    // on a GPU the tiles against the GEMM kernel, else the first other kernel
                    use conv::ConvKernel::{Gemm, Tiled};
                    let tuned = conv::settings(gpu)?.kernel.get();
                    let kernel = match tuned {
                        _ if gpu.is_cpu() => conv::ConvKernel::ALL.into_iter().find(|&k| k != tuned),
                        Tiled => Some(Gemm),
                        _ => Some(Tiled),
                    };
                    Ok(Box::new(move |gpu: &Gpu| match (other, kernel) {
                        (true, Some(k)) => conv::conv2d_with(gpu, k, &x, &w, None).map(drop),
                        _ => conv::conv2d(gpu, &x, &w, None).map(drop),
                    }))
                }),
            });
        }
        if c.needs_gx {
            let (ys1, ws1) = (ys.clone(), ws.clone());
            v.push(KernelBench {
                name: format!("conv2d_backward_input {layers}"),
                family: "conv2d_backward_input",
                bound: Bound::Compute,
                tensors: tensors("gx", "w", "gy"),
                make: Box::new(move |gpu| {
                    let (gy, w) = (input(gpu, &ys1, 3)?, input(gpu, &ws1, 2)?);
                    Ok(Box::new(move |gpu: &Gpu| conv::conv2d_backward_input(gpu, &gy, &w).map(drop)))
                }),
            });
        }
        if c.needs_gw {
            let (xs1, ys1) = (xs.clone(), ys.clone());
            v.push(KernelBench {
                name: format!("conv2d_backward_weight {layers}"),
                family: "conv2d_backward_weight",
                bound: Bound::Compute,
                tensors: tensors("x", "gw", "gy"),
                make: Box::new(move |gpu| {
                    let (x, gy) = (input(gpu, &xs1, 1)?, input(gpu, &ys1, 3)?);
                    Ok(Box::new(move |gpu: &Gpu| conv::conv2d_backward_weight(gpu, &x, &gy, k).map(drop)))
                }),
            });
        }
    }
    v
}

/// A memory-bound benchmark on one activation shape whose call is `f(gpu, inputs)`.
fn mem_bench(
    name: &str,
    family: &'static str,
    shapes: Vec<(&str, Vec<usize>)>,
    f: impl Fn(&Gpu, &[Tensor]) -> Result<()> + Clone + 'static,
) -> KernelBench {
    let tensors: Vec<(String, Vec<usize>)> = shapes.iter().map(|(w, s)| (w.to_string(), s.clone())).collect();
    let inputs = tensors.clone();
    KernelBench {
        name: name.to_string(),
        family,
        bound: Bound::Memory,
        tensors,
        make: Box::new(move |gpu| {
            let ts: Vec<Tensor> =
                inputs.iter().enumerate().map(|(i, (_, s))| input(gpu, s, i + 1)).collect::<Result<_>>()?;
            let f = f.clone();
            Ok(Box::new(move |gpu: &Gpu| f(gpu, &ts)))
        }),
    }
}

/// The other kernel families, each at the largest shape the model gives it.
pub(super) fn other_benches(cfg: &Config, params: usize) -> Vec<KernelBench> {
    let (h, s, b) = (cfg.image_size, cfg.map_size(), cfg.block);
    let n1 = cfg.stage1.batch;
    let (clips, nf) = (cfg.stage2.batch, cfg.frames);
    // the largest BatchNorm input: block 1's conv2 output
    let bn = vec![n1, b[1], h, h];
    let c = vec![b[1]];
    let pool_in = vec![n1, b[2], h, h];
    let pool_out = vec![n1, b[2], h / 2, h / 2];
    let rs_in = vec![n1, b[2], h / 2, h / 2];
    let rs_out = vec![n1, b[2], s, s];
    let sob = vec![clips * nf, cfg.off_reduce, h, h];
    let g = vec![clips, cfg.gru_hidden, s, s];
    let d = vec![n1, 1, s, s];
    let fc_in = (nf - 1) * s * s;
    let mut v = vec![
        mem_bench(
            "batchnorm_forward (train, fused ReLU)",
            "batchnorm_forward",
            vec![
                ("x", bn.clone()),
                ("gamma", c.clone()),
                ("beta", c.clone()),
                ("rmean", c.clone()),
                ("rvar", c.clone()),
            ],
            |gpu, t| {
                batchnorm::batchnorm_forward(gpu, &t[0], &t[1], &t[2], &t[3], &t[4], true, 1e-5, 0.1, true).map(drop)
            },
        ),
        mem_bench(
            "batchnorm_backward (train, fused ReLU)",
            "batchnorm_backward",
            vec![("x", bn.clone()), ("y", bn.clone()), ("gy", bn.clone()), ("stats", vec![2, b[1]]), ("gamma", c)],
            |gpu, t| batchnorm::batchnorm_backward(gpu, &t[0], &t[1], &t[2], &t[3], &t[4], true, true).map(drop),
        ),
        mem_bench("maxpool_forward", "maxpool_forward", vec![("x", pool_in.clone())], |gpu, t| {
            pool::maxpool2(gpu, &t[0]).map(drop)
        }),
        maxpool_backward(pool_in.clone(), pool_out),
        mem_bench("resize_forward (x1 to S)", "resize_forward", vec![("x", rs_in.clone())], move |gpu, t| {
            resize::resize_bilinear(gpu, &t[0], s, s).map(drop)
        }),
        mem_bench("resize_backward (x1 to S)", "resize_backward", vec![("gy", rs_out), ("gx", rs_in.clone())], {
            move |gpu, t| resize::resize_bilinear_backward(gpu, t[1].shape(), &t[0]).map(drop)
        }),
        mem_bench("sobel_forward (x and y)", "sobel_forward", vec![("x", sob.clone())], |gpu, t| {
            sobel::sobel(gpu, &t[0], sobel::SobelDir::X)?;
            sobel::sobel(gpu, &t[0], sobel::SobelDir::Y).map(drop)
        }),
        mem_bench("sobel_backward (x and y)", "sobel_backward", vec![("gy", sob)], |gpu, t| {
            sobel::sobel_backward(gpu, &t[0], sobel::SobelDir::X)?;
            sobel::sobel_backward(gpu, &t[0], sobel::SobelDir::Y).map(drop)
        }),
        mem_bench(
            "gru_gates (gru1)",
            "gru_gates",
            vec![("pre_r", g.clone()), ("pre_u", g.clone()), ("h_prev", g.clone())],
            |gpu, t| gru::gru_gates(gpu, &t[0], &t[1], &t[2]).map(drop),
        ),
        mem_bench(
            "gru_update (gru1)",
            "gru_update",
            vec![("u", g.clone()), ("h_prev", g.clone()), ("pre_c", g.clone())],
            |gpu, t| gru::gru_update(gpu, &t[0], &t[1], &t[2]).map(drop),
        ),
        mem_bench(
            "gru_backward (gru1: update, rh, u)",
            "gru_backward",
            vec![("u", g.clone()), ("h_prev", g.clone()), ("pre_c", g.clone()), ("g", g)],
            |gpu, t| {
                gru::gru_update_backward(gpu, &t[0], &t[1], &t[2], &t[3])?;
                gru::gru_rh_backward(gpu, &t[0], &t[1], &t[3])?;
                gru::gru_u_backward(gpu, &t[0], &t[3]).map(drop)
            },
        ),
        mem_bench("depth_loss (abs + contrastive)", "depth_loss", vec![("pred", d.clone()), ("target", d.clone())], {
            |gpu, t| {
                depth_loss::depth_loss(gpu, depth_loss::DepthLoss::Abs, &t[0], &t[1], None)?;
                depth_loss::depth_loss(gpu, depth_loss::DepthLoss::Con, &t[0], &t[1], None).map(drop)
            }
        }),
        mem_bench(
            "depth_loss_backward (abs + contrastive)",
            "depth_loss_backward",
            vec![("pred", d.clone()), ("target", d), ("g", vec![1]), ("den", vec![1])],
            |gpu, t| {
                depth_loss::depth_loss_backward(gpu, depth_loss::DepthLoss::Abs, &t[0], &t[1], None, &t[2], &t[3])?;
                depth_loss::depth_loss_backward(gpu, depth_loss::DepthLoss::Con, &t[0], &t[1], None, &t[2], &t[3])
                    .map(drop)
            },
        ),
        mem_bench("adadelta (stage-1 parameters)", "adadelta", vec![("p", vec![params]); 4], |gpu, t| {
            adadelta::adadelta_step(gpu, &t[0], &t[1], &t[2], &t[3], 1.0, 0.95, 1e-8, 0.0)
        }),
    ];
    let mut lin = mem_bench(
        "linear (head.fc1)",
        "linear",
        vec![("x", vec![clips, fc_in]), ("w", vec![cfg.fc_hidden, fc_in]), ("b", vec![cfg.fc_hidden])],
        |gpu, t| linear::linear(gpu, &t[0], &t[1], &t[2]).map(drop),
    );
    lin.bound = Bound::Compute;
    v.push(lin);
    v
}

/// maxpool backward with the real argmax indices of a forward (built once), so the scatter
/// pattern is the model's.
fn maxpool_backward(x: Vec<usize>, y: Vec<usize>) -> KernelBench {
    let tensors = vec![("gy".to_string(), y.clone()), ("idx".to_string(), y.clone()), ("gx".to_string(), x.clone())];
    KernelBench {
        name: "maxpool_backward".into(),
        family: "maxpool_backward",
        bound: Bound::Memory,
        tensors,
        make: Box::new(move |gpu| {
            let (xt, gy) = (input(gpu, &x, 1)?, input(gpu, &y, 2)?);
            let (_, idx) = pool::maxpool2(gpu, &xt)?;
            Ok(Box::new(move |gpu: &Gpu| pool::maxpool2_backward(gpu, xt.shape(), &gy, &idx).map(drop)))
        }),
    }
}

/// Why a benchmark cannot run on this adapter (one batch item over its binding limit; tensors
/// larger than a buffer span several), if it cannot.
fn over_limit(gpu: &Gpu, tensors: &[(String, Vec<usize>)]) -> Option<String> {
    tensors.iter().find_map(|(what, s)| {
        let bytes = 4 * s.iter().skip(1).product::<usize>() as u64;
        gpu.check_item_size(&format!("{what} {}", shape_str(s)), bytes).err().map(|e| format!("skipped: {e}"))
    })
}

pub(super) fn run_kernel(gpu: &Gpu, kb: &KernelBench, quick: bool) -> Result<Row> {
    let shape = kb.tensors.iter().map(|(w, s)| format!("{w} {}", shape_str(s))).collect::<Vec<_>>().join(", ");
    let r = row(&kb.name, kb.family, shape, kb.bound);
    if let Some(why) = over_limit(gpu, &kb.tensors) {
        return Ok(Row { skipped: Some(why), ..r });
    }
    let result = (kb.make)(gpu).and_then(|mut call| time_call(gpu, quick, &mut *call));
    fit_or_skip(r, result)
}
