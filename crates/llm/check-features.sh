#!/usr/bin/env bash
# Checks the `llm` facade's features:
# 1. with only `anthropic`, no other provider crate is in the normal dependency tree;
# 2. every feature compiles on its own (and with none);
# 3. with each provider feature alone, the client tests pass (this runs the "provider not
#    compiled in" tests, which `--all-features` cannot).
#
#   crates/llm/check-features.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

tree="$(cargo tree -p llm --no-default-features --features anthropic -e normal --prefix none)"
others="$(grep -E '^llm-provider-' <<<"$tree" | grep -v '^llm-provider-anthropic ' || true)"
if [ -n "$others" ]; then
    echo "FAILED: \`--features anthropic\` pulls in other provider crates:" >&2
    echo "$others" >&2
    exit 1
fi
grep -q "^llm-provider-anthropic " <<<"$tree" || { echo "FAILED: anthropic missing from the tree" >&2; exit 1; }
echo "ok: --features anthropic compiles no other provider crate"

features="$(sed -n '/^\[features\]/,/^\[/p' crates/llm/Cargo.toml | sed -n 's/^\([a-z0-9_-]*\) = .*/\1/p' | grep -v '^default$')"
cargo check -q -p llm --no-default-features
echo "ok: no features"
for feature in $features; do
    cargo check -q -p llm --no-default-features --features "$feature"
    echo "ok: --features $feature"
done

for feature in openai anthropic gemini; do
    cargo test -q -p llm --no-default-features --features "$feature" --test client >/dev/null
    echo "ok: client tests with only --features $feature"
done
