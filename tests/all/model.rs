//! The whole model against the independent PyTorch implementation (tools/torch_reference.py):
//! outputs, losses, every parameter gradient, and parameters + Adadelta state + BatchNorm
//! running statistics after one and three optimizer steps (llm.c's test_gpt2, for FAS-TD).

use crate::common;
use common::{gpu, Golden};
use tdfas::model::fastd::{FasTd, HostBatch, Losses};
use tdfas::model::{Config, Stage};
use tdfas::reference::max_rel_error;
use tdfas::train::adadelta::Adadelta;
use tdfas::train::trainer::train_step;
use tdfas::{Gpu, Tape, Var};

fn f32s(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

/// A model built from the golden's config with every parameter from `param.*`.
fn model_from(g: &Gpu, golden: &Golden) -> FasTd {
    let mut cfg = Config::from_json(&golden.metadata["config"]).unwrap();
    if golden.metadata["stage"] == "1" {
        cfg.variant = "1".into(); // a stage-1 file holds the single-frame part only
    }
    let mut model = FasTd::new(g, cfg, 0).unwrap();
    let names: Vec<String> = model.params.names().map(String::from).collect();
    for name in &names {
        model.params.set(g, name, &f32s(golden.get(&format!("param.{name}")))).unwrap();
    }
    assert_eq!(count_prefixed(golden, "param."), names.len(), "the golden and the model have different parameter sets");
    model
}

/// `model_from`, set to train `stage`.
fn staged_model_from(g: &Gpu, golden: &Golden, stage: Stage) -> FasTd {
    let mut model = model_from(g, golden);
    model.set_stage(stage);
    model
}

/// How many of the golden's tensors are named `<prefix>...`.
fn count_prefixed(golden: &Golden, prefix: &str) -> usize {
    golden.tensors.keys().filter(|k| k.starts_with(prefix)).count()
}

/// Compares and prints the worst error relative to the largest magnitude of the golden tensor.
fn cmp(report: &mut Vec<String>, what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let err = max_rel_error(got, want);
    report.push(format!("{what:<44} {err:.2e}"));
    assert!(err <= tol, "{what}: worst relative error {err:.3e} > {tol:.1e}\n{}", report.join("\n"));
}

/// [B, T, ...] golden order from per-t tensors of [B, ...].
fn interleave(per_t: &[Vec<f32>], b: usize) -> Vec<f32> {
    let item = per_t[0].len() / b;
    (0..b).flat_map(|bi| per_t.iter().flat_map(move |t| t[bi * item..(bi + 1) * item].to_vec())).collect()
}

fn stage2_batch(golden: &Golden) -> HostBatch {
    HostBatch {
        clips: golden.shape("input.clips")[0],
        frames: f32s(golden.get("input.clips")),
        depth: f32s(golden.get("input.depth")),
        mask: f32s(golden.get("input.mask")),
        labels: f32s(golden.get("input.labels")),
    }
}

const OUT_TOL: f64 = 2e-4;
const GRAD_TOL: f64 = 2e-3;
const STEP_TOL: f64 = 2e-3;

/// Every loss part against `loss.<part>`, then the gradient of every parameter the golden holds
/// against `grad.<name>`; returns how many gradients were compared.
fn check_losses_and_grads(
    g: &Gpu,
    golden: &Golden,
    t: Tape,
    losses: &Losses,
    vars: &[(String, Var)],
    report: &mut Vec<String>,
) -> usize {
    for (name, v) in &losses.parts {
        let key = format!("loss.{name}");
        cmp(report, &key, &t.value(v).download(g).unwrap(), golden.get(&key), OUT_TOL);
    }
    let grads = t.backward(&losses.total).unwrap();
    let mut checked = 0;
    for (name, var) in vars {
        let key = format!("grad.{name}");
        if golden.has(&key) {
            cmp(report, &key, &grads.get(var).unwrap().download(g).unwrap(), golden.get(&key), GRAD_TOL);
            checked += 1;
        }
    }
    checked
}

fn check_steps(g: &Gpu, golden: &Golden, model: &mut FasTd, batch: &HostBatch, stage: Stage, report: &mut Vec<String>) {
    let lr = if stage == Stage::Single { model.cfg.stage1.lr } else { model.cfg.stage2.lr };
    let opt =
        Adadelta::new(g, &mut model.params, lr as f32, model.cfg.adadelta_rho as f32, model.cfg.adadelta_eps as f32)
            .unwrap();
    for step in 1..=3 {
        train_step(g, model, &opt, batch, stage, false).unwrap();
        if step == 2 {
            continue;
        }
        for p in &model.params.params {
            let key = format!("step{step}.{}", p.name);
            if golden.has(&key) {
                cmp(report, &key, &p.value.download(g).unwrap(), golden.get(&key), STEP_TOL);
            }
        }
        for (name, _, _) in &opt.layout.slots {
            let (square_avg, acc_delta) = opt.state(name).unwrap();
            for (state, value) in [("square_avg", square_avg), ("acc_delta", acc_delta)] {
                let key = format!("step{step}.{state}.{name}");
                cmp(report, &key, &value.download(g).unwrap(), golden.get(&key), STEP_TOL);
            }
        }
    }
}

#[test]
fn stage1_matches_pytorch() {
    let g = gpu();
    let golden = Golden::load("model_stage1");
    let model = staged_model_from(&g, &golden, Stage::Single);
    let n = golden.shape("input.frames")[0];
    let batch = HostBatch {
        clips: n,
        frames: f32s(golden.get("input.frames")),
        depth: f32s(golden.get("input.depth")),
        mask: f32s(golden.get("input.mask")),
        labels: vec![0.0; n],
    };
    let mut report = Vec::new();
    let mut t = Tape::new(&g);
    let (d, vars) = model.forward_single(&mut t, &batch, true).unwrap();
    cmp(&mut report, "out.d_single", &t.value(&d).download(&g).unwrap(), golden.get("out.d_single"), OUT_TOL);
    let losses = model.loss_single(&mut t, d, &batch).unwrap();
    let checked = check_losses_and_grads(&g, &golden, t, &losses, &vars, &mut report);
    assert_eq!(checked, count_prefixed(&golden, "grad."), "every golden gradient is checked");
    // a fresh model: the forward above already updated the running statistics once
    let mut model = staged_model_from(&g, &golden, Stage::Single);
    check_steps(&g, &golden, &mut model, &batch, Stage::Single, &mut report);
    println!("{}", report.join("\n"));
}

#[test]
fn stage2_matches_pytorch() {
    let g = gpu();
    let golden = Golden::load("model_stage2");
    let model = staged_model_from(&g, &golden, Stage::Multi);
    let batch = stage2_batch(&golden);
    let b = batch.clips;
    let mut report = Vec::new();
    let mut t = Tape::new(&g);
    let (out, vars) = model.forward(&mut t, &batch, true).unwrap();
    let dl = |t: &Tape, v: &Var| t.value(v).download(&g).unwrap();
    cmp(&mut report, "out.d_single", &dl(&t, &out.d_single), golden.get("out.d_single"), OUT_TOL);
    for (l, o) in out.off.iter().enumerate() {
        cmp(&mut report, &format!("out.o{}", l + 1), &dl(&t, o), golden.get(&format!("out.o{}", l + 1)), OUT_TOL);
    }
    let per_t = |vs: &[Var]| interleave(&vs.iter().map(|v| dl(&t, v)).collect::<Vec<_>>(), b);
    cmp(&mut report, "out.gru1", &per_t(&out.gru1), golden.get("out.gru1"), OUT_TOL);
    cmp(&mut report, "out.d_multi", &per_t(&out.d_multi), golden.get("out.d_multi"), OUT_TOL);
    cmp(&mut report, "out.d_fusion", &per_t(&out.d_fusion), golden.get("out.d_fusion"), OUT_TOL);
    cmp(&mut report, "out.logits", &dl(&t, out.logits.as_ref().unwrap()), golden.get("out.logits"), OUT_TOL);
    for p in &model.params.params {
        let key = format!("out.bn.{}", p.name);
        if golden.has(&key) {
            cmp(&mut report, &key, &p.value.download(&g).unwrap(), golden.get(&key), OUT_TOL);
        }
    }
    let losses = model.loss_multi(&mut t, &out, &batch).unwrap();
    let checked = check_losses_and_grads(&g, &golden, t, &losses, &vars, &mut report);
    assert_eq!(checked, count_prefixed(&golden, "grad."), "every golden gradient is checked");

    // eval-mode score (eq. 18) from a fresh model with the initial parameters
    let fresh = model_from(&g, &golden);
    let scored = fresh.score(&g, &batch).unwrap();
    cmp(&mut report, "eval.score", &f32s(&scored.scores), golden.get("eval.score"), OUT_TOL);

    // the running statistics updated above must be reset before the optimizer steps
    let mut model = staged_model_from(&g, &golden, Stage::Multi);
    check_steps(&g, &golden, &mut model, &batch, Stage::Multi, &mut report);
    println!("{}", report.join("\n"));
}

fn variant_matches_pytorch(file: &str) {
    let g = gpu();
    let golden = Golden::load(file);
    let model = staged_model_from(&g, &golden, Stage::Multi);
    let batch = stage2_batch(&golden);
    let mut report = Vec::new();
    let mut t = Tape::new(&g);
    let (out, vars) = model.forward(&mut t, &batch, true).unwrap();
    let per_t: Vec<Vec<f32>> = out.d_multi.iter().map(|v| t.value(v).download(&g).unwrap()).collect();
    cmp(&mut report, "out.d_multi", &interleave(&per_t, batch.clips), golden.get("out.d_multi"), OUT_TOL);
    let losses = model.loss_multi(&mut t, &out, &batch).unwrap();
    check_losses_and_grads(&g, &golden, t, &losses, &vars, &mut report);
    println!("{}", report.join("\n"));
}

#[test]
fn variant2_matches_pytorch() {
    variant_matches_pytorch("model_variant2");
}

#[test]
fn variant3_matches_pytorch() {
    variant_matches_pytorch("model_variant3");
}

/// Inference folds each eval BatchNorm into the conv before it and puts the ReLU in the conv's
/// epilogue where the kernel has one (the GEMM kernels; the others keep the unfused path): equal
/// to the unfused path within f32 rounding, with running statistics away from their initial 0 / 1.
#[test]
fn fused_inference_matches_the_unfused_path() {
    let g = gpu();
    let golden = Golden::load("model_stage2");
    let model = staged_model_from(&g, &golden, Stage::Multi);
    let batch = stage2_batch(&golden);
    // one training forward moves the running statistics
    let mut t = Tape::new(&g);
    model.forward(&mut t, &batch, true).unwrap();
    drop(t);
    let settings = tdfas::ops::conv::settings(&g).unwrap();
    let tuned = settings.kernel.get();
    let maps = |s: &tdfas::model::fastd::Scored| -> Vec<f32> {
        let all = [&s.d_single, &s.d_multi, &s.d_fusion];
        all.iter().flat_map(|m| m.iter().flatten().flatten().copied()).collect()
    };
    settings.fuse_inference.set(false);
    let plain = model.score(&g, &batch).unwrap();
    settings.fuse_inference.set(true);
    for kernel in [tuned, tdfas::ops::conv::ConvKernel::Gemm, tdfas::ops::conv::ConvKernel::Gemm8] {
        settings.kernel.set(kernel);
        let fused = model.score(&g, &batch).unwrap();
        let want: Vec<f64> = maps(&plain).iter().map(|&v| v as f64).collect();
        let err = max_rel_error(&maps(&fused), &want);
        assert!(err < 1e-4, "{kernel:?}: depth maps differ by {err:e} relative");
        let want: Vec<f64> = plain.scores.clone();
        let err = max_rel_error(&f32s(&fused.scores), &want);
        assert!(err < 1e-4, "{kernel:?}: scores differ by {err:e} relative");
    }
    settings.kernel.set(tuned);
    // the float16-tile kernel, where the adapter has it, within its reduced-precision tolerance
    if tdfas::ops::conv::ConvKernel::Gemm8F16.available(&g) {
        let half = settings.half_inference.replace(true);
        let fused = model.score(&g, &batch).unwrap();
        settings.half_inference.set(half);
        let want: Vec<f64> = maps(&plain).iter().map(|&v| v as f64).collect();
        let err = max_rel_error(&maps(&fused), &want);
        assert!(err < tdfas::ops::conv::HALF_TOLERANCE as f64, "float16 tiles: depth maps differ by {err:e} relative");
    }
}

/// Peak pool memory of clip inference and of one training step of each stage (tiny preset,
/// `bench::peak_memory`: dry runs from a trimmed pool, so exact and quick). Every tape value is
/// freed after its last reader (`tdfas::Var`); one kept longer raises these peaks. The bounds
/// (bytes held from the driver at most, and in use by live tensors at most) are what freeing
/// every value by hand (`Tape::free` after its last use) reached. Freeing by liveness gives
/// inference 2,134,016 / 1,212,416, stage 1 its bound, stage 2 6,736,000 / 4,759,680. A tape
/// that kept every value to the backward would give inference 4,023,936 / 4,023,936 and stage 2
/// 9,388,160 / 8,308,864 (both fail); stage 1 would stay under its bound (10,285,184 /
/// 6,786,944): at this size its backward saves every activation anyway, and its peak is the
/// backward's.
#[test]
fn peak_memory_of_each_stage_is_bounded() {
    let g = common::gpu();
    let cfg = Config::preset("tiny").unwrap();
    let bounds = [
        ("inference (clip, batch 1)", 2_153_856, 1_212_416),
        ("train_step stage 1", 10_545_280, 7_049_088),
        ("train_step stage 2", 6_741_888, 4_759_680),
    ];
    let rows = tdfas::bench::peak_memory(&g, &cfg).unwrap();
    assert_eq!(rows.len(), bounds.len());
    for (r, (name, peak, in_use)) in rows.iter().zip(bounds) {
        assert_eq!((r.name.as_str(), &r.skipped), (name, &None));
        println!("{name}: peak {} in use {}", r.peak_bytes, r.peak_in_use_bytes);
        assert!(
            r.peak_bytes <= peak && r.peak_in_use_bytes <= in_use,
            "{name}: peak {} / in use {} bytes, over main's {peak} / {in_use}",
            r.peak_bytes,
            r.peak_in_use_bytes
        );
    }
}
