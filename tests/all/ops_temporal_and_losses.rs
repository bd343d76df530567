//! Multi-frame and training ops: Sobel, ConvGRU gates, depth losses, linear,
//! cross-entropy, temporal difference. GPU vs f64 reference (forward and backward through the
//! tape) on odd shapes, reference backward vs finite differences, and PyTorch goldens.

use crate::common;
use common::{check, gpu, up, Golden};
use tdfas::ops::cross_entropy as ce;
use tdfas::ops::depth_loss as dl;
use tdfas::ops::elementwise as ew;
use tdfas::ops::gru;
use tdfas::ops::linear as lin;
use tdfas::ops::sobel::{self, SobelDir};
use tdfas::reference as rf;
use tdfas::reference::{dot, gradcheck, random, to_f64};
use tdfas::{Gpu, Tape, Tensor};

fn download(g: &Gpu, t: &Tensor) -> Vec<f64> {
    to_f64(&t.download(g).unwrap())
}

// ---- Sobel ----------------------------------------------------------------------------------

#[test]
fn sobel_matches_reference_forward_and_backward() {
    let g = gpu();
    let (n, c, h, w) = (2, 3, 19, 23); // 2622 elements: not a multiple of 256
    let x = random(n * c * h * w, 1);
    let gy = random(n * c * h * w, 2);
    for (dir, dx) in [(SobelDir::X, true), (SobelDir::Y, false)] {
        let mut tape = Tape::new(&g);
        let vx = tape.leaf(up(&g, &x, &[n, c, h, w]), true);
        let y = sobel::t_sobel(&mut tape, vx.clone(), dir).unwrap();
        check(&g, "sobel", tape.value(&y), &rf::sobel::sobel(&x, n * c, h, w, dx), 9);
        let grads = tape.backward_with(&y, Some(up(&g, &gy, &[n, c, h, w]))).unwrap();
        check(&g, "sobel backward", grads.get(&vx).unwrap(), &rf::sobel::sobel_backward(&gy, n * c, h, w, dx), 9);
    }
}

/// Both filters in one dispatch (W % 4 == 0: 4 pixels a thread, rows of 1 and odd heights) and the
/// general path (odd W), forward and backward.
#[test]
fn sobel_xy_matches_reference_forward_and_backward() {
    let g = gpu();
    for (n, c, h, w) in [(2, 3, 7, 12), (1, 2, 1, 4), (3, 1, 5, 8), (2, 3, 19, 23)] {
        let x = random(n * c * h * w, 5);
        let gy = random(2 * n * c * h * w, 6);
        let mut tape = Tape::new(&g);
        let vx = tape.leaf(up(&g, &x, &[n, c, h, w]), true);
        let y = sobel::t_sobel_xy(&mut tape, vx.clone()).unwrap();
        let what = format!("sobel_xy {:?}", [n, c, h, w]);
        assert_eq!(tape.value(&y).shape(), &[n, 2 * c, h, w]);
        check(&g, &what, tape.value(&y), &rf::sobel::sobel_xy(&x, n, c, h, w), 9);
        let grads = tape.backward_with(&y, Some(up(&g, &gy, &[n, 2 * c, h, w]))).unwrap();
        let want = rf::sobel::sobel_xy_backward(&gy, n, c, h, w);
        check(&g, &format!("{what} backward"), grads.get(&vx).unwrap(), &want, 9);
    }
}

#[test]
fn sobel_xy_reference_backward_matches_finite_differences() {
    let (n, c, h, w) = (2, 2, 3, 4);
    let x = random(n * c * h * w, 7);
    let gy = random(2 * n * c * h * w, 8);
    let analytic = rf::sobel::sobel_xy_backward(&gy, n, c, h, w);
    gradcheck("sobel_xy", &mut |x| dot(&rf::sobel::sobel_xy(x, n, c, h, w), &gy), &x, &analytic).unwrap();
}

#[test]
fn sobel_reference_backward_matches_finite_differences() {
    let (m, h, w) = (2, 4, 5);
    let x = random(m * h * w, 3);
    let gy = random(m * h * w, 4);
    for dx in [true, false] {
        let analytic = rf::sobel::sobel_backward(&gy, m, h, w, dx);
        gradcheck("sobel", &mut |x| dot(&rf::sobel::sobel(x, m, h, w, dx), &gy), &x, &analytic).unwrap();
    }
}

#[test]
fn sobel_matches_pytorch_goldens() {
    let g = gpu();
    for (file, dir) in [("op_sobel_x", SobelDir::X), ("op_sobel_y", SobelDir::Y)] {
        let gold = Golden::load(file);
        let mut tape = Tape::new(&g);
        let vx = tape.leaf(gold.upload(&g, "x"), true);
        let y = sobel::t_sobel(&mut tape, vx.clone(), dir).unwrap();
        gold.check(&g, &format!("{file} y"), tape.value(&y), "y", 9);
        let grads = tape.backward_with(&y, Some(gold.upload(&g, "gy"))).unwrap();
        gold.check(&g, &format!("{file} gx"), grads.get(&vx).unwrap(), "gx", 9);
    }
}

