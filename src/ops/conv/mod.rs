//! 2-D convolution (stride 1, zero padding k/2, odd k, cross-correlation as PyTorch's conv2d)
//! as implicit-GEMM WGSL kernels, with hand-written input, weight and bias gradients.

pub mod choice;

use std::cell::Cell;
use std::rc::Rc;

use anyhow::{anyhow, bail, ensure, Result};
use bytemuck::{Pod, Zeroable};

use crate::gpu::profiler::Cost;
use crate::gpu::shaders::{OpKernels, Shader};
use crate::gpu::{Arg, Gpu};
use crate::graph::{Tape, Var};
use crate::tensor::Tensor;

/// This op's kernels and benchmark families (`ops::ALL` lists every op's).
pub const KERNELS: OpKernels = OpKernels {
    shaders: &[
        CONV2D_FORWARD,
        CONV2D_FORWARD_TILED,
        CONV2D_FORWARD_ROWS,
        CONV2D_FORWARD_GEMM,
        CONV2D_FORWARD_GEMM8,
        CONV2D_FORWARD_GEMM8_F16,
        CONV2D_FORWARD_COOP,
        CONV2D_WEIGHT_GRAD,
        CONV2D_WEIGHT_GRAD_ROWS,
        CONV2D_WEIGHT_GRAD_GEMM,
        CONV2D_WEIGHT_GRAD_GEMM8,
        CONV2D_BIAS_GRAD,
        CONV2D_BIAS_GRAD_VEC4,
    ],
    bench: &["conv2d_forward", "conv2d_forward_other", "conv2d_backward_input", "conv2d_backward_weight"],
};
const CONV2D_FORWARD: Shader = crate::shader!("conv2d_forward" + "conv_forward_params", ["conv2d_forward"]);
const CONV2D_FORWARD_TILED: Shader =
    crate::shader!("conv2d_forward_tiled" + "conv_forward_params", ["conv2d_forward_tiled"]);
const CONV2D_FORWARD_ROWS: Shader = crate::shader!("conv2d_forward_rows", ["conv3", "conv1"]);
const CONV2D_FORWARD_GEMM: Shader =
    crate::shader!("conv2d_forward_gemm" + "conv_forward_params" + "conv_forward_im2col", ["conv2d_forward_gemm"]);
const CONV2D_FORWARD_GEMM8: Shader =
    crate::shader!("conv2d_forward_gemm8" + "conv_forward_params" + "conv_forward_im2col", ["conv2d_forward_gemm8"]);
const CONV2D_FORWARD_GEMM8_F16: Shader = crate::shader!(
    "conv2d_forward_gemm8_f16" + "conv_forward_params" + "conv_forward_im2col",
    ["conv2d_forward_gemm8_f16"]
);
const CONV2D_FORWARD_COOP: Shader =
    crate::shader!("conv2d_forward_coop" + "conv_forward_params", ["conv2d_forward_coop"]);
const CONV2D_WEIGHT_GRAD: Shader = crate::shader!("conv2d_weight_grad", ["conv2d_weight_grad"]);
const CONV2D_WEIGHT_GRAD_ROWS: Shader = crate::shader!("conv2d_weight_grad_rows", ["wgrad3"]);
const CONV2D_WEIGHT_GRAD_GEMM: Shader =
    crate::shader!("conv2d_weight_grad_gemm" + "conv_wgrad_gemm_common", ["wgrad_gemm", "wgrad_finish"]);
const CONV2D_WEIGHT_GRAD_GEMM8: Shader =
    crate::shader!("conv2d_weight_grad_gemm8" + "conv_wgrad_gemm_common", ["wgrad_gemm8"]);
const CONV2D_BIAS_GRAD: Shader = crate::shader!("conv2d_bias_grad", ["conv2d_bias_grad"]);
const CONV2D_BIAS_GRAD_VEC4: Shader = crate::shader!("conv2d_bias_grad_vec4", ["bias_grad4"]);

/// Uniform of conv2d_forward.wgsl (see its header).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FwdParams {
    n: u32,
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    k: u32,
    s_o: u32,
    s_c: u32,
    flip: u32,
    has_bias: u32,
    /// max(y, 0) in the epilogue (conv2d_forward_gemm.wgsl; the other kernels leave it 0)
    relu: u32,
    _pad: u32,
}
crate::uniform!(FwdParams { n, cin, cout, h, w, k, s_o, s_c, flip, has_bias, relu, _pad });

/// Uniform of conv2d_weight_grad.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct WgradParams {
    n: u32,
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    k: u32,
    _pad: [u32; 2],
}
crate::uniform!(WgradParams { n, cin, cout, h, w, k, _pad });

/// Uniform of conv2d_weight_grad_gemm.wgsl: the pixels are split into `slices` ranges of `chunk`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct WgemmParams {
    n: u32,
    cin: u32,
    cout: u32,
    h: u32,
    w: u32,
    k: u32,
    chunk: u32,
    slices: u32,
}
crate::uniform!(WgemmParams { n, cin, cout, h, w, k, chunk, slices });

/// Uniform of conv2d_bias_grad.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BgradParams {
    n: u32,
    cout: u32,
    hw: u32,
    _pad: u32,
}
crate::uniform!(BgradParams { n, cout, hw, _pad });

/// The two kernels of the forward and input-gradient convolution (the same implicit GEMM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKernel {
    /// conv2d_forward.wgsl: no shared memory, no barriers, 8 x 4 register blocks (CPU adapters).
    RegisterBlocked,
    /// conv2d_forward_tiled.wgsl: 64 x 64 workgroup-shared tiles, 4 x 4 per thread (GPUs).
    Tiled,
    /// conv2d_forward_rows.wgsl: 4 channels x 4 pixels of 2 rows (k = 1: of a row) per thread, vec4 rows (CPU
    /// adapters; k = 1 or 3 and W a multiple of 4, other shapes run `RegisterBlocked`).
    Rows,
    /// conv2d_forward_gemm.wgsl: 64 x 128 tiles, 4 x 8 per thread, double-buffered stages (GPUs).
    Gemm,
    /// conv2d_forward_gemm8.wgsl: 128 x 128 tiles, 8 x 8 per thread (GPUs).
    Gemm8,
    /// conv2d_forward_gemm8.wgsl with another tile: `bm` channels x `bn` pixels per workgroup of
    /// `bm * bn / 64` threads, 8 x 8 per thread (override constants; `GEMM8_TILES`).
    Gemm8Tile { bm: u16, bn: u16 },
    /// conv2d_forward_gemm8_f16.wgsl: `Gemm8` with float16 shared tiles and float32 sums
    /// (adapters with SHADER_F16; inference only, so not in `ALL`: see `ConvSettings::half_inference`).
    Gemm8F16,
    /// conv2d_forward_coop.wgsl: cooperative 16 x 16 float16 matrices (tensor cores) with float32
    /// sums, `wm` x `wn` warp tiles of 32 x 32 per workgroup (override constants; adapters with
    /// wgpu's cooperative matrices; inference only, see `ConvSettings::coop_inference`).
    Coop { wm: u8, wn: u8 },
}

