//! The non-conv CNN ops (BatchNorm, BatchNorm+ReLU, max pool, bilinear resize, concat/slice):
//! GPU vs f64 reference forward and backward on odd shapes, reference backward vs finite
//! differences, and PyTorch goldens (tests/fixtures, format in tests/fixtures/README.md).

use crate::common;
use common::{check, gpu, up, Golden};
use tdfas::ops::{batchnorm as bn, concat as cat, elementwise as ew, gather, pool, resize};
use tdfas::reference::{
    basic, batchnorm as rbn, concat as rcat, dot, gather as rgather, gradcheck, pool as rpool, random, resize as rres,
};
use tdfas::{Gpu, Tape, Tensor};

const EPS: f32 = 1e-5;
const MOMENTUM: f32 = 0.1;

fn scaled(n: usize, seed: u64, s: f64, offset: f64) -> Vec<f64> {
    random(n, seed).iter().map(|v| v * s + offset).collect()
}

// ---- BatchNorm ------------------------------------------------------------------------------

struct BnCase {
    shape: [usize; 4],
    x: Vec<f64>,
    gamma: Vec<f64>,
    beta: Vec<f64>,
    rm: Vec<f64>,
    rv: Vec<f64>,
    gy: Vec<f64>,
}

fn bn_case(shape: [usize; 4], seed: u64) -> BnCase {
    let n: usize = shape.iter().product();
    let c = shape[1];
    BnCase {
        shape,
        // an offset and a spread that differ from 0 / 1, so normalising does something
        x: scaled(n, seed, 2.0, 1.5),
        gamma: scaled(c, seed + 1, 0.5, 1.0),
        beta: scaled(c, seed + 2, 0.3, 0.1),
        rm: scaled(c, seed + 3, 0.2, 0.0),
        rv: scaled(c, seed + 4, 0.4, 1.0),
        gy: random(n, seed + 5),
    }
}

/// Runs BatchNorm (optionally fused with ReLU) through the tape and checks y, the running
/// statistics, gx, dgamma and dbeta against the reference.
fn check_batchnorm(g: &Gpu, case: &BnCase, training: bool, relu: bool) {
    let s = case.shape;
    let what =
        format!("batchnorm{} {} {s:?}", if relu { "+relu" } else { "" }, if training { "train" } else { "eval" });
    let c = s[1];
    let m = s[0] * s[2] * s[3];
    let (rm, rv) = (up(g, &case.rm, &[c]), up(g, &case.rv, &[c]));
    let mut tape = Tape::new(g);
    let x = tape.leaf(up(g, &case.x, &s), true);
    let gamma = tape.leaf(up(g, &case.gamma, &[c]), true);
    let beta = tape.leaf(up(g, &case.beta, &[c]), true);
    let f = if relu { bn::t_batchnorm_relu } else { bn::t_batchnorm };
    let y = f(&mut tape, x.clone(), gamma.clone(), beta.clone(), &rm, &rv, training, EPS, MOMENTUM).unwrap();

    let mut want = rbn::batchnorm(&case.x, s, &case.gamma, &case.beta, &case.rm, &case.rv, training, EPS as f64);
    let gy_eff: Vec<f64> = if relu {
        let gy = basic::relu_backward(&want, &case.gy);
        want = basic::relu(&want);
        gy
    } else {
        case.gy.clone()
    };
    check(g, &format!("{what} y"), tape.value(&y), &want, m);
    let (want_rm, want_rv) = if training {
        rbn::running_update(&case.x, s, &case.rm, &case.rv, MOMENTUM as f64)
    } else {
        (case.rm.clone(), case.rv.clone())
    };
    check(g, &format!("{what} running_mean"), &rm, &want_rm, m);
    check(g, &format!("{what} running_var"), &rv, &want_rv, m);

    let grads = tape.backward_with(&y, Some(up(g, &case.gy, &s))).unwrap();
    let (gx, dgamma, dbeta) =
        rbn::batchnorm_backward(&case.x, s, &case.gamma, &case.rm, &case.rv, training, EPS as f64, &gy_eff);
    check(g, &format!("{what} gx"), grads.get(&x).unwrap(), &gx, m);
    check(g, &format!("{what} dgamma"), grads.get(&gamma).unwrap(), &dgamma, m);
    check(g, &format!("{what} dbeta"), grads.get(&beta).unwrap(), &dbeta, m);
}

