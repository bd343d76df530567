//! 2-D convolution: GPU forward and all three backward kernels against the f64 reference on odd
//! shapes, the reference backward against finite differences, PyTorch goldens, and the tape op.

use crate::common;
use common::{check, gpu, up, Golden};
use tdfas::ops::conv::{
    conv2d, conv2d_backward_bias, conv2d_backward_input, conv2d_backward_input_with, conv2d_backward_weight,
    conv2d_backward_weight_with, conv2d_relu_with, conv2d_with, t_conv2d, ConvKernel, WgradKernel,
};
use tdfas::reference::conv as r;
use tdfas::reference::{dot, gradcheck, random};
use tdfas::{Gpu, Tape, Tensor};

/// One test case: batch, in channels, out channels, height, width, kernel size.
#[derive(Clone, Copy, Debug)]
struct Case {
    n: usize,
    ci: usize,
    co: usize,
    h: usize,
    w: usize,
    k: usize,
}

/// A case's random input, weights, bias and output gradient, in f64 and uploaded.
struct Inputs {
    c: Case,
    shape: [usize; 4],
    x: Vec<f64>,
    w: Vec<f64>,
    b: Vec<f64>,
    gy: Vec<f64>,
    tx: Tensor,
    tw: Tensor,
    tb: Tensor,
    tgy: Tensor,
}

impl Inputs {
    /// Drawn from `seed` to `seed + 3`; the weights scaled by `w_scale`.
    fn new(g: &Gpu, c: Case, seed: u64, w_scale: f64) -> Inputs {
        let shape = [c.n, c.ci, c.h, c.w];
        let x = random(c.n * c.ci * c.h * c.w, seed);
        let w: Vec<f64> = random(c.co * c.ci * c.k * c.k, seed + 1).iter().map(|v| v * w_scale).collect();
        let b = random(c.co, seed + 2);
        let gy = random(c.n * c.co * c.h * c.w, seed + 3);
        let (tx, tw, tb) = (up(g, &x, &shape), up(g, &w, &[c.co, c.ci, c.k, c.k]), up(g, &b, &[c.co]));
        let tgy = up(g, &gy, &[c.n, c.co, c.h, c.w]);
        Inputs { c, shape, x, w, b, gy, tx, tw, tb, tgy }
    }

    /// The reference conv with bias, then ReLU.
    fn relu_y(&self) -> Vec<f64> {
        let c = self.c;
        r::conv2d(&self.x, self.shape, &self.w, c.co, c.k, Some(&self.b)).iter().map(|v| v.max(0.0)).collect()
    }

    /// The reference input gradient.
    fn gx(&self) -> Vec<f64> {
        r::conv2d_backward(&self.x, self.shape, &self.w, self.c.co, self.c.k, &self.gy).0
    }
}

/// Within the float16 kernels' tolerance of the reference, relative to its largest value.
fn assert_within_half_tolerance(g: &Gpu, what: &str, got: &Tensor, want: &[f64]) {
    let err = tdfas::reference::max_rel_error(&got.download(g).unwrap(), want);
    assert!(err <= tdfas::ops::conv::HALF_TOLERANCE as f64, "{what}: {err:e} of the largest value");
}

