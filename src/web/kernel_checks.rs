//! The kernels' reference checks that the page runs in the browser (and tests/all/web.rs natively):
//! conv forward and backward, BatchNorm (+ReLU), max pooling, the OFF block's Sobel and frame
//! differences, the ConvGRU gates, the depth and cross-entropy losses, and Adadelta, each on the
//! GPU against the f64 reference (`crate::reference`) with the native tests' tolerances
//! (`assert_close`: the reduction length as the tests give it). The cases follow tests/all/ops_*.rs.
//! A check records its tensor now and reads it back later: the browser can only await readbacks.

use anyhow::Result;

use crate::gpu::Gpu;
use crate::graph::Tape;
use crate::ops::{batchnorm as bn, conv, cross_entropy as ce, depth_loss as dl, elementwise as ew};
use crate::ops::{gru, pair_diff, pool, sobel};
use crate::reference::{self as rf, random, to_f32};
use crate::tensor::Tensor;

/// One comparison's outcome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Outcome {
    pub name: String,
    pub ok: bool,
    /// the worst relative error, or why it failed
    pub detail: String,
}

/// Recorded comparisons: a GPU tensor, its f64 reference and the reduction length.
#[derive(Default)]
struct Checks(Vec<(String, Tensor, Vec<f64>, usize)>);

impl Checks {
    fn add(&mut self, name: impl Into<String>, t: &Tensor, reference: Vec<f64>, k: usize) {
        self.0.push((name.into(), t.clone(), reference, k));
    }
}

fn up(g: &Gpu, x: &[f64], shape: &[usize]) -> Result<Tensor> {
    Tensor::upload(g, &to_f32(x), shape)
}

fn scaled(n: usize, seed: u64, s: f64, offset: f64) -> Vec<f64> {
    random(n, seed).iter().map(|v| v * s + offset).collect()
}

/// Every check on `g`, in order; an op that fails to run is one failed outcome.
pub async fn run(g: &Gpu) -> Vec<Outcome> {
    let mut checks = Checks::default();
    let mut out = Vec::new();
    type Case = fn(&Gpu, &mut Checks) -> Result<()>;
    let cases: [(&str, Case); 9] = [
        ("conv", conv_case),
        ("batchnorm", batchnorm_case),
        ("maxpool", maxpool_case),
        ("off sobel", sobel_case),
        ("off pair_diff", pair_diff_case),
        ("convgru gates", gru_case),
        ("depth losses", depth_loss_case),
        ("cross_entropy", cross_entropy_case),
        ("adadelta", adadelta_case),
    ];
    for (name, case) in cases {
        if let Err(e) = case(g, &mut checks) {
            out.push(Outcome { name: name.into(), ok: false, detail: format!("{e:#}") });
        }
    }
    for (name, t, reference, k) in checks.0 {
        let (ok, detail) = match t.download_async(g).await {
            Ok(got) => match rf::assert_close(&name, &got, &reference, k) {
                Ok(()) => (true, format!("max rel error {:.2e}", rf::max_rel_error(&got, &reference))),
                Err(e) => (false, format!("{e:#}")),
            },
            Err(e) => (false, format!("readback: {e:#}")),
        };
        out.push(Outcome { name, ok, detail });
    }
    out
}

/// tests/all/ops_conv.rs: odd shapes, 3x3 and 1x1, forward with bias and all three gradients.
fn conv_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    for (n, ci, co, h, w, k) in [(2, 3, 5, 7, 5, 3), (2, 3, 5, 7, 5, 1)] {
        let seed = 7 * k as u64;
        let shape = [n, ci, h, w];
        let x = random(n * ci * h * w, seed);
        let wt: Vec<f64> = random(co * ci * k * k, seed + 1).iter().map(|v| v * 0.5).collect();
        let b = random(co, seed + 2);
        let gy = random(n * co * h * w, seed + 3);
        let (tx, tw, tb) = (up(g, &x, &shape)?, up(g, &wt, &[co, ci, k, k])?, up(g, &b, &[co])?);
        let tgy = up(g, &gy, &[n, co, h, w])?;
        let kk = k * k;
        let what = |s: &str| format!("conv {k}x{k} {s} {shape:?} -> {co}");
        c.add(
            what("y"),
            &conv::conv2d(g, &tx, &tw, Some(&tb))?,
            rf::conv::conv2d(&x, shape, &wt, co, k, Some(&b)),
            ci * kk,
        );
        let (gx, gw, gb) = rf::conv::conv2d_backward(&x, shape, &wt, co, k, &gy);
        c.add(what("gx"), &conv::conv2d_backward_input(g, &tgy, &tw)?, gx, co * kk);
        c.add(what("gw"), &conv::conv2d_backward_weight(g, &tx, &tgy, k)?, gw, n * h * w);
        c.add(what("gb"), &conv::conv2d_backward_bias(g, &tgy)?, gb, n * h * w);
    }
    Ok(())
}

