//! The llm-core conformance suite against the Bedrock adapter, with a mock upstream that speaks
//! Converse JSON and ConverseStream binary event-stream frames.

mod common;

use common::{event, provider, stream_response};
use llm_core::conformance::{Fixture, ToolCallScript};
use llm_core::testkit::MockResponse;
use llm_core::{BoxLlmService, Usage};
use serde_json::json;

struct BedrockFixture;

fn usage_json(u: &Usage) -> serde_json::Value {
    json!({"inputTokens": u.prompt_tokens, "outputTokens": u.completion_tokens, "totalTokens": u.total_tokens})
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 => "ValidationException",
        401 => "UnrecognizedClientException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        429 => "ThrottlingException",
        503 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

impl Fixture for BedrockFixture {
    fn service(&self, base_url: &str) -> BoxLlmService {
        provider(base_url).into_service()
    }

    fn model(&self) -> String {
        "us.anthropic.claude-3-5-haiku-20241022-v1:0".to_owned()
    }

    fn text_response(&self, text: &str, usage: &Usage) -> MockResponse {
        MockResponse::json(
            200,
            json!({"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                   "stopReason": "end_turn", "usage": usage_json(usage), "metrics": {"latencyMs": 10}}),
        )
    }

    fn text_stream(&self, pieces: &[&str], usage: &Usage) -> MockResponse {
        let mut frames = vec![event("messageStart", json!({"role": "assistant"}))];
        frames.extend(pieces.iter().map(|p| {
            event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": p}, "p": "abcd"}))
        }));
        frames.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
        frames.push(event("messageStop", json!({"stopReason": "end_turn"})));
        frames.push(event("metadata", json!({"usage": usage_json(usage), "metrics": {"latencyMs": 10}})));
        stream_response(&frames)
    }

    fn tool_call_stream(&self, calls: &[ToolCallScript]) -> MockResponse {
        let mut frames = vec![event("messageStart", json!({"role": "assistant"}))];
        for (i, c) in calls.iter().enumerate() {
            frames.push(event(
                "contentBlockStart",
                json!({"contentBlockIndex": i, "start": {"toolUse": {"toolUseId": c.id, "name": c.name}}}),
            ));
            for f in &c.argument_fragments {
                frames.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": i, "delta": {"toolUse": {"input": f}}}),
                ));
            }
            frames.push(event("contentBlockStop", json!({"contentBlockIndex": i})));
        }
        frames.push(event("messageStop", json!({"stopReason": "tool_use"})));
        frames.push(event(
            "metadata",
            json!({"usage": {"inputTokens": 5, "outputTokens": 9, "totalTokens": 14}}),
        ));
        stream_response(&frames)
    }

    fn error_response(&self, status: u16, message: &str) -> MockResponse {
        MockResponse::json(status, json!({"message": message}))
            .with_header("x-amzn-errortype", error_type(status))
    }

    fn context_window_error(&self) -> MockResponse {
        MockResponse::json(400, json!({"message": "Input is too long for requested model."})).with_header(
            "x-amzn-errortype",
            "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        )
    }
}

#[tokio::test]
async fn bedrock_passes_the_conformance_suite() {
    llm_core::conformance::run(&BedrockFixture).await;
}