/// Runs forward and every backward on the GPU and compares each with the reference.
fn check_case(g: &Gpu, c: Case, seed: u64) {
    let inputs = Inputs::new(g, c, seed, 0.5);
    let relu_ref = inputs.relu_y();
    let Inputs { shape, x, w, b, gy, tx, tw, tb, tgy, .. } = inputs;
    let kk = c.k * c.k;
    let what = |s: &str| format!("{s} {c:?}");

    check(
        g,
        &what("y"),
        &conv2d(g, &tx, &tw, Some(&tb)).unwrap(),
        &r::conv2d(&x, shape, &w, c.co, c.k, Some(&b)),
        c.ci * kk,
    );
    check(
        g,
        &what("y (no bias)"),
        &conv2d(g, &tx, &tw, None).unwrap(),
        &r::conv2d(&x, shape, &w, c.co, c.k, None),
        c.ci * kk,
    );
    let (gx, gw, gb) = r::conv2d_backward(&x, shape, &w, c.co, c.k, &gy);
    check(g, &what("gx"), &conv2d_backward_input(g, &tgy, &tw).unwrap(), &gx, c.co * kk);
    // each kernel explicitly, whatever the autotune picked and whatever the channel counts
    for kernel in ConvKernel::ALL {
        let y = conv2d_with(g, kernel, &tx, &tw, Some(&tb)).unwrap();
        check(g, &what(&format!("y {kernel:?}")), &y, &r::conv2d(&x, shape, &w, c.co, c.k, Some(&b)), c.ci * kk);
        let gx_k = conv2d_backward_input_with(g, kernel, &tgy, &tw).unwrap();
        check(g, &what(&format!("gx {kernel:?}")), &gx_k, &gx, c.co * kk);
    }
    // conv + ReLU for inference (the GEMM kernel's epilogue, a separate ReLU with the others)
    for kernel in ConvKernel::ALL {
        let y = conv2d_relu_with(g, kernel, &tx, &tw, Some(&tb)).unwrap();
        check(g, &what(&format!("relu(y) {kernel:?}")), &y, &relu_ref, c.ci * kk);
    }
    for kernel in WgradKernel::ALL {
        let gw_k = conv2d_backward_weight_with(g, kernel, &tx, &tgy, c.k).unwrap();
        check(g, &what(&format!("gw {kernel:?}")), &gw_k, &gw, c.n * c.h * c.w);
    }
    check(g, &what("gw"), &conv2d_backward_weight(g, &tx, &tgy, c.k).unwrap(), &gw, c.n * c.h * c.w);
    check(g, &what("gb"), &conv2d_backward_bias(g, &tgy).unwrap(), &gb, c.n * c.h * c.w);
}

#[test]
fn conv_matches_reference_on_odd_shapes() {
    let g = gpu();
    let cases = [
        Case { n: 2, ci: 3, co: 5, h: 7, w: 5, k: 3 },
        Case { n: 2, ci: 3, co: 5, h: 7, w: 5, k: 1 },
        // Ci = 1, Co = 1: every register block mostly clamped
        Case { n: 1, ci: 1, co: 1, h: 4, w: 3, k: 3 },
        // large Ci, Co not a multiple of 4, pixel count (3*9*11 = 297) not a multiple of 256
        Case { n: 3, ci: 37, co: 6, h: 9, w: 11, k: 3 },
        // wide image (W > 64 threads) and k = 5
        Case { n: 1, ci: 2, co: 3, h: 3, w: 70, k: 5 },
        // 1x1 image with a 3x3 kernel: only the centre tap sees data
        Case { n: 2, ci: 5, co: 7, h: 1, w: 1, k: 3 },
        // many pixels: several forward workgroups and threads looping in the weight gradient
        Case { n: 2, ci: 4, co: 9, h: 17, w: 19, k: 3 },
        // tiled kernel edges: Co = 70 (two channel tiles, the second partial), K = 63 (not a
        // multiple of its 16-step), 180 pixels (a partial pixel tile)
        Case { n: 2, ci: 7, co: 70, h: 9, w: 10, k: 3 },
        // GEMM kernels: Co = 131 (three 64-channel tiles), 300 pixels (three 128-pixel tiles, the
        // last partial), weight-gradient columns 15 * 9 = 135 (two 128-column tiles) and its
        // pixels in two slices (the last partial)
        Case { n: 3, ci: 15, co: 131, h: 10, w: 10, k: 3 },
        // row kernel (W a multiple of 4): halo columns at both edges and between segments, Co not
        // a multiple of its 4-channel block, one-row and one-segment images, 170 segments (more
        // than one 64-thread workgroup), k = 1
        Case { n: 3, ci: 13, co: 6, h: 5, w: 12, k: 3 },
        Case { n: 2, ci: 2, co: 3, h: 1, w: 4, k: 3 },
        Case { n: 2, ci: 4, co: 9, h: 17, w: 20, k: 3 },
        Case { n: 2, ci: 5, co: 7, h: 3, w: 8, k: 1 },
        // the row kernel's vec4 weights: forward with cin = 12 (three 4-channel steps), input
        // gradient with its cout = 12 and cin = 8
        Case { n: 2, ci: 12, co: 8, h: 6, w: 16, k: 3 },
        // a bias gradient over 16384 values per channel: the general kernel even when H * W is a
        // multiple of 4 (the smaller ones above take the one-thread-per-channel kernel on a CPU)
        Case { n: 1, ci: 1, co: 2, h: 130, w: 128, k: 1 },
    ];
    for (i, c) in cases.into_iter().enumerate() {
        check_case(&g, c, 100 + 10 * i as u64);
    }
}