/// The cooperative-matrix variants the autotune tries: 64 channels x 64 pixels per workgroup,
/// 128 x 32 (wide layers, small images) and 32 x 128 (few channels, many pixels).
pub const COOP_TILES: [ConvKernel; 3] =
    [ConvKernel::Coop { wm: 2, wn: 2 }, ConvKernel::Coop { wm: 4, wn: 1 }, ConvKernel::Coop { wm: 1, wn: 4 }];

/// The cooperative-matrix variants an adapter with `features` and the cooperative-matrix
/// configurations `offered` can run: the kernel multiplies 16 x 16 x 16 float16 matrices into
/// float32 ones at subgroup scope, and needs subgroups (its subgroup id) and float16.
pub fn coop_candidates(features: wgpu::Features, offered: &[wgpu::CooperativeMatrixProperties]) -> Vec<ConvKernel> {
    use wgpu::CooperativeScalarType::{F16, F32};
    let needs = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX | wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP;
    let shape = offered.iter().any(|c| (c.m_size, c.n_size, c.k_size, c.ab_type, c.cr_type) == (16, 16, 16, F16, F32));
    if features.contains(needs) && shape {
        COOP_TILES.to_vec()
    } else {
        Vec::new()
    }
}

/// The gemm8 tiles besides the default 128 x 128 (`ConvKernel::Gemm8`, `WgradKernel::Gemm8`)
/// that the autotune tries, as (output channels, pixels) per workgroup, or (output channels,
/// columns) of the weight gradient: 128 x 64 (wide layers at small images), 64 x 128 (64-channel
/// layers: a 128-channel tile would be half empty) and 64 x 64 (four times the workgroups where
/// images are small, the deep layers). Each side is 64 or 128 (the kernels load 2 or 4 values
/// per thread and stage); every tile sums in the same order.
pub const GEMM8_TILES: [(u16, u16); 3] = [(128, 64), (64, 128), (64, 64)];

/// The override constants of a gemm8 tile (both gemm8 kernels): `bm` x `bn` outputs per
/// workgroup of `bm * bn / 64` invocations; an error for a tile the kernels do not have.
pub fn gemm8_constants(bm: u16, bn: u16) -> Result<[(&'static str, f64); 3]> {
    ensure!(
        [64, 128].contains(&bm) && [64, 128].contains(&bn),
        "gemm8 tiles are 64 or 128 on each side, not {bm} x {bn}"
    );
    Ok([("BM", bm as f64), ("BN", bn as f64), ("WG", (bm as u32 * bn as u32 / 64) as f64)])
}

impl ConvKernel {
    pub const ALL: [ConvKernel; 8] = [
        ConvKernel::RegisterBlocked,
        ConvKernel::Tiled,
        ConvKernel::Rows,
        ConvKernel::Gemm,
        ConvKernel::Gemm8,
        ConvKernel::Gemm8Tile { bm: GEMM8_TILES[0].0, bn: GEMM8_TILES[0].1 },
        ConvKernel::Gemm8Tile { bm: GEMM8_TILES[1].0, bn: GEMM8_TILES[1].1 },
        ConvKernel::Gemm8Tile { bm: GEMM8_TILES[2].0, bn: GEMM8_TILES[2].1 },
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConvKernel::RegisterBlocked => "blocked",
            ConvKernel::Tiled => "tiled",
            ConvKernel::Rows => "rows",
            ConvKernel::Gemm => "gemm",
            ConvKernel::Gemm8 => "gemm8",
            ConvKernel::Gemm8Tile { bm, bn } => gemm8_name(bm, bn),
            ConvKernel::Gemm8F16 => "gemm8h",
            ConvKernel::Coop { wm: 2, wn: 2 } => "coop64x64",
            ConvKernel::Coop { wm: 4, wn: 1 } => "coop128x32",
            ConvKernel::Coop { wm: 1, wn: 4 } => "coop32x128",
            ConvKernel::Coop { .. } => "coop",
        }
    }

    /// A cooperative-matrix variant by name (the tuning cache).
    pub fn parse_coop(s: &str) -> Option<ConvKernel> {
        COOP_TILES.into_iter().find(|k| k.name() == s.trim())
    }

    pub fn parse(s: &str) -> Option<ConvKernel> {
        ConvKernel::ALL.into_iter().find(|k| k.name() == s.trim())
    }

    /// Whether the kernel can apply the ReLU in its epilogue (`conv2d_relu`).
    fn has_relu(self) -> bool {
        matches!(
            self,
            ConvKernel::Gemm
                | ConvKernel::Gemm8
                | ConvKernel::Gemm8Tile { .. }
                | ConvKernel::Gemm8F16
                | ConvKernel::Coop { .. }
        )
    }

    /// Whether this adapter can run the kernel: the row kernel shares weights through
    /// subgroupBroadcast from lanes 0..7, so it needs subgroups of at least 8 invocations.
    pub fn available(self, gpu: &Gpu) -> bool {
        match self {
            ConvKernel::Rows => {
                gpu.device.features().contains(wgpu::Features::SUBGROUP) && gpu.device.info().subgroup_min_size >= 8
            }
            ConvKernel::Gemm8F16 => gpu.device.features().contains(wgpu::Features::SHADER_F16),
            ConvKernel::Coop { .. } => {
                coop_candidates(gpu.device.features(), gpu.device.cooperative_matrices()).contains(&self)
            }
            _ => true,
        }
    }

    fn shader(self) -> &'static Shader {
        match self {
            ConvKernel::RegisterBlocked => &CONV2D_FORWARD,
            ConvKernel::Tiled => &CONV2D_FORWARD_TILED,
            ConvKernel::Rows => &CONV2D_FORWARD_ROWS,
            ConvKernel::Gemm => &CONV2D_FORWARD_GEMM,
            ConvKernel::Gemm8 | ConvKernel::Gemm8Tile { .. } => &CONV2D_FORWARD_GEMM8,
            ConvKernel::Gemm8F16 => &CONV2D_FORWARD_GEMM8_F16,
            ConvKernel::Coop { .. } => &CONV2D_FORWARD_COOP,
        }
    }

    /// Workgroups for `pixels` output pixels and `cout` channels.
    fn groups(self, pixels: usize, cout: usize) -> [u32; 3] {
        match self {
            ConvKernel::RegisterBlocked => {
                [pixels.div_ceil(PIX_PER_GROUP) as u32, cout.div_ceil(FWD_CHANNELS) as u32, 1]
            }
            ConvKernel::Tiled => [pixels.div_ceil(TILE) as u32, cout.div_ceil(TILE) as u32, 1],
            ConvKernel::Gemm => [pixels.div_ceil(GEMM_PIXELS) as u32, cout.div_ceil(GEMM_CHANNELS) as u32, 1],
            ConvKernel::Gemm8 | ConvKernel::Gemm8F16 => {
                [pixels.div_ceil(GEMM_PIXELS) as u32, cout.div_ceil(2 * GEMM_CHANNELS) as u32, 1]
            }
            ConvKernel::Gemm8Tile { bm, bn } => {
                [pixels.div_ceil(bn as usize) as u32, cout.div_ceil(bm as usize) as u32, 1]
            }
            ConvKernel::Coop { wm, wn } => {
                [pixels.div_ceil(32 * wn as usize) as u32, cout.div_ceil(32 * wm as usize) as u32, 1]
            }
            // one row per thread here (conv1); conv3's pairs of rows are counted at its dispatch
            ConvKernel::Rows => [(pixels / 4).div_ceil(ROWS_GROUP) as u32, cout.div_ceil(ROWS_CHANNELS) as u32, 1],
        }
    }
}