#[test]
fn sobel_rejects_non_nchw_input() {
    let g = gpu();
    let x = Tensor::zeros(&g, &[3, 4]);
    let err = sobel::sobel(&g, &x, SobelDir::X).unwrap_err().to_string();
    assert!(err.contains("NCHW"), "{err}");
}

// ---- temporal difference ----------------------------------------------------------------------

/// The OFF block's frame-pair difference straight from the frames: one dispatch (frames of whole
/// vec4s) and the general path (gathers and a subtraction), forward and backward.
#[test]
fn pair_diff_matches_reference_forward_and_backward() {
    use tdfas::ops::pair_diff::t_pair_diff;
    let g = gpu();
    for (clips, nf, c, h, w) in [(2, 3, 2, 3, 4), (1, 4, 1, 3, 3), (3, 2, 3, 2, 2)] {
        let block = c * h * w;
        let x = random(clips * nf * block, 11);
        let gy = random(clips * (nf - 1) * block, 12);
        let mut tape = Tape::new(&g);
        let vx = tape.leaf(up(&g, &x, &[clips * nf, c, h, w]), true);
        let y = t_pair_diff(&mut tape, vx.clone(), clips, nf).unwrap();
        let what = format!("pair_diff {clips} clips of {nf} x {:?}", [c, h, w]);
        check(&g, &what, tape.value(&y), &rf::pair_diff::pair_diff(&x, block, nf), 1);
        let grads = tape.backward_with(&y, Some(up(&g, &gy, &[clips * (nf - 1), c, h, w]))).unwrap();
        let want = rf::pair_diff::pair_diff_backward(&gy, block, nf, clips * nf);
        check(&g, &format!("{what} backward"), grads.get(&vx).unwrap(), &want, 1);
    }
}

#[test]
fn pair_diff_reference_backward_matches_finite_differences() {
    let (block, nf, frames) = (5, 3, 6);
    let x = random(frames * block, 13);
    let gy = random(frames / nf * (nf - 1) * block, 14);
    let analytic = rf::pair_diff::pair_diff_backward(&gy, block, nf, frames);
    gradcheck("pair_diff", &mut |x| dot(&rf::pair_diff::pair_diff(x, block, nf), &gy), &x, &analytic).unwrap();
}

#[test]
fn temporal_difference_matches_pytorch_golden() {
    let g = gpu();
    let gold = Golden::load("op_temporal_diff");
    let mut tape = Tape::new(&g);
    let a = tape.leaf(gold.upload(&g, "a"), true);
    let b = tape.leaf(gold.upload(&g, "b"), true);
    let y = ew::t_sub(&mut tape, b.clone(), a.clone()).unwrap(); // r_t1 - r_t
    gold.check(&g, "temporal_diff y", tape.value(&y), "y", 1);
    let grads = tape.backward_with(&y, Some(gold.upload(&g, "gy"))).unwrap();
    check(&g, "temporal_diff ga", grads.get(&a).unwrap(), gold.get("ga"), 1);
    check(&g, "temporal_diff gb", grads.get(&b).unwrap(), gold.get("gb"), 1);
}

// ---- ConvGRU gates ----------------------------------------------------------------------------

