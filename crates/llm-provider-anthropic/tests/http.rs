//! The HTTP shell against the mock upstream: what is sent, how answers and failures come back.

use std::time::Duration;

use futures_util::StreamExt;
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{
    ChatMessage, ChatRequest, ErrorKind, FinishReason, LlmError, LlmRequest, Provider, RequestContext,
    ResponseBody,
};
use llm_provider_anthropic::Anthropic;
use serde_json::json;
use tower::ServiceExt;

const KEY: &str = "sk-ant-api03-SECRET-test-key";

fn client(server: &MockServer) -> Anthropic {
    Anthropic::new(KEY).with_base_url(server.url())
}

/// [`client`] on the default transport, or (`reqwest`) on a caller's reqwest client.
fn client_on(server: &MockServer, reqwest: bool) -> Anthropic {
    let c = client(server);
    if reqwest { c.with_http_client(reqwest::Client::new()) } else { c }
}

fn request() -> ChatRequest {
    ChatRequest::new("anthropic/claude-sonnet-4-5", vec![ChatMessage::user("Hi")]).with_max_tokens(50)
}

fn message(content: serde_json::Value, stop_reason: &str) -> serde_json::Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
           "content": content, "stop_reason": stop_reason, "stop_sequence": null,
           "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 5, "output_tokens": 7,
                     "server_tool_use": {"web_search_requests": 1}, "service_tier": "standard"}})
}

fn anthropic_error(status: u16, kind: &str, message: &str) -> MockResponse {
    MockResponse::json(status, json!({"type": "error", "error": {"type": kind, "message": message}}))
}

async fn chat_err(server: &MockServer, c: &Anthropic) -> LlmError {
    let _ = server;
    c.chat(request(), &RequestContext::new()).await.expect_err("an error")
}

#[tokio::test]
async fn sends_the_documented_headers_and_body() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(200, message(json!([{"type": "text", "text": "Hello"}]), "end_turn")));
    let mut req = request();
    req.extra.insert("anthropic_beta".into(), json!("output-128k-2025-02-19"));
    let c = client(&server).with_beta("prompt-caching-2024-07-31");
    let res = c.chat(req, &RequestContext::new()).await.unwrap();
    assert_eq!(res.text().as_deref(), Some("Hello"));
    let sent = &server.requests()[0];
    assert_eq!((sent.method.as_str(), sent.path.as_str()), ("POST", "/v1/messages"));
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("anthropic-beta"), Some("prompt-caching-2024-07-31,output-128k-2025-02-19"));
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert!(sent.header("authorization").is_none(), "no bearer auth");
    let body = sent.json();
    assert_eq!(body["model"], "claude-sonnet-4-5");
    assert_eq!(body["max_tokens"], 50);
    assert!(body.get("stream").is_none());
    assert!(body.get("anthropic_beta").is_none());
}

#[tokio::test]
async fn parses_a_complete_answer_with_thinking_tools_and_cache_usage() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(
        200,
        message(
            json!([
                {"type": "thinking", "thinking": "Need the tool.", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {}},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "days": [1, 2]}},
            ]),
            "tool_use",
        ),
    ));
    let res = client(&server).chat(request(), &RequestContext::new()).await.unwrap();
    let msg = &res.choices[0].message;
    assert_eq!(res.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(msg.text().as_deref(), Some("Checking."));
    assert_eq!(msg.reasoning_content.as_deref(), Some("Need the tool."));
    assert_eq!(
        msg.extra["thinking_blocks"],
        json!([{"type": "thinking", "thinking": "Need the tool.", "signature": "sig"}])
    );
    let calls = msg.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 1, "server tools are not client tool calls");
    assert_eq!(calls[0].id, "toolu_1");
    let args: serde_json::Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
    assert_eq!(args, json!({"city": "Paris", "days": [1, 2]}));
    let u = res.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (105, 7, 112));
    assert_eq!((u.cached_tokens(), u.cache_creation_tokens()), (90, 5));
    assert_eq!(u.extra["server_tool_use"], json!({"web_search_requests": 1}));
    assert_eq!(res.service_tier.as_deref(), Some("standard"));
}

#[tokio::test]
async fn error_bodies_map_to_kinds() {
    let cases = [
        (400, "invalid_request_error", "max_tokens: field required", ErrorKind::BadRequest),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 201000 tokens > 200000 maximum",
            ErrorKind::ContextWindowExceeded,
        ),
        (401, "authentication_error", "invalid x-api-key", ErrorKind::Authentication),
        (403, "permission_error", "no access", ErrorKind::PermissionDenied),
        (404, "not_found_error", "model: claude-9", ErrorKind::NotFound),
        (413, "request_too_large", "Request exceeds the maximum size", ErrorKind::BadRequest),
        (500, "api_error", "Internal server error", ErrorKind::Upstream { status: 500 }),
        (529, "overloaded_error", "Overloaded", ErrorKind::ServiceUnavailable),
    ];
    for (status, kind, message, want) in cases {
        let server = MockServer::start().await;
        server.push(anthropic_error(status, kind, message));
        let err = chat_err(&server, &client(&server)).await;
        assert_eq!(*err.kind(), want, "{status} {kind}");
        assert_eq!(err.message(), message);
        assert_eq!(err.provider(), Some("anthropic"));
    }
}