/// The kernels of the weight gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WgradKernel {
    /// conv2d_weight_grad.wgsl: 8 x 4 channel blocks per tap, a shared-memory tree reduction.
    Reduce,
    /// conv2d_weight_grad_rows.wgsl: the row kernel's (CPU adapters; 3x3 and W a multiple of 4,
    /// other shapes run `Reduce`).
    Rows,
    /// conv2d_weight_grad_gemm.wgsl: 64 x 128 tiles with the pixels split over workgroups, then a
    /// finishing sum (GPUs).
    Gemm,
    /// conv2d_weight_grad_gemm8.wgsl: the same with 128 x 128 tiles, 8 x 8 per thread (GPUs).
    Gemm8,
    /// conv2d_weight_grad_gemm8.wgsl with another tile: `bm` output channels x `bn` columns per
    /// workgroup of `bm * bn / 64` threads (override constants; `GEMM8_TILES`).
    Gemm8Tile { bm: u16, bn: u16 },
}

/// The name of a gemm8 tile variant (both families): `gemm8-128x64` (channels x pixels or columns).
fn gemm8_name(bm: u16, bn: u16) -> &'static str {
    match (bm, bn) {
        (128, 64) => "gemm8-128x64",
        (64, 128) => "gemm8-64x128",
        (64, 64) => "gemm8-64x64",
        (128, 128) => "gemm8-128x128",
        _ => "gemm8-other",
    }
}

impl WgradKernel {
    pub const ALL: [WgradKernel; 7] = [
        WgradKernel::Reduce,
        WgradKernel::Rows,
        WgradKernel::Gemm,
        WgradKernel::Gemm8,
        WgradKernel::Gemm8Tile { bm: GEMM8_TILES[0].0, bn: GEMM8_TILES[0].1 },
        WgradKernel::Gemm8Tile { bm: GEMM8_TILES[1].0, bn: GEMM8_TILES[1].1 },
        WgradKernel::Gemm8Tile { bm: GEMM8_TILES[2].0, bn: GEMM8_TILES[2].1 },
    ];

    pub fn name(self) -> &'static str {
        match self {
            WgradKernel::Reduce => "reduce",
            WgradKernel::Rows => "rows",
            WgradKernel::Gemm => "gemm",
            WgradKernel::Gemm8 => "gemm8",
            WgradKernel::Gemm8Tile { bm, bn } => gemm8_name(bm, bn),
        }
    }

    pub fn parse(s: &str) -> Option<WgradKernel> {
        WgradKernel::ALL.into_iter().find(|k| k.name() == s.trim())
    }

    /// The row kernel shares values through subgroups, as the forward one.
    pub fn available(self, gpu: &Gpu) -> bool {
        self != WgradKernel::Rows || ConvKernel::Rows.available(gpu)
    }
}

/// A device's conv settings, made by `tune` before its first convolution.
pub struct ConvSettings {
    /// The forward / input-gradient kernel (autotuned, see `choice`; tests may change it).
    pub kernel: Cell<ConvKernel>,
    /// The weight-gradient kernel (autotuned as well).
    pub wgrad: Cell<WgradKernel>,
    /// Inference (`FasTd::score`): eval BatchNorm folded into the conv before it, ReLU in the
    /// conv's epilogue, where the conv kernel has one (on unless `TDFAS_FUSE=0`, for comparisons;
    /// tests compare both paths).
    pub fuse_inference: Cell<bool>,
    /// Inference convs run the float16-tile kernel (`Gemm8F16`): set by the autotune where the
    /// adapter has SHADER_F16, the kernel passes its check at `HALF_TOLERANCE` and is clearly faster
    /// than the chosen kernel (`TDFAS_F16=0` keeps it off).
    pub half_inference: Cell<bool>,
    /// Inference convs run this cooperative-matrix variant (`ConvKernel::Coop`): set by the
    /// autotune where the adapter offers cooperative matrices, the variant passes its check at
    /// `HALF_TOLERANCE` and is clearly faster than the chosen kernel and the float16-tile one
    /// (`TDFAS_COOP=0` keeps it off, and the feature unrequested).
    pub coop_inference: Cell<Option<ConvKernel>>,
}

/// Makes this device's conv settings: the autotune's choice (`choice`, cached on disk) or
/// the overrides, with the inference choices the device's `Settings` allow. Once per device,
/// before anything is recorded (`ops::tune`, at the start of every command): the autotune runs
/// and times kernels, so it is refused while a step is being recorded, in a dry run or under the
/// profiler. Later calls return the settings made.
pub fn tune(gpu: &Gpu) -> Result<Rc<ConvSettings>> {
    if let Some(s) = gpu.find_op_settings::<ConvSettings>() {
        return Ok(s);
    }
    ensure!(
        gpu.pending() == 0 && !gpu.is_dry_run() && !gpu.is_profiling(),
        "the conv kernels are tuned before anything is recorded (tdfas::ops::tune after opening the device), \
         not while {}",
        if gpu.pending() > 0 {
            "work is recorded"
        } else if gpu.is_dry_run() {
            "in a dry run"
        } else {
            "profiling"
        }
    );
    let (kernel, wgrad, half, coop) = choice::tune(gpu)?;
    let s = gpu.settings();
    Ok(gpu.set_op_settings(ConvSettings {
        kernel: Cell::new(kernel),
        wgrad: Cell::new(wgrad),
        half_inference: Cell::new(half && s.f16),
        coop_inference: Cell::new(coop.filter(|_| s.coop)),
        fuse_inference: Cell::new(s.fuse),
    }))
}

