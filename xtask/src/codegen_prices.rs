//! `cargo xtask codegen-prices [--check] [PATH]`: regenerates `crates/llm-cost/data/prices.jsonl`
//! from LiteLLM's `model_prices_and_context_window.json`.
//!
//! `PATH` defaults to `pricing/model_prices_and_context_window.json` in the shared test data
//! (`$LLM_TEST_DATA`, else the first `shared/test-data` above the workspace). `--check` only
//! compares and fails when the checked-in snapshot is stale.

use std::path::{Path, PathBuf};

const SNAPSHOT: &str = "crates/llm-cost/data/prices.jsonl";
const SOURCE: &str = "pricing/model_prices_and_context_window.json";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let check = args.iter().any(|a| a == "--check");
    let root = crate::workspace_root();
    let source = match args.iter().find(|a| !a.starts_with("--")) {
        Some(path) => PathBuf::from(path),
        None => test_data_dir(&root)?.join(SOURCE),
    };
    let json =
        std::fs::read_to_string(&source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
    let snapshot = llm_cost::generate_snapshot(&json).map_err(|e| format!("{}: {e}", source.display()))?;
    let target = root.join(SNAPSHOT);
    let current = std::fs::read_to_string(&target).unwrap_or_default();
    if current == snapshot {
        eprintln!("{SNAPSHOT} is up to date ({} bytes)", snapshot.len());
        return Ok(());
    }
    if check {
        return Err(format!("{SNAPSHOT} is stale: run `cargo xtask codegen-prices`"));
    }
    std::fs::write(&target, &snapshot).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    eprintln!("wrote {SNAPSHOT} ({} bytes) from {}", snapshot.len(), source.display());
    Ok(())
}

fn test_data_dir(root: &Path) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("LLM_TEST_DATA") {
        return Ok(dir.into());
    }
    root.ancestors()
        .map(|a| a.join("shared/test-data"))
        .find(|p| p.join(SOURCE).is_file())
        .ok_or_else(|| "shared/test-data not found: set LLM_TEST_DATA or pass the JSON path".to_owned())
}
