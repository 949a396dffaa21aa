//! The HTTP shell's deadlines on both transports (hyper-util's client and a caller's reqwest
//! client): the head, a non-streamed body and every read of a stream.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{ChatMessage, ChatRequest, EmbeddingRequest, ErrorKind, Provider, RequestContext};
use llm_provider_gemini::Gemini;
use serde_json::json;

fn request() -> ChatRequest {
    ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::user("hi")])
}

fn answer(text: &str) -> serde_json::Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP",
        "index": 0}], "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}})
}

/// A 200 whose head arrives at once and whose body stops after `first` for 30 s.
fn stalling_after_the_head(first: &'static str) -> MockResponse {
    MockResponse::sse(vec![
        (Duration::ZERO, Bytes::from_static(first.as_bytes())),
        (Duration::from_secs(30), Bytes::from_static(b"\n\n")),
    ])
}

/// The default transport and a caller's reqwest client.
fn clients(server: &MockServer) -> [Gemini; 2] {
    let default = Gemini::new().with_api_key("AIzaSECRETKEY").with_base_url(server.url());
    let reqwest = default.clone().with_client(reqwest::Client::new());
    [default, reqwest]
}

fn short_deadline() -> RequestContext {
    RequestContext::new().with_timeout(Duration::from_millis(300))
}

#[tokio::test]
async fn the_deadline_covers_the_head_and_the_whole_body_on_both_transports() {
    let server = MockServer::start().await;
    for g in clients(&server) {
        // No head in time, a late head, the head in time but not the body.
        server.push(MockResponse::hang());
        server.push(MockResponse::json(200, answer("late")).with_delay(Duration::from_secs(30)));
        server.push(stalling_after_the_head("{\"candidates\": ["));
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let err = g.chat(request(), &short_deadline()).await.unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::Timeout, "{g:?}: {err}");
            assert!(started.elapsed() < Duration::from_secs(5), "{g:?}");
        }
        // Embeddings too.
        server.push(stalling_after_the_head("{\"embedding\": "));
        let err =
            g.embed(EmbeddingRequest::new("text-embedding-004", "hi"), &short_deadline()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{g:?}: {err}");
    }
}

#[tokio::test]
async fn the_own_timeout_covers_the_whole_body_too() {
    let server = MockServer::start().await;
    for g in clients(&server) {
        let g = g.with_timeout(Duration::from_millis(300));
        server.push(stalling_after_the_head("{\"candidates\": ["));
        let started = std::time::Instant::now();
        let err = g.chat(request(), &RequestContext::new()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{g:?}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{g:?}");
    }
}

#[tokio::test]
async fn a_stream_past_the_deadline_ends_with_a_timeout_item_on_both_transports() {
    let first = "data: {\"candidates\": [{\"content\": {\"role\": \"model\", \"parts\": [{\"text\": \"Hel\"}]}, \"index\": 0}]}\n\n";
    let server = MockServer::start().await;
    for g in clients(&server) {
        server.push(MockResponse::hang());
        let err = g.chat_stream(request(), &short_deadline()).await.err().expect("no head in time");
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{g:?}: {err}");

        server.push(stalling_after_the_head(first));
        let started = std::time::Instant::now();
        let stream = g.chat_stream(request(), &short_deadline()).await.unwrap();
        let items: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect()).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(items.len(), 3, "{items:?}");
        assert_eq!(items[1].as_ref().unwrap().choices[0].delta.content.as_deref(), Some("Hel"));
        let err = items[2].as_ref().unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{g:?}: {err}");
    }
}

#[tokio::test]
async fn without_a_context_deadline_a_slow_stream_is_read_to_its_end() {
    let server = MockServer::start().await;
    let g =
        Gemini::new().with_api_key("k").with_base_url(server.url()).with_timeout(Duration::from_millis(300));
    // The own timeout bounds the head only: the stream may take longer.
    let first = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "a"}]}, "index": 0}]});
    let events = [first.clone(), first, answer("b")];
    server.push(MockResponse::sse_json(&events, false).with_chunk_interval(Duration::from_millis(200)));
    let stream = g.chat_stream(request(), &RequestContext::new()).await.unwrap();
    let started = std::time::Instant::now();
    let items: Vec<_> = stream.collect().await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert!(started.elapsed() > Duration::from_millis(300));
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let g = Gemini::new().with_api_key("AIzaSECRETKEY").with_base_url(format!("http://127.0.0.1:{port}"));
    let err = g.chat(request(), &RequestContext::new()).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Transport, "{err}");
    assert!(!format!("{err} {err:?}").contains("SECRETKEY"));
}
