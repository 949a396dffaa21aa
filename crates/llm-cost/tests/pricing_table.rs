//! Costs from the built-in table against hand computations from the rows of
//! `shared/test-data/pricing/model_prices_and_context_window.json`.
//!
//! Each expected figure was written by reading the model's row (token counts times the row's
//! prices, with the tier / threshold / service-tier fields named in the comment of the case
//! generator), not by this crate's code.

use std::time::Duration;

use llm_cost::{CostInput, LookupHints, PriceTable, ServiceTier};

/// A usage, short names to keep the table readable.
#[derive(Clone, Copy)]
struct U {
    p: u64,
    c: u64,
    cached: u64,
    cc: u64,
    cc1h: u64,
    ain: u64,
    aout: u64,
    reason: u64,
    img_tok: u64,
    images: u64,
    secs: u64,
}

impl U {
    const ZERO: U = U {
        p: 0,
        c: 0,
        cached: 0,
        cc: 0,
        cc1h: 0,
        ain: 0,
        aout: 0,
        reason: 0,
        img_tok: 0,
        images: 0,
        secs: 0,
    };
}

struct Case {
    name: &'static str,
    key: &'static str,
    usage: U,
    tier: ServiceTier,
    expected_usd: f64,
}

fn case(name: &'static str, key: &'static str, usage: U, tier: ServiceTier, expected_usd: f64) -> Case {
    Case { name, key, usage, tier, expected_usd }
}