/// This device's conv settings, made by `tune` (an error before it: no convolution tunes in
/// the middle of recording a step).
pub fn settings(gpu: &Gpu) -> Result<Rc<ConvSettings>> {
    gpu.find_op_settings::<ConvSettings>().ok_or_else(|| {
        anyhow!(
            "the conv kernels of this device are not tuned: call tdfas::ops::tune(&gpu) after opening it, \
             before recording"
        )
    })
}

/// The text of every conv kernel (the tuning cache is invalidated when it changes).
pub fn shader_sources() -> String {
    KERNELS.shaders.iter().map(|s| s.source).collect()
}

/// One candidate of the autotune: its time in ms (the fastest of `TIMING_ROUNDS` interleaved
/// rounds, see `tuning::interleaved_times`), or why it was excluded (it failed to run, or its
/// output disagreed with the reference kernel's).
#[derive(Clone, Debug)]
pub struct Candidate<K> {
    pub kernel: K,
    pub ms: std::result::Result<f64, String>,
}

/// Every candidate of both kernel families on this adapter.
#[derive(Clone, Debug)]
pub struct Candidates {
    pub forward: Vec<Candidate<ConvKernel>>,
    pub wgrad: Vec<Candidate<WgradKernel>>,
    /// the float16-tile inference kernel, where the adapter has SHADER_F16
    pub half: Option<Candidate<ConvKernel>>,
    /// the cooperative-matrix inference variants, where the adapter offers them (`coop_candidates`)
    pub coop: Vec<Candidate<ConvKernel>>,
}

/// A kernel of either family, as timed on the probe: the forward conv, or the weight gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Forward(ConvKernel),
    Wgrad(WgradKernel),
}

impl Probe {
    pub fn name(self) -> &'static str {
        match self {
            Probe::Forward(k) => k.name(),
            Probe::Wgrad(k) => k.name(),
        }
    }
}

/// How many interleaved rounds the autotune times every candidate that passed its check: the
/// fastest round counts, so a busy period spoils a candidate only if it covers all of them. Four:
/// as many probe runs as the warm-up and best of 3 back to back before (the check's runs warm each
/// kernel up now), so tuning takes about as long (2.5 s with the device on lavapipe).
pub const TIMING_ROUNDS: usize = 4;

/// How many interleaved rounds a cached choice other than the default is timed against the
/// default when a device is opened (`choice::tune`).
pub const REPROBE_ROUNDS: usize = 2;

/// A candidate's outputs on one probe (x, w, gy).
type ProbeRun<'a> = dyn Fn(&Tensor, &Tensor, &Tensor) -> Result<Vec<Tensor>> + 'a;

/// Deterministic values in [-1, 1) that differ from element to element (a wrong index shows).
fn probe_data(gpu: &Gpu, shape: &[usize], seed: usize) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| ((i * 7919 + seed * 104729) % 2003) as f32 / 1001.5 - 1.0).collect();
    Tensor::upload(gpu, &v, shape)
}

/// The timing probe: a 3x3 conv of the model's kind, (x, w, gy, channels, k); 64 -> 64 channels of
/// 32 x 32 pixels on a CPU adapter, 128 -> 128 of 8 x 64 x 64 elsewhere (about 10 GFLOP, so that
/// submitting costs little against the kernel and 128-channel tiles are full).
fn probe_shape(gpu: &Gpu) -> Result<(Tensor, Tensor, Tensor, usize, usize)> {
    let (n, hw, c) = if gpu.is_cpu() { (1, 32, 64) } else { (8, 64, 128) };
    let k = 3;
    Ok((
        probe_data(gpu, &[n, c, hw, hw], 1)?,
        probe_data(gpu, &[c, c, k, k], 2)?,
        probe_data(gpu, &[n, c, hw, hw], 3)?,
        c,
        k,
    ))
}

/// Times `kernels` on the probe (x, w, gy, c, k) in `rounds` interleaved rounds
/// (`tuning::interleaved_times`): per kernel its fastest round in ms, or why it failed.
fn time_probes_on(
    gpu: &Gpu,
    (x, w, gy, c, k): (&Tensor, &Tensor, &Tensor, usize, usize),
    kernels: &[Probe],
    rounds: usize,
) -> Vec<std::result::Result<f64, String>> {
    crate::ops::tuning::interleaved_times(kernels.len(), rounds, |i| {
        let t0 = std::time::Instant::now();
        let y = match kernels[i] {
            Probe::Forward(kernel) => gemm_conv_with(gpu, kernel, x, w, None, c, k, c * k * k, k * k, false, false)?,
            Probe::Wgrad(kernel) => weight_grad_dispatch(gpu, kernel, x, gy, k)?,
        };
        gpu.flush()?;
        gpu.wait()?;
        drop(y);
        Ok(t0.elapsed().as_secs_f64() * 1e3)
    })
}

/// Times `kernels` on the autotune's probe in `rounds` interleaved rounds, without checking them
/// (the re-probe of a cached choice, `choice::tune`): per kernel its fastest round in ms, or why
/// it failed.
pub fn time_probes(gpu: &Gpu, kernels: &[Probe], rounds: usize) -> Result<Vec<std::result::Result<f64, String>>> {
    let (x, w, gy, c, k) = probe_shape(gpu)?;
    Ok(time_probes_on(gpu, (&x, &w, &gy, c, k), kernels, rounds))
}

/// Largest difference between `got` and `want`, relative to the largest value of `want`.
fn rel_diff(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
    got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs())) / scale
        + if got.iter().all(|v| v.is_finite()) { 0.0 } else { f32::INFINITY }
}

/// How far (relative to the largest value) a candidate's f32 output may be from the reference
/// kernel's: rounding differs with the order of the sums (about 1e-6 here), a wrong kernel is off
/// by O(1).
pub const CHECK_TOLERANCE: f32 = 1e-3;

/// The check's tolerance for the float16-tile kernel: its inputs are rounded to 11 significant
/// bits (relative error 2^-11 = 4.9e-4 each), and the sums of many such products stay within 1e-2.
pub const HALF_TOLERANCE: f32 = 1e-2;