#[tokio::test]
async fn rate_limits_keep_retry_after_and_odd_bodies_still_map() {
    let server = MockServer::start().await;
    server.push(anthropic_error(429, "rate_limit_error", "slow down").with_header("retry-after", "12"));
    server.push(MockResponse::bytes(502, "<html>Bad gateway</html>"));
    server.push(MockResponse::bytes(529, ""));
    let c = client(&server);
    let err = chat_err(&server, &c).await;
    assert_eq!(*err.kind(), ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(12)) });
    let err = chat_err(&server, &c).await;
    assert_eq!(*err.kind(), ErrorKind::Upstream { status: 502 });
    assert!(err.message().contains("Bad gateway"));
    let err = chat_err(&server, &c).await;
    assert_eq!(*err.kind(), ErrorKind::ServiceUnavailable);
}

#[tokio::test]
async fn malformed_and_unexpected_bodies_are_decode_errors() {
    let server = MockServer::start().await;
    server.push(MockResponse::bytes(200, "{\"id\": \"msg\", \"content\": ["));
    server.push(MockResponse::json(200, json!({"id": "x", "choices": []})));
    server.push(MockResponse::json(200, json!({"type": "completion", "content": []})));
    let c = client(&server);
    for _ in 0..3 {
        assert_eq!(*chat_err(&server, &c).await.kind(), ErrorKind::Decode);
    }
}

#[tokio::test]
async fn streams_through_the_tower_service() {
    let server = MockServer::start().await;
    let body = std::fs::read(
        llm_core::testkit::test_data_dir(env!("CARGO_MANIFEST_DIR"))
            .join("recorded/anthropic/tool_use_response.sse"),
    )
    .unwrap();
    // Replay the recorded stream in small chunks.
    let chunks = body.chunks(40).map(|c| (Duration::ZERO, bytes::Bytes::copy_from_slice(c))).collect();
    server.push(MockResponse::sse(chunks));
    let svc = client(&server).into_service();
    let res = svc.oneshot(LlmRequest::chat(request().with_stream(true))).await.unwrap();
    assert_eq!(res.metadata.provider.as_deref(), Some("anthropic"));
    let ResponseBody::ChatStream(stream) = res.body else { panic!("expected a stream") };
    let full = llm_core::collect_stream(stream).await.unwrap();
    assert_eq!(
        full.choices[0].message.tool_calls.as_ref().unwrap()[0].function.arguments,
        r#"{"location": "Paris"}"#
    );
    let sent = &server.requests()[0];
    assert_eq!(sent.json()["stream"], true);
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn a_mid_stream_error_event_over_http_is_an_error_item() {
    let server = MockServer::start().await;
    let frames = [
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    ];
    server.push(MockResponse::sse(
        frames.iter().map(|f| (Duration::ZERO, bytes::Bytes::from_static(f.as_bytes()))).collect(),
    ));
    let stream = client(&server).chat_stream(request(), &RequestContext::new()).await.unwrap();
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 3);
    assert_eq!(items[1].as_ref().unwrap().choices[0].delta.content.as_deref(), Some("Hi"));
    assert_eq!(*items[2].as_ref().unwrap_err().kind(), ErrorKind::ServiceUnavailable);
}

#[tokio::test]
async fn a_reset_stream_is_an_error_item() {
    let server = MockServer::start().await;
    let body = std::fs::read(
        llm_core::testkit::test_data_dir(env!("CARGO_MANIFEST_DIR"))
            .join("recorded/anthropic/basic_response.sse"),
    )
    .unwrap();
    let chunks: Vec<_> =
        body.chunks(100).map(|c| (Duration::ZERO, bytes::Bytes::copy_from_slice(c))).collect();
    server.push(MockResponse::sse(chunks).cut_after(5));
    let stream = client(&server).chat_stream(request(), &RequestContext::new()).await.unwrap();
    let items: Vec<_> = stream.collect().await;
    assert!(items.len() >= 2, "the head arrived: {items:?}");
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    assert!(items.last().unwrap().is_err());
}

