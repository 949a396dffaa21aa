//! `llm-bench-run --gateway BIN --mock BIN [--relay BIN] [--out DIR] [--smoke] [--no-pin]
//! [--train] [--cpu-dma-latency-us N]`: every scenario (normally started by `cargo xtask bench`,
//! itself pinned to CPU 0); `--relay` also measures the byte relay's floor. `--train` runs the
//! training workload of a profile-guided build instead (`cargo xtask pgo`).
//! `--cpu-dma-latency-us 0` keeps idle CPUs polling during the run (root).

use std::path::PathBuf;
use std::process::ExitCode;

use llm_bench::args::Args;
use llm_bench::runner::{self, RunOptions};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("llm-bench-run: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(std::env::args().skip(1), &["smoke", "no-pin", "train"])?;
    let opts = RunOptions {
        smoke: args.flag("smoke"),
        out: PathBuf::from(args.value("out").unwrap_or("target/bench")),
        gateway_bin: PathBuf::from(args.value("gateway").ok_or("--gateway is required")?),
        mock_bin: PathBuf::from(args.value("mock").ok_or("--mock is required")?),
        relay_bin: args.value("relay").map(PathBuf::from),
        pin: !args.flag("no-pin"),
        cpu_dma_latency_us: args
            .value("cpu-dma-latency-us")
            .map(|_| args.get("cpu-dma-latency-us", 0i32))
            .transpose()?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if args.flag("train") {
        runtime.block_on(runner::train(&opts))?;
    } else {
        runtime.block_on(runner::run(&opts))?;
    }
    Ok(())
}