#[test]
fn batchnorm_matches_reference_on_odd_shapes() {
    let g = gpu();
    // one workgroup per channel (the default at these sizes), then split reductions: chunks that
    // divide N*H*W = 105 exactly (7), leave a short last chunk (100: 100 + 5; 2: 1 value last)
    for chunk in [tdfas::ops::batchnorm::settings(&g).chunk.get(), 7, 100, 2] {
        tdfas::ops::batchnorm::settings(&g).chunk.set(chunk);
        for (shape, seed) in [([3, 5, 7, 5], 10), ([1, 2, 3, 1], 20)] {
            let case = bn_case(shape, seed);
            for training in [true, false] {
                for relu in [false, true] {
                    check_batchnorm(&g, &case, training, relu);
                }
            }
        }
    }
}

/// HW a multiple of 4: the vec4 kernels on a CPU adapter (4 vec4s per thread when HW / 4 is a
/// multiple of 4, else 1), and the general kernels on the same shapes. Training runs train4 /
/// train_backward4 (one workgroup per channel) up to bn::FUSE_MAX_PER_CHANNEL values a channel,
/// stats4 + apply4 / reduce4 + backward4 above (the last shape).
#[test]
fn batchnorm_vec4_kernels_match_reference() {
    let g = gpu();
    const { assert!(2 * 160 * 208 > bn::FUSE_MAX_PER_CHANNEL) };
    for vec4 in [true, false] {
        tdfas::ops::batchnorm::settings(&g).vec4.set(vec4);
        let shapes =
            [([3, 5, 4, 4], 70), ([2, 3, 3, 4], 71), ([2, 2, 16, 20], 72), ([1, 3, 1, 4], 73), ([2, 2, 160, 208], 74)];
        for (shape, seed) in shapes {
            let case = bn_case(shape, seed);
            for training in [true, false] {
                for relu in [false, true] {
                    check_batchnorm(&g, &case, training, relu);
                }
            }
        }
    }
    tdfas::ops::batchnorm::settings(&g).vec4.set(true);
}

#[test]
fn batchnorm_reduces_long_channels() {
    // N*H*W = 2 * 67 * 65 = 8710 per channel: many strides of the 256-thread loop, and a large
    // mean relative to the spread (where a one-pass E[x^2] - E[x]^2 would lose digits).
    let g = gpu();
    let mut case = bn_case([2, 3, 67, 65], 30);
    case.x = scaled(case.x.len(), 31, 0.5, 20.0);
    check_batchnorm(&g, &case, true, false);
    // split into 9 chunks (the last of 710): the merge of (count, mean, M2) keeps the digits too
    tdfas::ops::batchnorm::settings(&g).chunk.set(1000);
    check_batchnorm(&g, &case, true, true);
}

#[test]
fn batchnorm_updates_running_stats_each_forward() {
    let g = gpu();
    let case = bn_case([2, 3, 4, 3], 40);
    let (rm, rv) = (up(&g, &case.rm, &[3]), up(&g, &case.rv, &[3]));
    let (gamma, beta) = (up(&g, &case.gamma, &[3]), up(&g, &case.beta, &[3]));
    let x = up(&g, &case.x, &case.shape);
    let (mut want_rm, mut want_rv) = (case.rm.clone(), case.rv.clone());
    for _ in 0..3 {
        bn::batchnorm_train(&g, &x, &gamma, &beta, &rm, &rv, EPS, MOMENTUM).unwrap();
        (want_rm, want_rv) = rbn::running_update(&case.x, case.shape, &want_rm, &want_rv, MOMENTUM as f64);
    }
    // eval leaves them alone
    bn::batchnorm_eval(&g, &x, &gamma, &beta, &rm, &rv, EPS).unwrap();
    check(&g, "running_mean after 3 updates", &rm, &want_rm, 24);
    check(&g, "running_var after 3 updates", &rv, &want_rv, 24);
}