/// Probes every candidate of both families on this adapter: each runs a 3x3 conv of the model's
/// kind (`probe_shape`: 64 -> 64 channels of 32 x 32 pixels on a CPU adapter; 128 -> 128 of
/// 8 x 64 x 64 elsewhere), forward and input gradient on the forward family, the weight gradient
/// on the other, plus two small odd shapes (3x3 and 1x1, sizes not multiples of any tile). Each
/// output must agree with the reference kernel's (register-blocked forward, reduce weight
/// gradient) within `CHECK_TOLERANCE` before its time counts; a candidate that fails to run or to
/// agree is excluded, with the reason. Then every candidate that passed, of every family (the
/// inference kernels are compared with the forward ones), is timed on the probe in
/// `TIMING_ROUNDS` interleaved rounds (each round runs each candidate once, in an order rotated
/// per round; the check's runs were the warm-up), and its time is its fastest round.
pub fn autotune(gpu: &Gpu) -> Result<Candidates> {
    let (x, w, gy, c, k) = probe_shape(gpu)?;
    // odd shapes: (x, w, gy) with Co = 70 (a partial channel tile), 2 x 9 x 10 pixels, K = 37 * 9
    let odd: Vec<[Tensor; 3]> = [(37, 70, 3), (37, 70, 1)]
        .into_iter()
        .map(|(ci, co, k)| -> Result<[Tensor; 3]> {
            Ok([
                probe_data(gpu, &[2, ci, 9, 10], 4)?,
                probe_data(gpu, &[co, ci, k, k], 5)?,
                probe_data(gpu, &[2, co, 9, 10], 6)?,
            ])
        })
        .collect::<Result<_>>()?;
    // a candidate's outputs on the probe and the odd shapes, to compare with the reference's
    let outputs = |f: &ProbeRun| -> Result<Vec<Vec<f32>>> {
        let mut out = vec![];
        for [x, w, gy] in std::iter::once([&x, &w, &gy]).chain(odd.iter().map(|[a, b, c]| [a, b, c])) {
            for t in f(x, w, gy)? {
                out.push(t.download(gpu)?);
            }
        }
        Ok(out)
    };
    // Ok(()) where the candidate passed its check (its time is measured below)
    let verdict = |got: Result<Vec<Vec<f32>>>, want: &[Vec<f32>], tol: f32| -> std::result::Result<(), String> {
        let got = got.map_err(|e| format!("failed: {e:#}"))?;
        let worst = got.iter().zip(want).map(|(g, w)| rel_diff(g, w)).fold(0.0f32, f32::max);
        if worst.is_nan() || worst > tol {
            return Err(format!("disagrees with the reference kernel (relative difference {worst:.2e})"));
        }
        Ok(())
    };

    let fwd = |kernel: ConvKernel| {
        move |x: &Tensor, w: &Tensor, gy: &Tensor| -> Result<Vec<Tensor>> {
            Ok(vec![conv2d_with(gpu, kernel, x, w, None)?, conv2d_backward_input_with(gpu, kernel, gy, w)?])
        }
    };
    let want = outputs(&fwd(ConvKernel::RegisterBlocked))?;
    let check = |kernel: ConvKernel, tol: f32| (Probe::Forward(kernel), verdict(outputs(&fwd(kernel)), &want, tol));
    let mut checked: Vec<(Probe, std::result::Result<(), String>)> =
        ConvKernel::ALL.into_iter().filter(|k| k.available(gpu)).map(|k| check(k, CHECK_TOLERANCE)).collect();
    if ConvKernel::Gemm8F16.available(gpu) {
        checked.push(check(ConvKernel::Gemm8F16, HALF_TOLERANCE));
    }
    for kernel in coop_candidates(gpu.device.features(), gpu.device.cooperative_matrices()) {
        checked.push(check(kernel, HALF_TOLERANCE));
    }
    let wgrad_of = |kernel: WgradKernel| {
        move |x: &Tensor, w: &Tensor, gy: &Tensor| -> Result<Vec<Tensor>> {
            Ok(vec![conv2d_backward_weight_with(gpu, kernel, x, gy, w.dim(2))?])
        }
    };
    let want = outputs(&wgrad_of(WgradKernel::Reduce))?;
    for kernel in WgradKernel::ALL.into_iter().filter(|k| k.available(gpu)) {
        checked.push((Probe::Wgrad(kernel), verdict(outputs(&wgrad_of(kernel)), &want, CHECK_TOLERANCE)));
    }

    // every candidate that passed, timed in the same interleaved rounds
    let timed: Vec<Probe> = checked.iter().filter(|c| c.1.is_ok()).map(|c| c.0).collect();
    let times = time_probes_on(gpu, (&x, &w, &gy, c, k), &timed, TIMING_ROUNDS);
    let mut times = times.into_iter();
    let mut forward = vec![];
    let mut wgrad = vec![];
    let mut half = None;
    let mut coop = vec![];
    for (probe, check) in checked {
        let ms = check.and_then(|()| times.next().expect("a time per candidate that passed"));
        match probe {
            Probe::Forward(kernel @ ConvKernel::Gemm8F16) => half = Some(Candidate { kernel, ms }),
            Probe::Forward(kernel @ ConvKernel::Coop { .. }) => coop.push(Candidate { kernel, ms }),
            Probe::Forward(kernel) => forward.push(Candidate { kernel, ms }),
            Probe::Wgrad(kernel) => wgrad.push(Candidate { kernel, ms }),
        }
    }
    Ok(Candidates { forward, wgrad, half, coop })
}

/// Register blocks: forward 64 threads x 4 pixels per workgroup, 8 output channels per thread;
/// weight gradient 8 output x 4 input channels per workgroup.
const PIX_PER_GROUP: usize = 256;
const FWD_CHANNELS: usize = 8;
const BLOCK: usize = 4;
/// Tiled forward: a workgroup computes TILE channels x TILE pixels.
const TILE: usize = 64;
/// GEMM kernels: a workgroup computes GEMM_CHANNELS output channels x GEMM_PIXELS pixels (forward)
/// or x GEMM_PIXELS columns (c, tap) of the weight gradient.
const GEMM_CHANNELS: usize = 64;
const GEMM_PIXELS: usize = 128;
/// Row kernel: 64 threads of 4 pixels (conv3: of 2 rows) each per workgroup, 4 output channels
/// per thread.
const ROWS_GROUP: usize = 64;
const ROWS_CHANNELS: usize = 4;

fn nchw(what: &str, t: &Tensor) -> Result<[usize; 4]> {
    match t.shape() {
        &[n, c, h, w] => Ok([n, c, h, w]),
        s => bail!("conv2d: {what} must be 4-D [N, C, H, W], got {s:?}"),
    }
}

/// Checks the weight [Co, Ci, k, k] against an input with `ci` channels; returns (Co, k).
fn weight_shape(w: &Tensor, ci: usize) -> Result<(usize, usize)> {
    let &[co, wci, kh, kw] = w.shape() else {
        bail!("conv2d: weight must be 4-D [Co, Ci, k, k], got {:?}", w.shape());
    };
    ensure!(kh == kw && kh % 2 == 1, "conv2d: weight {:?} needs a square odd kernel (k x k, k = 1, 3, 5..)", w.shape());
    ensure!(wci == ci, "conv2d: weight {:?} expects {wci} input channels, the input has {ci}", w.shape());
    ensure!(co > 0 && ci > 0, "conv2d: weight {:?} has an empty channel dimension", w.shape());
    Ok((co, kh))
}

