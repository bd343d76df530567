//! The engine foundation: elementwise ops and matmul against their f64 references, reference
//! backwards against finite differences, and a small chain trained through the tape.

use crate::common;
use common::{check, gpu, up};
use tdfas::ops::{elementwise as ew, matmul};
use tdfas::reference::{basic as r, dot, gradcheck, random, to_f64};
use tdfas::{Tape, Tensor};

#[test]
fn elementwise_ops_match_reference() {
    // not a multiple of the 256-thread workgroup; and a multiple of 4 (the vec4 kernels on a CPU
    // adapter, 1037 / 4 not a multiple of 256 either)
    for n in [1000 + 37, 4 * 1037] {
        elementwise_case(n);
    }
}

fn elementwise_case(n: usize) {
    let g = gpu();
    let a = random(n, 1).iter().map(|v| v * 4.0).collect::<Vec<_>>();
    let b = random(n, 2);
    let (ta, tb) = (up(&g, &a, &[n]), up(&g, &b, &[n]));
    check(&g, "add", &ew::add(&g, &ta, &tb).unwrap(), &a.iter().zip(&b).map(|(x, y)| x + y).collect::<Vec<_>>(), 1);
    check(&g, "sub", &ew::sub(&g, &ta, &tb).unwrap(), &a.iter().zip(&b).map(|(x, y)| x - y).collect::<Vec<_>>(), 1);
    check(&g, "mul", &ew::mul(&g, &ta, &tb).unwrap(), &a.iter().zip(&b).map(|(x, y)| x * y).collect::<Vec<_>>(), 1);
    check(&g, "scale", &ew::scale(&g, &ta, -0.5).unwrap(), &a.iter().map(|x| -0.5 * x).collect::<Vec<_>>(), 1);
    check(
        &g,
        "axpy",
        &ew::axpy(&g, 3.0, &ta, &tb).unwrap(),
        &a.iter().zip(&b).map(|(x, y)| 3.0 * x + y).collect::<Vec<_>>(),
        1,
    );
    check(&g, "relu", &ew::relu(&g, &ta).unwrap(), &r::relu(&a), 1);
    check(&g, "relu'", &ew::relu_backward(&g, &ta, &tb).unwrap(), &r::relu_backward(&a, &b), 1);
    let revived = r::relu_revive_backward(&a, &b);
    check(&g, "relu' (revive)", &ew::relu_revive_backward(&g, &ta, &tb).unwrap(), &revived, 1);
    // the reference: ReLU's own gradient where x > 0 or the gradient would push x down
    for ((&x, &gy), &v) in a.iter().zip(&b).zip(&revived) {
        assert_eq!(v, if x > 0.0 || gy >= 0.0 { r::relu_backward(&[x], &[gy])[0] } else { gy }, "x {x}, gy {gy}");
    }
    let s = r::sigmoid(&a);
    check(&g, "sigmoid", &ew::sigmoid(&g, &ta).unwrap(), &s, 1);
    check(&g, "sigmoid'", &ew::sigmoid_backward(&g, &up(&g, &s, &[n]), &tb).unwrap(), &r::sigmoid_backward(&s, &b), 1);
    let t = r::tanh(&a);
    check(&g, "tanh", &ew::tanh(&g, &ta).unwrap(), &t, 1);
    check(&g, "tanh'", &ew::tanh_backward(&g, &up(&g, &t, &[n]), &tb).unwrap(), &r::tanh_backward(&t, &b), 1);
}

#[test]
fn activations_are_finite_for_large_inputs() {
    let g = gpu();
    let x = [-1e4, -100.0, 0.0, 100.0, 1e4];
    let tx = up(&g, &x, &[5]);
    let s = ew::sigmoid(&g, &tx).unwrap().download(&g).unwrap();
    let t = ew::tanh(&g, &tx).unwrap().download(&g).unwrap();
    assert!(s.iter().chain(&t).all(|v| v.is_finite()), "{s:?} {t:?}");
    assert_eq!((s[0], s[4], t[0], t[4]), (0.0, 1.0, -1.0, 1.0));
}

#[test]
fn reference_activation_backwards_match_finite_differences() {
    let x = random(7, 3);
    let gy = random(7, 4);
    for (name, f, b) in
        [("sigmoid", r::sigmoid as fn(&[f64]) -> Vec<f64>, true), ("tanh", r::tanh as fn(&[f64]) -> Vec<f64>, false)]
    {
        let y = f(&x);
        let analytic = if b { r::sigmoid_backward(&y, &gy) } else { r::tanh_backward(&y, &gy) };
        gradcheck(name, &mut |x| dot(&f(x), &gy), &x, &analytic).unwrap();
    }
    // ReLU away from its kink
    let xr: Vec<f64> = x.iter().map(|v| if v.abs() < 0.05 { 0.3 } else { *v }).collect();
    gradcheck("relu", &mut |x| dot(&r::relu(x), &gy), &xr, &r::relu_backward(&xr, &gy)).unwrap();
}