/// tests/all/ops_cnn.rs: training-mode BatchNorm and BatchNorm+ReLU, outputs, running statistics and
/// gradients.
fn batchnorm_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    const EPS: f32 = 1e-5;
    const MOMENTUM: f32 = 0.1;
    let s = [2, 3, 7, 5];
    let (n, ch, m) = (s.iter().product::<usize>(), s[1], s[0] * s[2] * s[3]);
    for relu in [false, true] {
        let x = scaled(n, 40, 2.0, 1.5);
        let (gamma, beta) = (scaled(ch, 41, 0.5, 1.0), scaled(ch, 42, 0.3, 0.1));
        let (rm0, rv0) = (scaled(ch, 43, 0.2, 0.0), scaled(ch, 44, 0.4, 1.0));
        let gy = random(n, 45);
        let what = |t: &str| format!("batchnorm{} train {s:?} {t}", if relu { "+relu" } else { "" });
        let (rm, rv) = (up(g, &rm0, &[ch])?, up(g, &rv0, &[ch])?);
        let mut tape = Tape::new(g);
        let vx = tape.leaf(up(g, &x, &s)?, true);
        let vg = tape.leaf(up(g, &gamma, &[ch])?, true);
        let vb = tape.leaf(up(g, &beta, &[ch])?, true);
        let f = if relu { bn::t_batchnorm_relu } else { bn::t_batchnorm };
        let y = f(&mut tape, vx.clone(), vg.clone(), vb.clone(), &rm, &rv, true, EPS, MOMENTUM)?;
        let mut want = rf::batchnorm::batchnorm(&x, s, &gamma, &beta, &rm0, &rv0, true, EPS as f64);
        let gy_eff = if relu {
            let gy = rf::basic::relu_backward(&want, &gy);
            want = rf::basic::relu(&want);
            gy
        } else {
            gy.clone()
        };
        c.add(what("y"), tape.value(&y), want, m);
        let (want_rm, want_rv) = rf::batchnorm::running_update(&x, s, &rm0, &rv0, MOMENTUM as f64);
        c.add(what("running_mean"), &rm, want_rm, m);
        c.add(what("running_var"), &rv, want_rv, m);
        let grads = tape.backward_with(&y, Some(up(g, &gy, &s)?))?;
        let (gx, dgamma, dbeta) =
            rf::batchnorm::batchnorm_backward(&x, s, &gamma, &rm0, &rv0, true, EPS as f64, &gy_eff);
        for (t, v, want) in [("gx", vx, gx), ("dgamma", vg, dgamma), ("dbeta", vb, dbeta)] {
            c.add(what(t), grads.get(&v).expect("a leaf with a gradient"), want, m);
        }
    }
    Ok(())
}

/// tests/all/ops_cnn.rs: 2x2 max pooling with ties (the gradient to the first maximum), odd sizes.
fn maxpool_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    let s = [2, 3, 7, 5];
    let x: Vec<f64> = random(s.iter().product(), 50).iter().map(|v| ((v + 1.0) * 1.5).floor().min(2.0)).collect();
    let mut tape = Tape::new(g);
    let vx = tape.leaf(up(g, &x, &s)?, true);
    let y = pool::t_maxpool2(&mut tape, vx.clone())?;
    let os = [s[0], s[1], s[2] / 2, s[3] / 2];
    c.add(format!("maxpool {s:?} y"), tape.value(&y), rf::pool::maxpool2(&x, s), 1);
    let gy = random(os.iter().product(), 51);
    let grads = tape.backward_with(&y, Some(up(g, &gy, &os)?))?;
    c.add(format!("maxpool {s:?} gx"), grads.get(&vx).expect("gx"), rf::pool::maxpool2_backward(&x, s, &gy), 1);
    Ok(())
}

/// tests/all/ops_temporal_and_losses.rs: the OFF block's spatial gradients (Sobel x and y together).
fn sobel_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    let (n, ch, h, w) = (2, 3, 7, 5);
    let x = random(n * ch * h * w, 60);
    let gy = random(n * 2 * ch * h * w, 61);
    let mut tape = Tape::new(g);
    let vx = tape.leaf(up(g, &x, &[n, ch, h, w])?, true);
    let y = sobel::t_sobel_xy(&mut tape, vx.clone())?;
    c.add("sobel_xy y", tape.value(&y), rf::sobel::sobel_xy(&x, n, ch, h, w), 9);
    let grads = tape.backward_with(&y, Some(up(g, &gy, &[n, 2 * ch, h, w])?))?;
    c.add("sobel_xy gx", grads.get(&vx).expect("gx"), rf::sobel::sobel_xy_backward(&gy, n, ch, h, w), 9);
    Ok(())
}