fn input(u: U, tier: ServiceTier) -> CostInput {
    let mut input = CostInput {
        prompt_tokens: u.p,
        cached_tokens: u.cached,
        cache_creation_tokens: u.cc,
        cache_creation_1h_tokens: u.cc1h,
        prompt_audio_tokens: u.ain,
        completion_tokens: u.c,
        reasoning_tokens: u.reason,
        completion_audio_tokens: u.aout,
        completion_image_tokens: u.img_tok,
        output_images: u.images,
        service_tier: tier,
        ..CostInput::default()
    };
    if u.secs > 0 {
        input.duration = Some(Duration::from_secs(u.secs));
    }
    input
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
    // gpt-4o
    case("gpt-4o", "gpt-4o", U { p: 1000, c: 500, ..U::ZERO }, ServiceTier::Standard, 0.0075),
    // gpt-4o
    case("openai/gpt-4o", "gpt-4o", U { p: 10000, c: 200, cached: 6000, ..U::ZERO }, ServiceTier::Standard, 0.019500000000000003),
    // gpt-4o
    case("gpt-4o", "gpt-4o", U { p: 1000, c: 500, ..U::ZERO }, ServiceTier::Batch, 0.00375),
    // gpt-4o
    case("gpt-4o", "gpt-4o", U { p: 2000, c: 100, cached: 1000, ..U::ZERO }, ServiceTier::Priority, 0.008075),
    // gpt-4o-mini
    case("gpt-4o-mini", "gpt-4o-mini", U { p: 1500, c: 300, cached: 1024, ..U::ZERO }, ServiceTier::Standard, 0.00032819999999999995),
    // gpt-4.1
    case("gpt-4.1", "gpt-4.1", U { p: 8000, c: 900, cached: 4000, ..U::ZERO }, ServiceTier::Standard, 0.0172),
    // gpt-5
    case("gpt-5", "gpt-5", U { p: 3000, c: 4000, cached: 1000, reason: 3500, ..U::ZERO }, ServiceTier::Standard, 0.042625),
    // gpt-5
    case("gpt-5", "gpt-5", U { p: 3000, c: 4000, cached: 1000, reason: 3500, ..U::ZERO }, ServiceTier::Flex, 0.0213125),
    // gpt-5
    case("gpt-5", "gpt-5", U { p: 3000, c: 400, ..U::ZERO }, ServiceTier::Priority, 0.0155),
    // o1
    case("o1", "o1", U { p: 5000, c: 6000, cached: 2000, reason: 5000, ..U::ZERO }, ServiceTier::Standard, 0.42),
    // o3-mini
    case("o3-mini", "o3-mini", U { p: 1200, c: 2500, reason: 2000, ..U::ZERO }, ServiceTier::Standard, 0.012320000000000001),
    // o4-mini
    case("o4-mini", "o4-mini", U { p: 9000, c: 700, cached: 8000, ..U::ZERO }, ServiceTier::Flex, 0.0031940000000000002),
    // o3
    case("o3", "o3", U { p: 4000, c: 1000, cached: 2000, reason: 800, ..U::ZERO }, ServiceTier::Priority, 0.02275),
    // gpt-3.5-turbo: no cache price: cached tokens at the input price
    case("gpt-3.5-turbo", "gpt-3.5-turbo", U { p: 1000, c: 100, cached: 500, ..U::ZERO }, ServiceTier::Standard, 0.00065),
    // gpt-5.4
    case("gpt-5.4", "gpt-5.4", U { p: 300000, c: 2000, cached: 100000, ..U::ZERO }, ServiceTier::Standard, 1.095),
    // gpt-5.5
    case("gpt-5.5", "gpt-5.5", U { p: 280000, c: 1000, ..U::ZERO }, ServiceTier::Batch, 1.4225),
    // azure/gpt-4o
    case("azure/gpt-4o", "azure/gpt-4o", U { p: 10000, c: 200, cached: 6000, ..U::ZERO }, ServiceTier::Standard, 0.019500000000000003),
    // azure/gpt-4o-mini
    case("azure/gpt-4o-mini", "azure/gpt-4o-mini", U { p: 2000, c: 1000, ..U::ZERO }, ServiceTier::Standard, 0.0009),
    // azure/o1
    case("azure/o1", "azure/o1", U { p: 3000, c: 5000, cached: 1000, reason: 4000, ..U::ZERO }, ServiceTier::Standard, 0.3375),
    // azure/gpt-4.1
    case("azure/gpt-4.1", "azure/gpt-4.1", U { p: 5000, c: 500, cached: 2000, ..U::ZERO }, ServiceTier::Priority, 0.01925),
    // azure/o3-mini
    case("azure/o3-mini", "azure/o3-mini", U { p: 700, c: 900, reason: 600, ..U::ZERO }, ServiceTier::Standard, 0.00473),
    // azure/gpt-audio
    case("azure/gpt-audio", "azure/gpt-audio", U { p: 1000, c: 300, ain: 400, aout: 200, ..U::ZERO }, ServiceTier::Standard, 0.0345),
    // azure_ai/gpt-5.4
    case("azure_ai/gpt-5.4", "azure_ai/gpt-5.4", U { p: 300000, c: 1000, ..U::ZERO }, ServiceTier::Priority, 3.0450000000000004),
    // claude-sonnet-4-5
    case("claude-sonnet-4-5", "claude-sonnet-4-5", U { p: 5000, c: 800, cached: 1000, cc: 3000, cc1h: 1000, ..U::ZERO }, ServiceTier::Standard, 0.028800000000000003),
    // claude-haiku-4-5
    case("anthropic/claude-haiku-4-5", "claude-haiku-4-5", U { p: 20000, c: 1500, cached: 15000, cc: 2000, ..U::ZERO }, ServiceTier::Standard, 0.014500000000000002),
    // claude-opus-4-5
    case("claude-opus-4-5", "claude-opus-4-5", U { p: 4000, c: 2000, cc: 4000, cc1h: 4000, ..U::ZERO }, ServiceTier::Standard, 0.09),
    // claude-sonnet-4-6
    case("anthropic/claude-sonnet-4-6", "claude-sonnet-4-6", U { p: 10000, c: 1000, cached: 5000, cc: 1000, ..U::ZERO }, ServiceTier::Batch, 0.016125),
    // claude-opus-4-7
    case("claude-opus-4-7", "claude-opus-4-7", U { p: 1200, c: 3000, reason: 2500, ..U::ZERO }, ServiceTier::Standard, 0.081),
    // claude-opus-4-8
    case("claude-opus-4-8", "claude-opus-4-8", U { p: 50000, c: 100, cached: 49000, ..U::ZERO }, ServiceTier::Standard, 0.032),
    // gemini/gemini-2.5-pro
    case("gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro", U { p: 100000, c: 2000, cached: 50000, ..U::ZERO }, ServiceTier::Standard, 0.08875000000000001),
    // gemini/gemini-2.5-pro
    case("gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro", U { p: 250000, c: 1000, cached: 50000, ..U::ZERO }, ServiceTier::Standard, 0.5275),
    // gemini/gemini-2.5-pro
    case("gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro", U { p: 250000, c: 1000, ..U::ZERO }, ServiceTier::Priority, 1.152),
    // gemini/gemini-2.5-flash
    case("gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash", U { p: 4000, c: 3000, ain: 1000, reason: 2000, ..U::ZERO }, ServiceTier::Standard, 0.0094),
    // gemini/gemini-2.5-flash-lite
    case("gemini/gemini-2.5-flash-lite", "gemini/gemini-2.5-flash-lite", U { p: 10000, c: 500, cached: 2000, ..U::ZERO }, ServiceTier::Standard, 0.00102),
    // gemini/gemini-2.5-flash-image
    case("gemini/gemini-2.5-flash-image", "gemini/gemini-2.5-flash-image", U { p: 500, c: 2600, img_tok: 2580, images: 2, ..U::ZERO }, ServiceTier::Standard, 0.15560000000000002),
    // gemini/gemini-3.1-pro-preview
    case("gemini/gemini-3.1-pro-preview", "gemini/gemini-3.1-pro-preview", U { p: 210000, c: 5000, cached: 10000, reason: 4000, ..U::ZERO }, ServiceTier::Standard, 0.8939999999999999),
    // gemini-2.5-pro
    case("vertex_ai/gemini-2.5-pro", "gemini-2.5-pro", U { p: 150000, c: 3000, ..U::ZERO }, ServiceTier::Standard, 0.21750000000000003),
    // gemini-2.5-pro
    case("vertex_ai/gemini-2.5-pro", "gemini-2.5-pro", U { p: 300000, c: 3000, cached: 100000, ..U::ZERO }, ServiceTier::Standard, 0.5700000000000001),
    // gemini-2.5-flash
    case("vertex_ai/gemini-2.5-flash", "gemini-2.5-flash", U { p: 6000, c: 2000, cached: 3000, reason: 1500, ..U::ZERO }, ServiceTier::Standard, 0.0059900000000000005),
    // vertex_ai/claude-sonnet-4-5
    case("vertex_ai/claude-sonnet-4-5", "vertex_ai/claude-sonnet-4-5", U { p: 220000, c: 1000, cached: 10000, cc: 10000, cc1h: 5000, ..U::ZERO }, ServiceTier::Standard, 1.326),
    // vertex_ai/claude-haiku-4-5
    case("vertex_ai/claude-haiku-4-5", "vertex_ai/claude-haiku-4-5", U { p: 3000, c: 400, cc: 1000, ..U::ZERO }, ServiceTier::Standard, 0.00525),
    // vertex_ai/claude-3-5-sonnet@20240620: no cache price
    case("vertex_ai/claude-3-5-sonnet@20240620", "vertex_ai/claude-3-5-sonnet@20240620", U { p: 1000, c: 1000, cached: 500, ..U::ZERO }, ServiceTier::Standard, 0.018000000000000002),
    // anthropic.claude-3-5-sonnet-20241022-v2:0
    case("bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-3-5-sonnet-20241022-v2:0", U { p: 4000, c: 500, cached: 1000, cc: 1000, ..U::ZERO }, ServiceTier::Standard, 0.01755),
    // us.anthropic.claude-3-5-sonnet-20241022-v2:0
    case("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", U { p: 1000, c: 1000, ..U::ZERO }, ServiceTier::Standard, 0.018000000000000002),
    // bedrock/us-east-1/anthropic.claude-v2:1
    case("bedrock/us-east-1/anthropic.claude-v2:1", "bedrock/us-east-1/anthropic.claude-v2:1", U { p: 2000, c: 300, ..U::ZERO }, ServiceTier::Standard, 0.0232),
    // meta.llama3-70b-instruct-v1:0
    case("bedrock/converse/meta.llama3-70b-instruct-v1:0", "meta.llama3-70b-instruct-v1:0", U { p: 900, c: 100, ..U::ZERO }, ServiceTier::Standard, 0.002735),
    // amazon.nova-pro-v1:0
    case("amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", U { p: 5000, c: 500, cached: 1000, ..U::ZERO }, ServiceTier::Priority, 0.008749999999999999),
    // us.anthropic.claude-sonnet-4-20250514-v1:0
    case("bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0", "us.anthropic.claude-sonnet-4-20250514-v1:0", U { p: 201000, c: 100, cc: 1000, ..U::ZERO }, ServiceTier::Standard, 1.20975),
    // mistral/mistral-large-latest
    case("mistral/mistral-large-latest", "mistral/mistral-large-latest", U { p: 3000, c: 700, cached: 1000, ..U::ZERO }, ServiceTier::Standard, 0.0021),
    // mistral/mistral-small-latest
    case("mistral/mistral-small-latest", "mistral/mistral-small-latest", U { p: 800, c: 200, ..U::ZERO }, ServiceTier::Standard, 0.00023999999999999998),
    // mistral/codestral-latest
    case("mistral/codestral-latest", "mistral/codestral-latest", U { p: 12000, c: 3000, ..U::ZERO }, ServiceTier::Standard, 0.0063),
    // mistral/open-mistral-nemo
    case("mistral/open-mistral-nemo", "mistral/open-mistral-nemo", U { p: 500, c: 500, cached: 100, ..U::ZERO }, ServiceTier::Standard, 0.00027299999999999997),
    // groq/openai/gpt-oss-120b
    case("groq/openai/gpt-oss-120b", "groq/openai/gpt-oss-120b", U { p: 6000, c: 2000, cached: 3000, reason: 1500, ..U::ZERO }, ServiceTier::Standard, 0.001875),
    // groq/openai/gpt-oss-20b
    case("groq/openai/gpt-oss-20b", "groq/openai/gpt-oss-20b", U { p: 1000, c: 1000, ..U::ZERO }, ServiceTier::Standard, 0.00037499999999999995),
    // groq/qwen/qwen3.8-27b
    case("groq/qwen/qwen3.8-27b", "groq/qwen/qwen3.8-27b", U { p: 2500, c: 600, ..U::ZERO }, ServiceTier::Standard, 0.004399999999999999),
    // deepseek/deepseek-chat
    case("deepseek/deepseek-chat", "deepseek/deepseek-chat", U { p: 10000, c: 1000, cached: 8000, ..U::ZERO }, ServiceTier::Standard, 0.0012040000000000002),
    // deepseek/deepseek-reasoner
    case("deepseek/deepseek-reasoner", "deepseek/deepseek-reasoner", U { p: 3000, c: 5000, reason: 4000, ..U::ZERO }, ServiceTier::Standard, 0.00294),
    // xai/grok-4.3
    case("xai/grok-4.3", "xai/grok-4.3", U { p: 1000, c: 200, cached: 500, ..U::ZERO }, ServiceTier::Standard, 0.001225),
    // xai/grok-4.3
    case("xai/grok-4.3", "xai/grok-4.3", U { p: 250000, c: 2000, cached: 50000, ..U::ZERO }, ServiceTier::Batch, 0.424),
    // xai/grok-code-fast-1
    case("xai/grok-code-fast-1", "xai/grok-code-fast-1", U { p: 40000, c: 3000, cached: 30000, ..U::ZERO }, ServiceTier::Standard, 0.022),
    // xai/grok-4.20-reasoning
    case("xai/grok-4.20-reasoning", "xai/grok-4.20-reasoning", U { p: 5000, c: 6000, reason: 5000, ..U::ZERO }, ServiceTier::Standard, 0.02125),
    // xai/grok-4.5
    case("xai/grok-4.5", "xai/grok-4.5", U { p: 210000, c: 100, ..U::ZERO }, ServiceTier::Standard, 0.8412),
    // perplexity/sonar-small-online
    case("perplexity/sonar-small-online", "perplexity/sonar-small-online", U { p: 1000, c: 1000, ..U::ZERO }, ServiceTier::Standard, 0.00528),
    // azure/whisper-1
    case("azure/whisper-1", "azure/whisper-1", U { secs: 30, ..U::ZERO }, ServiceTier::Standard, 0.006),
    // dashscope/qwen-flash
    case("dashscope/qwen-flash", "dashscope/qwen-flash", U { p: 300000, c: 1000, ..U::ZERO }, ServiceTier::Standard, 0.077),
    // dashscope/qwen-flash
    case("dashscope/qwen-flash", "dashscope/qwen-flash", U { p: 1000, c: 1000, ..U::ZERO }, ServiceTier::Standard, 0.00045),

    ]
}

