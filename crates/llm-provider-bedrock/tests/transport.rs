//! The HTTP shell on both transports (hyper-util's client and a caller's reqwest client): the
//! SigV4 signature covers what is sent, and a request context's deadline bounds the head, a
//! non-streamed body and every read of a stream.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{EVENTSTREAM, credentials, event, provider};
use futures_util::StreamExt;
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{ChatMessage, ChatRequest, EmbeddingRequest, ErrorKind, Provider, RequestContext};
use llm_provider_bedrock::Bedrock;
use llm_provider_bedrock::sigv4::{SigningRequest, sign};
use serde_json::json;

const MODEL: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";

fn request() -> ChatRequest {
    ChatRequest::new(MODEL, vec![ChatMessage::user("hi")])
}

fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// The default transport and a caller's reqwest client.
fn providers(server: &MockServer) -> [Bedrock; 2] {
    [provider(&server.url()), provider(&server.url()).with_client(reqwest::Client::new())]
}

fn short_deadline() -> RequestContext {
    RequestContext::new().with_timeout(Duration::from_millis(300))
}

/// A 200 whose head arrives at once and whose body stops after `first` for 30 s.
fn stalling_after_the_head(first: Bytes, content_type: &str) -> MockResponse {
    MockResponse::sse(vec![(Duration::ZERO, first), (Duration::from_secs(30), Bytes::from_static(b"\n"))])
        .with_header("content-type", content_type)
}

#[tokio::test]
async fn the_signature_covers_what_each_transport_sends() {
    let server = MockServer::start().await;
    for (i, bedrock) in providers(&server).into_iter().enumerate() {
        let bedrock = bedrock.with_clock(fixed_time);
        server.push(MockResponse::json(
            200,
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
                   "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}),
        ));
        bedrock.chat(request(), &RequestContext::new()).await.unwrap();
        let req = &server.requests()[i];
        let host = req.header("host").expect("a Host header").to_owned();
        assert_eq!(host, server.url().trim_start_matches("http://"));
        let expected = sign(
            &SigningRequest {
                method: "POST",
                host: &host,
                path: &req.path,
                query: "",
                headers: &[("content-type", req.header("content-type").unwrap())],
                body: &req.body,
            },
            &credentials(),
            "us-east-1",
            "bedrock",
            fixed_time(),
        );
        assert_eq!(req.header("authorization"), Some(expected.authorization.as_str()), "{bedrock:?}");
    }
}

#[tokio::test]
async fn the_deadline_covers_the_head_and_the_whole_body_on_both_transports() {
    let server = MockServer::start().await;
    for bedrock in providers(&server) {
        // No head in time, a late head, the head in time but not the body.
        server.push(MockResponse::hang());
        server.push(MockResponse::json(200, json!({})).with_delay(Duration::from_secs(30)));
        server.push(stalling_after_the_head(Bytes::from_static(b"{\"output\": "), "application/json"));
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let err = bedrock.chat(request(), &short_deadline()).await.unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::Timeout, "{bedrock:?}: {err}");
            assert_eq!(err.provider(), Some("bedrock"));
            assert!(started.elapsed() < Duration::from_secs(5), "{bedrock:?}");
        }
        // Embeddings too.
        server.push(stalling_after_the_head(Bytes::from_static(b"{\"embedding\": "), "application/json"));
        let embed = EmbeddingRequest::new("amazon.titan-embed-text-v2:0", "hi");
        let err = bedrock.embed(embed, &short_deadline()).await.unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{bedrock:?}: {err}");
    }
}

#[tokio::test]
async fn a_stream_past_the_deadline_ends_with_a_timeout_item_on_both_transports() {
    let server = MockServer::start().await;
    for bedrock in providers(&server) {
        server.push(MockResponse::hang());
        let err = bedrock.chat_stream(request(), &short_deadline()).await.err().expect("no head in time");
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{bedrock:?}: {err}");

        let first =
            event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Hel"}})).encode();
        server.push(stalling_after_the_head(first, EVENTSTREAM));
        let started = std::time::Instant::now();
        let stream = bedrock.chat_stream(request(), &short_deadline()).await.unwrap();
        let items: Vec<_> = tokio::time::timeout(Duration::from_secs(5), stream.collect()).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        let texts: Vec<_> = items
            .iter()
            .filter_map(|i| i.as_ref().ok())
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        assert_eq!(texts, ["Hel"], "{items:?}");
        let err = items.last().unwrap().as_ref().unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Timeout, "{bedrock:?}: {err}");
        assert_eq!(err.provider(), Some("bedrock"));
    }
}

#[tokio::test]
async fn without_a_deadline_a_slow_answer_is_awaited() {
    let server = MockServer::start().await;
    server.push(
        MockResponse::json(
            200,
            json!({"output": {"message": {"role": "assistant", "content": [{"text": "slow"}]}},
                   "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}}),
        )
        .with_delay(Duration::from_millis(200)),
    );
    let res = provider(&server.url()).chat(request(), &RequestContext::new()).await.unwrap();
    assert_eq!(res.text().as_deref(), Some("slow"));
}