#[test]
fn reference_backward_matches_finite_differences() {
    for (k, co) in [(3, 2), (1, 3), (5, 2)] {
        let shape = [2, 3, 4, 5];
        let x = random(2 * 3 * 4 * 5, 1);
        let w = random(co * 3 * k * k, 2);
        let b = random(co, 3);
        let gy = random(2 * co * 4 * 5, 4);
        let (gx, gw, gb) = r::conv2d_backward(&x, shape, &w, co, k, &gy);
        let f = |x: &[f64], w: &[f64], b: &[f64]| dot(&r::conv2d(x, shape, w, co, k, Some(b)), &gy);
        gradcheck(&format!("conv k={k} dx"), &mut |v| f(v, &w, &b), &x, &gx).unwrap();
        gradcheck(&format!("conv k={k} dw"), &mut |v| f(&x, v, &b), &w, &gw).unwrap();
        gradcheck(&format!("conv k={k} db"), &mut |v| f(&x, &w, v), &b, &gb).unwrap();
    }
}

fn check_golden(file: &str, has_bias: bool) {
    let f = Golden::load(file);
    let g = gpu();
    let (tx, tw, tgy) = (f.upload(&g, "x"), f.upload(&g, "weight"), f.upload(&g, "gy"));
    let (xs, ws) = (f.shape("x"), f.shape("weight"));
    let k = ws[2];
    let tb = has_bias.then(|| f.upload(&g, "bias"));
    for kernel in ConvKernel::ALL {
        let what = |s: &str| format!("{file} {s} {kernel:?}");
        f.check(&g, &what("y"), &conv2d_with(&g, kernel, &tx, &tw, tb.as_ref()).unwrap(), "y", ws[1] * k * k);
        let gx = conv2d_backward_input_with(&g, kernel, &tgy, &tw).unwrap();
        f.check(&g, &what("gx"), &gx, "gx", ws[0] * k * k);
    }
    let what = |s: &str| format!("{file} {s}");
    let pixels = xs[0] * xs[2] * xs[3];
    f.check(&g, &what("gweight"), &conv2d_backward_weight(&g, &tx, &tgy, k).unwrap(), "gweight", pixels);
    for kernel in WgradKernel::ALL {
        let gw = conv2d_backward_weight_with(&g, kernel, &tx, &tgy, k).unwrap();
        f.check(&g, &what(&format!("gweight {kernel:?}")), &gw, "gweight", pixels);
    }
    if has_bias {
        f.check(&g, &what("gbias"), &conv2d_backward_bias(&g, &tgy).unwrap(), "gbias", pixels);
    }
}

#[test]
fn conv3x3_matches_pytorch_golden() {
    check_golden("op_conv2d_3x3", true);
}

#[test]
fn conv1x1_matches_pytorch_golden() {
    check_golden("op_conv2d_1x1", false);
}