#[test]
fn batchnorm_reference_backward_matches_finite_differences() {
    let case = bn_case([2, 3, 3, 2], 50);
    let s = case.shape;
    let e = EPS as f64;
    for training in [true, false] {
        let (gx, dgamma, dbeta) =
            rbn::batchnorm_backward(&case.x, s, &case.gamma, &case.rm, &case.rv, training, e, &case.gy);
        let bn = |x: &[f64], gm: &[f64], bt: &[f64]| rbn::batchnorm(x, s, gm, bt, &case.rm, &case.rv, training, e);
        gradcheck("bn dx", &mut |x| dot(&bn(x, &case.gamma, &case.beta), &case.gy), &case.x, &gx).unwrap();
        gradcheck("bn dgamma", &mut |gm| dot(&bn(&case.x, gm, &case.beta), &case.gy), &case.gamma, &dgamma).unwrap();
        gradcheck("bn dbeta", &mut |bt| dot(&bn(&case.x, &case.gamma, bt), &case.gy), &case.beta, &dbeta).unwrap();
    }
}

#[test]
fn batchnorm_matches_pytorch_goldens() {
    let g = gpu();
    for (chunk, (file, training)) in [tdfas::ops::batchnorm::settings(&g).chunk.get(), 5]
        .into_iter()
        .flat_map(|c| [(c, ("op_batchnorm2d_train", true)), (c, ("op_batchnorm2d_eval", false))])
    {
        tdfas::ops::batchnorm::settings(&g).chunk.set(chunk);
        let f = Golden::load(file);
        let s = f.shape("x").to_vec();
        let c = s[1];
        let m = s[0] * s[2] * s[3];
        let t = |k: &str| f.upload(&g, k);
        let (rm, rv) = (t("running_mean"), t("running_var"));
        let mut tape = Tape::new(&g);
        let x = tape.leaf(t("x"), true);
        let w = tape.leaf(t("weight"), true);
        let b = tape.leaf(t("bias"), true);
        let y = bn::t_batchnorm(&mut tape, x.clone(), w.clone(), b.clone(), &rm, &rv, training, EPS, MOMENTUM).unwrap();
        f.check(&g, &format!("{file} y"), tape.value(&y), "y", m);
        if training {
            f.check(&g, &format!("{file} running_mean"), &rm, "running_mean_after", m);
            f.check(&g, &format!("{file} running_var"), &rv, "running_var_after", m);
        }
        let grads = tape.backward_with(&y, Some(t("gy"))).unwrap();
        f.check(&g, &format!("{file} gx"), grads.get(&x).unwrap(), "gx", m);
        f.check(&g, &format!("{file} gweight"), grads.get(&w).unwrap(), "gweight", m);
        f.check(&g, &format!("{file} gbias"), grads.get(&b).unwrap(), "gbias", m);
        assert_eq!(c, f.get("weight").len());
    }
}

#[test]
fn batchnorm_rejects_bad_shapes() {
    let g = gpu();
    let x = Tensor::zeros(&g, &[2, 3, 4, 4]);
    let (c3, c4) = (Tensor::zeros(&g, &[3]), Tensor::zeros(&g, &[4]));
    let e = bn::batchnorm_train(&g, &x, &c4, &c3, &c3, &c3, EPS, MOMENTUM).unwrap_err().to_string();
    assert!(e.contains("weight") && e.contains("[2, 3, 4, 4]"), "{e}");
    let one = Tensor::zeros(&g, &[1, 3, 1, 1]);
    let e = bn::batchnorm_train(&g, &one, &c3, &c3, &c3, &c3, EPS, MOMENTUM).unwrap_err().to_string();
    assert!(e.contains("more than 1 value"), "{e}");
    let flat = Tensor::zeros(&g, &[6, 3]);
    assert!(bn::batchnorm_eval(&g, &flat, &c3, &c3, &c3, &c3, EPS).is_err());
}