#[test]
fn matmul_with_transposes_matches_reference() {
    let g = gpu();
    let (m, k, n) = (19, 23, 17);
    let a = random(m * k, 8);
    let b = random(k * n, 9);
    let want = r::matmul(&a, &b, m, k, n);
    let (ta, tb) = (up(&g, &a, &[m, k]), up(&g, &b, &[k, n]));
    check(&g, "matmul", &matmul::matmul(&g, &ta, &tb, false, false).unwrap(), &want, k);
    let at = up(&g, &r::transpose(&a, m, k), &[k, m]);
    let bt = up(&g, &r::transpose(&b, k, n), &[n, k]);
    check(&g, "matmul ta", &matmul::matmul(&g, &at, &tb, true, false).unwrap(), &want, k);
    check(&g, "matmul tb", &matmul::matmul(&g, &ta, &bt, false, true).unwrap(), &want, k);
    let gc = random(m * n, 10);
    let (ga, gb) = r::matmul_backward(&a, &b, &gc, m, k, n);
    gradcheck("matmul dA", &mut |x| dot(&r::matmul(x, &b, m, k, n), &gc), &a, &ga).unwrap();
    gradcheck("matmul dB", &mut |x| dot(&r::matmul(&a, x, m, k, n), &gc), &b, &gb).unwrap();
}

/// `Gpu`s opened at once on several threads share one wgpu device (one per process: several
/// devices in one test process hung on NVIDIA's driver), each with its own pool, kernels and
/// recorder: matmuls of each thread's own data, interleaved with the others', give each its own
/// result; a wgpu error one thread makes is reported to that thread's `Gpu` only.
#[test]
fn gpus_on_several_threads_share_one_device_and_keep_their_own_state() {
    const THREADS: usize = 4;
    let barrier = std::sync::Barrier::new(THREADS);
    let devices: Vec<wgpu::Device> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait(); // open at once
                    let g = gpu();
                    let (m, k, n) = (9 + t, 23, 17);
                    for round in 0..4 {
                        let a = random(m * k, (100 * t + round) as u64);
                        let b = random(k * n, (100 * t + round + 50) as u64);
                        let c = matmul::matmul(&g, &up(&g, &a, &[m, k]), &up(&g, &b, &[k, n]), false, false).unwrap();
                        check(&g, &format!("thread {t} round {round}"), &c, &r::matmul(&a, &b, m, k, n), k);
                    }
                    // a second Gpu on this thread: the same device, its own pool
                    let g2 = gpu();
                    assert!(g.device.shares_with(&g2.device));
                    assert!(g.pool.usage().0 > 0 && g2.pool.usage().0 == 0);
                    barrier.wait();
                    if t == 0 {
                        // MAP_READ goes with COPY_DST only: a validation error, reported on this thread
                        let _ = g.device.raw().create_buffer(&wgpu::BufferDescriptor {
                            label: Some("invalid on purpose"),
                            size: 256,
                            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::STORAGE,
                            mapped_at_creation: false,
                        });
                    }
                    barrier.wait();
                    let checked = g.device.check();
                    assert_eq!(checked.is_err(), t == 0, "thread {t}: {checked:?}");
                    // reported once, and the device goes on working
                    g.device.check().unwrap();
                    let a = random(m * k, 7);
                    let c = matmul::matmul(&g, &up(&g, &a, &[m, k]), &up(&g, &a, &[k, m]), false, false).unwrap();
                    check(&g, "after the error", &c, &r::matmul(&a, &a, m, k, m), k);
                    g.device.raw().clone()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(devices.iter().all(|d| *d == devices[0]), "one wgpu device for every Gpu of the process");
}

/// Mean of all elements -> [1, 1], as ones[1, n] @ x[n, 1] / n (the model needs no reduction op;
/// its losses have their own kernels).
fn t_mean(tape: &mut Tape, x: tdfas::Var) -> anyhow::Result<tdfas::Var> {
    let n = tape.value(&x).numel();
    let ones = tape.leaf(Tensor::filled(tape.gpu, &[1, n], 1.0), false);
    let column = ew::t_reshape(tape, x, &[n, 1])?;
    let sum = matmul::t_matmul(tape, ones, column)?;
    ew::t_scale(tape, sum, 1.0 / n as f32)
}