#[test]
fn gru_gates_and_update_match_reference_forward_and_backward() {
    let g = gpu();
    let shape = [3, 5, 7, 11]; // 1155 elements
    let n: usize = shape.iter().product();
    let pre_r: Vec<f64> = random(n, 10).iter().map(|v| 4.0 * v).collect();
    let pre_u: Vec<f64> = random(n, 11).iter().map(|v| 4.0 * v).collect();
    let h_prev = random(n, 12);
    let pre_c: Vec<f64> = random(n, 13).iter().map(|v| 3.0 * v).collect();
    let (gu, grh, gh) = (random(n, 14), random(n, 15), random(n, 16));

    // gates: both outputs, gradients from both
    let mut tape = Tape::new(&g);
    let (vr, vu, vh) = (
        tape.leaf(up(&g, &pre_r, &shape), true),
        tape.leaf(up(&g, &pre_u, &shape), true),
        tape.leaf(up(&g, &h_prev, &shape), true),
    );
    let (u, rh) = gru::t_gru_gates(&mut tape, vr.clone(), vu.clone(), vh.clone()).unwrap();
    let (want_u, want_rh) = rf::gru::gru_gates(&pre_r, &pre_u, &h_prev);
    check(&g, "gru u", tape.value(&u), &want_u, 1);
    check(&g, "gru rh", tape.value(&rh), &want_rh, 1);
    // combine the two outputs into one scalar-seeded output: y = u * gu + rh * grh (as a tape sum)
    let cu = tape.leaf(up(&g, &gu, &shape), false);
    let crh = tape.leaf(up(&g, &grh, &shape), false);
    let a = ew::t_mul(&mut tape, u, cu).unwrap();
    let b = ew::t_mul(&mut tape, rh, crh).unwrap();
    let y = ew::t_add(&mut tape, a, b).unwrap();
    let grads = tape.backward_with(&y, Some(Tensor::filled(&g, &shape, 1.0))).unwrap();
    let [g_pre_r, g_pre_u, g_h] = rf::gru::gru_gates_backward(&pre_r, &pre_u, &h_prev, &gu, &grh);
    check(&g, "gru g_pre_r", grads.get(&vr).unwrap(), &g_pre_r, 1);
    check(&g, "gru g_pre_u", grads.get(&vu).unwrap(), &g_pre_u, 1);
    check(&g, "gru g_h_prev", grads.get(&vh).unwrap(), &g_h, 1);

    // update
    let uu: Vec<f64> = want_u.clone();
    let mut tape = Tape::new(&g);
    let (vu, vh, vc) = (
        tape.leaf(up(&g, &uu, &shape), true),
        tape.leaf(up(&g, &h_prev, &shape), true),
        tape.leaf(up(&g, &pre_c, &shape), true),
    );
    let h = gru::t_gru_update(&mut tape, vu.clone(), vh.clone(), vc.clone()).unwrap();
    check(&g, "gru h", tape.value(&h), &rf::gru::gru_update(&uu, &h_prev, &pre_c), 1);
    let grads = tape.backward_with(&h, Some(up(&g, &gh, &shape))).unwrap();
    let [g_u, g_hp, g_c] = rf::gru::gru_update_backward(&uu, &h_prev, &pre_c, &gh);
    check(&g, "gru g_u", grads.get(&vu).unwrap(), &g_u, 1);
    check(&g, "gru g_h_prev (update)", grads.get(&vh).unwrap(), &g_hp, 1);
    check(&g, "gru g_pre_c", grads.get(&vc).unwrap(), &g_c, 1);
}

#[test]
fn gru_reference_backwards_match_finite_differences() {
    let n = 9;
    let (pr, pu, hp, pc) = (random(n, 20), random(n, 21), random(n, 22), random(n, 23));
    let (gu, grh, gh) = (random(n, 24), random(n, 25), random(n, 26));
    let u: Vec<f64> = random(n, 27).iter().map(|v| 0.5 + 0.4 * v).collect();
    let gates = |pr: &[f64], pu: &[f64], hp: &[f64]| {
        let (u, rh) = rf::gru::gru_gates(pr, pu, hp);
        dot(&u, &gu) + dot(&rh, &grh)
    };
    let [a_r, a_u, a_h] = rf::gru::gru_gates_backward(&pr, &pu, &hp, &gu, &grh);
    gradcheck("gates d pre_r", &mut |x| gates(x, &pu, &hp), &pr, &a_r).unwrap();
    gradcheck("gates d pre_u", &mut |x| gates(&pr, x, &hp), &pu, &a_u).unwrap();
    gradcheck("gates d h_prev", &mut |x| gates(&pr, &pu, x), &hp, &a_h).unwrap();
    let [b_u, b_h, b_c] = rf::gru::gru_update_backward(&u, &hp, &pc, &gh);
    gradcheck("update d u", &mut |x| dot(&rf::gru::gru_update(x, &hp, &pc), &gh), &u, &b_u).unwrap();
    gradcheck("update d h_prev", &mut |x| dot(&rf::gru::gru_update(&u, x, &pc), &gh), &hp, &b_h).unwrap();
    gradcheck("update d pre_c", &mut |x| dot(&rf::gru::gru_update(&u, &hp, x), &gh), &pc, &b_c).unwrap();
}

/// f64 3x3 conv, zero padding 1, with bias: x [b, ci, h, w], wt [co, ci, 3, 3] -> [b, co, h, w].
#[allow(clippy::too_many_arguments)]
fn conv3x3(x: &[f64], wt: &[f64], bias: &[f64], b: usize, ci: usize, co: usize, h: usize, w: usize) -> Vec<f64> {
    let mut y = vec![0.0; b * co * h * w];
    for n in 0..b {
        for o in 0..co {
            for r in 0..h {
                for c in 0..w {
                    let mut s = bias[o];
                    for i in 0..ci {
                        for kr in 0..3 {
                            for kc in 0..3 {
                                let (rr, cc) = (r as isize + kr as isize - 1, c as isize + kc as isize - 1);
                                if rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w {
                                    s += wt[((o * ci + i) * 3 + kr) * 3 + kc]
                                        * x[((n * ci + i) * h + rr as usize) * w + cc as usize];
                                }
                            }
                        }
                    }
                    y[((n * co + o) * h + r) * w + c] = s;
                }
            }
        }
    }
    y
}

/// [b, c1, hw] ++ [b, c2, hw] along channels.
fn cat(a: &[f64], b: &[f64], batch: usize, c1: usize, c2: usize, hw: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    for n in 0..batch {
        out.extend_from_slice(&a[n * c1 * hw..(n + 1) * c1 * hw]);
        out.extend_from_slice(&b[n * c2 * hw..(n + 1) * c2 * hw]);
    }
    out
}

