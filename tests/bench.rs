//! Smoke tests of `tdfas bench --quick` and `tdfas profile` at the tiny preset: they run and their
//! tables name every kernel family (no timing is asserted: speed is shown by benchmarks).

mod common;
use tdfas::bench::{families, profile, run, BenchOptions};
use tdfas::model::Config;

#[test]
fn bench_quick_covers_every_family() {
    let gpu = common::gpu();
    let report =
        run(&gpu, &BenchOptions { preset: "paper".into(), config: None, quick: true, filter: None }, false).unwrap();
    assert_eq!(report.preset, "tiny", "--quick uses the tiny preset");
    let table = report.table();
    for family in families() {
        assert!(report.rows.iter().any(|r| r.family == *family), "no {family} row\n{table}");
        assert!(table.contains(family), "the table does not name {family}\n{table}");
    }
    for r in &report.rows {
        assert!(r.skipped.is_none(), "{} was skipped at the tiny preset: {:?}", r.name, r.skipped);
        let ms = r.ms.unwrap();
        assert!(ms.is_finite() && ms >= 0.0, "{}: time {ms}", r.name);
        assert!(r.bytes > 0.0, "{}: declares no memory traffic", r.name);
    }
    // every conv row does arithmetic, so its GFLOP/s exists
    for r in report.rows.iter().filter(|r| r.family.starts_with("conv2d")) {
        assert!(r.flop > 0.0 && r.gflops.is_some(), "{}: no flop count", r.name);
    }
    let json: serde_json::Value = serde_json::from_str(&report.json().unwrap()).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), report.rows.len());
    assert!(json["adapter"].as_str().unwrap().len() > 3);
}

#[test]
fn bench_filter_selects_rows() {
    let gpu = common::gpu();
    let opts = BenchOptions { preset: "tiny".into(), config: None, quick: true, filter: Some("sobel".into()) };
    let report = run(&gpu, &opts, false).unwrap();
    assert!(!report.rows.is_empty());
    assert!(report.rows.iter().all(|r| r.name.contains("sobel")), "{}", report.table());
}

#[test]
fn profile_tables_name_every_kernel_family() {
    let gpu = common::gpu();
    let p = profile(&gpu, &Config::preset("tiny").unwrap()).unwrap();
    assert_eq!(p.phases.len(), 3);
    let table = p.table();
    let (stage1, stage2) = (p.phases[0].1.table(), p.phases[1].1.table());
    for k in ["conv2d_forward", "conv2d_weight_grad", "maxpool", "resize"] {
        assert!(stage1.contains(k), "stage-1 step has no {k}\n{table}");
    }
    // BatchNorm: the general kernels, or on a CPU adapter the vec4 ones (fused per channel at
    // the tiny preset's sizes)
    let stats = ["batchnorm_stats", "batchnorm_vec4::stats4", "batchnorm_vec4::train4"];
    let back = ["batchnorm_backward", "batchnorm_vec4::backward4", "batchnorm_vec4::train_backward4"];
    for ks in [stats, back] {
        assert!(ks.iter().any(|k| stage1.contains(k)), "stage-1 step has none of {ks:?}\n{table}");
    }
    for k in ["sobel", "gru_gates", "gru_update", "depth_loss", "linear", "matmul", "adadelta", "cross_entropy"] {
        assert!(stage2.contains(k), "stage-2 step has no {k}\n{table}");
    }
    for (name, prof) in &p.phases {
        for (kernel, s) in &prof.kernels {
            assert!(s.bytes > 0.0, "{name}: {kernel} declares no memory traffic (Cost::default?)");
        }
    }
}