#[test]
fn tape_conv_gradients_match_reference() {
    let g = gpu();
    let (shape, co, k) = ([2, 3, 6, 5], 4, 3);
    let x = random(2 * 3 * 6 * 5, 11);
    let w = random(co * 3 * k * k, 12);
    let b = random(co, 13);
    let gy = random(2 * co * 6 * 5, 14);
    let mut t = Tape::new(&g);
    let vx = t.leaf(up(&g, &x, &shape), true);
    let vw = t.leaf(up(&g, &w, &[co, 3, k, k]), true);
    let vb = t.leaf(up(&g, &b, &[co]), true);
    let y = t_conv2d(&mut t, vx.clone(), vw.clone(), Some(vb.clone())).unwrap();
    check(&g, "tape y", t.value(&y), &r::conv2d(&x, shape, &w, co, k, Some(&b)), 3 * k * k);
    let grads = t.backward_with(&y, Some(up(&g, &gy, &[2, co, 6, 5]))).unwrap();
    let (gx, gw, gb) = r::conv2d_backward(&x, shape, &w, co, k, &gy);
    check(&g, "tape gx", grads.get(&vx).unwrap(), &gx, co * k * k);
    check(&g, "tape gw", grads.get(&vw).unwrap(), &gw, 60);
    check(&g, "tape gb", grads.get(&vb).unwrap(), &gb, 60);
}

#[test]
fn tape_conv_skips_gradients_not_needed() {
    let g = gpu();
    let mut t = Tape::new(&g);
    let vx = t.leaf(up(&g, &random(2 * 3 * 4 * 4, 1), &[2, 3, 4, 4]), false);
    let vw = t.leaf(up(&g, &random(2 * 3 * 9, 2), &[2, 3, 3, 3]), true);
    let y = t_conv2d(&mut t, vx.clone(), vw.clone(), None).unwrap();
    let grads = t.backward(&y).unwrap();
    assert!(grads.get(&vx).is_none(), "the input needs no gradient");
    let gw = grads.get(&vw).unwrap().download(&g).unwrap();
    assert_eq!(gw.len(), 2 * 3 * 9);
    assert!(gw.iter().any(|v| *v != 0.0));
}

#[test]
fn conv_rejects_bad_shapes_with_clear_errors() {
    let g = gpu();
    let x = up(&g, &random(2 * 3 * 4 * 4, 1), &[2, 3, 4, 4]);
    let err = |r: anyhow::Result<tdfas::Tensor>| format!("{:#}", r.unwrap_err());
    let w_ci = up(&g, &random(5 * 4 * 9, 2), &[5, 4, 3, 3]);
    assert!(err(conv2d(&g, &x, &w_ci, None)).contains("4 input channels"));
    let w_even = up(&g, &random(5 * 3 * 4, 2), &[5, 3, 2, 2]);
    assert!(err(conv2d(&g, &x, &w_even, None)).contains("odd"));
    let w = up(&g, &random(5 * 3 * 9, 2), &[5, 3, 3, 3]);
    let b = up(&g, &random(4, 3), &[4]);
    assert!(err(conv2d(&g, &x, &w, Some(&b))).contains("bias must be [5]"));
    assert!(err(conv2d(&g, &x.reshape(&[2, 3, 16]), &w, None)).contains("4-D"));
    let gy = up(&g, &random(2 * 4 * 16, 4), &[2, 4, 4, 4]);
    assert!(err(conv2d_backward_input(&g, &gy, &w)).contains("4 channels"));
    let gy_small = up(&g, &random(2 * 5 * 9, 4), &[2, 5, 3, 3]);
    assert!(err(conv2d_backward_weight(&g, &x, &gy_small, 3)).contains("must match x"));
}

