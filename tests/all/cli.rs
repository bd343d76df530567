//! The command line end to end: info, a bad adapter override, and the demo's short setting
//! (render, train both stages, evaluate Model 1 and Model 4, write the report), then eval and
//! infer on the checkpoint it trained.

use std::process::Command;

fn tdfas() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tdfas"))
}

#[test]
fn info_names_the_adapter_and_a_bad_override_is_an_error_not_a_panic() {
    let out = tdfas().arg("info").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("adapter") && text.contains("limits"), "{text}");
    let out = tdfas().arg("info").env("TDFAS_ADAPTER", "no-such-gpu-xyz").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("matches no adapter") && !err.contains("panicked"), "{err}");
}

#[test]
fn demo_quick_trains_evaluates_and_writes_its_report_then_eval_and_infer_work() {
    let dir = std::env::temp_dir().join(format!("tdfas-cli-demo-{}", std::process::id()));
    let out = tdfas().args(["demo", "--quick", "--out"]).arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("Model 1 (single-frame)") && stdout.contains("Model 4 (FAS-TD)") && stdout.contains("ACER"),
        "{stdout}"
    );
    for f in ["index.html", "metrics.json", "roc.svg", "det.svg", "depth_grid.png"] {
        let p = dir.join("report").join(f);
        assert!(std::fs::metadata(&p).map(|m| m.len() > 100).unwrap_or(false), "{} missing or empty", p.display());
    }
    let ckpt = dir.join("model4/model.safetensors");
    // the single-frame part's own threshold travels with the multi-frame model (photos use it)
    let loaded = tdfas::model::checkpoint::read(&ckpt).unwrap();
    let stage1 = tdfas::model::checkpoint::read(&dir.join("model4/stage1.safetensors")).unwrap();
    assert!(loaded.calibration_single.is_some());
    assert_eq!(loaded.calibration_single, stage1.calibration);
    let json = dir.join("m4.json");
    let out = tdfas()
        .args(["eval", "--checkpoint"])
        .arg(&ckpt)
        .arg("--data")
        .arg(dir.join("data"))
        .args(["--protocol", "all", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metrics: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(metrics["acer"].as_f64().unwrap() >= 0.0);
    // a protocol with numbered folds: each evaluated, then mean ± std (as OULU-NPU P3/P4)
    for (k, src) in [(1, "all"), (2, "P2")] {
        let (from, to) = (dir.join("data/protocols").join(src), dir.join(format!("data/protocols/fold_{k}")));
        std::fs::create_dir_all(&to).unwrap();
        for split in ["train", "dev", "test"] {
            std::fs::copy(from.join(format!("{split}.txt")), to.join(format!("{split}.txt"))).unwrap();
        }
    }
    let out = tdfas()
        .args(["eval", "--checkpoint"])
        .arg(&ckpt)
        .arg("--data")
        .arg(dir.join("data"))
        .args(["--protocol", "fold", "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("protocol fold_2") && stdout.contains("mean ± std over 2 sub-protocols"), "{stdout}");
    let folds: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (a1, a2) = (
        folds["sub_protocols"]["fold_1"]["acer"].as_f64().unwrap(),
        folds["sub_protocols"]["fold_2"]["acer"].as_f64().unwrap(),
    );
    assert!((a1 - metrics["acer"].as_f64().unwrap()).abs() < 1e-12, "fold_1 is protocol all");
    let mean = folds["mean_std"]["acer"][0].as_f64().unwrap();
    assert!((mean - (a1 + a2) / 2.0).abs() < 1e-12, "{folds}");
    // infer on one test clip folder, with depth maps written
    let live = std::fs::read_dir(dir.join("data/test/live")).unwrap().next().unwrap().unwrap().path();
    let depth = dir.join("depth");
    let out =
        tdfas().args(["infer", "--checkpoint"]).arg(&ckpt).arg("--depth-dir").arg(&depth).arg(&live).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("score"));
    assert!(std::fs::read_dir(&depth).unwrap().count() > 0);
    // unusable input: a clear message and a non-zero exit
    let out = tdfas().args(["infer", "--checkpoint"]).arg(&ckpt).arg(dir.join("no-such-folder")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file or folder"));
    let _ = std::fs::remove_dir_all(&dir);
}