/// tests/all/ops_temporal_and_losses.rs: the OFF block's temporal gradient (frame-pair differences).
fn pair_diff_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    for (clips, nf, ch, h, w) in [(2, 3, 2, 3, 4), (1, 4, 1, 3, 3)] {
        let block = ch * h * w;
        let x = random(clips * nf * block, 11);
        let gy = random(clips * (nf - 1) * block, 12);
        let mut tape = Tape::new(g);
        let vx = tape.leaf(up(g, &x, &[clips * nf, ch, h, w])?, true);
        let y = pair_diff::t_pair_diff(&mut tape, vx.clone(), clips, nf)?;
        let what = format!("pair_diff {clips} clips of {nf} x {:?}", [ch, h, w]);
        c.add(format!("{what} y"), tape.value(&y), rf::pair_diff::pair_diff(&x, block, nf), 1);
        let grads = tape.backward_with(&y, Some(up(g, &gy, &[clips * (nf - 1), ch, h, w])?))?;
        let want = rf::pair_diff::pair_diff_backward(&gy, block, nf, clips * nf);
        c.add(format!("{what} gx"), grads.get(&vx).expect("gx"), want, 1);
    }
    Ok(())
}

/// tests/all/ops_temporal_and_losses.rs: the ConvGRU's gates and state update, forward and backward.
fn gru_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    let shape = [3, 5, 7, 11];
    let n: usize = shape.iter().product();
    let pre_r: Vec<f64> = random(n, 10).iter().map(|v| 4.0 * v).collect();
    let pre_u: Vec<f64> = random(n, 11).iter().map(|v| 4.0 * v).collect();
    let h_prev = random(n, 12);
    let pre_c: Vec<f64> = random(n, 13).iter().map(|v| 3.0 * v).collect();
    let (gu, grh, gh) = (random(n, 14), random(n, 15), random(n, 16));

    let mut tape = Tape::new(g);
    let vr = tape.leaf(up(g, &pre_r, &shape)?, true);
    let vu = tape.leaf(up(g, &pre_u, &shape)?, true);
    let vh = tape.leaf(up(g, &h_prev, &shape)?, true);
    let (u, rh) = gru::t_gru_gates(&mut tape, vr.clone(), vu.clone(), vh.clone())?;
    let (want_u, want_rh) = rf::gru::gru_gates(&pre_r, &pre_u, &h_prev);
    c.add("gru u", tape.value(&u), want_u.clone(), 1);
    c.add("gru rh", tape.value(&rh), want_rh, 1);
    // one output from both: y = u * gu + rh * grh
    let cu = tape.leaf(up(g, &gu, &shape)?, false);
    let crh = tape.leaf(up(g, &grh, &shape)?, false);
    let a = ew::t_mul(&mut tape, u, cu)?;
    let b = ew::t_mul(&mut tape, rh, crh)?;
    let y = ew::t_add(&mut tape, a, b)?;
    let grads = tape.backward_with(&y, Some(Tensor::filled(g, &shape, 1.0)))?;
    let [g_r, g_u, g_h] = rf::gru::gru_gates_backward(&pre_r, &pre_u, &h_prev, &gu, &grh);
    for (what, v, want) in [("gru g_pre_r", vr, g_r), ("gru g_pre_u", vu, g_u), ("gru g_h_prev", vh, g_h)] {
        c.add(what, grads.get(&v).expect("a gradient"), want, 1);
    }

    let mut tape = Tape::new(g);
    let vu = tape.leaf(up(g, &want_u, &shape)?, true);
    let vh = tape.leaf(up(g, &h_prev, &shape)?, true);
    let vc = tape.leaf(up(g, &pre_c, &shape)?, true);
    let h = gru::t_gru_update(&mut tape, vu.clone(), vh.clone(), vc.clone())?;
    c.add("gru h", tape.value(&h), rf::gru::gru_update(&want_u, &h_prev, &pre_c), 1);
    let grads = tape.backward_with(&h, Some(up(g, &gh, &shape)?))?;
    let [g_u, g_hp, g_c] = rf::gru::gru_update_backward(&want_u, &h_prev, &pre_c, &gh);
    for (what, v, want) in [("gru g_u", vu, g_u), ("gru g_h_prev (update)", vh, g_hp), ("gru g_pre_c", vc, g_c)] {
        c.add(what, grads.get(&v).expect("a gradient"), want, 1);
    }
    Ok(())
}

