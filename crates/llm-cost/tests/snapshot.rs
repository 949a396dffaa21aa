//! The checked-in snapshot is what `cargo xtask codegen-prices` makes from the shared JSON.

use llm_cost::{BUILTIN_SNAPSHOT, PriceTable, generate_snapshot, parse_litellm_json, parse_snapshot};

fn source_json() -> String {
    let dir = llm_core::testkit::test_data_dir(env!("CARGO_MANIFEST_DIR"));
    let path = dir.join("pricing/model_prices_and_context_window.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

#[test]
fn snapshot_is_fresh() {
    let regenerated = generate_snapshot(&source_json()).unwrap();
    assert!(
        regenerated == BUILTIN_SNAPSHOT,
        "crates/llm-cost/data/prices.jsonl is stale: run `cargo xtask codegen-prices`"
    );
}

#[test]
fn generation_is_reproducible_and_lossless_for_the_fields_we_use() {
    let json = source_json();
    assert_eq!(generate_snapshot(&json).unwrap(), generate_snapshot(&json).unwrap());
    let full = parse_litellm_json(&json).unwrap();
    let compact = parse_snapshot(BUILTIN_SNAPSHOT).unwrap();
    assert_eq!(full.len(), 4_255, "every model but sample_spec");
    assert_eq!(full, compact, "the snapshot keeps every price, limit, provider and mode");
    assert!(BUILTIN_SNAPSHOT.len() < 600_000, "snapshot grew to {} bytes", BUILTIN_SNAPSHOT.len());
    assert_eq!(PriceTable::builtin().len(), 4_255);
    // The built-in table parses a row when it is first asked for: every row comes out the same.
    let builtin = PriceTable::builtin();
    for (name, price) in &compact {
        assert_eq!(builtin.get(name).as_deref(), Some(price), "{name}");
    }
}

#[test]
fn bad_files_are_errors_not_panics() {
    for bad in ["", "[]", "{", "{\"m\": 1}", "\"text\""] {
        let _ = PriceTable::from_litellm_json(bad);
    }
    assert!(PriceTable::from_litellm_json("[]").is_err());
    assert!(PriceTable::from_litellm_json("{").is_err());
    assert_eq!(PriceTable::from_litellm_json("{\"m\": 1}").unwrap().len(), 0);
    for bad in [
        "",
        "{}",
        "{\"format\":\"x\"}",
        "{\"format\":\"llm-cost-prices/1\",\"fields\":[\"a\"]}\n[\"m\",null,null,null,null,null,[7,1.0]]",
    ] {
        assert!(PriceTable::from_snapshot(bad).is_err(), "{bad:?}");
    }
    assert!(PriceTable::from_path("/nonexistent/prices.json").is_err());
}

#[test]
fn user_files_and_overrides() {
    let table = PriceTable::from_litellm_json(
        r#"{"sample_spec": {"max_tokens": "prose"},
            "my-model": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-6,
                         "output_cost_per_token": "n/a", "max_input_tokens": 1000.0, "max_tokens": 10}}"#,
    )
    .unwrap();
    assert_eq!(table.len(), 1);
    let row = table.get("my-model").unwrap();
    assert_eq!(row.rate("input_cost_per_token"), Some(1e-6));
    assert_eq!(row.rate("output_cost_per_token"), None, "non-numeric prices are skipped");
    assert_eq!((row.input_token_limit(), row.output_token_limit()), (Some(1000), Some(10)));

    let builtin = PriceTable::builtin();
    let merged = builtin
        .merge_litellm_json(r#"{"gpt-4o": {"litellm_provider": "openai", "input_cost_per_token": 9e-6}}"#);
    assert_eq!(merged.unwrap(), 1);
    assert_eq!(builtin.get("gpt-4o").unwrap().rate("input_cost_per_token"), Some(9e-6));
    assert!(builtin.remove_override("gpt-4o"));
    assert_eq!(builtin.get("gpt-4o").unwrap().rate("input_cost_per_token"), Some(2.5e-6));
    // Overrides are per table: a fresh builtin table does not see another's.
    builtin.set("gpt-4o", llm_cost::ModelPrice::new("openai"));
    assert_eq!(PriceTable::builtin().get("gpt-4o").unwrap().rate("input_cost_per_token"), Some(2.5e-6));
}
