//! The `llm-core` conformance suite against both Vertex AI paths — Gemini (`generateContent`)
//! and Claude (`rawPredict`) — with upstream answers spelled as Vertex spells them, and
//! authentication through a service-account key exchanged at a mock token endpoint.

mod support;

use llm_core::conformance::{Fixture, ToolCallScript};
use llm_core::sse::{SseEvent, encode_event};
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{BoxLlmService, ChatMessage, ChatRequest, LlmRequest, Usage};
use llm_provider_vertex::Vertex;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A provider for `base_url`, authenticated with the test key against `token_server`.
fn vertex(base_url: &str, token_server: &MockServer) -> Vertex {
    Vertex::new()
        .with_project(support::PROJECT)
        .with_base_url(base_url)
        .with_service_account_json(&support::service_account_json(&format!("{}/token", token_server.url())))
        .expect("test key")
}

async fn token_server() -> MockServer {
    let server = MockServer::start().await;
    server.set_default(support::token_answer("ya29.conformance-token", 3600));
    server
}

// ---------------------------------------------------------------- Gemini on Vertex

struct GeminiOnVertex {
    tokens: MockServer,
}

fn usage_json(u: &Usage) -> Value {
    json!({"promptTokenCount": u.prompt_tokens, "candidatesTokenCount": u.completion_tokens,
           "totalTokenCount": u.total_tokens})
}

fn text_event(text: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
           "modelVersion": "gemini-2.5-flash", "responseId": "r1", "createTime": "2025-01-01T00:00:00Z"})
}

fn google_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    }
}

fn google_error(status: u16, message: &str) -> MockResponse {
    MockResponse::json(
        status,
        json!({"error": {"code": status, "message": message, "status": google_status(status)}}),
    )
}

impl Fixture for GeminiOnVertex {
    fn service(&self, base_url: &str) -> BoxLlmService {
        vertex(base_url, &self.tokens).into_service()
    }

    fn model(&self) -> String {
        "vertex_ai/gemini-2.5-flash".to_owned()
    }

    fn text_response(&self, text: &str, usage: &Usage) -> MockResponse {
        let mut body = text_event(text);
        body["candidates"][0]["finishReason"] = json!("STOP");
        body["usageMetadata"] = usage_json(usage);
        MockResponse::json(200, body)
    }

    fn text_stream(&self, pieces: &[&str], usage: &Usage) -> MockResponse {
        let mut events: Vec<Value> = pieces.iter().map(|p| text_event(p)).collect();
        let mut last = text_event("");
        last["candidates"][0]["finishReason"] = json!("STOP");
        last["usageMetadata"] = usage_json(usage);
        events.push(last);
        MockResponse::sse_json(&events, false)
    }

    fn tool_call_stream(&self, calls: &[ToolCallScript]) -> MockResponse {
        let mut events: Vec<Value> = calls
            .iter()
            .map(|c| {
                let args: Value = serde_json::from_str(&c.arguments()).unwrap_or(Value::Null);
                json!({"candidates": [{"content": {"role": "model", "parts": [
                    {"functionCall": {"id": c.id, "name": c.name, "args": args}}]}, "index": 0}]})
            })
            .collect();
        events.push(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
            "finishReason": "STOP", "index": 0}], "usageMetadata": usage_json(&Usage::new(5, 5))}));
        MockResponse::sse_json(&events, false)
    }

    fn error_response(&self, status: u16, message: &str) -> MockResponse {
        google_error(status, message)
    }

    fn context_window_error(&self) -> MockResponse {
        google_error(
            400,
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        )
    }
}

// ---------------------------------------------------------------- Claude on Vertex

struct ClaudeOnVertex {
    tokens: MockServer,
}

fn event(data: Value) -> (std::time::Duration, bytes::Bytes) {
    let name = data["type"].as_str().map(str::to_owned);
    (
        std::time::Duration::ZERO,
        encode_event(&SseEvent { event: name, data: data.to_string(), ..Default::default() }),
    )
}

