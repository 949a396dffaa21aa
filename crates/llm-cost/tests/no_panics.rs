//! No input makes the lookup or the cost computation panic.

use llm_core::Usage;
use llm_cost::{CostInput, LookupHints, PriceTable, ServiceTier};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn any_name_and_usage(
        name in "(bedrock/|azure/|openai/|vertex_ai/|us\\.)?[a-z0-9./@:-]{0,40}",
        hint in proptest::option::of("[a-z0-9./-]{0,20}"),
        p in any::<u64>(), c in any::<u64>(), cached in any::<u64>(), cc in any::<u64>(),
        cc1h in any::<u64>(), reason in any::<u64>(), images in any::<u64>(), tier in 0u8..4,
    ) {
        let table = PriceTable::builtin();
        let hints = LookupHints { base_model: hint };
        let service_tier = [ServiceTier::Standard, ServiceTier::Batch, ServiceTier::Priority, ServiceTier::Flex][tier as usize];
        let input = CostInput {
            prompt_tokens: p, completion_tokens: c, cached_tokens: cached, cache_creation_tokens: cc,
            cache_creation_1h_tokens: cc1h, reasoning_tokens: reason, output_images: images, service_tier,
            ..CostInput::default()
        };
        if let Ok(cost) = table.cost(&name, &hints, &input) {
            prop_assert!(cost.usd >= 0.0 && !cost.usd.is_nan());
            let _ = cost.nano_usd();
        }
        for model in ["gpt-4o", "gemini/gemini-2.5-pro", "dashscope/qwen-flash", "vertex_ai/claude-sonnet-4-5"] {
            let cost = table.cost(model, &hints, &input);
            if let Ok(cost) = cost {
                prop_assert!(cost.usd >= 0.0);
            }
        }
    }
}

#[test]
fn usage_extras_for_one_hour_cache_writes_and_image_tokens() {
    let mut usage: Usage = serde_json::from_value(serde_json::json!({
        "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
        "prompt_tokens_details": {"cached_tokens": 10, "cache_creation_tokens": 30},
        "completion_tokens_details": {"reasoning_tokens": 5, "image_tokens": 20},
        "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}
    }))
    .unwrap();
    let input = CostInput::from_usage(&usage);
    assert_eq!(
        (input.cached_tokens, input.cache_creation_tokens, input.cache_creation_1h_tokens),
        (10, 30, 20)
    );
    assert_eq!((input.reasoning_tokens, input.completion_image_tokens), (5, 20));
    usage.prompt_tokens_details.as_mut().unwrap().extra.insert("cache_creation_1h_tokens".into(), 7.into());
    assert_eq!(CostInput::from_usage(&usage).cache_creation_1h_tokens, 7);
    assert_eq!(ServiceTier::from_wire("priority"), ServiceTier::Priority);
    assert_eq!(ServiceTier::from_wire("FLEX"), ServiceTier::Flex);
    assert_eq!(ServiceTier::from_wire("default"), ServiceTier::Standard);
}
