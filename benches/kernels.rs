//! `cargo bench`: the tdfas benchmark (src/bench/) at the tiny preset, table to stdout, then
//! measurements of engine choices that are not kernel families of the model (timing belongs
//! here, never in tests/).
//! The full-size run is `tdfas bench --preset paper --json FILE` (BENCHMARKS.md).

use std::time::Instant;

use tdfas::ops::batchnorm as bn;
use tdfas::{Gpu, Tensor};

fn main() -> anyhow::Result<()> {
    let gpu = Gpu::new()?;
    tdfas::ops::tune(&gpu)?;
    let opts = tdfas::bench::BenchOptions { preset: "tiny".into(), config: None, quick: false, filter: None };
    let report = tdfas::bench::run(&gpu, &opts, false)?;
    println!("{}", report.table());
    batchnorm_chunking(&gpu)?;
    Ok(())
}

/// BatchNorm forward + backward (training, fused ReLU) with one workgroup per channel and with
/// the statistics split into chunks (`BatchNormSettings::chunk`), best of 4 wall times each.
fn batchnorm_chunking(gpu: &Gpu) -> anyhow::Result<()> {
    let shape = [10, 64, 128, 128];
    let n: usize = shape.iter().product();
    let fill = |n: usize, seed: usize| -> Vec<f32> {
        (0..n).map(|i| (((i + seed * 7919).wrapping_mul(2654435761) >> 7) % 1000) as f32 / 1000.0 - 0.5).collect()
    };
    let x = Tensor::upload(gpu, &fill(n, 1), &shape)?;
    let gy = Tensor::upload(gpu, &fill(n, 2), &shape)?;
    let (gamma, beta) = (Tensor::filled(gpu, &[64], 1.0), Tensor::zeros(gpu, &[64]));
    let (rm, rv) = (Tensor::zeros(gpu, &[64]), Tensor::filled(gpu, &[64], 1.0));
    let default = bn::settings(gpu).chunk.get();
    for chunk in [usize::MAX, default] {
        bn::settings(gpu).chunk.set(chunk);
        let mut best = f64::INFINITY;
        for _ in 0..4 {
            let t0 = Instant::now();
            let (y, stats) = bn::batchnorm_forward(gpu, &x, &gamma, &beta, &rm, &rv, true, 1e-5, 0.1, true)?;
            let out = bn::batchnorm_backward(gpu, &x, &y, &gy, &stats, &gamma, true, true)?;
            gpu.download(&out.1)?;
            best = best.min(t0.elapsed().as_secs_f64() * 1e3);
        }
        let how =
            if chunk == usize::MAX { "one workgroup per channel".to_string() } else { format!("chunks of {chunk}") };
        println!("batchnorm fwd+bwd {shape:?}, {how}: {best:.1} ms");
    }
    bn::settings(gpu).chunk.set(default);
    Ok(())
}