/// The float16-tile inference kernel (adapters with SHADER_F16): forward with bias and ReLU, and
/// the input-gradient form, within its stated tolerance of the f64 reference (1e-2 of the largest
/// output) at odd shapes: partial tiles in channels and pixels, K not a multiple of its stage,
/// 1x1 images, batch 1, k = 1.
#[test]
fn float16_tile_kernel_matches_reference_within_its_tolerance() {
    let g = gpu();
    if !ConvKernel::Gemm8F16.available(&g) {
        println!("no SHADER_F16 on {}: skipped", g.device.info().name);
        return;
    }
    let cases = [
        Case { n: 3, ci: 15, co: 131, h: 10, w: 10, k: 3 },
        Case { n: 2, ci: 7, co: 70, h: 9, w: 10, k: 3 },
        Case { n: 2, ci: 5, co: 7, h: 1, w: 1, k: 3 },
        Case { n: 1, ci: 37, co: 20, h: 6, w: 5, k: 1 },
    ];
    let kernel = ConvKernel::Gemm8F16;
    for (i, c) in cases.into_iter().enumerate() {
        let a = Inputs::new(&g, c, 900 + 10 * i as u64, 1.0);
        let y = conv2d_relu_with(&g, kernel, &a.tx, &a.tw, Some(&a.tb)).unwrap();
        assert_within_half_tolerance(&g, &format!("relu(y) {c:?}"), &y, &a.relu_y());
        let gx = conv2d_backward_input_with(&g, kernel, &a.tgy, &a.tw).unwrap();
        assert_within_half_tolerance(&g, &format!("gx {c:?}"), &gx, &a.gx());
    }
}

/// The cooperative-matrix inference kernel (tensor cores), every tile variant, forward with
/// bias and ReLU and the input-gradient form, within the float16 tolerance of the f64
/// reference at odd shapes: partial tiles in channels and pixels, K not a multiple of 16, 1x1
/// images, batch 1, k = 1. Where the adapter lacks wgpu's cooperative matrices (lavapipe) each
/// variant is refused with the reason, never run.
#[test]
fn cooperative_matrix_kernel_matches_reference_within_its_tolerance() {
    let g = gpu();
    let cases = [
        Case { n: 3, ci: 15, co: 131, h: 10, w: 10, k: 3 },
        Case { n: 2, ci: 5, co: 7, h: 1, w: 1, k: 3 },
        Case { n: 1, ci: 37, co: 20, h: 6, w: 5, k: 1 },
    ];
    for kernel in tdfas::ops::conv::COOP_TILES {
        for (i, c) in cases.into_iter().enumerate() {
            let a = Inputs::new(&g, c, 950 + 10 * i as u64, 1.0);
            let y = conv2d_relu_with(&g, kernel, &a.tx, &a.tw, Some(&a.tb));
            if !kernel.available(&g) {
                let err = y.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(err.contains("COOPERATIVE_MATRIX"), "{}: {err}", kernel.name());
                continue;
            }
            let what = |s: &str| format!("{} {s} {c:?}", kernel.name());
            assert_within_half_tolerance(&g, &what("relu(y)"), &y.unwrap(), &a.relu_y());
            let gx = conv2d_backward_input_with(&g, kernel, &a.tgy, &a.tw).unwrap();
            assert_within_half_tolerance(&g, &what("gx"), &gx, &a.gx());
        }
    }
}

