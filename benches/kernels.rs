//! `cargo bench`: the tdfas benchmark (src/bench.rs) at the tiny preset, table to stdout.
//! The full-size run is `tdfas bench --preset paper --json FILE` (BENCHMARKS.md).

fn main() -> anyhow::Result<()> {
    let gpu = tdfas::Gpu::new()?;
    let opts = tdfas::bench::BenchOptions { preset: "tiny".into(), config: None, quick: false, filter: None };
    let report = tdfas::bench::run(&gpu, &opts, false)?;
    println!("{}", report.table());
    Ok(())
}