/// loss = mean((X W + B)^2 * c): matmul -> add -> mul -> mean, with W used twice (accumulation).
fn chain_loss(x: &[f64], w: &[f64], bias: &[f64], c: &[f64], n: usize, k: usize, m: usize) -> f64 {
    let y = r::matmul(x, w, n, k, m);
    let z: Vec<f64> = y.iter().zip(bias).map(|(a, b)| a + b).collect();
    z.iter().zip(&z).zip(c).map(|((a, b), c)| a * b * c).sum::<f64>() / z.len() as f64
}

#[test]
fn a_chain_of_ops_trains_through_the_tape_with_correct_gradients() {
    let g = gpu();
    let (n, k, m) = (5, 7, 3);
    let x = random(n * k, 11);
    let mut w = random(k * m, 12);
    let bias = random(n * m, 13);
    let c: Vec<f64> = random(n * m, 14).iter().map(|v| v.abs() + 0.5).collect();
    let mut losses = Vec::new();
    for step in 0..20 {
        let mut tape = Tape::new(&g);
        let vx = tape.leaf(up(&g, &x, &[n, k]), false);
        let vw = tape.leaf(up(&g, &w, &[k, m]), true);
        let vb = tape.leaf(up(&g, &bias, &[n, m]), true);
        let vc = tape.leaf(up(&g, &c, &[n, m]), false);
        let y = matmul::t_matmul(&mut tape, vx, vw.clone()).unwrap();
        let z = ew::t_add(&mut tape, y, vb.clone()).unwrap();
        let z2 = ew::t_mul(&mut tape, z.clone(), z).unwrap(); // z used twice: gradients accumulate
        let zc = ew::t_mul(&mut tape, z2, vc).unwrap();
        let loss = t_mean(&mut tape, zc).unwrap();
        let loss_value = tape.value(&loss).download(&g).unwrap()[0] as f64;
        let want = chain_loss(&x, &w, &bias, &c, n, k, m);
        assert!((loss_value - want).abs() < 1e-5 * want.abs().max(1.0), "loss {loss_value} vs {want}");
        losses.push(loss_value);
        let grads = tape.backward(&loss).unwrap();
        let gw = to_f64(&grads.get(&vw).unwrap().download(&g).unwrap());
        let gb = to_f64(&grads.get(&vb).unwrap().download(&g).unwrap());
        if step == 0 {
            let numeric_w = tdfas::reference::numeric_grad(&mut |w| chain_loss(&x, w, &bias, &c, n, k, m), &w, 1e-6);
            let numeric_b = tdfas::reference::numeric_grad(&mut |b| chain_loss(&x, &w, b, &c, n, k, m), &bias, 1e-6);
            tdfas::reference::assert_close("dW vs finite differences", &tdfas::reference::to_f32(&numeric_w), &gw, n)
                .unwrap();
            tdfas::reference::assert_close("dB vs finite differences", &tdfas::reference::to_f32(&numeric_b), &gb, 1)
                .unwrap();
        }
        w.iter_mut().zip(&gw).for_each(|(w, g)| *w -= 0.5 * g);
    }
    assert!(losses[19] < 0.5 * losses[0], "loss did not fall: {losses:?}");
}

#[test]
fn a_recorded_step_is_one_submit_and_reads_nothing_back() {
    let g = gpu();
    let x = Tensor::upload(&g, &vec![1.0; 64 * 64], &[64, 64]).unwrap();
    g.flush().unwrap();
    let before = g.submit_count();
    let mut tape = Tape::new(&g);
    let vx = tape.leaf(x, true);
    let y = matmul::t_matmul(&mut tape, vx.clone(), vx.clone()).unwrap();
    let z = ew::t_relu(&mut tape, y).unwrap();
    let loss = t_mean(&mut tape, z).unwrap();
    let grads = tape.backward(&loss).unwrap();
    assert!(g.pending() > 5);
    assert_eq!(g.submit_count(), before, "nothing may be submitted while recording");
    g.flush().unwrap();
    assert_eq!(g.submit_count(), before + 1, "one step = one submit");
    // 64x64 ones: y = 64 everywhere; d mean(relu(X X)) / dX = 2 * 64 / 4096 per element
    let gx = grads.get(&vx).unwrap().download(&g).unwrap();
    assert!(gx.iter().all(|v| (v - 2.0 * 64.0 / 4096.0).abs() < 1e-6), "{}", gx[0]);
}

