//! The page's bench view: kernel rows at the model's shapes (a 64 x 64 input's first layers)
//! and one clip's inference, timed by the wall clock from recording to an awaited readback of one
//! value (the browser's timer; each row's time includes one submit and one readback), as
//! milliseconds per call and GFLOP/s where the FLOPs are the layer's multiply-adds. Timestamp
//! queries are not used: the engine's profiler reads them back by blocking, which the browser
//! cannot.

use anyhow::Result;
#[cfg(not(target_arch = "wasm32"))]
use std::time::Instant;
#[cfg(target_arch = "wasm32")]
use web_time::Instant;

use crate::gpu::Gpu;
use crate::model::fastd::{FasTd, HostBatch};
use crate::ops::{batchnorm as bn, conv, gru, pool, sobel};
use crate::reference::{random, to_f32};
use crate::tensor::Tensor;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub name: String,
    pub ms: f64,
    /// None where the row's FLOPs are not counted (memory-bound ops, a whole clip)
    pub gflops: Option<f64>,
}

fn t(g: &Gpu, shape: &[usize], seed: u64) -> Result<Tensor> {
    Tensor::upload(g, &to_f32(&random(shape.iter().product(), seed)), shape)
}

/// Runs `op` until 0.3 s or 30 calls have passed (after one warm-up call); ms per call.
async fn time(g: &Gpu, mut op: impl FnMut() -> Result<Tensor>) -> Result<f64> {
    let sync = |y: Tensor| async move { y.flat(0..1).download_async(g).await };
    sync(op()?).await?;
    let start = Instant::now();
    let mut calls = 0;
    while calls < 30 && (calls == 0 || start.elapsed().as_secs_f64() < 0.3) {
        sync(op()?).await?;
        calls += 1;
    }
    Ok(start.elapsed().as_secs_f64() * 1e3 / calls as f64)
}

/// Every row on `g`; `model` adds its clip's inference.
pub async fn run(g: &Gpu, model: Option<&FasTd>) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut add = |name: String, ms: f64, flops: Option<f64>| {
        rows.push(Row { name, ms, gflops: flops.map(|f| f / (ms * 1e6)) });
    };
    let (n, c, h, w) = (1, 32, 64, 64);
    let x = t(g, &[n, c, h, w], 1)?;
    let wt = t(g, &[c, c, 3, 3], 2)?;
    let b = t(g, &[c], 3)?;
    let gy = t(g, &[n, c, h, w], 4)?;
    let macs = (n * c * c * 9 * h * w) as f64;
    let what = format!("[{n}, {c}, {h}, {w}] 3x3 -> {c}");
    add(format!("conv forward {what}"), time(g, || conv::conv2d(g, &x, &wt, Some(&b))).await?, Some(2.0 * macs));
    add(
        format!("conv input gradient {what}"),
        time(g, || conv::conv2d_backward_input(g, &gy, &wt)).await?,
        Some(2.0 * macs),
    );
    add(
        format!("conv weight gradient {what}"),
        time(g, || conv::conv2d_backward_weight(g, &x, &gy, 3)).await?,
        Some(2.0 * macs),
    );
    let (gamma, beta, rm, rv) = (t(g, &[c], 5)?, t(g, &[c], 6)?, t(g, &[c], 7)?, Tensor::filled(g, &[c], 1.0));
    let ms = time(g, || bn::batchnorm_train(g, &x, &gamma, &beta, &rm, &rv, 1e-5, 0.1)).await?;
    add(format!("batchnorm train [{n}, {c}, {h}, {w}]"), ms, None);
    add(format!("maxpool 2x2 [{n}, {c}, {h}, {w}]"), time(g, || Ok(pool::maxpool2(g, &x)?.0)).await?, None);
    add(format!("sobel x and y [{n}, {c}, {h}, {w}]"), time(g, || sobel::sobel_xy(g, &x)).await?, None);
    let (pr, pu, hp) = (t(g, &[n, c, h, w], 8)?, t(g, &[n, c, h, w], 9)?, t(g, &[n, c, h, w], 10)?);
    add(
        format!("convgru gates [{n}, {c}, {h}, {w}]"),
        time(g, || Ok(gru::gru_gates(g, &pr, &pu, &hp)?.0)).await?,
        None,
    );
    if let Some(m) = model {
        let cfg = &m.cfg;
        let (nf, s, side) = (cfg.frames, cfg.map_size(), cfg.image_size);
        let batch = HostBatch {
            clips: 1,
            frames: to_f32(&random(nf * 3 * side * side, 11)),
            depth: vec![0.0; nf * s * s],
            mask: vec![1.0; nf * s * s],
            labels: vec![0.0],
        };
        m.score_async(g, &batch).await?;
        let start = Instant::now();
        let mut calls = 0;
        while calls < 10 && (calls == 0 || start.elapsed().as_secs_f64() < 1.0) {
            m.score_async(g, &batch).await?;
            calls += 1;
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / calls as f64;
        add(
            format!("clip inference (the loaded model: {nf} frames of {side} x {side}, variant {})", cfg.variant),
            ms,
            None,
        );
    }
    Ok(rows)
}
