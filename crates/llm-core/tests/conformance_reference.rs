//! Runs the conformance suite against a minimal OpenAI-wire `Provider` written only with
//! `llm-core`'s public API and reqwest: proof that the suite, the `Provider` adapter, the SSE
//! decoder and the mock server work together, and an example for third-party provider authors.
#![cfg(feature = "conformance")]

use std::time::Duration;

use futures_util::StreamExt;
use llm_core::conformance::{Fixture, ToolCallScript};
use llm_core::sse::SseStream;
use llm_core::testkit::MockResponse;
use llm_core::*;
use serde_json::json;

struct MiniOpenAi {
    base_url: String,
    client: reqwest::Client,
}

impl MiniOpenAi {
    async fn send(&self, request: &ChatRequest) -> Result<reqwest::Response, LlmError> {
        let response = self
            .client
            .post(format!("{}/v1/chat/completions", self.base_url))
            .bearer_auth("sk-test")
            .json(request)
            .send()
            .await
            .map_err(|e| LlmError::new(ErrorKind::Transport, "request failed").with_source(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = retry_after_from_headers(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let parsed: Option<OpenAiErrorBody> = serde_json::from_slice(&body).ok();
        let (message, code) = match parsed {
            Some(b) => (b.error.message, b.error.code),
            None => (String::from_utf8_lossy(&body).into_owned(), None),
        };
        let kind = match code.as_deref() {
            Some("context_length_exceeded") => ErrorKind::ContextWindowExceeded,
            _ => ErrorKind::from_status(status, retry_after),
        };
        Err(LlmError::new(kind, message))
    }
}

#[async_trait::async_trait]
impl Provider for MiniOpenAi {
    fn name(&self) -> &str {
        "mini-openai"
    }

    async fn chat(&self, request: ChatRequest, _: &RequestContext) -> Result<ChatResponse, LlmError> {
        let body = self
            .send(&request)
            .await?
            .bytes()
            .await
            .map_err(|e| LlmError::new(ErrorKind::Transport, "body").with_source(e))?;
        Ok(serde_json::from_slice(&body)?)
    }

    async fn chat_stream(&self, request: ChatRequest, _: &RequestContext) -> Result<ChatStream, LlmError> {
        let response = self.send(&request).await?;
        let events = SseStream::new(Box::pin(response.bytes_stream()));
        let chunks = futures_util::stream::unfold((events, false), |(mut events, ended)| async move {
            if ended {
                return None;
            }
            let item = match events.next().await {
                Some(Ok(e)) if e.is_done() => return None,
                Some(Ok(e)) => {
                    return Some((
                        serde_json::from_str::<ChatChunk>(&e.data).map_err(LlmError::from),
                        (events, false),
                    ));
                }
                Some(Err(e)) => LlmError::new(ErrorKind::Transport, "stream cut").with_source(e),
                None => LlmError::new(ErrorKind::Transport, "stream ended before [DONE]"),
            };
            Some((Err(item), (events, true)))
        });
        Ok(Box::pin(chunks))
    }
}

struct MiniFixture;

fn chunk(delta: serde_json::Value, finish: Option<&str>) -> serde_json::Value {
    json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "test-model",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn usage_json(u: &Usage) -> serde_json::Value {
    json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens})
}

impl Fixture for MiniFixture {
    fn service(&self, base_url: &str) -> BoxLlmService {
        ProviderService::new(MiniOpenAi { base_url: base_url.to_owned(), client: reqwest::Client::new() })
            .boxed()
    }

    fn text_response(&self, text: &str, usage: &Usage) -> MockResponse {
        MockResponse::json(
            200,
            json!({
                "id": "c1", "object": "chat.completion", "created": 1, "model": "test-model",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage_json(usage)
            }),
        )
    }

    fn text_stream(&self, pieces: &[&str], usage: &Usage) -> MockResponse {
        let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        events.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
        events.push(chunk(json!({}), Some("stop")));
        let mut last = chunk(json!({}), None);
        last["choices"] = json!([]);
        last["usage"] = usage_json(usage);
        events.push(last);
        MockResponse::sse_json(&events, true).with_chunk_interval(Duration::from_millis(2))
    }

    fn tool_call_stream(&self, calls: &[ToolCallScript]) -> MockResponse {
        let mut events = Vec::new();
        for (i, c) in calls.iter().enumerate() {
            events.push(chunk(json!({"tool_calls": [{"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}]}), None));
            for f in &c.argument_fragments {
                events.push(chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": f}}]}), None));
            }
        }
        events.push(chunk(json!({}), Some("tool_calls")));
        MockResponse::sse_json(&events, true)
    }

    fn error_response(&self, status: u16, message: &str) -> MockResponse {
        MockResponse::json(
            status,
            json!({"error": {"message": message, "type": "x", "param": null, "code": null}}),
        )
    }

    fn context_window_error(&self) -> MockResponse {
        MockResponse::json(
            400,
            json!({"error": {"message": "too long", "type": "invalid_request_error", "code": "context_length_exceeded"}}),
        )
    }
}

#[tokio::test]
async fn mini_openai_passes_the_conformance_suite() {
    llm_core::conformance::run(&MiniFixture).await;
}

/// The suite must fail an adapter that gets things wrong: here, one that drops usage.
#[tokio::test]
#[should_panic(expected = "conformance (text): no usage")]
async fn the_suite_catches_a_broken_adapter() {
    struct NoUsage;
    impl Fixture for NoUsage {
        fn service(&self, base_url: &str) -> BoxLlmService {
            MiniFixture.service(base_url)
        }
        fn text_response(&self, text: &str, _: &Usage) -> MockResponse {
            MockResponse::json(
                200,
                json!({
                    "id": "c1", "object": "chat.completion", "created": 1, "model": "test-model",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
                }),
            )
        }
        fn text_stream(&self, pieces: &[&str], usage: &Usage) -> MockResponse {
            MiniFixture.text_stream(pieces, usage)
        }
        fn tool_call_stream(&self, calls: &[ToolCallScript]) -> MockResponse {
            MiniFixture.tool_call_stream(calls)
        }
        fn error_response(&self, status: u16, message: &str) -> MockResponse {
            MiniFixture.error_response(status, message)
        }
        fn context_window_error(&self) -> MockResponse {
            MiniFixture.context_window_error()
        }
    }
    llm_core::conformance::non_streamed_text(&NoUsage).await;
}

#[tokio::test]
async fn mock_server_resets_and_hangs() {
    let server = llm_core::testkit::MockServer::start().await;
    server.push(MockResponse::reset());
    server.push(MockResponse::hang());
    let client = reqwest::Client::new();
    let reset = client.get(format!("{}/a", server.url())).send().await;
    assert!(reset.is_err(), "a reset connection is an error");
    let hang =
        tokio::time::timeout(Duration::from_millis(200), client.get(format!("{}/b", server.url())).send())
            .await;
    assert!(hang.is_err(), "a hanging upstream never answers");
    assert_eq!(server.request_count(), 2);
}