/// The gemm8 tile variants (override constants, `GEMM8_TILES`): forward with bias, the ReLU
/// epilogue, the input gradient and the weight gradient against the f64 reference at shapes that
/// are multiples of no tile: partial 64- and 128-channel tiles (Co = 67, 130), partial pixel and
/// column tiles, batch 1, 1x1 images, k = 1, and more than 256 pixels (the weight gradient in two
/// slices). Every tile sums each output in the same order, so the forward and input gradient are
/// bit-identical to the default tile's (`Gemm8`), and so is the weight gradient where the slices
/// are the same; the default tile given as constants is the default kernel bit for bit.
#[test]
fn gemm8_tile_variants_match_reference_on_odd_shapes() {
    use tdfas::ops::conv::GEMM8_TILES;
    let g = gpu();
    let cases = [
        // batch 1, 9 x 7 = 63 pixels, Co = 67 (a partial second 64-channel tile), columns 5 * 9 = 45
        Case { n: 1, ci: 5, co: 67, h: 9, w: 7, k: 3 },
        // 1x1 images with a 3x3 kernel (the centre tap only), Co = 130 (a third 64-channel tile)
        Case { n: 3, ci: 7, co: 130, h: 1, w: 1, k: 3 },
        // k = 1, 2 x 11 x 13 = 286 pixels (several pixel tiles, the last partial; two weight-gradient
        // slices), 70 columns (a partial second 64-column tile)
        Case { n: 2, ci: 70, co: 65, h: 11, w: 13, k: 1 },
    ];
    let bits = |t: &tdfas::Tensor| t.download(&g).unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    let tiles = GEMM8_TILES.into_iter().chain([(128, 128)]);
    for (i, c) in cases.into_iter().enumerate() {
        let Inputs { shape, x, w, b, gy, tx, tw, tb, tgy, .. } = Inputs::new(&g, c, 700 + 10 * i as u64, 0.5);
        let kk = c.k * c.k;
        let y = r::conv2d(&x, shape, &w, c.co, c.k, Some(&b));
        let relu: Vec<f64> = y.iter().map(|v| v.max(0.0)).collect();
        let (gx, gw, _) = r::conv2d_backward(&x, shape, &w, c.co, c.k, &gy);
        let default_y = bits(&conv2d_with(&g, ConvKernel::Gemm8, &tx, &tw, Some(&tb)).unwrap());
        let default_gx = bits(&conv2d_backward_input_with(&g, ConvKernel::Gemm8, &tgy, &tw).unwrap());
        let default_gw = bits(&conv2d_backward_weight_with(&g, WgradKernel::Gemm8, &tx, &tgy, c.k).unwrap());
        for (bm, bn) in tiles.clone() {
            let kernel = ConvKernel::Gemm8Tile { bm, bn };
            let what = |s: &str| format!("{s} {} {c:?}", kernel.name());
            let ty = conv2d_with(&g, kernel, &tx, &tw, Some(&tb)).unwrap();
            check(&g, &what("y"), &ty, &y, c.ci * kk);
            assert_eq!(bits(&ty), default_y, "{}", what("y bit-identical to gemm8"));
            check(&g, &what("relu(y)"), &conv2d_relu_with(&g, kernel, &tx, &tw, Some(&tb)).unwrap(), &relu, c.ci * kk);
            let tgx = conv2d_backward_input_with(&g, kernel, &tgy, &tw).unwrap();
            check(&g, &what("gx"), &tgx, &gx, c.co * kk);
            assert_eq!(bits(&tgx), default_gx, "{}", what("gx bit-identical to gemm8"));
            let wkernel = WgradKernel::Gemm8Tile { bm, bn };
            let tgw = conv2d_backward_weight_with(&g, wkernel, &tx, &tgy, c.k).unwrap();
            check(&g, &what("gw"), &tgw, &gw, c.n * c.h * c.w);
            // one slice below 256 pixels whatever the tile: the same sums in the same order
            if c.n * c.h * c.w <= 256 || (bm, bn) == (128, 128) {
                assert_eq!(bits(&tgw), default_gw, "{}", what("gw bit-identical to gemm8"));
            }
        }
    }
    // a tile the kernels lack is refused with the reason
    let (tx, tw) = (up(&g, &random(8, 1), &[1, 2, 2, 2]), up(&g, &random(8, 2), &[4, 2, 1, 1]));
    let err = conv2d_with(&g, ConvKernel::Gemm8Tile { bm: 32, bn: 64 }, &tx, &tw, None).unwrap_err().to_string();
    assert!(err.contains("64 or 128"), "{err}");
}
