//! The HTTP shell's deadlines on both transports (hyper-util's client and a caller's reqwest
//! client), for Gemini and Claude models: the token exchange, the head, a non-streamed body and
//! every read of a stream; and an unusable token URL.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{ChatMessage, ChatRequest, ErrorKind, Provider, RequestContext};
use llm_provider_vertex::Vertex;
use serde_json::json;

const GEMINI: &str = "vertex_ai/gemini-2.5-flash";
const CLAUDE: &str = "vertex_ai/claude-sonnet-4-5@20250929";

fn request(model: &str) -> ChatRequest {
    ChatRequest::new(model, vec![ChatMessage::user("hi")])
}

/// A 200 whose head arrives at once and whose body stops after `first` for 30 s.
fn stalling_after_the_head(first: &'static str) -> MockResponse {
    MockResponse::sse(vec![
        (Duration::ZERO, Bytes::from_static(first.as_bytes())),
        (Duration::from_secs(30), Bytes::from_static(b"\n\n")),
    ])
}

/// The default transport and a caller's reqwest client.
fn clients(server: &MockServer) -> [Vertex; 2] {
    let default = Vertex::new()
        .with_project(support::PROJECT)
        .with_access_token("ya29.SECRETTOKEN")
        .with_base_url(server.url());
    let reqwest = default.clone().with_client(reqwest::Client::new());
    [default, reqwest]
}

fn short_deadline() -> RequestContext {
    RequestContext::new().with_timeout(Duration::from_millis(300))
}

#[tokio::test]
async fn the_deadline_covers_the_head_and_the_whole_body_on_both_transports() {
    let server = MockServer::start().await;
    for v in clients(&server) {
        for model in [GEMINI, CLAUDE] {
            // No head in time, a late head, the head in time but not the body.
            server.push(MockResponse::hang());
            server.push(MockResponse::json(200, json!({})).with_delay(Duration::from_secs(30)));
            server.push(stalling_after_the_head("{\"candidates\": ["));
            for _ in 0..3 {
                let started = std::time::Instant::now();
                let err = v.chat(request(model), &short_deadline()).await.unwrap_err();
                assert_eq!(*err.kind(), ErrorKind::Timeout, "{v:?} {model}: {err}");
                assert!(started.elapsed() < Duration::from_secs(5), "{v:?}");
            }
        }
    }
}

#[tokio::test]
async fn the_own_timeout_covers_the_whole_body_too() {
    let server = MockServer::start().await;
    for v in clients(&server) {
        let v = v.with_timeout(Duration::from_millis(300));
        server.push(stalling_after_the_head("{\"candidates\": ["));
        let err = v.chat(request(GEMINI), &RequestContext::new()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{v:?}: {err}");
    }
}

#[tokio::test]
async fn a_stream_past_the_deadline_ends_with_a_timeout_item_on_both_transports() {
    let gemini = "data: {\"candidates\": [{\"content\": {\"role\": \"model\", \"parts\": [{\"text\": \"Hel\"}]}, \"index\": 0}]}\n\n";
    let claude = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n";
    let server = MockServer::start().await;
    for v in clients(&server) {
        for (model, first) in [(GEMINI, gemini), (CLAUDE, claude)] {
            server.push(MockResponse::hang());
            let err = v.chat_stream(request(model), &short_deadline()).await.err().expect("no head in time");
            assert_eq!(*err.kind(), ErrorKind::Timeout, "{v:?} {model}: {err}");

            server.push(stalling_after_the_head(first));
            let started = std::time::Instant::now();
            let stream = v.chat_stream(request(model), &short_deadline()).await.unwrap();
            let items: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect()).await.unwrap();
            assert!(started.elapsed() < Duration::from_secs(5));
            assert!(items.len() >= 2 && items[0].is_ok(), "{items:?}");
            let err = items.last().unwrap().as_ref().unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::Timeout, "{v:?} {model}: {err}");
        }
    }
}

#[tokio::test]
async fn a_hanging_token_exchange_is_a_timeout() {
    let tokens = MockServer::start().await;
    let upstream = MockServer::start().await;
    tokens.push(MockResponse::hang());
    let v = Vertex::new()
        .with_project(support::PROJECT)
        .with_base_url(upstream.url())
        .with_service_account_json(&support::service_account_json(&format!("{}/token", tokens.url())))
        .unwrap();
    let err = v.chat(request(GEMINI), &short_deadline()).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test]
async fn an_unusable_token_url_is_a_typed_error_without_secrets() {
    let upstream = MockServer::start().await;
    for url in ["not a url", "ftp://oauth2.example/token", "/token"] {
        let v = Vertex::new()
            .with_project(support::PROJECT)
            .with_base_url(upstream.url())
            .with_service_account_json(&support::service_account_json(url))
            .unwrap();
        let err = v.chat(request(GEMINI), &RequestContext::new()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::BadRequest, "{url}: {err}");
        assert_eq!(err.code(), Some("invalid_token_url"), "{url}");
        assert!(!format!("{err} {err:?}").contains("PRIVATE KEY"));
    }
    assert_eq!(upstream.request_count(), 0);
}
