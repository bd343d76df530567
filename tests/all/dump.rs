//! `tdfas dump`: the intermediates it writes are PyTorch's (checked on the stage-2 golden's first
//! clip, evaluation mode), consistent with each other, and the command line writes them for a
//! checkpoint and a folder of frames.

use crate::common;
use common::{gpu, Golden};
use tdfas::model::fastd::{FasTd, HostBatch};
use tdfas::model::Config;

const TOL: f64 = 2e-4;

fn f32s(x: &[f64]) -> Vec<f32> {
    x.iter().map(|&v| v as f32).collect()
}

fn worst_rel(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-6f64, |m, v| m.max(v.abs()));
    got.iter().zip(want).map(|(g, w)| (*g as f64 - w).abs()).fold(0.0, f64::max) / scale
}

#[test]
fn dump_of_one_clip_matches_pytorch_eval_outputs() {
    let g = gpu();
    let golden = Golden::load("model_stage2");
    let cfg = Config::from_json(&golden.metadata["config"]).unwrap();
    let mut model = FasTd::new(&g, cfg.clone(), 0).unwrap();
    let names: Vec<String> = model.params.names().map(String::from).collect();
    for name in &names {
        model.params.set(&g, name, &f32s(golden.get(&format!("param.{name}")))).unwrap();
    }
    // clip 0 of the golden batch alone: in evaluation mode clips do not interact
    let (nf, h, s) = (cfg.frames, cfg.image_size, cfg.map_size());
    let batch = HostBatch {
        clips: 1,
        frames: f32s(&golden.get("input.clips")[..nf * 3 * h * h]),
        depth: f32s(&golden.get("input.depth")[..nf * s * s]),
        mask: f32s(&golden.get("input.mask")[..nf * s * s]),
        labels: vec![golden.get("input.labels")[0] as f32],
    };
    let dump = tdfas::dump::dump_clip(&g, &model, &batch).unwrap();
    let first = |name: &str| {
        let want = golden.get(name);
        let n = want.len() / golden.shape(name)[0];
        want[..n].to_vec()
    };
    for (ours, theirs) in [
        ("out.d_single", "eval.d_single"),
        ("out.d_fusion", "eval.d_fusion"),
        ("out.logits", "eval.logits"),
        ("eval.score", "eval.score"),
    ] {
        let (_, shape, data) = dump.get(ours).unwrap_or_else(|| panic!("dump has no {ours}"));
        assert_eq!(&shape[1..], &golden.shape(theirs)[1..], "{ours} shape");
        let err = worst_rel(data, &first(theirs));
        println!("{ours:<14} vs PyTorch {theirs:<14} worst rel err {err:.2e}");
        assert!(err < TOL, "{ours}: {err:.2e} > {TOL}");
    }
    // every intermediate of a variant-4 model, and D_fusion = a D_single + (1 - a) D_multi
    for name in ["out.o1", "out.o2", "out.o3", "out.gru1", "out.d_multi", "out.p_live", "input.clips"] {
        assert!(dump.get(name).is_some(), "dump has no {name}");
    }
    let (ds, dm, df) = (
        &dump.get("out.d_single").unwrap().2,
        &dump.get("out.d_multi").unwrap().2,
        &dump.get("out.d_fusion").unwrap().2,
    );
    let a = cfg.alpha as f32;
    for (i, f) in df.iter().enumerate() {
        assert!((f - (a * ds[i] + (1.0 - a) * dm[i])).abs() < 1e-5, "d_fusion[{i}]");
    }
}

/// `tdfas dump --checkpoint ckpt --input input --out out`
fn run_dump(ckpt: &std::path::Path, input: &std::path::Path, out: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tdfas"))
        .args(["dump", "--checkpoint"])
        .arg(ckpt)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn dump_command_writes_a_safetensors_file_and_rejects_bad_input() {
    let g = gpu();
    let dir = std::env::temp_dir().join(format!("tdfas-dump-{}", std::process::id()));
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mut cfg = Config::preset("tiny").unwrap();
    cfg.image_size = 24;
    let model = FasTd::new(&g, cfg.clone(), 3).unwrap();
    let ckpt = dir.join("model.safetensors");
    let progress = tdfas::model::checkpoint::Progress { stage: 2, step: 0, seed: 3, stage_done: true, init: None };
    tdfas::train::checkpoint::save(&g, &ckpt, &model, None, &progress).unwrap();
    for i in 0..(cfg.frames - 1) * cfg.interval + 1 {
        let img = image::RgbImage::from_fn(40, 40, |x, y| image::Rgb([(x * 6) as u8, (y * 6) as u8, (i * 20) as u8]));
        img.save(frames.join(format!("{i:04}.png"))).unwrap();
    }
    let out = dir.join("dump.safetensors");
    let run = run_dump(&ckpt, &frames, &out);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let bytes = std::fs::read(&out).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let s = cfg.map_size();
    assert_eq!(st.tensor("input.clips").unwrap().shape(), &[1, cfg.frames, 3, 24, 24]);
    assert_eq!(st.tensor("out.d_single").unwrap().shape(), &[1, cfg.frames, 1, s, s]);
    assert_eq!(st.tensor("out.d_fusion").unwrap().shape(), &[1, cfg.frames - 1, 1, s, s]);
    assert_eq!(st.tensor("out.gru1").unwrap().shape(), &[1, cfg.frames - 1, cfg.gru_hidden, s, s]);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(Config::from_json(&meta.metadata().as_ref().unwrap()["config"]).unwrap(), cfg);

    // a folder without frames: one clear line naming it, exit 1
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let run = run_dump(&ckpt, &empty, &dir.join("x.safetensors"));
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{err}");
    assert!(err.contains("empty") && err.contains("no frames") && !err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