/// The stored 3-step ConvGRU golden and its sizes: steps, batch, input channels, hidden
/// channels, height, width.
fn convgru_golden() -> (Golden, [usize; 6]) {
    let gold = Golden::load("op_convgru");
    let (xs, ch) = (gold.shape("x"), gold.shape("h")[2]);
    let sizes = [xs[0], xs[1], xs[2], ch, xs[3], xs[4]];
    (gold, sizes)
}

/// The golden's `name` convolution (reset, update or cand) on the CPU in f64.
fn convgru_conv(gold: &Golden, [_, b, cx, ch, h, w]: [usize; 6], name: &str, input: &[f64]) -> Vec<f64> {
    conv3x3(input, gold.get(&format!("{name}.weight")), gold.get(&format!("{name}.bias")), b, ch + cx, ch, h, w)
}

/// The stored 3-step ConvGRU with the convolutions on the CPU (f64) and the fused gate and update
/// kernels on the GPU: u, r * h_prev and h at every step against the PyTorch golden.
#[test]
fn gru_fused_gates_match_pytorch_convgru_golden() {
    let g = gpu();
    let (gold, sizes) = convgru_golden();
    let [steps, b, cx, ch, h, w] = sizes;
    let (hw, step_x, step_h) = (h * w, b * cx * h * w, b * ch * h * w);
    let shape = [b, ch, h, w];
    let conv = |name: &str, input: &[f64]| convgru_conv(&gold, sizes, name, input);
    let mut h_prev = vec![0.0; step_h];
    let mut worst = 0.0f64;
    for t in 0..steps {
        let x = &gold.get("x")[t * step_x..(t + 1) * step_x];
        let at = |name: &str| gold.get(name)[t * step_h..(t + 1) * step_h].to_vec();
        let hx = cat(&h_prev, x, b, ch, cx, hw);
        let (pre_r, pre_u) = (conv("reset", &hx), conv("update", &hx));
        let (u, rh) =
            gru::gru_gates(&g, &up(&g, &pre_r, &shape), &up(&g, &pre_u, &shape), &up(&g, &h_prev, &shape)).unwrap();
        let want_rh: Vec<f64> = at("r").iter().zip(&h_prev).map(|(r, h)| r * h).collect();
        check(&g, &format!("convgru u[{t}]"), &u, &at("u"), 45);
        check(&g, &format!("convgru r*h[{t}]"), &rh, &want_rh, 45);
        let pre_c = conv("cand", &cat(&download(&g, &rh), x, b, ch, cx, hw));
        let hc: Vec<f64> = pre_c.iter().map(|v| v.tanh()).collect();
        rf::assert_close(&format!("convgru hc[{t}] (reference)"), &rf::to_f32(&hc), &at("hc"), 45).unwrap();
        let hn = gru::gru_update(&g, &u, &up(&g, &h_prev, &shape), &up(&g, &pre_c, &shape)).unwrap();
        check(&g, &format!("convgru h[{t}]"), &hn, &at("h"), 45);
        h_prev = download(&g, &hn);
        worst = worst.max(rf::max_rel_error(&rf::to_f32(&h_prev), &at("h")));
    }
    eprintln!("golden convgru h (3 steps, fused gates): max rel error {worst:.2e}");
}

