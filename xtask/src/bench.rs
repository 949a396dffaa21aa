//! `cargo xtask bench [--smoke | --pgo] [--out DIR] [--cpu-dma-latency-us N]`: builds the release
//! gateway and the `llm-bench` binaries (`--smoke`: the debug build CI already has, since it only
//! checks that the harness runs; `--pgo`: the profile-guided gateway of `cargo xtask pgo`), then
//! runs every scenario of `llm-bench-run` pinned to CPU 0 while the gateway (and the byte relay
//! measured as the floor, `llm-bench-relay`) is pinned to CPU 1 (see `crates/llm-bench`). Writes
//! `results.json`, `results.md` and `latency.svg` into DIR (default `target/bench`).
//! `--cpu-dma-latency-us 0` keeps idle CPUs polling during the run (root; recorded in the
//! results). The smoke run also runs `cargo xtask pgo`'s training workload once.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run, workspace_root};

pub(crate) fn bench(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let pgo = args.iter().any(|a| a == "--pgo");
    if smoke && pgo {
        return Err("--pgo builds the gateway twice in release mode; it has no smoke version".into());
    }
    let target = target_dir();
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map_or_else(|| target.join("bench"), PathBuf::from);

    // The smoke run reuses the debug artifacts of `cargo xtask ci` (same features as its tests).
    let (profile_arg, profile_dir) =
        if smoke { ("--all-features", "debug") } else { ("--release", "release") };
    let release = target.join(profile_dir);
    // `pgo::build` builds the release `llm-bench` binaries itself, and no plain release gateway.
    let gateway = if pgo {
        crate::pgo::build(&target)?
    } else {
        let mut build = cargo();
        build.args(["build", profile_arg, "-p", "llm-gateway", "-p", "llm-bench"]);
        run(&format!("cargo build {profile_arg} (llm-gateway, llm-bench)"), build)?;
        release.join("llm-gateway")
    };
    let mut runner = bench_runner(&release);
    runner.arg("--gateway").arg(&gateway);
    runner.arg("--mock").arg(release.join("llm-bench-mock"));
    runner.arg("--relay").arg(release.join("llm-bench-relay"));
    runner.arg("--out").arg(&out);
    if smoke {
        runner.arg("--smoke");
    }
    if let Some(i) = args.iter().position(|a| a == "--cpu-dma-latency-us") {
        let us = args.get(i + 1).ok_or("--cpu-dma-latency-us needs a value in µs")?;
        runner.args(["--cpu-dma-latency-us", us]);
    }
    run(if smoke { "bench (smoke)" } else { "bench" }, runner)?;
    eprintln!("    results: {}", out.display());
    if smoke {
        // The training workload of `cargo xtask pgo`, against the uninstrumented debug gateway:
        // it must keep running and the gateway must stop cleanly on SIGTERM.
        let mut train = bench_runner(&release);
        train.args(["--train", "--smoke"]).arg("--gateway").arg(&gateway);
        train.arg("--mock").arg(release.join("llm-bench-mock")).arg("--out").arg(out.join("train"));
        run("pgo training workload (smoke)", train)?;
    }
    Ok(())
}

/// `$CARGO_TARGET_DIR`, or the workspace's `target/`.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// `llm-bench-run` from `bin_dir`, pinned to CPU 0 with `taskset`; without `taskset`, unpinned
/// and told not to pin what it starts (`--no-pin`).
pub(crate) fn bench_runner(bin_dir: &Path) -> Command {
    let program = bin_dir.join("llm-bench-run");
    if Command::new("taskset").arg("-V").output().is_ok_and(|o| o.status.success()) {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(program);
        c
    } else {
        eprintln!("    taskset not found: running unpinned");
        let mut c = Command::new(program);
        c.arg("--no-pin");
        c
    }
}
