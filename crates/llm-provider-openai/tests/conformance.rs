//! The `llm-core` conformance suite, run against OpenAI and Azure OpenAI (two fixtures that
//! differ in how the service is built; both upstreams speak OpenAI's wire format).

use std::time::Duration;

use llm_core::conformance::{Fixture, ToolCallScript};
use llm_core::testkit::MockResponse;
use llm_core::{BoxLlmService, Usage};
use llm_provider_openai::OpenAi;
use serde_json::{Value, json};

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "test-model",
           "system_fingerprint": "fp_1", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
}

fn usage_json(u: &Usage) -> Value {
    json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens,
           "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}})
}

/// How an OpenAI-wire upstream answers; the two fixtures share it.
trait OpenAiWire {
    fn build(&self, base_url: &str) -> BoxLlmService;
}

struct Wire<T>(T);

impl<T: OpenAiWire + Send + Sync> Fixture for Wire<T> {
    fn service(&self, base_url: &str) -> BoxLlmService {
        self.0.build(base_url)
    }

    fn text_response(&self, text: &str, usage: &Usage) -> MockResponse {
        MockResponse::json(
            200,
            json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                             "logprobs": null, "finish_reason": "stop"}],
                "usage": usage_json(usage), "service_tier": "default"
            }),
        )
    }

    fn text_stream(&self, pieces: &[&str], usage: &Usage) -> MockResponse {
        let mut events = vec![chunk(json!({"role": "assistant", "content": "", "refusal": null}), None)];
        events.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
        events.push(chunk(json!({}), Some("stop")));
        let mut last = chunk(json!({}), None);
        last["choices"] = json!([]);
        last["usage"] = usage_json(usage);
        events.push(last);
        MockResponse::sse_json(&events, true).with_chunk_interval(Duration::from_millis(1))
    }

    fn tool_call_stream(&self, calls: &[ToolCallScript]) -> MockResponse {
        // Interleave the calls' fragments, as parallel tool calls may arrive.
        let mut events = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            events.push(chunk(
                json!({"tool_calls": [{"index": i, "id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": ""}}]}),
                None,
            ));
        }
        let longest = calls.iter().map(|c| c.argument_fragments.len()).max().unwrap_or(0);
        for f in 0..longest {
            for (i, c) in calls.iter().enumerate() {
                if let Some(fragment) = c.argument_fragments.get(f) {
                    events.push(chunk(
                        json!({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]}),
                        None,
                    ));
                }
            }
        }
        events.push(chunk(json!({}), Some("tool_calls")));
        MockResponse::sse_json(&events, true)
    }

    fn error_response(&self, status: u16, message: &str) -> MockResponse {
        MockResponse::json(
            status,
            json!({"error": {"message": message, "type": "invalid_request_error", "param": null, "code": null}}),
        )
    }

    fn context_window_error(&self) -> MockResponse {
        MockResponse::json(
            400,
            json!({"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 200000 tokens.",
                             "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
        )
    }
}

struct OpenAiUpstream;

impl OpenAiWire for OpenAiUpstream {
    fn build(&self, base_url: &str) -> BoxLlmService {
        OpenAi::new().with_api_key("sk-conformance").with_base_url(format!("{base_url}/v1")).into_service()
    }
}

struct AzureUpstream;

impl OpenAiWire for AzureUpstream {
    fn build(&self, base_url: &str) -> BoxLlmService {
        OpenAi::azure()
            .with_api_key("azure-conformance")
            .with_base_url(base_url)
            .with_api_version("2024-10-21")
            .into_service()
    }
}

#[tokio::test]
async fn openai_passes_the_conformance_suite() {
    llm_core::conformance::run(&Wire(OpenAiUpstream)).await;
}

#[tokio::test]
async fn azure_passes_the_conformance_suite() {
    llm_core::conformance::run(&Wire(AzureUpstream)).await;
}
