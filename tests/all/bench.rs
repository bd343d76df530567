//! Smoke tests of `tdfas bench --quick` and `tdfas profile` at the tiny preset: they run and their
//! tables name every kernel family (no timing is asserted: speed is shown by benchmarks).

use crate::common;
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

#[test]
fn peak_probes_compute_what_they_declare() {
    let gpu = common::gpu();
    // the copy probe copies
    let src: Vec<f32> = (0..4096).map(|i| i as f32 * 0.5 - 7.0).collect();
    let t = tdfas::Tensor::upload(&gpu, &src, &[4096]).unwrap();
    assert_eq!(tdfas::ops::peak::copy(&gpu, &t).unwrap().download(&gpu).unwrap(), src);
    // the FMA probe: 8 chains c = c * 0.999 + 0.001 per thread, summed in pairs
    let (groups, iters) = (2, 37);
    let got = tdfas::ops::peak::fma(&gpu, groups, iters).unwrap().download(&gpu).unwrap();
    for t in 0..groups * 256 {
        let s = (t & 1023) as f32 * 1e-4;
        let c: Vec<[f32; 4]> = (0..8)
            .map(|j| {
                let mut c = [s, s + 0.1, s + 0.2, s + 0.3].map(|v| v + 0.01 * j as f32);
                for _ in 0..iters {
                    c = c.map(|v| v.mul_add(0.999, 0.001));
                }
                c
            })
            .collect();
        for (l, g) in got[4 * t..4 * t + 4].iter().enumerate() {
            let want = ((c[0][l] + c[1][l]) + (c[2][l] + c[3][l])) + ((c[4][l] + c[5][l]) + (c[6][l] + c[7][l]));
            assert!((g - want).abs() < 1e-5, "thread {t} lane {l}: {g} against {want}");
        }
    }
}
