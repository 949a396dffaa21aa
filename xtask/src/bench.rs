//! `cargo xtask bench [--smoke] [--out DIR] [--cpu-dma-latency-us N]`: builds the release gateway
//! and the `llm-bench` binaries (`--smoke`: the debug build CI already has, since it only checks
//! that the harness runs), then runs every scenario of `llm-bench-run` pinned to CPU 0 while the
//! gateway (and the byte relay measured as the floor, `llm-bench-relay`) is pinned to CPU 1 (see
//! `crates/llm-bench`). Writes `results.json`, `results.md` and
//! `latency.svg` into DIR (default `target/bench`). `--cpu-dma-latency-us 0` keeps idle CPUs
//! polling during the run (root; recorded in the results).

use std::path::PathBuf;
use std::process::Command;

use crate::{cargo, run, workspace_root};

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| target.join("bench"), PathBuf::from);

    // The smoke run reuses the debug artifacts of `cargo xtask ci` (same features as its tests).
    let (profile_arg, profile_dir) =
        if smoke { ("--all-features", "debug") } else { ("--release", "release") };
    let mut build = cargo();
    build.args(["build", profile_arg, "-p", "llm-gateway", "-p", "llm-bench"]);
    run(&format!("cargo build {profile_arg} (llm-gateway, llm-bench)"), build)?;

    let release = target.join(profile_dir);
    let pin = Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success());
    let mut runner = if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(release.join("llm-bench-run"));
        c
    } else {
        eprintln!("    taskset not found: running unpinned");
        Command::new(release.join("llm-bench-run"))
    };
    runner.arg("--gateway").arg(release.join("llm-gateway"));
    runner.arg("--mock").arg(release.join("llm-bench-mock"));
    runner.arg("--relay").arg(release.join("llm-bench-relay"));
    runner.arg("--out").arg(&out);
    if smoke {
        runner.arg("--smoke");
    }
    if !pin {
        runner.arg("--no-pin");
    }
    if let Some(i) = args.iter().position(|a| a == "--cpu-dma-latency-us") {
        let us = args.get(i + 1).ok_or("--cpu-dma-latency-us needs a value in µs")?;
        runner.args(["--cpu-dma-latency-us", us]);
    }
    run(if smoke { "bench (smoke)" } else { "bench" }, runner)?;
    eprintln!("    results: {}", out.display());
    Ok(())
}
