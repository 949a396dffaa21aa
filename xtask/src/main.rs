//! Project automation: `cargo xtask <command>`.
//!
//! - `ci`: everything CI checks — formatting, clippy, tests (nextest when installed), doc tests,
//!   rustdoc warnings and `cargo deny` (bans, licenses, sources; `--advisories` adds the advisory
//!   database, which needs the network).
//! - `codegen-prices [--check] [PATH]`: regenerates the pricing snapshot compiled into `llm-cost`
//!   from LiteLLM's `model_prices_and_context_window.json`.

use std::process::{Command, ExitCode};

mod codegen_prices;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(args.iter().any(|a| a == "--advisories")),
        Some("codegen-prices") => codegen_prices::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask ci [--advisories] | cargo xtask codegen-prices [--check] [PATH]");
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
    let mut deny = cargo();
    deny.args(["deny", "--workspace", "check"]);
    if !advisories {
        deny.args(["bans", "licenses", "sources"]);
    }
    run("cargo deny", deny)
}