/// Backward of `conv3x3`: (gx, gw, gb).
fn conv3x3_backward(
    x: &[f64],
    wt: &[f64],
    gy: &[f64],
    dims: [usize; 5], // b, ci, co, h, w
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let [b, ci, co, h, w] = dims;
    let (mut gx, mut gw, mut gb) = (vec![0.0; x.len()], vec![0.0; wt.len()], vec![0.0; co]);
    for n in 0..b {
        for o in 0..co {
            for r in 0..h {
                for c in 0..w {
                    let g = gy[((n * co + o) * h + r) * w + c];
                    gb[o] += g;
                    for i in 0..ci {
                        for kr in 0..3 {
                            for kc in 0..3 {
                                let (rr, cc) = (r as isize + kr as isize - 1, c as isize + kc as isize - 1);
                                if rr >= 0 && cc >= 0 && (rr as usize) < h && (cc as usize) < w {
                                    let xi = ((n * ci + i) * h + rr as usize) * w + cc as usize;
                                    let wi = ((o * ci + i) * 3 + kr) * 3 + kc;
                                    gx[xi] += wt[wi] * g;
                                    gw[wi] += x[xi] * g;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (gx, gw, gb)
}

/// Inverse of `cat`.
fn split(v: &[f64], batch: usize, c1: usize, c2: usize, hw: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for n in 0..batch {
        let base = n * (c1 + c2) * hw;
        a.extend_from_slice(&v[base..base + c1 * hw]);
        b.extend_from_slice(&v[base + c1 * hw..base + (c1 + c2) * hw]);
    }
    (a, b)
}

fn add_into(acc: &mut [f64], v: &[f64]) {
    acc.iter_mut().zip(v).for_each(|(a, b)| *a += b);
}

/// Backpropagation through the stored 3 steps: convolutions (and their backward) on the CPU in
/// f64, the fused gate and update backward kernels on the GPU; gx and every weight and bias
/// gradient against the PyTorch golden.
#[test]
fn gru_fused_backwards_match_pytorch_convgru_golden_gradients() {
    let g = gpu();
    let (gold, sizes) = convgru_golden();
    let [steps, b, cx, ch, h, w] = sizes;
    let (hw, step_x, step_h) = (h * w, b * cx * h * w, b * ch * h * w);
    let shape = [b, ch, h, w];
    let dims = [b, ch + cx, ch, h, w];
    let weight = |name: &str| gold.get(&format!("{name}.weight")).to_vec();
    let conv = |name: &str, input: &[f64]| convgru_conv(&gold, sizes, name, input);
    // forward in f64, keeping what the backward needs
    let mut saved = Vec::new();
    let mut h_prev = vec![0.0; step_h];
    for t in 0..steps {
        let x = gold.get("x")[t * step_x..(t + 1) * step_x].to_vec();
        let hx = cat(&h_prev, &x, b, ch, cx, hw);
        let (pre_r, pre_u) = (conv("reset", &hx), conv("update", &hx));
        let (u, rh) = rf::gru::gru_gates(&pre_r, &pre_u, &h_prev);
        let rx = cat(&rh, &x, b, ch, cx, hw);
        let pre_c = conv("cand", &rx);
        let hn = rf::gru::gru_update(&u, &h_prev, &pre_c);
        saved.push((hx, rx, pre_r, pre_u, u, pre_c, h_prev.clone()));
        h_prev = hn;
    }
    // backward through time
    let names = ["reset", "update", "cand"];
    let mut gwb: Vec<(Vec<f64>, Vec<f64>)> =
        names.iter().map(|n| (vec![0.0; weight(n).len()], vec![0.0; ch])).collect();
    let mut gx_all = vec![0.0; steps * step_x];
    let mut carry = vec![0.0; step_h];
    for t in (0..steps).rev() {
        let (hx, rx, pre_r, pre_u, u, pre_c, hp) = &saved[t];
        let mut gh = gold.get("gy")[t * step_h..(t + 1) * step_h].to_vec();
        add_into(&mut gh, &carry);
        let upl = |v: &[f64]| up(&g, v, &shape);
        let [gu, gh_a, gpc] = gru::gru_update_backward(&g, &upl(u), &upl(hp), &upl(pre_c), &upl(&gh)).unwrap();
        let (grx, gwc, gbc) = conv3x3_backward(rx, &weight("cand"), &download(&g, &gpc), dims);
        let (grh, gx_c) = split(&grx, b, ch, cx, hw);
        let gpu_ = gru::gru_u_backward(&g, &upl(pre_u), &gu).unwrap();
        let (gpr, gh_b) = gru::gru_rh_backward(&g, &upl(pre_r), &upl(hp), &upl(&grh)).unwrap();
        let (ghx_r, gwr, gbr) = conv3x3_backward(hx, &weight("reset"), &download(&g, &gpr), dims);
        let (ghx_u, gwu, gbu) = conv3x3_backward(hx, &weight("update"), &download(&g, &gpu_), dims);
        for (k, (gw, gb)) in [(gwr, gbr), (gwu, gbu), (gwc, gbc)].into_iter().enumerate() {
            add_into(&mut gwb[k].0, &gw);
            add_into(&mut gwb[k].1, &gb);
        }
        let mut ghx = ghx_r;
        add_into(&mut ghx, &ghx_u);
        let (gh_conv, gx_conv) = split(&ghx, b, ch, cx, hw);
        carry = download(&g, &gh_a);
        add_into(&mut carry, &download(&g, &gh_b));
        add_into(&mut carry, &gh_conv);
        let gx = &mut gx_all[t * step_x..(t + 1) * step_x];
        add_into(gx, &gx_c);
        add_into(gx, &gx_conv);
    }
    let mut worst = 0.0f64;
    let mut compare = |what: &str, got: &[f64], k: usize| {
        let got = rf::to_f32(got);
        rf::assert_close(&format!("convgru {what}"), &got, gold.get(what), k).unwrap();
        worst = worst.max(rf::max_rel_error(&got, gold.get(what)));
    };
    compare("gx", &gx_all, 45);
    for (k, name) in names.iter().enumerate() {
        compare(&format!("g{name}.weight"), &gwb[k].0, 120);
        compare(&format!("g{name}.bias"), &gwb[k].1, 120);
    }
    eprintln!("golden convgru gradients (3 steps, fused gate backward): max rel error {worst:.2e}");
}

#[test]
fn gru_rejects_mismatched_shapes() {
    let g = gpu();
    let (a, b) = (Tensor::zeros(&g, &[1, 2, 3, 3]), Tensor::zeros(&g, &[1, 2, 3, 4]));
    assert!(gru::gru_gates(&g, &a, &a, &b).is_err());
    assert!(gru::gru_update(&g, &a, &b, &a).is_err());
}

// ---- depth losses -----------------------------------------------------------------------------

fn binary_mask(n: usize, seed: u64) -> Vec<f64> {
    random(n, seed).iter().map(|v| if *v > -0.3 { 1.0 } else { 0.0 }).collect()
}

#[test]
fn depth_losses_match_reference_forward_and_backward() {
    let g = gpu();
    let (n, h, w) = (3, 37, 29); // 3219 pixels: several strides of the 256-thread reduction
    let shape = [n, 1, h, w];
    let len = n * h * w;
    let pred = random(len, 30);
    let target: Vec<f64> = random(len, 31).iter().map(|v| v.abs()).collect();
    let mask = binary_mask(len, 32);
    let seed = 0.7;
    for masked in [false, true] {
        let m = masked.then_some(mask.as_slice());
        let mt = up(&g, &mask, &shape);
        let mtr = masked.then_some(&mt);
        let tt = up(&g, &target, &shape);
        // abs
        let mut tape = Tape::new(&g);
        let vp = tape.leaf(up(&g, &pred, &shape), true);
        let l = dl::t_abs_loss(&mut tape, vp.clone(), &tt, mtr).unwrap();
        check(&g, "abs loss", tape.value(&l), &[rf::depth_loss::abs_loss(&pred, &target, m)], len);
        let grads = tape.backward_with(&l, Some(up(&g, &[seed], &[1]))).unwrap();
        check(
            &g,
            "abs loss backward",
            grads.get(&vp).unwrap(),
            &rf::depth_loss::abs_loss_backward(&pred, &target, m, seed),
            1,
        );
        // contrastive
        let mut tape = Tape::new(&g);
        let vp = tape.leaf(up(&g, &pred, &shape), true);
        let l = dl::t_contrastive_loss(&mut tape, vp.clone(), &tt, mtr).unwrap();
        check(
            &g,
            "contrastive loss",
            tape.value(&l),
            &[rf::depth_loss::contrastive_loss(&pred, &target, m, n, h, w)],
            8 * len,
        );
        let grads = tape.backward_with(&l, Some(up(&g, &[seed], &[1]))).unwrap();
        let want = rf::depth_loss::contrastive_loss_backward(&pred, &target, m, n, h, w, seed);
        check(&g, "contrastive loss backward", grads.get(&vp).unwrap(), &want, 16);
    }
}

#[test]
fn depth_losses_with_an_empty_mask_are_zero() {
    let g = gpu();
    let shape = [2, 1, 5, 3];
    let pred = Tensor::upload(&g, &rf::to_f32(&random(30, 33)), &shape).unwrap();
    let target = Tensor::zeros(&g, &shape);
    let mask = Tensor::zeros(&g, &shape);
    for con in [false, true] {
        let mut tape = Tape::new(&g);
        let vp = tape.leaf(pred.clone(), true);
        let l = if con {
            dl::t_contrastive_loss(&mut tape, vp.clone(), &target, Some(&mask))
        } else {
            dl::t_abs_loss(&mut tape, vp.clone(), &target, Some(&mask))
        }
        .unwrap();
        assert_eq!(tape.value(&l).download(&g).unwrap(), vec![0.0]);
        let grads = tape.backward(&l).unwrap();
        assert!(grads.get(&vp).unwrap().download(&g).unwrap().iter().all(|&v| v == 0.0));
    }
}

#[test]
fn depth_loss_reference_backwards_match_finite_differences() {
    let (n, h, w) = (2, 4, 3);
    let len = n * h * w;
    let pred = random(len, 34);
    let target = random(len, 35);
    let mask = binary_mask(len, 36);
    for masked in [false, true] {
        let m = masked.then_some(mask.as_slice());
        gradcheck(
            "abs",
            &mut |x| rf::depth_loss::abs_loss(x, &target, m),
            &pred,
            &rf::depth_loss::abs_loss_backward(&pred, &target, m, 1.0),
        )
        .unwrap();
        let want = rf::depth_loss::contrastive_loss_backward(&pred, &target, m, n, h, w, 1.0);
        gradcheck("contrastive", &mut |x| rf::depth_loss::contrastive_loss(x, &target, m, n, h, w), &pred, &want)
            .unwrap();
    }
}

#[test]
fn depth_losses_match_pytorch_goldens() {
    let g = gpu();
    for (file, masked) in [("op_depth_loss", false), ("op_depth_loss_masked", true)] {
        let gold = Golden::load(file);
        let target = gold.upload(&g, "target");
        let mask = masked.then(|| gold.upload(&g, "mask"));
        let len = gold.get("pred").len();
        // the fixture's explicit contrastive maps agree with the reference's kernels
        let [n, _, h, w] = [gold.shape("pred")[0], 1, gold.shape("pred")[2], gold.shape("pred")[3]];
        for i in 0..8 {
            let cp = rf::sobel::conv3x3_depthwise(gold.get("pred"), n, h, w, &rf::depth_loss::contrast_kernel(i));
            let stored: Vec<f64> = (0..n)
                .flat_map(|b| gold.get("contrast_pred")[(b * 8 + i) * h * w..(b * 8 + i + 1) * h * w].to_vec())
                .collect();
            rf::assert_close(&format!("{file} contrast_pred[{i}]"), &rf::to_f32(&cp), &stored, 2).unwrap();
        }
        let mut tape = Tape::new(&g);
        let vp = tape.leaf(gold.upload(&g, "pred"), true);
        let la = dl::t_abs_loss(&mut tape, vp.clone(), &target, mask.as_ref()).unwrap();
        let lc = dl::t_contrastive_loss(&mut tape, vp.clone(), &target, mask.as_ref()).unwrap();
        let loss = ew::t_add(&mut tape, la.clone(), lc.clone()).unwrap();
        for (what, v, k) in [("l_abs", la, len), ("l_con", lc, 8 * len), ("loss", loss.clone(), 9 * len)] {
            gold.check(&g, &format!("{file} {what}"), tape.value(&v), what, k);
        }
        let grads = tape.backward(&loss).unwrap();
        gold.check(&g, &format!("{file} gpred"), grads.get(&vp).unwrap(), "gpred", 16);
        for (what, con) in [("gpred_abs", false), ("gpred_con", true)] {
            let mut tape = Tape::new(&g);
            let vp = tape.leaf(gold.upload(&g, "pred"), true);
            let l = if con {
                dl::t_contrastive_loss(&mut tape, vp.clone(), &target, mask.as_ref())
            } else {
                dl::t_abs_loss(&mut tape, vp.clone(), &target, mask.as_ref())
            }
            .unwrap();
            let grads = tape.backward(&l).unwrap();
            check(&g, &format!("{file} {what}"), grads.get(&vp).unwrap(), gold.get(what), 16);
        }
    }
}

#[test]
fn depth_losses_reject_mismatched_shapes() {
    let g = gpu();
    let mut tape = Tape::new(&g);
    let vp = tape.leaf(Tensor::zeros(&g, &[2, 1, 5, 3]), true);
    let err = dl::t_abs_loss(&mut tape, vp.clone(), &Tensor::zeros(&g, &[2, 1, 3, 5]), None).unwrap_err().to_string();
    assert!(err.contains("target"), "{err}");
    let err =
        dl::t_contrastive_loss(&mut tape, vp, &Tensor::zeros(&g, &[2, 1, 5, 3]), Some(&Tensor::zeros(&g, &[2, 1, 5])))
            .unwrap_err()
            .to_string();
    assert!(err.contains("mask"), "{err}");
}

// ---- linear -----------------------------------------------------------------------------------

#[test]
fn linear_matches_reference_forward_and_backward() {
    let g = gpu();
    let (n, i, o) = (5, 37, 19);
    let (x, wt, b, gy) = (random(n * i, 40), random(o * i, 41), random(o, 42), random(n * o, 43));
    let mut tape = Tape::new(&g);
    let vx = tape.leaf(up(&g, &x, &[n, i]), true);
    let vw = tape.leaf(up(&g, &wt, &[o, i]), true);
    let vb = tape.leaf(up(&g, &b, &[o]), true);
    let y = lin::t_linear(&mut tape, vx.clone(), vw.clone(), vb.clone()).unwrap();
    check(&g, "linear", tape.value(&y), &rf::linear::linear(&x, &wt, &b, n, i, o), i);
    let grads = tape.backward_with(&y, Some(up(&g, &gy, &[n, o]))).unwrap();
    let (gx, gw, gb) = rf::linear::linear_backward(&x, &wt, &gy, n, i, o);
    check(&g, "linear gx", grads.get(&vx).unwrap(), &gx, o);
    check(&g, "linear gW", grads.get(&vw).unwrap(), &gw, n);
    check(&g, "linear gb", grads.get(&vb).unwrap(), &gb, n);
}

#[test]
fn linear_reference_backward_matches_finite_differences() {
    let (n, i, o) = (3, 4, 2);
    let (x, wt, b, gy) = (random(n * i, 44), random(o * i, 45), random(o, 46), random(n * o, 47));
    let (gx, gw, gb) = rf::linear::linear_backward(&x, &wt, &gy, n, i, o);
    gradcheck("linear dx", &mut |v| dot(&rf::linear::linear(v, &wt, &b, n, i, o), &gy), &x, &gx).unwrap();
    gradcheck("linear dW", &mut |v| dot(&rf::linear::linear(&x, v, &b, n, i, o), &gy), &wt, &gw).unwrap();
    gradcheck("linear db", &mut |v| dot(&rf::linear::linear(&x, &wt, v, n, i, o), &gy), &b, &gb).unwrap();
}

#[test]
fn linear_matches_pytorch_golden() {
    let g = gpu();
    let gold = Golden::load("op_linear");
    let mut tape = Tape::new(&g);
    let vx = tape.leaf(gold.upload(&g, "x"), true);
    let vw = tape.leaf(gold.upload(&g, "weight"), true);
    let vb = tape.leaf(gold.upload(&g, "bias"), true);
    let y = lin::t_linear(&mut tape, vx.clone(), vw.clone(), vb.clone()).unwrap();
    gold.check(&g, "op_linear y", tape.value(&y), "y", 7);
    let grads = tape.backward_with(&y, Some(gold.upload(&g, "gy"))).unwrap();
    for (what, v) in [("gx", vx), ("gweight", vw), ("gbias", vb)] {
        gold.check(&g, &format!("op_linear {what}"), grads.get(&v).unwrap(), what, 5);
    }
}

#[test]
fn linear_rejects_mismatched_shapes() {
    let g = gpu();
    let (x, w) = (Tensor::zeros(&g, &[3, 7]), Tensor::zeros(&g, &[5, 6]));
    assert!(lin::linear(&g, &x, &w, &Tensor::zeros(&g, &[5])).is_err());
    let w = Tensor::zeros(&g, &[5, 7]);
    assert!(lin::linear(&g, &x, &w, &Tensor::zeros(&g, &[4])).is_err());
}

// ---- cross-entropy ----------------------------------------------------------------------------

#[test]
fn cross_entropy_matches_reference_forward_and_backward() {
    let g = gpu();
    for (n, k) in [(300, 3), (7, 2)] {
        // 300 rows: more than one stride of the 256-thread reduction
        let logits: Vec<f64> = random(n * k, 50).iter().map(|v| 6.0 * v).collect();
        let labels: Vec<usize> =
            random(n, 51).iter().map(|v| (((v + 1.0) / 2.0 * k as f64) as usize).min(k - 1)).collect();
        let lf: Vec<f64> = labels.iter().map(|&l| l as f64).collect();
        let lt = up(&g, &lf, &[n]);
        check(
            &g,
            "softmax",
            &ce::softmax(&g, &up(&g, &logits, &[n, k])).unwrap(),
            &rf::cross_entropy::softmax(&logits, n, k),
            k,
        );
        let mut tape = Tape::new(&g);
        let vl = tape.leaf(up(&g, &logits, &[n, k]), true);
        let loss = ce::t_softmax_cross_entropy(&mut tape, vl.clone(), &lt).unwrap();
        check(
            &g,
            "cross_entropy",
            tape.value(&loss),
            &[rf::cross_entropy::cross_entropy(&logits, &labels, n, k)],
            n * k,
        );
        let grads = tape.backward_with(&loss, Some(up(&g, &[1.3], &[1]))).unwrap();
        check(
            &g,
            "cross_entropy backward",
            grads.get(&vl).unwrap(),
            &rf::cross_entropy::cross_entropy_backward(&logits, &labels, n, k, 1.3),
            k,
        );
    }
}

#[test]
fn cross_entropy_is_finite_for_large_logits() {
    let g = gpu();
    let logits = up(&g, &[1e4, -1e4, -1e4, 1e4], &[2, 2]);
    let loss = ce::softmax_cross_entropy(&g, &logits, &up(&g, &[0.0, 0.0], &[2])).unwrap();
    let v = loss.download(&g).unwrap()[0];
    assert!((v - 1e4).abs() < 1.0, "{v}");
}

#[test]
fn cross_entropy_reference_backward_matches_finite_differences() {
    let (n, k) = (4, 3);
    let logits = random(n * k, 52);
    let labels = [0, 2, 1, 2];
    gradcheck(
        "cross_entropy",
        &mut |x| rf::cross_entropy::cross_entropy(x, &labels, n, k),
        &logits,
        &rf::cross_entropy::cross_entropy_backward(&logits, &labels, n, k, 1.0),
    )
    .unwrap();
}

#[test]
fn cross_entropy_matches_pytorch_golden() {
    let g = gpu();
    let gold = Golden::load("op_cross_entropy");
    let labels = gold.upload(&g, "labels");
    let logits = gold.upload(&g, "logits");
    let probs = ce::softmax(&g, &logits).unwrap();
    gold.check(&g, "op_cross_entropy probs", &probs, "probs", 2);
    let mut tape = Tape::new(&g);
    let vl = tape.leaf(logits, true);
    let loss = ce::t_softmax_cross_entropy(&mut tape, vl.clone(), &labels).unwrap();
    gold.check(&g, "op_cross_entropy loss", tape.value(&loss), "loss", 10);
    let grads = tape.backward(&loss).unwrap();
    gold.check(&g, "op_cross_entropy glogits", grads.get(&vl).unwrap(), "glogits", 2);
}

#[test]
fn cross_entropy_rejects_bad_shapes() {
    let g = gpu();
    assert!(ce::softmax(&g, &Tensor::zeros(&g, &[4, 1])).is_err());
    let err =
        ce::softmax_cross_entropy(&g, &Tensor::zeros(&g, &[4, 2]), &Tensor::zeros(&g, &[3])).unwrap_err().to_string();
    assert!(err.contains("labels"), "{err}");
}
