//! The adapter's measured peaks (ops::peak): every other row is given as a share of them.

use anyhow::Result;
use serde::Serialize;

use super::kernels::{input, run_kernel, KernelBench};
use super::{Bound, Row};
use crate::gpu::Gpu;

/// The adapter's measured peaks (ops::peak): the FMA probe's GFLOP/s, the copy probe's GB/s.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Peaks {
    pub gflops: f64,
    pub gbps: f64,
}

impl Peaks {
    /// A row's share of the peak that bounds it.
    pub(super) fn share(&self, r: &Row) -> Option<f64> {
        match r.bound {
            Bound::Compute => r.gflops.map(|g| g / self.gflops),
            Bound::Memory => r.gbps.map(|g| g / self.gbps),
            Bound::Latency => None,
        }
    }
}

/// The peak probes (ops::peak) at this adapter type's sizes.
pub(super) fn peak_benches() -> Vec<KernelBench> {
    let fma = KernelBench {
        name: "peak_fma (multiply-adds in registers)".into(),
        family: "peak_fma",
        bound: Bound::Compute,
        tensors: vec![],
        make: Box::new(|gpu| {
            let (groups, iters, _) = crate::ops::peak::sizes(gpu);
            Ok(Box::new(move |gpu: &Gpu| crate::ops::peak::fma(gpu, groups, iters).map(drop)))
        }),
    };
    let copy = KernelBench {
        name: "peak_copy (streaming copy)".into(),
        family: "peak_copy",
        bound: Bound::Memory,
        tensors: vec![],
        make: Box::new(|gpu| {
            let src = input(gpu, &[crate::ops::peak::sizes(gpu).2], 1)?;
            Ok(Box::new(move |gpu: &Gpu| crate::ops::peak::copy(gpu, &src).map(drop)))
        }),
    };
    vec![fma, copy]
}

/// The adapter's peaks from the two probe rows, when both ran.
pub(super) fn peaks_of(rows: &[Row]) -> Option<Peaks> {
    let rate = |family: &str| rows.iter().find(|r| r.family == family && r.skipped.is_none());
    Some(Peaks { gflops: rate("peak_fma")?.gflops?, gbps: rate("peak_copy")?.gbps? })
}

/// Measures the adapter's peaks (the probes' rows).
pub fn measure_peaks(gpu: &Gpu, quick: bool) -> Result<Option<Peaks>> {
    let rows: Vec<Row> = peak_benches().iter().map(|kb| run_kernel(gpu, kb, quick)).collect::<Result<_>>()?;
    Ok(peaks_of(&rows))
}
