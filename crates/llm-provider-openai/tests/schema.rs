//! Every request body the adapter builds for a test matrix validates against OpenAI's official
//! schemas (`CreateChatCompletionRequest`, `CreateEmbeddingRequest`) in
//! `shared/test-data/specs/openai-openapi.json`, with the `jsonschema` crate. OpenAPI's
//! `nullable: true` is rewritten to "or null" before compiling.

use llm_core::testkit::{MockResponse, MockServer, test_data_dir};
use llm_core::{ChatRequest, EmbeddingRequest, LlmRequest};
use llm_provider_openai::wire::{WireOptions, chat_body, embedding_body};
use llm_provider_openai::{OpenAi, Quirk};
use serde_json::{Map, Value, json};
use tower::ServiceExt;

/// Rewrites every `{"nullable": true, …}` into `{"anyOf": [{…}, {"type": "null"}]}`.
fn rewrite_nullable(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                rewrite_nullable(child);
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                let inner = std::mem::take(map);
                let mut wrapped = Map::new();
                wrapped.insert("anyOf".into(), json!([Value::Object(inner), {"type": "null"}]));
                *map = wrapped;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_nullable),
        _ => {}
    }
}

struct Spec {
    chat: jsonschema::Validator,
    embedding: jsonschema::Validator,
}

fn spec() -> &'static Spec {
    static SPEC: std::sync::OnceLock<Spec> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        let path = test_data_dir(env!("CARGO_MANIFEST_DIR")).join("specs/openai-openapi.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let spec: Value = serde_json::from_str(&text).expect("the spec is JSON");
        let mut components = spec["components"].clone();
        rewrite_nullable(&mut components);
        let validator = |name: &str| {
            let root = json!({"$ref": format!("#/components/schemas/{name}"), "components": components});
            jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("compiling {name}: {e}"))
        };
        Spec {
            chat: validator("CreateChatCompletionRequest"),
            embedding: validator("CreateEmbeddingRequest"),
        }
    })
}

fn assert_valid(validator: &jsonschema::Validator, body: &Value, case: &str) {
    let errors: Vec<String> =
        validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{case}: body {body} violates the spec:\n{}", errors.join("\n"));
}

fn chat(value: Value) -> ChatRequest {
    serde_json::from_value(value).expect("a valid ChatRequest")
}

/// The chat matrix: callers' requests as they arrive (model with provider prefix, OpenAI shape).
fn chat_matrix() -> Vec<(&'static str, ChatRequest)> {
    let weather = json!({"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false},
        "strict": true}});
    let time = json!({"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}});
    vec![
        (
            "plain",
            chat(json!({"model": "openai/gpt-4o", "messages": [
            {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi", "name": "ann"}],
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 64, "n": 1, "stop": ["\n\n"], "seed": 7,
            "frequency_penalty": 0.5, "presence_penalty": -0.5, "user": "u-1", "metadata": {"team": "a"}})),
        ),
        (
            "tools + named tool_choice + tool results",
            chat(json!({"model": "openai/gpt-4o", "messages": [
            {"role": "user", "content": "Weather and time in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "12:00"}],
            "tools": [weather, time], "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": true})),
        ),
        (
            "tool_choice required",
            chat(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],
            "tools": [weather], "tool_choice": "required"})),
        ),
        (
            "tool_choice none",
            chat(json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],
            "tools": [weather], "tool_choice": "none"})),
        ),
        (
            "json_schema",
            chat(json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "A city"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "description": "A city", "strict": true,
                "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"], "additionalProperties": false}}}})),
        ),
        (
            "json_object",
            chat(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "JSON please"}],
            "response_format": {"type": "json_object"}})),
        ),
        (
            "vision",
            chat(json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is in these images?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]})),
        ),
        (
            "reasoning",
            chat(json!({"model": "openai/o3-mini", "messages": [
            {"role": "developer", "content": "Think step by step."}, {"role": "user", "content": "2+2?"}],
            "max_tokens": 2000, "reasoning_effort": "high"})),
        ),
        (
            "reasoning with max_completion_tokens",
            chat(json!({"model": "gpt-5", "messages": [{"role": "user", "content": "x"}],
            "max_completion_tokens": 500, "reasoning_effort": "minimal"})),
        ),
        (
            "stream",
            chat(
                json!({"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": true}),
            ),
        ),
        (
            "stream with tools",
            chat(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "stream": true,
            "tools": [weather, time], "tool_choice": "auto"})),
        ),
        (
            "logprobs",
            chat(
                json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 3}),
            ),
        ),
    ]
}