#[test]
fn costs_match_hand_computation_from_the_json_rows() {
    let table = PriceTable::builtin();
    let cases = cases();
    let mut models: Vec<&str> = cases.iter().map(|c| c.key).collect();
    models.sort();
    models.dedup();
    assert!(models.len() >= 40, "only {} models", models.len());
    let mut failures = Vec::new();
    for c in &cases {
        match table.cost(c.name, &LookupHints::default(), &input(c.usage, c.tier)) {
            Ok(cost) => {
                let rel = (cost.usd - c.expected_usd).abs() / c.expected_usd.abs().max(1e-12);
                if cost.model != c.key || rel > 1e-9 {
                    failures.push(format!(
                        "{} ({:?}): got {} from `{}`, expected {} from `{}`",
                        c.name, c.tier, cost.usd, cost.model, c.expected_usd, c.key
                    ));
                }
            }
            Err(e) => failures.push(format!("{} ({:?}): {e}", c.name, c.tier)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn providers_required_by_the_issue_are_covered() {
    let table = PriceTable::builtin();
    let mut providers: Vec<String> = cases()
        .iter()
        .filter_map(|c| table.get(c.key).and_then(|p| p.provider.clone()))
        .map(|p| p.split(['-', '_']).next().unwrap_or_default().to_owned())
        .collect();
    providers.sort();
    providers.dedup();
    for wanted in
        ["openai", "azure", "anthropic", "gemini", "vertex", "bedrock", "mistral", "groq", "deepseek", "xai"]
    {
        assert!(providers.iter().any(|p| p == wanted), "{wanted} missing from {providers:?}");
    }
}
