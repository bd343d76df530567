//! The `tdfas` command line.

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tdfas", version, about = "Multi-frame face anti-spoofing (FAS-TD) on any GPU, with wgpu")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the adapter, backend, driver, features and limits tdfas will use.
    Info,
}

fn main() {
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info => info(),
    }
}

fn info() -> Result<()> {
    let gpu = tdfas::Gpu::new()?;
    let i = &gpu.info;
    println!("adapter   {}", i.name);
    println!("backend   {:?}", i.backend);
    println!("type      {:?}", i.device_type);
    println!("driver    {} {}", i.driver, i.driver_info);
    println!("features  {:?}", gpu.features);
    let l = &gpu.limits;
    println!("limits    max storage binding {} MiB, max buffer {} MiB, workgroup storage {} KiB,",
        l.max_storage_buffer_binding_size as u64 >> 20, l.max_buffer_size >> 20, l.max_compute_workgroup_storage_size >> 10);
    println!("          invocations/workgroup {}, workgroups/dim {}, storage buffers/stage {}, storage offset align {}",
        l.max_compute_invocations_per_workgroup, l.max_compute_workgroups_per_dimension,
        l.max_storage_buffers_per_shader_stage, l.min_storage_buffer_offset_alignment);
    Ok(())
}