/// tests/all/ops_temporal_and_losses.rs: the depth losses (squared and contrastive), masked.
fn depth_loss_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    let (n, h, w) = (2, 7, 5);
    let shape = [n, 1, h, w];
    let len = n * h * w;
    let pred = random(len, 30);
    let target: Vec<f64> = random(len, 31).iter().map(|v| v.abs()).collect();
    let mask: Vec<f64> = random(len, 32).iter().map(|v| f64::from(*v > -0.3)).collect();
    let seed = 0.7;
    let (tt, mt) = (up(g, &target, &shape)?, up(g, &mask, &shape)?);
    let m = Some(mask.as_slice());

    let mut tape = Tape::new(g);
    let vp = tape.leaf(up(g, &pred, &shape)?, true);
    let l = dl::t_abs_loss(&mut tape, vp.clone(), &tt, Some(&mt))?;
    c.add("abs loss", tape.value(&l), vec![rf::depth_loss::abs_loss(&pred, &target, m)], len);
    let grads = tape.backward_with(&l, Some(up(g, &[seed], &[1])?))?;
    c.add(
        "abs loss gpred",
        grads.get(&vp).expect("gpred"),
        rf::depth_loss::abs_loss_backward(&pred, &target, m, seed),
        1,
    );

    let mut tape = Tape::new(g);
    let vp = tape.leaf(up(g, &pred, &shape)?, true);
    let l = dl::t_contrastive_loss(&mut tape, vp.clone(), &tt, Some(&mt))?;
    c.add(
        "contrastive loss",
        tape.value(&l),
        vec![rf::depth_loss::contrastive_loss(&pred, &target, m, n, h, w)],
        8 * len,
    );
    let grads = tape.backward_with(&l, Some(up(g, &[seed], &[1])?))?;
    let want = rf::depth_loss::contrastive_loss_backward(&pred, &target, m, n, h, w, seed);
    c.add("contrastive loss gpred", grads.get(&vp).expect("gpred"), want, 16);
    Ok(())
}

/// tests/all/ops_temporal_and_losses.rs: the binary head's softmax cross-entropy.
fn cross_entropy_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    let (n, k) = (7, 2);
    let logits: Vec<f64> = random(n * k, 50).iter().map(|v| 3.0 * v).collect();
    let labels: Vec<usize> = random(n, 51).iter().map(|v| (((v + 1.0) / 2.0 * k as f64) as usize).min(k - 1)).collect();
    let lf: Vec<f64> = labels.iter().map(|&l| l as f64).collect();
    let lt = up(g, &lf, &[n])?;
    c.add("softmax", &ce::softmax(g, &up(g, &logits, &[n, k])?)?, rf::cross_entropy::softmax(&logits, n, k), k);
    let mut tape = Tape::new(g);
    let vl = tape.leaf(up(g, &logits, &[n, k])?, true);
    let loss = ce::t_softmax_cross_entropy(&mut tape, vl.clone(), &lt)?;
    c.add("cross_entropy", tape.value(&loss), vec![rf::cross_entropy::cross_entropy(&logits, &labels, n, k)], n * k);
    let grads = tape.backward_with(&loss, Some(up(g, &[1.3], &[1])?))?;
    let want = rf::cross_entropy::cross_entropy_backward(&logits, &labels, n, k, 1.3);
    c.add("cross_entropy glogits", grads.get(&vl).expect("glogits"), want, k);
    Ok(())
}

/// tests/all/optim.rs: three Adadelta steps of one dispatch each, parameters and both states,
/// with weight decay.
fn adadelta_case(g: &Gpu, c: &mut Checks) -> Result<()> {
    let n = 1000;
    let (lr, rho, eps, wd) = (0.5, 0.95, 1e-8, 0.1);
    let mut p = random(n, 70);
    let (mut v, mut u) = (vec![0.0; n], vec![0.0; n]);
    let (tp, tv, tu) = (up(g, &p, &[n])?, up(g, &v, &[n])?, up(g, &u, &[n])?);
    for step in 0..3 {
        let grad = random(n, 71 + step);
        rf::adadelta::adadelta_step(&mut p, &grad, &mut v, &mut u, lr, rho, eps, wd);
        crate::ops::adadelta::adadelta_step(
            g,
            &tp,
            &up(g, &grad, &[n])?,
            &tv,
            &tu,
            lr as f32,
            rho as f32,
            eps as f32,
            wd as f32,
        )?;
    }
    for (what, t, want) in [("adadelta p", &tp, p), ("adadelta square_avg", &tv, v), ("adadelta acc_delta", &tu, u)] {
        c.add(format!("{what} after 3 steps"), t, want, 1);
    }
    Ok(())
}