// ---- max pool -------------------------------------------------------------------------------

/// Integers 0..2, so windows hold ties.
fn ties(n: usize, seed: u64) -> Vec<f64> {
    random(n, seed).iter().map(|v| ((v + 1.0) * 1.5).floor().min(2.0)).collect()
}

fn check_maxpool(g: &Gpu, x: &[f64], s: [usize; 4], seed: u64) {
    let mut tape = Tape::new(g);
    let vx = tape.leaf(up(g, x, &s), true);
    let y = pool::t_maxpool2(&mut tape, vx.clone()).unwrap();
    let os = [s[0], s[1], s[2] / 2, s[3] / 2];
    assert_eq!(tape.value(&y).shape(), os);
    check(g, &format!("maxpool {s:?}"), tape.value(&y), &rpool::maxpool2(x, s), 1);
    let gy = random(os.iter().product(), seed);
    let grads = tape.backward_with(&y, Some(up(g, &gy, &os))).unwrap();
    check(g, &format!("maxpool {s:?} gx"), grads.get(&vx).unwrap(), &rpool::maxpool2_backward(x, s, &gy), 1);
}

#[test]
fn maxpool_matches_reference_with_ties_and_odd_sizes() {
    let g = gpu();
    // W % 4 == 0 takes the vec4 kernels on a CPU adapter (two windows a thread; an odd H too)
    let shapes = [([3, 5, 7, 5], 60), ([2, 3, 6, 8], 61), ([1, 1, 3, 2], 62), ([2, 3, 7, 8], 63), ([1, 2, 5, 4], 64)];
    for (s, seed) in shapes {
        check_maxpool(&g, &ties(s.iter().product(), seed), s, seed + 100);
        check_maxpool(&g, &random(s.iter().product(), seed), s, seed + 200);
    }
}