fn check_sizes(gpu: &Gpu, tensors: &[(&str, usize)]) -> Result<()> {
    for (what, n) in tensors {
        gpu.check_item_size(&format!("conv2d {what}"), 4 * *n as u64)?;
    }
    Ok(())
}

/// One implicit-GEMM launch: out[n, o] = sum over (c, tap) of W(o, c, tap) * inp[n, c] shifted.
/// Forward: W = w as stored; input gradient: W = w transposed over (Co, Ci) and flipped.
#[allow(clippy::too_many_arguments)]
fn gemm_conv_with(
    gpu: &Gpu,
    kernel: ConvKernel,
    inp: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    cout: usize,
    k: usize,
    s_o: usize,
    s_c: usize,
    flip: bool,
    relu: bool,
) -> Result<Tensor> {
    let [n, _, h, wd] = inp.nchw();
    let out = Tensor::empty(gpu, &[n, cout, h, wd]);
    if n * h * wd == 0 {
        return Ok(out);
    }
    check_sizes(gpu, &[("weight", w.numel())])?;
    // Inputs and outputs larger than one binding go in batch chunks: every output pixel is the
    // same sum in the same order, so the result is bit-identical.
    for r in gpu.split_items("conv2d", n, &[inp, &out])? {
        let (inp, out) = (inp.items(r.clone()), out.items(r));
        gemm_conv_dispatch(gpu, kernel, &inp, w, b, &out, k, s_o, s_c, flip, relu)?;
    }
    Ok(out)
}

/// One implicit-GEMM dispatch of `inp` into `out` (both bindable whole).
#[allow(clippy::too_many_arguments)]
fn gemm_conv_dispatch(
    gpu: &Gpu,
    kernel: ConvKernel,
    inp: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    out: &Tensor,
    k: usize,
    s_o: usize,
    s_c: usize,
    flip: bool,
    relu: bool,
) -> Result<()> {
    let [n, cin, h, wd] = inp.nchw();
    let cout = out.dim(1);
    let pixels = n * h * wd;
    debug_assert!(!relu || kernel.has_relu(), "only the GEMM kernels have the ReLU epilogue");
    // The row kernel has entry points for k = 1 and 3, reads whole vec4 rows and needs subgroups.
    let kernel = match kernel {
        ConvKernel::Rows if !((k == 1 || k == 3) && wd % 4 == 0 && kernel.available(gpu)) => {
            ConvKernel::RegisterBlocked
        }
        k => k,
    };
    let groups = kernel.groups(pixels, cout);
    let params = FwdParams {
        n: n as u32,
        cin: cin as u32,
        cout: cout as u32,
        h: h as u32,
        w: wd as u32,
        k: k as u32,
        s_o: s_o as u32,
        s_c: s_c as u32,
        flip: flip as u32,
        has_bias: b.is_some() as u32,
        relu: relu as u32,
        _pad: 0,
    };
    let flops = 2.0 * (cout * pixels * cin * k * k) as f64;
    let bytes = 4.0 * (inp.numel() + w.numel() + out.numel()) as f64;
    let cost = Cost::new(flops, bytes);
    let b = b.unwrap_or(w);
    match kernel {
        ConvKernel::Rows => {
            let (entry, groups) = if k == 3 {
                // conv3: each thread 2 rows of 4 pixels
                let segs = n * h.div_ceil(2) * (wd / 4);
                ("conv3", [segs.div_ceil(ROWS_GROUP) as u32, groups[1], 1])
            } else {
                ("conv1", groups)
            };
            // conv1 reads only the vec4 view of the input
            let x = if k == 3 { Arg::of(inp) } else { Arg::Unused };
            let args = [x, Arg::of(inp), Arg::of(w), Arg::of(b), Arg::of(out)];
            gpu.dispatch(kernel.shader(), entry, &params, &args, groups, cost)
        }
        // the tile as override constants (`Gemm8` is the file's defaults)
        ConvKernel::Gemm8Tile { bm, bn } => {
            let args = [Arg::of(inp), Arg::of(w), Arg::of(b), Arg::of(out)];
            let constants = gemm8_constants(bm, bn)?;
            gpu.dispatch_with(kernel.shader(), kernel.shader().name, &constants, &params, &args, groups, cost)
        }
        // tiles as override constants; WG = warp tiles x the largest subgroup, so that every warp
        // tile has a subgroup whatever size the driver picks
        ConvKernel::Coop { wm, wn } => {
            let sg = gpu.device.info().subgroup_max_size.max(1);
            let constants = [("WM", wm as f64), ("WN", wn as f64), ("WG", (wm as u32 * wn as u32 * sg) as f64)];
            let args = [Arg::of(inp), Arg::of(w), Arg::of(b), Arg::of(out)];
            gpu.dispatch_with(kernel.shader(), kernel.shader().name, &constants, &params, &args, groups, cost)
        }
        // the register-blocked and tiled files' one entry point is named as the file
        _ => gpu.dispatch(
            kernel.shader(),
            kernel.shader().name,
            &params,
            &[Arg::of(inp), Arg::of(w), Arg::of(b), Arg::of(out)],
            groups,
            cost,
        ),
    }
}

/// y = conv(x, w) + b: x [N, Ci, H, W], w [Co, Ci, k, k], b [Co] -> y [N, Co, H, W].
pub fn conv2d(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    conv2d_with(gpu, kernel_for(gpu, w.shape().first().copied().unwrap_or(0))?, x, w, b)
}

/// The adapter's tuned kernel, except for few output channels: a 64-channel tile would leave
/// most of its threads idle (the model's 1- and 8-channel convs), so those stay register-blocked.
fn kernel_for(gpu: &Gpu, cout: usize) -> Result<ConvKernel> {
    Ok(match settings(gpu)?.kernel.get() {
        ConvKernel::Tiled | ConvKernel::Gemm | ConvKernel::Gemm8 | ConvKernel::Gemm8Tile { .. } if cout <= 16 => {
            ConvKernel::RegisterBlocked
        }
        k => k,
    })
}

/// `conv2d` with a given kernel instead of the adapter's tuned one (benchmarks, tests).
pub fn conv2d_with(gpu: &Gpu, kernel: ConvKernel, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    let [_, ci, _, _] = nchw("input x", x)?;
    let (co, k) = weight_shape(w, ci)?;
    if let Some(b) = b {
        ensure!(b.shape() == [co], "conv2d: bias must be [{co}] for weight {:?}, got {:?}", w.shape(), b.shape());
    }
    gemm_conv_with(gpu, kernel, x, w, b, co, k, ci * k * k, k * k, false, false)
}

