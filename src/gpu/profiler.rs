//! Per-kernel timing table: calls, total time, GFLOP/s and GB/s.

use std::collections::BTreeMap;

/// Work done by one dispatch, declared by the op that records it: `flops` the arithmetic, `bytes`
/// the compulsory memory traffic (every tensor the kernel touches read or written once; reloads
/// of neighbours that a cache serves are not counted), so GB/s compares with the memory bandwidth.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cost {
    pub flops: f64,
    pub bytes: f64,
}

impl Cost {
    pub fn new(flops: f64, bytes: f64) -> Self {
        Self { flops, bytes }
    }
    /// An elementwise kernel touching `n` floats `reads + writes` times each, `flops_per` each.
    pub fn elementwise(n: usize, flops_per: f64, accesses: f64) -> Self {
        Self { flops: n as f64 * flops_per, bytes: n as f64 * 4.0 * accesses }
    }
}

#[derive(Default, Clone, Debug)]
pub struct KernelStats {
    pub calls: u64,
    pub ns: f64,
    pub flops: f64,
    pub bytes: f64,
}

#[derive(Default)]
pub struct Profiler {
    pub kernels: BTreeMap<String, KernelStats>,
    /// true when times come from GPU timestamps, false when from per-dispatch wall time
    pub gpu_timestamps: bool,
}

impl Profiler {
    pub fn record(&mut self, name: &str, ns: f64, cost: Cost) {
        let s = self.kernels.entry(name.to_string()).or_default();
        s.calls += 1;
        s.ns += ns;
        s.flops += cost.flops;
        s.bytes += cost.bytes;
    }

    pub fn total_ms(&self) -> f64 {
        self.kernels.values().map(|s| s.ns).sum::<f64>() / 1e6
    }

    /// The table, slowest kernel first, so the next kernel to optimise is on top.
    pub fn table(&self) -> String {
        self.table_with_peaks(None)
    }

    /// `table`, with each kernel's share of the adapter's measured peaks (GFLOP/s, GB/s) when given.
    pub fn table_with_peaks(&self, peaks: Option<(f64, f64)>) -> String {
        let total = self.total_ms().max(1e-12);
        let mut rows: Vec<_> = self.kernels.iter().collect();
        rows.sort_by(|a, b| b.1.ns.partial_cmp(&a.1.ns).unwrap());
        let mut out = format!(
            "{:<40} {:>7} {:>10} {:>7} {:>10} {:>9}",
            "kernel", "calls", "total ms", "share", "GFLOP/s", "GB/s"
        );
        if peaks.is_some() {
            out += &format!(" {:>7} {:>7}", "%FMA", "%BW");
        }
        out.push('\n');
        for (name, s) in rows {
            let secs = (s.ns / 1e9).max(1e-12);
            let (gflops, gbps) = (s.flops / secs / 1e9, s.bytes / secs / 1e9);
            out += &format!(
                "{:<40} {:>7} {:>10.3} {:>6.1}% {:>10.2} {:>9.2}",
                name,
                s.calls,
                s.ns / 1e6,
                100.0 * s.ns / 1e6 / total,
                gflops,
                gbps
            );
            if let Some((pf, pb)) = peaks {
                out += &format!(" {:>6.1}% {:>6.1}%", 100.0 * gflops / pf, 100.0 * gbps / pb);
            }
            out.push('\n');
        }
        out += &format!(
            "total {:.3} ms ({})\n",
            total,
            if self.gpu_timestamps { "GPU timestamps" } else { "wall time per dispatch" }
        );
        out
    }
}