#[tokio::test(start_paused = true)]
async fn the_context_deadline_bounds_the_call() {
    let server = MockServer::start().await;
    server.push(MockResponse::hang());
    let ctx = RequestContext::new().with_timeout(Duration::from_secs(30));
    let err = client(&server).chat(request(), &ctx).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Timeout);
    let mut expired = RequestContext::new();
    expired.deadline = Some(tokio::time::Instant::now());
    let err = client(&server).chat(request(), &expired).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Timeout);
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    // Port 1 is privileged and never listened on here: the connection is refused.
    let err = Anthropic::new(KEY)
        .with_base_url("http://127.0.0.1:1")
        .chat(request(), &RequestContext::new())
        .await
        .unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Transport);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn the_key_never_shows_in_debug_or_errors() {
    let server = MockServer::start().await;
    server.push(anthropic_error(401, "authentication_error", "invalid x-api-key"));
    let c = client(&server);
    let debug = format!("{c:?}");
    assert!(!debug.contains(KEY) && !debug.contains("SECRET"), "{debug}");
    assert!(debug.contains("[redacted]"));
    let err = chat_err(&server, &c).await;
    for shown in [err.to_string(), format!("{err:?}"), serde_json::to_string(&err.to_openai_body()).unwrap()]
    {
        assert!(!shown.contains("SECRET"), "{shown}");
    }
    let err = Anthropic::new(format!("{KEY}\n"))
        .with_base_url(server.url())
        .chat(request(), &RequestContext::new())
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("SECRET"));
}

#[tokio::test]
async fn translation_errors_never_reach_the_network() {
    let server = MockServer::start().await;
    let mut req = request();
    req.seed = Some(1);
    let err = client(&server).chat(req.clone(), &RequestContext::new()).await.unwrap_err();
    assert_eq!(err.param(), Some("seed"));
    assert_eq!(server.request_count(), 0);
    server.push(MockResponse::json(200, message(json!([{"type": "text", "text": "ok"}]), "end_turn")));
    let res = client(&server).with_drop_params(true).chat(req, &RequestContext::new()).await.unwrap();
    assert_eq!(res.text().as_deref(), Some("ok"));
    assert!(server.requests()[0].json().get("seed").is_none());
}

/// A 200 whose head arrives at once and whose body stops after its first bytes for 30 s.
fn stalling_after_the_head(first: &'static str) -> MockResponse {
    MockResponse::sse(vec![
        (Duration::ZERO, bytes::Bytes::from_static(first.as_bytes())),
        (Duration::from_secs(30), bytes::Bytes::from_static(b"\n\n")),
    ])
}

#[tokio::test]
async fn the_deadline_covers_the_head_and_the_whole_body_on_both_transports() {
    for reqwest in [false, true] {
        let server = MockServer::start().await;
        let c = client_on(&server, reqwest);
        // No head in time.
        server.push(MockResponse::hang());
        server.push(
            MockResponse::json(200, message(json!([{"type": "text", "text": "late"}]), "end_turn"))
                .with_delay(Duration::from_secs(30)),
        );
        // The head in time, the body not.
        server.push(stalling_after_the_head("{\"id\": \"msg_1\", \"type\": \"message\","));
        for _ in 0..3 {
            let ctx = RequestContext::new().with_timeout(Duration::from_millis(300));
            let started = std::time::Instant::now();
            let err = c.chat(request(), &ctx).await.unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::Timeout, "{c:?}: {err}");
            assert_eq!(err.provider(), Some("anthropic"));
            assert!(started.elapsed() < Duration::from_secs(5), "{c:?}");
        }
    }
}

#[tokio::test]
async fn a_stream_past_the_deadline_ends_with_a_timeout_item_on_both_transports() {
    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n";
    for reqwest in [false, true] {
        let server = MockServer::start().await;
        let c = client_on(&server, reqwest);
        server.push(MockResponse::hang());
        let ctx = RequestContext::new().with_timeout(Duration::from_millis(300));
        let err = c.chat_stream(request(), &ctx).await.err().expect("no head in time");
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{c:?}: {err}");

        server.push(stalling_after_the_head(start));
        let ctx = RequestContext::new().with_timeout(Duration::from_millis(300));
        let started = std::time::Instant::now();
        let stream = c.chat_stream(request(), &ctx).await.unwrap();
        let items: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect()).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].as_ref().unwrap().choices[0].delta.role, Some(llm_core::Role::Assistant));
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{c:?}: {err}");
    }
}

#[tokio::test]
async fn without_a_deadline_a_slow_answer_is_awaited() {
    let server = MockServer::start().await;
    server.push(
        MockResponse::json(200, message(json!([{"type": "text", "text": "slow"}]), "end_turn"))
            .with_delay(Duration::from_millis(200)),
    );
    let res = client(&server).chat(request(), &RequestContext::new()).await.unwrap();
    assert_eq!(res.text().as_deref(), Some("slow"));
}