/// max(conv(x, w) + b, 0), for inference: the ReLU in the epilogue of the GEMM kernels, after the
/// conv as its own op with the other kernels; the float16-tile kernel where the autotune chose it.
pub fn conv2d_relu(gpu: &Gpu, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    conv2d_relu_with(gpu, inference_kernel(gpu, w.shape().first().copied().unwrap_or(0))?, x, w, b)
}

/// The kernel of an inference conv with `cout` output channels.
fn inference_kernel(gpu: &Gpu, cout: usize) -> Result<ConvKernel> {
    let s = settings(gpu)?;
    Ok(match (kernel_for(gpu, cout)?, s.coop_inference.get()) {
        (ConvKernel::RegisterBlocked, _) => ConvKernel::RegisterBlocked,
        (_, Some(coop)) => coop,
        _ if s.half_inference.get() => ConvKernel::Gemm8F16,
        (k, _) => k,
    })
}

/// Whether `conv2d_relu` with `cout` output channels applies the ReLU in the conv kernel itself.
pub fn relu_epilogue(gpu: &Gpu, cout: usize) -> Result<bool> {
    Ok(inference_kernel(gpu, cout)?.has_relu())
}

/// `conv2d_relu` with a given kernel (tests).
pub fn conv2d_relu_with(gpu: &Gpu, kernel: ConvKernel, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if !kernel.has_relu() {
        return crate::ops::elementwise::relu(gpu, &conv2d_with(gpu, kernel, x, w, b)?);
    }
    let [_, ci, _, _] = nchw("input x", x)?;
    let (co, k) = weight_shape(w, ci)?;
    if let Some(b) = b {
        ensure!(b.shape() == [co], "conv2d: bias must be [{co}] for weight {:?}, got {:?}", w.shape(), b.shape());
    }
    gemm_conv_with(gpu, kernel, x, w, b, co, k, ci * k * k, k * k, false, true)
}

/// dL/dx from gy [N, Co, H, W] and w [Co, Ci, k, k]: gy convolved with the flipped, transposed
/// weight (same padding), -> [N, Ci, H, W].
pub fn conv2d_backward_input(gpu: &Gpu, gy: &Tensor, w: &Tensor) -> Result<Tensor> {
    conv2d_backward_input_with(gpu, kernel_for(gpu, w.shape().get(1).copied().unwrap_or(0))?, gy, w)
}

/// `conv2d_backward_input` with a given kernel (benchmarks, tests).
pub fn conv2d_backward_input_with(gpu: &Gpu, kernel: ConvKernel, gy: &Tensor, w: &Tensor) -> Result<Tensor> {
    let [_, gco, _, _] = nchw("output gradient gy", gy)?;
    let &[co, ci, _, _] = w.shape() else {
        bail!("conv2d backward: weight must be 4-D [Co, Ci, k, k], got {:?}", w.shape());
    };
    ensure!(
        gco == co,
        "conv2d backward: gy {:?} has {gco} channels, the weight {:?} makes {co}",
        gy.shape(),
        w.shape()
    );
    // Validates k (square, odd) the same way as the forward, with the roles of Ci and Co swapped.
    let (_, k) = weight_shape(w, ci)?;
    gemm_conv_with(gpu, kernel, gy, w, None, ci, k, k * k, ci * k * k, true, false)
}

/// dL/dw [Co, Ci, k, k] from the forward input x [N, Ci, H, W] and gy [N, Co, H, W].
pub fn conv2d_backward_weight(gpu: &Gpu, x: &Tensor, gy: &Tensor, k: usize) -> Result<Tensor> {
    conv2d_backward_weight_with(gpu, settings(gpu)?.wgrad.get(), x, gy, k)
}

/// `conv2d_backward_weight` with a given kernel (benchmarks, tests).
pub fn conv2d_backward_weight_with(
    gpu: &Gpu,
    kernel: WgradKernel,
    x: &Tensor,
    gy: &Tensor,
    k: usize,
) -> Result<Tensor> {
    let [n, ci, h, wd] = nchw("input x", x)?;
    let [gn, co, gh, gw_] = nchw("output gradient gy", gy)?;
    ensure!(
        (gn, gh, gw_) == (n, h, wd),
        "conv2d backward: gy {:?} must match x {:?} in batch and size (stride 1, same padding)",
        gy.shape(),
        x.shape()
    );
    ensure!(k % 2 == 1, "conv2d backward: kernel size must be odd, got {k}");
    ensure!(co > 0 && ci > 0, "conv2d backward: empty channels (x {:?}, gy {:?})", x.shape(), gy.shape());
    check_sizes(gpu, &[("weight gradient", co * ci * k * k)])?;
    // Larger than one binding: a gradient per batch chunk, then their sum (the order of the
    // additions over the batch changes, so the result matches to rounding, not bit for bit).
    let mut total: Option<Tensor> = None;
    for r in gpu.split_items("conv2d weight gradient", n, &[x, gy])? {
        let part = weight_grad_dispatch(gpu, kernel, &x.items(r.clone()), &gy.items(r), k)?;
        total = Some(match total {
            None => part,
            Some(acc) => crate::ops::elementwise::add(gpu, &acc, &part)?,
        });
    }
    Ok(total.expect("at least one chunk"))
}

/// Workgroups the split weight-gradient GEMM aims for (several per multiprocessor of a large GPU),
/// and the fewest pixels one of them sums.
const WGRAD_GROUPS: usize = 1024;
const WGRAD_MIN_CHUNK: usize = 256;