#[test]
fn maxpool_gradient_goes_to_first_maximum() {
    // windows: all equal; max at positions 1 and 3 (tie); max at 2 and 3 (tie)
    let g = gpu();
    let x = [1.0, 1.0, 0.0, 5.0, 4.0, 4.0, 1.0, 1.0, 2.0, 5.0, 2.0, 3.0];
    let s = [1, 1, 2, 6];
    let (y, idx) = pool::maxpool2(&g, &up(&g, &x, &s)).unwrap();
    check(&g, "maxpool ties y", &y, &[1.0, 5.0, 4.0], 1);
    let gx = pool::maxpool2_backward(&g, &s, &up(&g, &[1.0, 2.0, 3.0], &[1, 1, 1, 3]), &idx).unwrap();
    let want = [1.0, 0.0, 0.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    check(&g, "maxpool ties gx", &gx, &want, 1);
    assert_eq!(rpool::maxpool2_backward(&x, s, &[1.0, 2.0, 3.0]), want);
}

#[test]
fn maxpool_reference_backward_matches_finite_differences() {
    let s = [2, 2, 5, 3];
    let x = random(s.iter().product(), 63); // distinct values: no kinks within h
    let gy = random(2 * 2 * 2, 64);
    gradcheck("maxpool", &mut |x| dot(&rpool::maxpool2(x, s), &gy), &x, &rpool::maxpool2_backward(&x, s, &gy)).unwrap();
}

#[test]
fn maxpool_matches_pytorch_golden() {
    let g = gpu();
    let f = Golden::load("op_maxpool2x2");
    let mut tape = Tape::new(&g);
    let x = tape.leaf(f.upload(&g, "x"), true);
    let y = pool::t_maxpool2(&mut tape, x.clone()).unwrap();
    f.check(&g, "op_maxpool2x2 y", tape.value(&y), "y", 1);
    let grads = tape.backward_with(&y, Some(f.upload(&g, "gy"))).unwrap();
    f.check(&g, "op_maxpool2x2 gx", grads.get(&x).unwrap(), "gx", 1);
}

#[test]
fn maxpool_rejects_tiny_inputs() {
    let g = gpu();
    let e = pool::maxpool2(&g, &Tensor::zeros(&g, &[1, 2, 1, 4])).unwrap_err().to_string();
    assert!(e.contains("maxpool2") && e.contains("[1, 2, 1, 4]"), "{e}");
}

// ---- bilinear resize ------------------------------------------------------------------------

fn check_resize(g: &Gpu, s: [usize; 4], oh: usize, ow: usize, seed: u64) {
    let x = random(s.iter().product(), seed);
    let mut tape = Tape::new(g);
    let vx = tape.leaf(up(g, &x, &s), true);
    let y = resize::t_resize(&mut tape, vx.clone(), oh, ow).unwrap();
    let what = format!("resize {s:?} -> {oh}x{ow}");
    check(g, &what, tape.value(&y), &rres::resize_bilinear(&x, s, oh, ow), 4);
    let os = [s[0], s[1], oh, ow];
    let gy = random(os.iter().product(), seed + 1);
    let grads = tape.backward_with(&y, Some(up(g, &gy, &os))).unwrap();
    let k = (oh / s[2] + 2) * (ow / s[3] + 2) * 4;
    check(g, &format!("{what} gx"), grads.get(&vx).unwrap(), &rres::resize_bilinear_backward(s, oh, ow, &gy), k);
}

#[test]
fn resize_matches_reference_down_up_and_odd_ratios() {
    let g = gpu();
    let cases = [
        ([2, 3, 7, 5], 3, 2),
        ([2, 3, 3, 2], 7, 5),
        ([1, 2, 5, 7], 4, 3),
        ([1, 2, 4, 3], 11, 9),
        ([1, 1, 16, 12], 2, 3),
        // even integer factors (2x, 4x, and 2x by 4x): the backward's one-tap gather
        ([2, 3, 8, 12], 4, 6),
        ([1, 2, 16, 16], 4, 4),
        ([1, 2, 8, 16], 4, 4),
    ];
    for (i, (s, oh, ow)) in cases.into_iter().enumerate() {
        check_resize(&g, s, oh, ow, 70 + 10 * i as u64);
    }
    // same size is the identity (half-pixel centres land on the pixels)
    let x = random(30, 79);
    check(&g, "resize identity", &resize::resize_bilinear(&g, &up(&g, &x, &[1, 2, 5, 3]), 5, 3).unwrap(), &x, 1);
}

#[test]
fn resize_reference_backward_matches_finite_differences() {
    for (s, oh, ow) in [([1, 2, 7, 5], 3, 2), ([1, 2, 3, 2], 7, 5)] {
        let x = random(s.iter().product(), 80);
        let gy = random(2 * oh * ow, 81);
        let analytic = rres::resize_bilinear_backward(s, oh, ow, &gy);
        gradcheck("resize", &mut |x| dot(&rres::resize_bilinear(x, s, oh, ow), &gy), &x, &analytic).unwrap();
    }
}

#[test]
fn resize_matches_pytorch_goldens() {
    let g = gpu();
    for file in ["op_resize_down", "op_resize_up"] {
        let f = Golden::load(file);
        let (oh, ow) = (f.shape("y")[2], f.shape("y")[3]);
        let mut tape = Tape::new(&g);
        let x = tape.leaf(f.upload(&g, "x"), true);
        let y = resize::t_resize(&mut tape, x.clone(), oh, ow).unwrap();
        f.check(&g, &format!("{file} y"), tape.value(&y), "y", 4);
        let grads = tape.backward_with(&y, Some(f.upload(&g, "gy"))).unwrap();
        f.check(&g, &format!("{file} gx"), grads.get(&x).unwrap(), "gx", 16);
    }
}

// ---- concat / slice -------------------------------------------------------------------------

#[test]
fn concat_and_slice_round_trip_with_gradients() {
    let g = gpu();
    for dim in [0usize, 1] {
        let shapes: Vec<Vec<usize>> =
            [2, 1, 4].iter().map(|&k| if dim == 1 { vec![3, k, 4, 5] } else { vec![k, 3, 4, 5] }).collect();
        let data: Vec<Vec<f64>> =
            shapes.iter().enumerate().map(|(i, s)| random(s.iter().product(), 90 + i as u64)).collect();
        let mut tape = Tape::new(&g);
        let vars: Vec<_> = data.iter().zip(&shapes).map(|(d, s)| tape.leaf(up(&g, d, s), true)).collect();
        let y = if dim == 1 {
            cat::t_concat_channels(&mut tape, vars.clone())
        } else {
            cat::t_concat_batch(&mut tape, vars.clone())
        }
        .unwrap();
        let parts: Vec<(&[f64], &[usize])> =
            data.iter().zip(&shapes).map(|(d, s)| (d.as_slice(), s.as_slice())).collect();
        let want = rcat::concat(&parts, dim);
        check(&g, &format!("concat dim {dim}"), tape.value(&y), &want, 1);
        let ys = tape.value(&y).shape().to_vec();
        assert_eq!(ys[dim], 7);

        // slice back the middle input, then differentiate slice(concat(xs))
        let sl =
            if dim == 1 { cat::t_slice_channels(&mut tape, y, 2, 1) } else { cat::t_slice_batch(&mut tape, y, 2, 1) }
                .unwrap();
        check(&g, &format!("slice dim {dim}"), tape.value(&sl), &data[1], 1);
        assert_eq!(tape.value(&sl).shape(), shapes[1].as_slice());
        let gy = random(data[1].len(), 95);
        let grads = tape.backward_with(&sl, Some(up(&g, &gy, &shapes[1]))).unwrap();
        let g_cat = rcat::slice_backward(&gy, &ys, dim, 2, 1);
        let mut start = 0;
        for (i, s) in shapes.iter().enumerate() {
            let want = rcat::slice(&g_cat, &ys, dim, start, s[dim]);
            check(&g, &format!("concat dim {dim} grad {i}"), grads.get(&vars[i]).unwrap(), &want, 1);
            start += s[dim];
        }
    }
}

/// The OFF block's pattern: 2 clips of 3 frames, segments at frames t and t + 1 of each clip, a
/// source read by two segments, and an un-gathered source (4 pairs) that needs no gradient.
fn gather_concat_case(hw: [usize; 2]) -> (Vec<Vec<usize>>, Vec<rgather::Segment>, Vec<bool>) {
    let shapes = vec![vec![6, 2, hw[0], hw[1]], vec![6, 3, hw[0], hw[1]], vec![4, 1, hw[0], hw[1]]];
    let segs = vec![(0, 2, 3, 0, 2), (1, 2, 3, 0, 2), (1, 2, 3, 1, 2), (2, 4, 1, 0, 1), (0, 2, 3, 1, 2)];
    (shapes, segs, vec![true, true, false])
}

fn pick(s: &rgather::Segment) -> (usize, gather::Pick) {
    (s.0, gather::Pick { groups: s.1, per_group: s.2, start: s.3, len: s.4 })
}

/// gather_concat forward and backward against the reference: one dispatch each (HW % 4 == 0), the
/// general path (odd HW; and a binding cap), and a plain 7-input concat.
#[test]
fn gather_concat_matches_reference() {
    let g = gpu();
    // the last case reads source 0 three times: its backward takes the general path
    for (hw, cap, thrice) in
        [([4, 3], None, false), ([3, 3], None, false), ([4, 3], Some(64u64), false), ([4, 3], None, true)]
    {
        g.test_set_binding_cap(cap);
        let (shapes, mut segs, needs) = gather_concat_case(hw);
        if thrice {
            segs.push((0, 2, 3, 0, 2));
        }
        let c_out: usize = segs.iter().map(|s| shapes[s.0][1]).sum();
        let what = format!("gather_concat hw {hw:?} cap {cap:?} source 0 read thrice {thrice}");
        let data: Vec<Vec<f64>> =
            shapes.iter().enumerate().map(|(i, s)| random(s.iter().product(), 300 + i as u64)).collect();
        let mut tape = Tape::new(&g);
        let vars: Vec<_> =
            data.iter().zip(&shapes).zip(&needs).map(|((d, s), &n)| tape.leaf(up(&g, d, s), n)).collect();
        let picks: Vec<_> = segs.iter().map(pick).collect();
        let y = gather::t_gather_concat(&mut tape, vars.clone(), &picks).unwrap();
        let parts: Vec<(&[f64], &[usize])> =
            data.iter().zip(&shapes).map(|(d, s)| (d.as_slice(), s.as_slice())).collect();
        check(&g, &what, tape.value(&y), &rgather::gather_concat(&parts, &segs), 1);
        assert_eq!(tape.value(&y).shape(), &[4, c_out, hw[0], hw[1]]);
        let gy = random(tape.value(&y).numel(), 310);
        let grads = tape.backward_with(&y, Some(up(&g, &gy, &[4, c_out, hw[0], hw[1]]))).unwrap();
        let refs: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
        let want = rgather::gather_concat_backward(&gy, &refs, &segs);
        for k in 0..2 {
            check(&g, &format!("{what} grad {k}"), grads.get(&vars[k]).unwrap(), &want[k], 1);
        }
        assert!(grads.get(&vars[2]).is_none(), "{what}: a gradient for a source without requires_grad");
    }
    g.test_set_binding_cap(None);
    // a plain concat of 7 inputs is one dispatch too
    let shapes: Vec<Vec<usize>> = (1..=7).map(|c| vec![2, c, 2, 2]).collect();
    let data: Vec<Vec<f64>> =
        shapes.iter().enumerate().map(|(i, s)| random(s.iter().product(), 320 + i as u64)).collect();
    let xs: Vec<Tensor> = data.iter().zip(&shapes).map(|(d, s)| up(&g, d, s)).collect();
    let refs: Vec<&Tensor> = xs.iter().collect();
    let parts: Vec<(&[f64], &[usize])> = data.iter().zip(&shapes).map(|(d, s)| (d.as_slice(), s.as_slice())).collect();
    check(&g, "concat of 7", &cat::concat_channels(&g, &refs).unwrap(), &rcat::concat(&parts, 1), 1);
}

#[test]
fn gather_concat_reference_backward_matches_finite_differences() {
    let (shapes, segs, _) = gather_concat_case([2, 3]);
    let data: Vec<Vec<f64>> =
        shapes.iter().enumerate().map(|(i, s)| random(s.iter().product(), 330 + i as u64)).collect();
    let refs: Vec<&[usize]> = shapes.iter().map(|s| s.as_slice()).collect();
    let n_out = 4 * 11 * 6;
    let gy = random(n_out, 340);
    let analytic = rgather::gather_concat_backward(&gy, &refs, &segs);
    for k in 0..shapes.len() {
        let mut f = |x: &[f64]| {
            let mut d = data.clone();
            d[k] = x.to_vec();
            let parts: Vec<(&[f64], &[usize])> =
                d.iter().zip(&shapes).map(|(d, s)| (d.as_slice(), s.as_slice())).collect();
            dot(&rgather::gather_concat(&parts, &segs), &gy)
        };
        gradcheck(&format!("gather_concat source {k}"), &mut f, &data[k], &analytic[k]).unwrap();
    }
}

#[test]
fn concat_matches_pytorch_golden() {
    let g = gpu();
    let f = Golden::load("op_concat");
    let t = |k: &str| f.upload(&g, k);
    let mut tape = Tape::new(&g);
    let (a, b) = (tape.leaf(t("a"), true), tape.leaf(t("b"), true));
    let y = cat::t_concat_channels(&mut tape, vec![a.clone(), b.clone()]).unwrap();
    f.check(&g, "op_concat y", tape.value(&y), "y", 1);
    let grads = tape.backward_with(&y, Some(t("gy"))).unwrap();
    f.check(&g, "op_concat ga", grads.get(&a).unwrap(), "ga", 1);
    f.check(&g, "op_concat gb", grads.get(&b).unwrap(), "gb", 1);
}

#[test]
fn concat_and_slice_reject_bad_shapes() {
    let g = gpu();
    let a = Tensor::zeros(&g, &[2, 3, 4, 4]);
    let b = Tensor::zeros(&g, &[2, 3, 4, 5]);
    let e = cat::concat_channels(&g, &[&a, &b]).unwrap_err().to_string();
    assert!(e.contains("concat_channels") && e.contains("[2, 3, 4, 5]"), "{e}");
    assert!(cat::concat_batch(&g, &[&a, &b]).is_err());
    assert!(cat::concat_batch(&g, &[&a, &Tensor::zeros(&g, &[5, 3, 4, 4])]).is_ok());
    let e = cat::slice_channels(&g, &a, 2, 2).unwrap_err().to_string();
    assert!(e.contains("2..4"), "{e}");
    assert!(cat::slice_batch(&g, &a, 0, 0).is_err());
}

// ---- elementwise goldens --------------------------------------------------------------------

#[test]
fn activations_match_pytorch_goldens() {
    let g = gpu();
    for op in ["relu", "sigmoid", "tanh"] {
        let file = format!("op_{op}");
        let f = Golden::load(&file);
        let mut tape = Tape::new(&g);
        let x = tape.leaf(f.upload(&g, "x"), true);
        let y = match op {
            "relu" => ew::t_relu(&mut tape, x.clone()),
            "sigmoid" => ew::t_sigmoid(&mut tape, x.clone()),
            _ => ew::t_tanh(&mut tape, x.clone()),
        }
        .unwrap();
        f.check(&g, &format!("{file} y"), tape.value(&y), "y", 1);
        let grads = tape.backward_with(&y, Some(f.upload(&g, "gy"))).unwrap();
        f.check(&g, &format!("{file} gx"), grads.get(&x).unwrap(), "gx", 1);
    }
    // relu's golden holds exact zeros: ReLU'(0) = 0
    assert!(Golden::load("op_relu").get("x").contains(&0.0));
}

#[test]
fn batchnorm_folds_into_a_conv_weight_and_bias() {
    let g = gpu();
    // Co = 5, Ci * k * k = 3 * 9 = 27 (not a multiple of the 256-thread workgroup)
    let (co, per, eps) = (5, 27, 1e-5);
    let w = scaled(co * per, 1, 1.0, 0.0);
    let gamma = scaled(co, 2, 1.0, 0.5);
    let beta = scaled(co, 3, 1.0, 0.0);
    let mean = scaled(co, 4, 1.0, 0.0);
    let var = scaled(co, 5, 0.5, 1.0);
    let s: Vec<f64> = (0..co).map(|o| gamma[o] / (var[o] + eps).sqrt()).collect();
    let (wf, bf) = bn::fold_into_conv(
        &g,
        &up(&g, &w, &[co, 3, 3, 3]),
        &up(&g, &gamma, &[co]),
        &up(&g, &beta, &[co]),
        &up(&g, &mean, &[co]),
        &up(&g, &var, &[co]),
        eps as f32,
    )
    .unwrap();
    let want_w: Vec<f64> = w.iter().enumerate().map(|(i, v)| v * s[i / per]).collect();
    let want_b: Vec<f64> = (0..co).map(|o| beta[o] - mean[o] * s[o]).collect();
    check(&g, "folded weight", &wf, &want_w, 1);
    check(&g, "folded bias", &bf, &want_b, 1);
    let err = format!("{:#}", bn::fold_into_conv(&g, &wf, &bf, &bf, &bf, &up(&g, &var[..2], &[2]), 1e-5).unwrap_err());
    assert!(err.contains("running_var must be [5]"), "{err}");
}
