//! Project automation: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks — formatting, clippy, tests (nextest when installed), doc tests,
//!   rustdoc warnings and `cargo deny` (bans, licenses, sources; `--advisories` adds the advisory
//!   database, which needs the network).
//!   Then every example under `examples/` runs to completion offline (provider keys removed from
//!   the environment, so each example uses the test kit's mock upstream).
//!   Then a smoke run of the gateway benchmark (`cargo xtask bench --smoke`: it runs, figures
//!   unchecked) and the `llm` facade's feature checks (`crates/llm/check-features.sh`: with `anthropic` alone
//!   no other provider crate is compiled; every feature builds alone).
//! - `examples`: only the examples step.
//! - `codegen-prices [--check] [PATH]`: regenerates the pricing snapshot compiled into `llm-cost`
//!   from LiteLLM's `model_prices_and_context_window.json`.
//! - `bench [--smoke | --pgo] [--out DIR]`: the gateway performance harness (`crates/llm-bench`):
//!   release builds, gateway pinned to one core, every scenario direct vs through the gateway.
//! - `pgo`: a profile-guided release build of the gateway (`target/pgo-use/release/llm-gateway`),
//!   trained on the benchmark's workload; needs `llvm-profdata` of rustc's LLVM version.

use std::process::{Command, ExitCode};

mod bench;
mod codegen_prices;
mod pgo;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => {
            let result = ci(args.iter().any(|a| a == "--advisories"));
            report_disk();
            result
        }
        Some("examples") => run_examples(),
        Some("codegen-prices") => codegen_prices::run(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("pgo") => pgo::build(&bench::target_dir()).map(|_| ()),
        _ => {
            eprintln!(
                "usage: cargo xtask ci [--advisories] | cargo xtask examples | cargo xtask bench [--smoke | --pgo] [--out DIR] | cargo xtask pgo | cargo xtask codegen-prices [--check] [PATH]"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn run(step: &str, mut cmd: Command) -> Result<(), String> {
    eprintln!("==> {step}");
    let started = std::time::Instant::now();
    let status = cmd.status().map_err(|e| format!("{step}: cannot start: {e}"))?;
    eprintln!("    {step}: {:.1}s", started.elapsed().as_secs_f64());
    if status.success() { Ok(()) } else { Err(format!("{step} failed ({status})")) }
}

/// Prints the size of `target/` and the free disk space: CI has failed for lack of disk before.
fn report_disk() {
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    for (what, mut cmd) in [("target/ size", Command::new("du")), ("disk free", Command::new("df"))] {
        if what == "disk free" {
            cmd.args(["-h", "--output=avail"]).arg(&root);
        } else {
            cmd.arg("-sh").arg(&target);
        }
        if let Ok(out) = cmd.output() {
            let text = String::from_utf8_lossy(&out.stdout);
            let value = text.lines().last().unwrap_or("").split_whitespace().next().unwrap_or("?");
            eprintln!("{what}: {value}");
        }
    }
}

fn has_cargo_subcommand(name: &str) -> bool {
    cargo().args([name, "--version"]).output().map(|o| o.status.success()).unwrap_or(false)
}

fn ci(advisories: bool) -> Result<(), String> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    run("cargo fmt --check", fmt)?;

    let mut clippy = cargo();
    clippy.args(["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"]);
    run("cargo clippy", clippy)?;

    let mut tests = cargo();
    if has_cargo_subcommand("nextest") {
        tests.args(["nextest", "run", "--workspace", "--all-features", "--no-fail-fast"]);
    } else {
        tests.args(["test", "--workspace", "--all-features", "--no-fail-fast"]);
    }
    run("tests", tests)?;

    let mut doctests = cargo();
    doctests.args(["test", "--workspace", "--all-features", "--doc"]);
    run("doc tests", doctests)?;

    let mut doc = cargo();
    doc.args(["doc", "--workspace", "--all-features", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings");
    run("cargo doc", doc)?;

    if !has_cargo_subcommand("deny") {
        let mut install = cargo();
        install.args(["install", "--locked", "cargo-deny"]);
        run("install cargo-deny", install)?;
    }
    run_examples()?;

    let mut bench = cargo();
    bench.args(["xtask", "bench", "--smoke"]);
    run("gateway benchmark (smoke)", bench)?;

    let mut features = Command::new("bash");
    features.arg(workspace_root().join("crates/llm/check-features.sh"));
    run("llm facade features", features)?;

    let mut deny = cargo();
    deny.args(["deny", "--workspace", "check"]);
    if !advisories {
        deny.args(["bans", "licenses", "sources"]);
    }
    run("cargo deny", deny)
}

/// Environment variables that would make an example call a real provider.
const PROVIDER_KEYS: &[&str] = &[
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "AZURE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "GROQ_API_KEY",
    "MISTRAL_API_KEY",
    "DEEPSEEK_API_KEY",
    "OPENROUTER_API_KEY",
    "XAI_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_BEARER_TOKEN_BEDROCK",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "LLM_MODEL",
];

pub(crate) fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs every `examples/*` package with `cargo run`, offline.
fn run_examples() -> Result<(), String> {
    let root = workspace_root().join("examples");
    let mut packages = Vec::new();
    for entry in std::fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))? {
        let manifest = entry.map_err(|e| e.to_string())?.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = \"").and_then(|r| r.strip_suffix('"')))
            .ok_or_else(|| format!("{}: no package name", manifest.display()))?;
        packages.push(name.to_owned());
    }
    packages.sort();
    for package in packages {
        let mut example = cargo();
        example.args(["run", "--quiet", "--package", &package]);
        for key in PROVIDER_KEYS {
            example.env_remove(key);
        }
        run(&format!("example {package}"), example)?;
    }
    Ok(())
}
