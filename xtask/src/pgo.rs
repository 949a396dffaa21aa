//! `cargo xtask pgo`: a profile-guided release build of `llm-gateway`.
//!
//! 1. builds the gateway instrumented (`-Cprofile-generate`, in `target/pgo-generate`);
//! 2. runs the training workload of `llm-bench-run --train` through it (plain requests one at a
//!    time and concurrently, a fixed rate, spaced requests, single and concurrent streams), the
//!    gateway pinned to CPU 1 as in the benchmark, then stops it so it writes its profile;
//! 3. merges the profiles with `llvm-profdata` of rustc's LLVM version;
//! 4. builds the gateway again with `-Cprofile-use` (in `target/pgo-use`).
//!
//! `llvm-profdata` is looked up as `$LLVM_PROFDATA`, rustup's `llvm-tools` component,
//! `llvm-profdata-N` on the `PATH`, `/usr/lib/llvm-N/bin/llvm-profdata` (Debian's `llvm-N`
//! package) and `llvm-profdata`, where N is rustc's LLVM major version; one of another version
//! cannot read the profiles and is skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run};

/// Where the profile-guided gateway binary ends up.
pub(crate) fn gateway_path(target: &Path) -> PathBuf {
    target.join("pgo-use").join("release").join("llm-gateway")
}

/// Builds the profile-guided gateway (the whole procedure above) and returns its path.
pub(crate) fn build(target: &Path) -> Result<PathBuf, String> {
    let rustc = rustc_version()?;
    let major = llvm_major(&rustc).ok_or("cannot read rustc's LLVM version from `rustc -vV`")?;
    let profdata = find_profdata(major, host(&rustc))?;
    eprintln!("    llvm-profdata: {}", profdata.display());

    let pgo = target.join("pgo");
    let profiles = pgo.join("profiles");
    let _ = std::fs::remove_dir_all(&profiles);
    std::fs::create_dir_all(&profiles).map_err(|e| format!("{}: {e}", profiles.display()))?;

    let mut bench = cargo();
    bench.args(["build", "--release", "-p", "llm-bench"]);
    run("cargo build --release (llm-bench)", bench)?;
    let instrumented = target.join("pgo-generate");
    let generate = gateway_build(&instrumented, &format!("-Cprofile-generate={}", profiles.display()));
    run("cargo build --release (llm-gateway, instrumented)", generate)?;

    let release = target.join("release");
    let mut train = crate::bench::bench_runner(&release);
    train.arg("--train").arg("--gateway").arg(instrumented.join("release").join("llm-gateway"));
    train.arg("--mock").arg(release.join("llm-bench-mock")).arg("--out").arg(pgo.join("train"));
    run("training workload", train)?;

    let merged = pgo.join("merged.profdata");
    let mut merge = Command::new(&profdata);
    merge.arg("merge").arg("-o").arg(&merged).arg(&profiles);
    run("llvm-profdata merge", merge)?;

    let optimized = gateway_build(&target.join("pgo-use"), &format!("-Cprofile-use={}", merged.display()));
    run("cargo build --release (llm-gateway, profile-guided)", optimized)?;
    let path = gateway_path(target);
    eprintln!("    profile-guided gateway: {}", path.display());
    Ok(path)
}

/// `cargo build --release -p llm-gateway` into `target_dir` with `flag` added to the caller's
/// RUSTFLAGS.
fn gateway_build(target_dir: &Path, flag: &str) -> Command {
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if !flags.is_empty() {
        flags.push(' ');
    }
    flags.push_str(flag);
    let mut cmd = cargo();
    cmd.args(["build", "--release", "-p", "llm-gateway"]);
    cmd.env("CARGO_TARGET_DIR", target_dir).env("RUSTFLAGS", flags).env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// `$RUSTC`, or `rustc`.
fn rustc() -> Command {
    Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()))
}

fn rustc_version() -> Result<String, String> {
    let out = rustc().arg("-vV").output().map_err(|e| format!("rustc -vV: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The LLVM major version in `rustc -vV` (`LLVM version: 22.1.2`) or `llvm-profdata --version`
/// (`LLVM version 22.1.8`) output.
pub(crate) fn llvm_major(text: &str) -> Option<u32> {
    let rest = &text[text.find("LLVM version")? + "LLVM version".len()..];
    let digits: String =
        rest.trim_start_matches([':', ' ']).chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The host triple in `rustc -vV` output.
pub(crate) fn host(rustc: &str) -> Option<&str> {
    rustc.lines().find_map(|l| l.strip_prefix("host: ")).map(str::trim)
}

fn find_profdata(major: u32, host: Option<&str>) -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("LLVM_PROFDATA") {
        candidates.push(path.into());
    }
    if let (Some(host), Ok(out)) = (host, rustc().args(["--print", "sysroot"]).output()) {
        let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        candidates.push(Path::new(&sysroot).join("lib/rustlib").join(host).join("bin/llvm-profdata"));
    }
    candidates.push(format!("llvm-profdata-{major}").into());
    candidates.push(format!("/usr/lib/llvm-{major}/bin/llvm-profdata").into());
    candidates.push("llvm-profdata".into());
    candidates
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| llvm_major(&String::from_utf8_lossy(&o.stdout)) == Some(major))
        })
        .ok_or_else(|| {
            format!(
                "no llvm-profdata of LLVM {major} (rustc's): install one (`apt install llvm-{major}` or \
                 `rustup component add llvm-tools`) or point LLVM_PROFDATA at it"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_llvm_major_version_of_rustc_and_of_llvm_profdata() {
        let rustc = "rustc 1.95.0 (59807616e 2026-04-14)\nbinary: rustc\nhost: x86_64-unknown-linux-gnu\nrelease: 1.95.0\nLLVM version: 22.1.2\n";
        assert_eq!(llvm_major(rustc), Some(22));
        assert_eq!(host(rustc), Some("x86_64-unknown-linux-gnu"));
        let profdata = "Debian LLVM version 22.1.8\n  Optimized build.\n";
        assert_eq!(llvm_major(profdata), Some(22));
        assert_eq!(llvm_major("LLVM (http://llvm.org/):\n  LLVM version 14.0.6\n"), Some(14));
        assert_eq!(llvm_major("llvm-profdata: Unknown command!"), None);
        assert_eq!(host("release: 1.95.0"), None);
    }
}
