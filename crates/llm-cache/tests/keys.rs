//! Key stability: field order and irrelevant fields never change a key; relevant fields do.

mod common;

use llm_cache::{CacheKey, CacheLayer, DefaultKeyMaker, KeyMaker};
use llm_core::{ChatRequest, EmbeddingRequest, LlmRequest};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

fn key_of(value: Value) -> CacheKey {
    let request: ChatRequest = serde_json::from_value(value).expect("valid request");
    DefaultKeyMaker::new().make_key(&LlmRequest::chat(request)).expect("keyed")
}

fn base() -> Value {
    json!({
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                           "required": ["city"]}}}],
        "tool_choice": "auto",
        "temperature": 0.2,
        "seed": 7,
        "custom_param": {"b": 1, "a": 2}
    })
}

#[test]
fn field_order_at_any_depth_does_not_change_the_key() {
    let reordered = json!({
        "custom_param": {"a": 2, "b": 1},
        "seed": 7,
        "temperature": 0.2,
        "tool_choice": "auto",
        "tools": [{"function": {"parameters": {"required": ["city"], "properties": {"unit": {"type": "string"},
            "city": {"type": "string"}}, "type": "object"}, "description": "Weather", "name": "get_weather"},
            "type": "function"}],
        "messages": [{"content": "Be brief.", "role": "system"}, {"content": "Weather in Paris?", "role": "user"}],
        "model": "gpt-4o"
    });
    assert_eq!(key_of(base()), key_of(reordered));
}

#[test]
fn fields_that_do_not_change_the_answer_are_ignored() {
    let mut noisy = base();
    let obj = noisy.as_object_mut().expect("object");
    obj.insert("user".into(), json!("alice"));
    obj.insert("metadata".into(), json!({"trace": "abc"}));
    obj.insert("stream".into(), json!(true));
    obj.insert("stream_options".into(), json!({"include_usage": true}));
    assert_eq!(key_of(base()), key_of(noisy));
    // An explicit null is the same as an absent field.
    let mut nulls = base();
    nulls.as_object_mut().expect("object").insert("top_p".into(), Value::Null);
    assert_eq!(key_of(base()), key_of(nulls));
}

#[test]
fn every_relevant_field_changes_the_key() {
    let original = key_of(base());
    let changes: Vec<(&str, Value)> = vec![
        ("model", json!("gpt-4o-mini")),
        ("messages", json!([{"role": "user", "content": "Weather in Rome?"}])),
        ("tools", json!([])),
        ("tool_choice", json!("required")),
        ("response_format", json!({"type": "json_object"})),
        ("temperature", json!(0.3)),
        ("top_p", json!(0.9)),
        ("seed", json!(8)),
        ("n", json!(2)),
        ("stop", json!(["END"])),
        ("max_tokens", json!(100)),
        ("max_completion_tokens", json!(100)),
        ("reasoning_effort", json!("high")),
        ("presence_penalty", json!(0.5)),
        ("custom_param", json!({"a": 3, "b": 1})),
        ("logit_bias", json!({"50256": -100})),
    ];
    let mut seen = std::collections::HashSet::new();
    for (field, value) in changes {
        let mut changed = base();
        changed.as_object_mut().expect("object").insert(field.into(), value);
        let key = key_of(changed);
        assert_ne!(key, original, "changing `{field}` must change the key");
        assert!(seen.insert(key), "`{field}` collided with another change");
    }
}

#[test]
fn keys_are_stable_hex_and_separate_chat_from_embeddings() {
    let key = key_of(base());
    assert_eq!(key.as_str().len(), 64);
    assert!(key.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(key, key_of(base()), "deterministic");
    let keys = DefaultKeyMaker::new();
    let embed = keys.make_key(&LlmRequest::embedding(EmbeddingRequest::new("gpt-4o", "Hi"))).expect("keyed");
    let mut with_user = EmbeddingRequest::new("gpt-4o", "Hi");
    with_user.user = Some("bob".into());
    assert_eq!(Some(embed.clone()), keys.make_key(&LlmRequest::embedding(with_user)));
    let chat = keys.make_key(&common::chat("Hi")).expect("keyed");
    assert_ne!(embed, chat);
}

#[test]
fn extra_fields_can_be_ignored() {
    let mut with_store = base();
    with_store.as_object_mut().expect("object").insert("store".into(), json!(true));
    let keys = DefaultKeyMaker::new().ignore_field("store");
    let request = |v: Value| LlmRequest::chat(serde_json::from_value(v).expect("valid"));
    assert_eq!(keys.make_key(&request(base())), keys.make_key(&request(with_store.clone())));
    assert_ne!(key_of(base()), key_of(with_store), "not ignored by default");
}

#[tokio::test(start_paused = true)]
async fn a_custom_key_maker_replaces_the_default() {
    let upstream = common::Upstream::numbered(std::time::Duration::ZERO);
    // Key on the model only (None for embeddings: they pass through uncached).
    let by_model = |req: &LlmRequest| match &req.operation {
        llm_core::Operation::Chat(r) => Some(CacheKey::new(r.model.clone())),
        _ => None,
    };
    let layer = CacheLayer::new().with_key_maker(by_model);
    let service = layer.layer(upstream.clone());
    let a = service.clone().oneshot(common::chat("one question")).await.expect("ok");
    let b = service.clone().oneshot(common::chat("another question")).await.expect("ok");
    assert_eq!(common::text(a), "answer 1");
    assert_eq!(common::text(b), "answer 1", "same model, same key");
    service.clone().oneshot(common::embedding("x")).await.expect("ok");
    service.clone().oneshot(common::embedding("x")).await.expect("ok");
    assert_eq!(upstream.calls(), 3);
    assert_eq!(layer.stats().bypassed, 2);
}