fn weight_grad_dispatch(gpu: &Gpu, kernel: WgradKernel, x: &Tensor, gy: &Tensor, k: usize) -> Result<Tensor> {
    let [n, ci, h, wd] = x.nchw();
    let co = gy.dim(1);
    let kk = k * k;
    let gw = Tensor::empty(gpu, &[co, ci, k, k]);
    let params = WgradParams {
        n: n as u32,
        cin: ci as u32,
        cout: co as u32,
        h: h as u32,
        w: wd as u32,
        k: k as u32,
        _pad: [0; 2],
    };
    let pixels = n * h * wd;
    let flops = 2.0 * (co * ci * kk * pixels) as f64;
    let bytes = 4.0 * (x.numel() + gy.numel() + gw.numel()) as f64;
    if pixels == 0 {
        gpu.clear(&gw);
        return Ok(gw);
    }
    match kernel {
        WgradKernel::Rows if k == 3 && wd % 4 == 0 && kernel.available(gpu) => gpu.dispatch(
            &CONV2D_WEIGHT_GRAD_ROWS,
            "wgrad3",
            &params,
            &[Arg::of(x), Arg::of(gy), Arg::of(&gw)],
            [co.div_ceil(8) as u32, ci.div_ceil(2) as u32, 1],
            Cost::new(flops, bytes),
        )?,
        WgradKernel::Gemm | WgradKernel::Gemm8 | WgradKernel::Gemm8Tile { .. } => {
            // (shader, entry, channels x columns per workgroup, override constants)
            let (shader, entry, rows, cols, constants) = match kernel {
                WgradKernel::Gemm => (&CONV2D_WEIGHT_GRAD_GEMM, "wgrad_gemm", GEMM_CHANNELS, GEMM_PIXELS, vec![]),
                WgradKernel::Gemm8Tile { bm, bn } => {
                    let constants = gemm8_constants(bm, bn)?.to_vec();
                    (&CONV2D_WEIGHT_GRAD_GEMM8, "wgrad_gemm8", bm as usize, bn as usize, constants)
                }
                _ => (&CONV2D_WEIGHT_GRAD_GEMM8, "wgrad_gemm8", 2 * GEMM_CHANNELS, GEMM_PIXELS, vec![]),
            };
            // Split the pixels so that the tiles fill the GPU, each slice's sums in one binding.
            let len = co * ci * kk;
            let tiles = (ci * kk).div_ceil(cols) * co.div_ceil(rows);
            let most = (gpu.max_binding().min(gpu.page_bytes()) / (4 * len as u64)).max(1) as usize;
            let slices = (WGRAD_GROUPS / tiles).clamp(1, pixels.div_ceil(WGRAD_MIN_CHUNK)).min(most);
            let chunk = pixels.div_ceil(slices).next_multiple_of(8);
            let slices = pixels.div_ceil(chunk);
            let params = WgemmParams {
                n: n as u32,
                cin: ci as u32,
                cout: co as u32,
                h: h as u32,
                w: wd as u32,
                k: k as u32,
                chunk: chunk as u32,
                slices: slices as u32,
            };
            let part = if slices == 1 { gw.clone() } else { Tensor::empty(gpu, &[slices, len]) };
            let groups = [(ci * kk).div_ceil(cols) as u32, co.div_ceil(rows) as u32, slices as u32];
            let cost = Cost::new(flops, bytes + 4.0 * ((slices - 1) * len) as f64);
            let args = [Arg::of(x), Arg::of(gy), Arg::of(&part)];
            gpu.dispatch_with(shader, entry, &constants, &params, &args, groups, cost)?;
            if slices > 1 {
                let args = [Arg::Unused, Arg::Unused, Arg::of(&part), Arg::of(&gw)];
                let cost = Cost::new(((slices - 1) * len) as f64, 4.0 * ((slices + 1) * len) as f64);
                gpu.dispatch(&CONV2D_WEIGHT_GRAD_GEMM, "wgrad_finish", &params, &args, gpu.groups_1d(len), cost)?;
            }
        }
        _ => gpu.dispatch(
            &CONV2D_WEIGHT_GRAD,
            "conv2d_weight_grad",
            &params,
            &[Arg::of(x), Arg::of(gy), Arg::of(&gw)],
            [(kk * ci.div_ceil(BLOCK)) as u32, co.div_ceil(FWD_CHANNELS) as u32, 1],
            Cost::new(flops, bytes),
        )?,
    }
    Ok(gw)
}

/// dL/db [Co] = gy summed over batch and pixels.
pub fn conv2d_backward_bias(gpu: &Gpu, gy: &Tensor) -> Result<Tensor> {
    let n = nchw("output gradient gy", gy)?[0];
    // As the weight gradient: per batch chunk, then summed (equal to rounding).
    let mut total: Option<Tensor> = None;
    for r in gpu.split_items("conv2d bias gradient", n, &[gy])? {
        let part = bias_grad_dispatch(gpu, &gy.items(r))?;
        total = Some(match total {
            None => part,
            Some(acc) => crate::ops::elementwise::add(gpu, &acc, &part)?,
        });
    }
    Ok(total.expect("at least one chunk"))
}

/// Values per channel up to which a CPU adapter sums a bias gradient in one thread per channel
/// (conv2d_bias_grad_vec4.wgsl): a few thousand vec4 loads cost less than the general kernel's
/// barriers.
const SERIAL_BIAS_GRAD: usize = 16384;

fn bias_grad_dispatch(gpu: &Gpu, gy: &Tensor) -> Result<Tensor> {
    let [n, co, h, w] = gy.nchw();
    let gb = Tensor::empty(gpu, &[co]);
    let params = BgradParams { n: n as u32, cout: co as u32, hw: (h * w) as u32, _pad: 0 };
    if gpu.is_cpu() && (h * w).is_multiple_of(4) && n * h * w <= SERIAL_BIAS_GRAD {
        let cost = Cost::elementwise(gy.numel(), 1.0, 1.0);
        let groups = [co.div_ceil(64) as u32, 1, 1];
        gpu.dispatch(&CONV2D_BIAS_GRAD_VEC4, "bias_grad4", &params, &[Arg::of(gy), Arg::of(&gb)], groups, cost)?;
        return Ok(gb);
    }
    gpu.dispatch(
        &CONV2D_BIAS_GRAD,
        "conv2d_bias_grad",
        &params,
        &[Arg::of(gy), Arg::of(&gb)],
        [co as u32, 1, 1],
        Cost::elementwise(gy.numel(), 1.0, 1.0),
    )?;
    Ok(gb)
}

/// conv2d on the tape. Gradients are computed only for the inputs that need them (the first
/// layer's image, frozen weights).
pub fn t_conv2d(t: &mut Tape, x: Var, w: Var, b: Option<Var>) -> Result<Var> {
    let wv = t.value(&w).clone();
    let y = conv2d(t.gpu, t.value(&x), &wv, b.as_ref().map(|b| t.value(b)))?;
    let k = wv.dim(2);
    let (need_x, need_w) = (t.requires_grad(&x), t.requires_grad(&w));
    // only the weight gradient reads the input (kept, or recomputed: see Tape::save)
    let xs = need_w.then(|| t.save(&x));
    let need_b = b.as_ref().is_some_and(|b| t.requires_grad(b));
    let mut inputs = vec![&x, &w];
    inputs.extend(&b);
    let has_b = b.is_some();
    Ok(t.record_var(
        "conv2d",
        &inputs,
        y,
        Box::new(move |gpu, g| {
            let gx = if need_x { Some(conv2d_backward_input(gpu, g, &wv)?) } else { None };
            let gw = match &xs {
                Some(xs) => Some(conv2d_backward_weight(gpu, &xs.get(gpu)?, g, k)?),
                None => None,
            };
            let mut grads = vec![gx, gw];
            if has_b {
                grads.push(if need_b { Some(conv2d_backward_bias(gpu, g)?) } else { None });
            }
            Ok(grads)
        }),
    ))
}
