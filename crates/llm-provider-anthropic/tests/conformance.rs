//! The llm-core conformance suite against the Anthropic adapter, with an upstream that speaks
//! the Messages API wire format.

use llm_core::conformance::{Fixture, ToolCallScript};
use llm_core::sse::{SseEvent, encode_event};
use llm_core::testkit::MockResponse;
use llm_core::{BoxLlmService, Usage};
use llm_provider_anthropic::Anthropic;
use serde_json::{Value, json};

struct AnthropicFixture;

fn event(data: Value) -> (std::time::Duration, bytes::Bytes) {
    let name = data["type"].as_str().map(str::to_owned);
    (
        std::time::Duration::ZERO,
        encode_event(&SseEvent { event: name, data: data.to_string(), ..Default::default() }),
    )
}

fn message_start(input_tokens: u64) -> Value {
    json!({"type": "message_start", "message": {"id": "msg_test", "type": "message", "role": "assistant",
        "content": [], "model": "test-model", "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})
}

fn finish(stop_reason: &str, output_tokens: u64) -> [Value; 2] {
    [
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": output_tokens}}),
        json!({"type": "message_stop"}),
    ]
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

impl Fixture for AnthropicFixture {
    fn service(&self, base_url: &str) -> BoxLlmService {
        Anthropic::new("sk-ant-conformance").with_base_url(base_url).into_service()
    }

    fn text_response(&self, text: &str, usage: &Usage) -> MockResponse {
        MockResponse::json(
            200,
            json!({"id": "msg_test", "type": "message", "role": "assistant", "model": "test-model",
                   "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
                   "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}}),
        )
    }

    fn text_stream(&self, pieces: &[&str], usage: &Usage) -> MockResponse {
        let mut events = vec![
            message_start(usage.prompt_tokens),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
        ];
        for p in pieces {
            events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
        }
        events.push(json!({"type": "content_block_stop", "index": 0}));
        events.extend(finish("end_turn", usage.completion_tokens));
        MockResponse::sse(events.into_iter().map(event).collect())
    }

    fn tool_call_stream(&self, calls: &[ToolCallScript]) -> MockResponse {
        let mut events = vec![message_start(5)];
        for (i, call) in calls.iter().enumerate() {
            events.push(json!({"type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}}));
            events.push(json!({"type": "content_block_delta", "index": i,
                "delta": {"type": "input_json_delta", "partial_json": ""}}));
            for f in &call.argument_fragments {
                events.push(json!({"type": "content_block_delta", "index": i,
                    "delta": {"type": "input_json_delta", "partial_json": f}}));
            }
            events.push(json!({"type": "content_block_stop", "index": i}));
        }
        events.extend(finish("tool_use", 20));
        MockResponse::sse(events.into_iter().map(event).collect())
    }

    fn error_response(&self, status: u16, message: &str) -> MockResponse {
        MockResponse::json(
            status,
            json!({"type": "error", "error": {"type": error_type(status), "message": message}, "request_id": "req_1"}),
        )
    }

    fn context_window_error(&self) -> MockResponse {
        MockResponse::json(
            400,
            json!({"type": "error", "error": {"type": "invalid_request_error",
                   "message": "prompt is too long: 215000 tokens > 200000 maximum"}}),
        )
    }
}

#[tokio::test]
async fn anthropic_passes_the_conformance_suite() {
    llm_core::conformance::run(&AnthropicFixture).await;
}
