//! The memory-cache hit path: key derivation, lookup, freshness checks and response clone.
//!
//! Run with `cargo bench -p llm-cache -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use llm_cache::CacheLayer;
use llm_core::{ChatMessage, ChatRequest, ChatResponse, LlmError, LlmRequest, LlmResponse, Tool};
use tower::{Layer, ServiceExt};

fn request() -> LlmRequest {
    let messages = vec![
        ChatMessage::system("You are a helpful assistant. Answer briefly and cite sources."),
        ChatMessage::user("What is the weather like in Paris today, and should I take an umbrella?"),
        ChatMessage::assistant("Let me check the forecast for Paris."),
        ChatMessage::user("Please also tell me about tomorrow."),
    ];
    let tool = Tool::function(
        "get_weather",
        "Current weather and forecast for a city",
        serde_json::json!({"type": "object", "properties": {"city": {"type": "string"},
            "days": {"type": "integer"}}, "required": ["city"]}),
    );
    LlmRequest::chat(ChatRequest::new("gpt-4o-mini", messages).with_tools(vec![tool]).with_temperature(0.2))
}

fn response() -> ChatResponse {
    serde_json::from_value(serde_json::json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant",
            "content": "It is 18 °C and cloudy in Paris; rain is likely this evening, so take an umbrella. Tomorrow will be sunny."},
            "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    }))
    .expect("valid response")
}

fn cache_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let upstream =
        tower::service_fn(|_req: LlmRequest| async { Ok::<_, LlmError>(LlmResponse::chat(response())) });
    let service = CacheLayer::new().layer(upstream);
    let warm = runtime.block_on(service.clone().oneshot(request())).expect("stored");
    assert!(!warm.metadata.cache_hit);
    let req = request();
    c.bench_function("memory_cache_hit", |b| {
        b.iter(|| {
            let response = runtime.block_on(service.clone().oneshot(black_box(req.clone()))).expect("hit");
            assert!(response.metadata.cache_hit);
            black_box(response)
        })
    });
    c.bench_function("default_key_only", |b| {
        use llm_cache::KeyMaker;
        let keys = llm_cache::DefaultKeyMaker::new();
        b.iter(|| black_box(keys.make_key(black_box(&req))))
    });
}

criterion_group!(benches, cache_hit);
criterion_main!(benches);