/// The conv autotune runs only when called (`ops::tune`, right after a device is opened): a
/// convolution on an untuned device is refused, tuning is refused while work is recorded, in a dry
/// run or under the profiler, and once tuned, recording a conv step tunes nothing (the settings
/// stay the ones made, nothing is submitted before the flush, which is one submit).
#[test]
fn tuning_is_explicit_and_never_runs_while_recording() {
    use tdfas::ops::conv;
    let g = tdfas::Gpu::new().unwrap();
    let x = Tensor::upload(&g, &vec![0.5; 2 * 4 * 8 * 8], &[2, 4, 8, 8]).unwrap();
    let w = Tensor::upload(&g, &vec![0.1; 4 * 4 * 3 * 3], &[4, 4, 3, 3]).unwrap();
    let Err(e) = conv::conv2d(&g, &x, &w, None) else { panic!("an untuned device has no conv kernel") };
    let e = e.to_string();
    assert!(e.contains("not tuned") && e.contains("tdfas::ops::tune"), "{e}");
    assert!(conv::settings(&g).is_err());
    // the uploads are recorded, not yet submitted: no tuning now
    assert!(g.pending() > 0);
    let e = tdfas::ops::tune(&g).expect_err("refused while work is recorded").to_string();
    assert!(e.contains("before anything is recorded") && e.contains("work is recorded"), "{e}");
    g.flush().unwrap();
    assert!(g.dry_run(|| tdfas::ops::tune(&g)).err().unwrap().to_string().contains("dry run"));
    g.start_profiler(Default::default());
    assert!(tdfas::ops::tune(&g).err().unwrap().to_string().contains("profiling"));
    g.take_profiler();
    let tuned = conv::tune(&g).unwrap();
    tdfas::ops::tune(&g).unwrap();
    assert!(std::rc::Rc::ptr_eq(&tuned, &conv::tune(&g).unwrap()), "tuned once");

    let before = g.submit_count();
    let mut tape = Tape::new(&g);
    let vx = tape.leaf(x, false);
    let vw = tape.leaf(w, true);
    let y = conv::t_conv2d(&mut tape, vx, vw.clone(), None).unwrap();
    let loss = t_mean(&mut tape, y).unwrap();
    let grads = tape.backward(&loss).unwrap();
    assert_eq!(g.submit_count(), before, "nothing submitted while recording: no tuning ran");
    assert!(std::rc::Rc::ptr_eq(&tuned, &conv::settings(&g).unwrap()), "the settings made by tune");
    g.flush().unwrap();
    assert_eq!(g.submit_count(), before + 1, "one step = one submit");
    // each weight sees 2 x 8 x 8 inputs of 0.5 (fewer at the border), each output 1 / numel
    let gw = grads.get(&vw).unwrap().download(&g).unwrap();
    assert!(gw.iter().all(|v| *v > 0.0 && *v <= 0.5 * 128.0 / 512.0 + 1e-6), "{gw:?}");
}

#[test]
fn pooled_buffers_are_reused_across_steps() {
    let g = gpu();
    for _ in 0..3 {
        let a = Tensor::zeros(&g, &[1000]);
        let b = ew::add(&g, &a, &a).unwrap();
        b.download(&g).unwrap();
    }
    let (allocated, in_use) = g.pool.usage();
    assert_eq!(in_use, 0);
    assert!(allocated <= 3 * 4096, "pool grew to {allocated} bytes");
}

/// The tape sums the gradients of a value read by k ops (grad_sum.wgsl, up to 7 a dispatch, and
/// chained adds for sizes that are not whole vec4s or gradients over 4 MiB) in arrival order:
/// against the f64 sum for k = 2 .. 16.
#[test]
fn gradients_of_a_value_read_many_times_are_summed() {
    let g = gpu();
    for (n, ks) in [(4 * 37, vec![2, 3, 7, 8, 15, 16]), (37, vec![2, 9]), ((4 << 20) / 4 + 4, vec![3])] {
        for k in ks {
            let x = random(n, 400 + k as u64);
            let gy = random(n, 500 + k as u64);
            let mut tape = Tape::new(&g);
            let vx = tape.leaf(up(&g, &x, &[n]), true);
            // y = sum_i s_i * x, so dy/dx = sum_i s_i
            let scales: Vec<f32> = (0..k).map(|i| 0.5 + i as f32 * 0.25).collect();
            let mut y = ew::t_scale(&mut tape, vx.clone(), scales[0]).unwrap();
            for &s in &scales[1..] {
                let ys = ew::t_scale(&mut tape, vx.clone(), s).unwrap();
                y = ew::t_add(&mut tape, y, ys).unwrap();
            }
            let grads = tape.backward_with(&y, Some(up(&g, &gy, &[n]))).unwrap();
            let total: f64 = scales.iter().map(|&s| s as f64).sum();
            let want: Vec<f64> = gy.iter().map(|v| v * total).collect();
            check(&g, &format!("gradient summed over {k} uses of {n} values"), grads.get(&vx).unwrap(), &want, 4);
        }
    }
}