fn openai_options() -> WireOptions<'static> {
    WireOptions { quirks: &[Quirk::ReasoningModelTokenLimit], ..WireOptions::default() }
}

#[test]
fn chat_bodies_validate_against_the_spec() {
    let spec = spec();
    for (case, request) in chat_matrix() {
        let stream = request.is_stream();
        let body: Value = serde_json::from_slice(&chat_body(request, &openai_options()).unwrap()).unwrap();
        assert!(!body["model"].as_str().unwrap().starts_with("openai/"), "{case}: prefix stripped");
        if stream {
            assert_eq!(body["stream_options"]["include_usage"], true, "{case}");
        }
        assert_valid(&spec.chat, &body, case);
    }
}

#[test]
fn reasoning_body_uses_max_completion_tokens() {
    let (_, request) = chat_matrix().into_iter().find(|(c, _)| *c == "reasoning").unwrap();
    let body: Value = serde_json::from_slice(&chat_body(request, &openai_options()).unwrap()).unwrap();
    assert_eq!((body["max_completion_tokens"].clone(), body.get("max_tokens")), (json!(2000), None));
    assert_eq!(body["reasoning_effort"], "high");
}

/// The validator is real: it rejects bodies that break the spec.
#[test]
fn the_validator_rejects_invalid_bodies() {
    let spec = spec();
    for bad in [
        json!({"model": "gpt-4o", "messages": []}),
        json!({"model": "gpt-4o", "messages": [{"role": "wizard", "content": "x"}]}),
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"}),
        json!({"input": "x", "model": "m", "encoding_format": "int8"}),
    ] {
        let validator = if bad.get("input").is_some() { &spec.embedding } else { &spec.chat };
        assert!(!validator.is_valid(&bad), "{bad} should be rejected");
    }
    // nullable fields accept null after the rewrite.
    assert!(spec.chat.is_valid(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": null})));
}

#[test]
fn embedding_bodies_validate_against_the_spec() {
    let spec = spec();
    let cases = [
        json!({"model": "openai/text-embedding-3-small", "input": "The food was delicious", "encoding_format": "float"}),
        json!({"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64"}),
        json!({"model": "text-embedding-3-large", "input": "x", "dimensions": 256, "user": "u-1"}),
        json!({"model": "text-embedding-3-small", "input": [1212, 318, 257]}),
        json!({"model": "text-embedding-3-small", "input": [[1212, 318], [257]]}),
    ];
    for case in cases {
        let request: EmbeddingRequest = serde_json::from_value(case.clone()).unwrap();
        let body: Value =
            serde_json::from_slice(&embedding_body(request, &WireOptions::default()).unwrap()).unwrap();
        assert!(!body["model"].as_str().unwrap().contains('/'));
        assert_valid(&spec.embedding, &body, &case.to_string());
    }
}

/// What actually goes over the wire (recorded by the mock upstream) validates too, for OpenAI
/// and Azure, complete and streamed.
#[tokio::test]
async fn bodies_sent_over_http_validate() {
    let server = MockServer::start().await;
    server.set_default(MockResponse::json(
        400,
        json!({"error": {"message": "recorded", "type": "invalid_request_error"}}),
    ));
    let services = [
        OpenAi::new().with_api_key("sk-x").with_base_url(format!("{}/v1", server.url())).into_service(),
        OpenAi::azure().with_api_key("az-x").with_base_url(server.url()).into_service(),
    ];
    let mut sent = 0;
    for svc in services {
        for (_, request) in chat_matrix() {
            let _ = svc.clone().oneshot(LlmRequest::chat(request)).await;
            sent += 1;
        }
        let e = EmbeddingRequest::new("text-embedding-3-small", "hello");
        let _ = svc.clone().oneshot(LlmRequest::embedding(e)).await;
        sent += 1;
    }
    let requests = server.requests();
    assert_eq!(requests.len(), sent);
    for r in requests {
        let body = r.json();
        let validator = if r.path.contains("/embeddings") { &spec().embedding } else { &spec().chat };
        assert_valid(validator, &body, &r.path);
    }
}
