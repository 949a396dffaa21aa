//! Model names as users write them, resolved against the built-in table.

use llm_cost::{CostInput, CostUnknown, LookupHints, ModelPrice, PriceTable, Resolution};

fn resolve(name: &str) -> Option<(String, Resolution)> {
    PriceTable::builtin().resolve(name, &LookupHints::default()).ok().map(|r| (r.key, r.resolution))
}

fn key(name: &str) -> Option<String> {
    resolve(name).map(|(k, _)| k)
}

#[test]
fn plain_and_provider_prefixed_names() {
    assert_eq!(resolve("gpt-4o"), Some(("gpt-4o".into(), Resolution::Exact)));
    assert_eq!(resolve("openai/gpt-4o"), Some(("gpt-4o".into(), Resolution::ProviderStripped)));
    assert_eq!(key("anthropic/claude-sonnet-4-5").as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(key("gemini/gemini-2.5-pro").as_deref(), Some("gemini/gemini-2.5-pro"));
    assert_eq!(key("vertex_ai/gemini-2.5-pro").as_deref(), Some("gemini-2.5-pro"));
    assert_eq!(
        key("vertex_ai/claude-3-5-sonnet@20240620").as_deref(),
        Some("vertex_ai/claude-3-5-sonnet@20240620")
    );
    assert_eq!(key("  gpt-4o  ").as_deref(), Some("gpt-4o"));
    // The prefix must match the row's provider: gpt-4o is OpenAI's, not Anthropic's.
    assert_eq!(key("anthropic/gpt-4o"), None);
    assert_eq!(key("openai/claude-sonnet-4-5"), None);
}

#[test]
fn azure_deployments_need_a_base_model() {
    let table = PriceTable::builtin();
    assert_eq!(key("azure/gpt-4o").as_deref(), Some("azure/gpt-4o"));
    let err = table.resolve("azure/my-prod-deployment", &LookupHints::default()).unwrap_err();
    assert_eq!(err, CostUnknown::ModelNotFound { model: "azure/my-prod-deployment".into() });
    for hint in ["gpt-4o", "azure/gpt-4o"] {
        let r = table.resolve("azure/my-prod-deployment", &LookupHints::base_model(hint)).unwrap();
        assert_eq!((r.key.as_str(), r.resolution), ("azure/gpt-4o", Resolution::BaseModel), "{hint}");
    }
    // Azure's own row is preferred; a base model without one still resolves.
    let r = table.resolve("azure/dep", &LookupHints::base_model("gpt-5.5")).unwrap();
    assert_eq!(r.key, "azure/gpt-5.5");
    let r = table.resolve("azure/dep", &LookupHints::base_model("claude-sonnet-4-5")).unwrap();
    assert_eq!(r.key, "claude-sonnet-4-5");
}

#[test]
fn bedrock_regions_routes_and_cross_region_prefixes() {
    let cases = [
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
        (
            "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0",
            "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        ("bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
        ("bedrock/us-east-1/anthropic.claude-v2:1", "bedrock/us-east-1/anthropic.claude-v2:1"),
        (
            "bedrock/eu-west-3/anthropic.claude-3-5-sonnet-20241022-v2:0",
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
        ),
        ("bedrock/converse/us-west-2/meta.llama3-70b-instruct-v1:0", "meta.llama3-70b-instruct-v1:0"),
    ];
    for (name, want) in cases {
        assert_eq!(key(name).as_deref(), Some(want), "{name}");
    }
    // A cross-region id the table lacks falls back to the regional model.
    let table = PriceTable::empty();
    table.set("anthropic.claude-x-v1:0", ModelPrice::new("bedrock").with_rate("input_cost_per_token", 1e-6));
    let r =
        table.resolve("bedrock/ap-south-1/apac.anthropic.claude-x-v1:0", &LookupHints::default()).unwrap();
    assert_eq!((r.key.as_str(), r.resolution), ("anthropic.claude-x-v1:0", Resolution::RegionStripped));
    let r = table.resolve("jp.anthropic.claude-x-v1:0", &LookupHints::default()).unwrap();
    assert_eq!(r.key, "anthropic.claude-x-v1:0");
}

#[test]
fn dated_snapshots() {
    let table = PriceTable::empty();
    let row = |usd: f64| ModelPrice::new("openai").with_rate("input_cost_per_token", usd);
    table.set("model-a", row(1e-6));
    table.set("model-b-2025-01-01", row(2e-6));
    table.set("model-b-2025-06-01", row(2e-6));
    table.set("model-c-20250101", row(3e-6));
    table.set("model-c-20250601", row(4e-6));
    let resolve = |n: &str| table.resolve(n, &LookupHints::default()).ok().map(|r| (r.key, r.resolution));
    // A dated name the table lacks is priced as its base.
    assert_eq!(resolve("model-a-2026-02-03"), Some(("model-a".into(), Resolution::Undated)));
    assert_eq!(resolve("openai/model-a-20260203"), Some(("model-a".into(), Resolution::Undated)));
    // A base name is priced as its dated snapshots only when they agree on every price.
    assert_eq!(resolve("model-b"), Some(("model-b-2025-06-01".into(), Resolution::UniqueDated)));
    assert_eq!(resolve("model-c"), None, "two snapshots with different prices: ambiguous");
    // An exact dated row always wins over the base.
    assert_eq!(key("gpt-4o-2024-08-06").as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(resolve("model-a-v2"), None);
}

#[test]
fn unknown_and_missing_prices_are_explicit() {
    let table = PriceTable::builtin();
    let hints = LookupHints::default();
    let usage = CostInput { prompt_tokens: 10, completion_tokens: 10, ..CostInput::default() };
    assert!(matches!(table.cost("no-such-model", &hints, &usage), Err(CostUnknown::ModelNotFound { .. })));
    assert!(matches!(table.cost("", &hints, &usage), Err(CostUnknown::ModelNotFound { .. })));

    table.set("half-priced", ModelPrice::new("openai").with_rate("input_cost_per_token", 1e-6));
    let err = table.cost("half-priced", &hints, &usage).unwrap_err();
    assert_eq!(
        err,
        CostUnknown::MissingPrice { model: "half-priced".into(), field: "output_cost_per_token".into() }
    );
    // No output used: the missing output price does not matter.
    let input_only = CostInput { prompt_tokens: 10, ..CostInput::default() };
    assert!((table.cost("half-priced", &hints, &input_only).unwrap().usd - 1e-5).abs() < 1e-15);
    // Images without a per-image price.
    let images = CostInput { output_images: 1, ..CostInput::default() };
    assert!(matches!(table.cost("gpt-4o", &hints, &images), Err(CostUnknown::MissingPrice { .. })));
    // Per-second pricing without a duration.
    assert_eq!(
        table.cost("azure/whisper-1", &hints, &CostInput::default()),
        Err(CostUnknown::MissingDuration { model: "azure/whisper-1".into() })
    );
    // An explicit zero price is a known zero, not unknown.
    let free = ModelPrice::new("ollama")
        .with_rate("input_cost_per_token", 0.0)
        .with_rate("output_cost_per_token", 0.0);
    table.set("local", free);
    assert_eq!(table.cost("local", &hints, &usage).unwrap().usd, 0.0);
}

#[test]
fn context_window_limits() {
    let table = PriceTable::builtin();
    let row = table.get("gemini/gemini-2.5-pro").unwrap();
    assert_eq!((row.input_token_limit(), row.output_token_limit()), (Some(1_048_576), Some(65_536)));
    let row = table.get("claude-sonnet-4-5").unwrap();
    assert!(row.input_token_limit().is_some() && row.output_token_limit().is_some());
}

#[test]
fn remembered_lookups_follow_run_time_overrides() {
    let table = PriceTable::builtin();
    let hints = LookupHints::default();
    assert!(table.resolve("acme/house-model", &hints).is_err());
    // Asked again: still unknown (now from the memo).
    assert!(table.resolve("acme/house-model", &hints).is_err());
    table.set("acme/house-model", ModelPrice::new("acme").with_rate("input_cost_per_token", 1e-6));
    let found = table.resolve("acme/house-model", &hints).unwrap();
    assert_eq!(found.key, "acme/house-model");
    // A clone shares the overrides and the memo.
    let clone = table.clone();
    assert!(clone.remove_override("acme/house-model"));
    assert!(table.resolve("acme/house-model", &hints).is_err());
    // An override of a row the name used to reach through its provider prefix wins at once.
    assert_eq!(table.resolve("openai/gpt-4o", &hints).unwrap().key, "gpt-4o");
    table.set("openai/gpt-4o", ModelPrice::new("openai").with_rate("input_cost_per_token", 1.0));
    assert_eq!(table.resolve("openai/gpt-4o", &hints).unwrap().key, "openai/gpt-4o");
}

#[test]
fn concurrent_lookups_and_overrides_agree_at_the_end() {
    // Readers fill the lock-free memo with many names from several threads while a writer
    // changes an override; once the writer is done, every thread sees its last row.
    let table = PriceTable::builtin();
    let writer = {
        let table = table.clone();
        std::thread::spawn(move || {
            for i in 1..=200u32 {
                let price = ModelPrice::new("acme").with_rate("input_cost_per_token", f64::from(i));
                table.set("acme/house-model", price);
            }
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let table = table.clone();
            std::thread::spawn(move || {
                let hints = LookupHints::default();
                for i in 0..300 {
                    let _ = table.resolve(&format!("acme/reader-{t}-{i}"), &hints);
                    if let Ok(found) = table.resolve("acme/house-model", &hints) {
                        assert_eq!(found.key, "acme/house-model");
                    }
                    assert_eq!(table.resolve("gpt-4o", &hints).unwrap().key, "gpt-4o");
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    let found = table.resolve("acme/house-model", &LookupHints::default()).unwrap();
    assert_eq!(found.price.rate("input_cost_per_token"), Some(200.0));
}