fn message_start(input_tokens: u64) -> Value {
    json!({"type": "message_start", "message": {"id": "msg_vrtx_01", "type": "message", "role": "assistant",
        "content": [], "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})
}

fn finish(stop_reason: &str, output_tokens: u64) -> [Value; 2] {
    [
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": output_tokens}}),
        json!({"type": "message_stop"}),
    ]
}

impl Fixture for ClaudeOnVertex {
    fn service(&self, base_url: &str) -> BoxLlmService {
        vertex(base_url, &self.tokens).into_service()
    }

    fn model(&self) -> String {
        "vertex_ai/claude-sonnet-4-5@20250929".to_owned()
    }

    fn text_response(&self, text: &str, usage: &Usage) -> MockResponse {
        MockResponse::json(
            200,
            json!({"id": "msg_vrtx_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
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
        // Vertex answers Claude errors in Anthropic's envelope.
        let kind = match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        MockResponse::json(status, json!({"type": "error", "error": {"type": kind, "message": message}}))
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
async fn gemini_on_vertex_passes_the_conformance_suite() {
    let fixture = GeminiOnVertex { tokens: token_server().await };
    llm_core::conformance::run(&fixture).await;
    assert!(fixture.tokens.request_count() >= 1, "the service-account flow was exercised");
}

#[tokio::test]
async fn claude_on_vertex_passes_the_conformance_suite() {
    let fixture = ClaudeOnVertex { tokens: token_server().await };
    llm_core::conformance::run(&fixture).await;
    assert!(fixture.tokens.request_count() >= 1, "the service-account flow was exercised");
}

const BASE: &str = "/v1/projects/test-project/locations/us-central1/publishers";

#[tokio::test]
async fn gemini_requests_use_vertex_paths_and_the_bearer_token() {
    let fixture = GeminiOnVertex { tokens: token_server().await };
    let server = MockServer::start().await;
    server.push(fixture.text_response("hi", &Usage::new(1, 1)));
    server.push(fixture.text_stream(&["hi"], &Usage::new(1, 1)));
    let svc = fixture.service(&server.url());
    let req = ChatRequest::new("vertex_ai/gemini-2.5-flash", vec![ChatMessage::user("hi")]);
    let answer = svc.clone().oneshot(LlmRequest::chat(req.clone())).await.unwrap().into_chat().unwrap();
    assert_eq!(answer.model, "gemini-2.5-flash");
    let stream =
        svc.oneshot(LlmRequest::chat(req.with_stream(true))).await.unwrap().into_chat_stream().unwrap();
    assert_eq!(llm_core::collect_stream(stream).await.unwrap().text().as_deref(), Some("hi"));
    let seen = server.requests();
    assert_eq!(seen[0].path, format!("{BASE}/google/models/gemini-2.5-flash:generateContent"));
    assert_eq!(seen[1].path, format!("{BASE}/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"));
    for r in &seen {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("authorization"), Some("Bearer ya29.conformance-token"));
        assert!(r.header("x-goog-api-key").is_none());
        assert_eq!(r.json()["contents"][0], json!({"role": "user", "parts": [{"text": "hi"}]}));
    }
    assert_eq!(fixture.tokens.request_count(), 1, "one token served both calls");
}

#[tokio::test]
async fn claude_requests_carry_anthropic_version_and_no_model() {
    let fixture = ClaudeOnVertex { tokens: token_server().await };
    let server = MockServer::start().await;
    server.push(fixture.text_response("hi", &Usage::new(1, 1)));
    server.push(fixture.text_stream(&["hi"], &Usage::new(1, 1)));
    let svc = fixture.service(&server.url());
    let mut req = ChatRequest::new("vertex_ai/claude-sonnet-4-5@20250929", vec![ChatMessage::user("hi")]);
    req.extra.insert("anthropic_beta".into(), json!("context-1m-2025-08-07"));
    svc.clone().oneshot(LlmRequest::chat(req.clone())).await.unwrap().into_chat().unwrap();
    let stream =
        svc.oneshot(LlmRequest::chat(req.with_stream(true))).await.unwrap().into_chat_stream().unwrap();
    assert_eq!(llm_core::collect_stream(stream).await.unwrap().text().as_deref(), Some("hi"));
    let seen = server.requests();
    assert_eq!(seen[0].path, format!("{BASE}/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"));
    assert_eq!(seen[1].path, format!("{BASE}/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"));
    for (r, stream) in seen.iter().zip([false, true]) {
        let body = r.json();
        assert!(body.get("model").is_none(), "{body}");
        assert_eq!(body["anthropic_version"], "vertex-2023-10-16");
        assert_eq!(body["messages"][0]["content"][0]["text"], "hi");
        assert_eq!(body.get("stream").and_then(Value::as_bool).unwrap_or(false), stream);
        assert_eq!(r.header("authorization"), Some("Bearer ya29.conformance-token"));
        assert_eq!(r.header("anthropic-beta"), Some("context-1m-2025-08-07"));
        assert!(r.header("x-api-key").is_none() && r.header("anthropic-version").is_none());
    }
}

#[tokio::test]
async fn google_errors_on_the_claude_path_keep_their_kind() {
    let fixture = ClaudeOnVertex { tokens: token_server().await };
    let server = MockServer::start().await;
    server.push(google_error(429, "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests"));
    let req = ChatRequest::new("vertex_ai/claude-haiku-4-5@20251001", vec![ChatMessage::user("hi")]);
    let err = fixture.service(&server.url()).oneshot(LlmRequest::chat(req)).await.unwrap_err();
    assert!(matches!(err.kind(), llm_core::ErrorKind::RateLimited { .. }), "{err:?}");
    assert_eq!(err.provider(), Some("vertex_ai"));
}
