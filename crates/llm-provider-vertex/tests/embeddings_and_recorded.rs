//! Embeddings through `:predict`, a recorded Vertex stream replayed through the provider, and
//! deadlines that cover the token exchange.

mod support;

use std::time::Duration;

use bytes::Bytes;
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{
    ChatMessage, ChatRequest, EmbeddingRequest, EmbeddingVector, ErrorKind, LlmRequest, RequestContext,
};
use llm_provider_vertex::Vertex;
use serde_json::{Value, json};
use tower::ServiceExt;

fn vertex(upstream: &MockServer) -> Vertex {
    Vertex::new()
        .with_project(support::PROJECT)
        .with_base_url(upstream.url())
        .with_access_token("ya29.fixed-test-token")
}

fn prediction(values: &[f64], tokens: u64) -> Value {
    json!({"embeddings": {"values": values, "statistics": {"token_count": tokens, "truncated": false}}})
}

#[tokio::test]
async fn embeddings_use_predict_with_dimensions_and_token_counts() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(
        200,
        json!({"predictions": [prediction(&[0.5, -1.0], 2), prediction(&[1.5, 2.0], 3)]}),
    ));
    let mut req =
        EmbeddingRequest::new("vertex_ai/text-embedding-005", vec!["a b".to_owned(), "c".to_owned()]);
    req.dimensions = Some(2);
    let res = vertex(&upstream)
        .into_service()
        .oneshot(LlmRequest::embedding(req))
        .await
        .unwrap()
        .into_embedding()
        .unwrap();
    assert_eq!(res.model, "text-embedding-005");
    assert_eq!(res.data.len(), 2);
    assert_eq!(res.data[1].index, 1);
    assert_eq!(res.data[1].embedding, EmbeddingVector::Float(vec![1.5, 2.0]));
    assert_eq!((res.usage.prompt_tokens, res.usage.total_tokens), (5, 5));
    let seen = upstream.requests();
    assert_eq!(
        seen[0].path,
        "/v1/projects/test-project/locations/us-central1/publishers/google/models/text-embedding-005:predict"
    );
    assert_eq!(seen[0].header("authorization"), Some("Bearer ya29.fixed-test-token"));
    assert_eq!(
        seen[0].json(),
        json!({"instances": [{"content": "a b"}, {"content": "c"}], "parameters": {"outputDimensionality": 2}})
    );
}

#[tokio::test]
async fn gemini_embedding_models_get_one_instance_per_call() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(200, json!({"predictions": [prediction(&[1.0], 1)]})));
    upstream.push(MockResponse::json(200, json!({"predictions": [prediction(&[2.0], 4)]})));
    let req = EmbeddingRequest::new("gemini-embedding-001", vec!["x".to_owned(), "y".to_owned()]);
    let res = vertex(&upstream)
        .into_service()
        .oneshot(LlmRequest::embedding(req))
        .await
        .unwrap()
        .into_embedding()
        .unwrap();
    assert_eq!(res.data[1].embedding, EmbeddingVector::Float(vec![2.0]));
    assert_eq!(res.usage.prompt_tokens, 5);
    let seen = upstream.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].json()["instances"], json!([{"content": "y"}]));
}

#[tokio::test]
async fn embedding_mismatches_and_claude_models_are_errors() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(200, json!({"predictions": [prediction(&[1.0], 1)]})));
    let svc = vertex(&upstream).into_service();
    let two = EmbeddingRequest::new("text-embedding-005", vec!["x".to_owned(), "y".to_owned()]);
    let err = svc.clone().oneshot(LlmRequest::embedding(two)).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Decode);
    let claude = EmbeddingRequest::new("vertex_ai/claude-sonnet-4-5", "x");
    let err = svc.oneshot(LlmRequest::embedding(claude)).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::BadRequest);
    assert_eq!(upstream.request_count(), 1);
}

#[tokio::test]
async fn a_recorded_vertex_stream_replays_to_a_tool_call() {
    // recorded/google/google-vertex-stream-tool-call-arguments-nested.1.chunks.txt: one event
    // JSON per line, as Vertex streamed a gemini-3.1-pro-preview function call with partialArgs.
    let dir = llm_core::testkit::test_data_dir(env!("CARGO_MANIFEST_DIR"));
    let path = dir.join("recorded/google/google-vertex-stream-tool-call-arguments-nested.1.chunks.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let chunks: Vec<(Duration, Bytes)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| (Duration::ZERO, Bytes::from(format!("data: {l}\r\n\r\n"))))
        .collect();
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::sse(chunks));
    let req = ChatRequest::new("vertex_ai/gemini-3.1-pro-preview", vec![ChatMessage::user("cook")])
        .with_stream(true);
    let stream = vertex(&upstream)
        .into_service()
        .oneshot(LlmRequest::chat(req))
        .await
        .unwrap()
        .into_chat_stream()
        .unwrap();
    let answer = llm_core::collect_stream(stream).await.unwrap();
    let message = &answer.choices[0].message;
    let calls = message.tool_calls.as_ref().expect("a tool call");
    assert_eq!(calls[0].function.name, "cookRecipe");
    let args: Value =
        serde_json::from_str(&calls[0].function.arguments).expect("the arguments are whole JSON");
    assert!(args.is_object() && !args.as_object().unwrap().is_empty(), "{args}");
    let usage = answer.usage.expect("usage");
    assert_eq!(usage.prompt_tokens, 31);
    assert_eq!(usage.completion_tokens, 684 + 1026);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_token_endpoint_is_bounded_by_the_deadline() {
    let tokens = MockServer::start().await;
    tokens.push(MockResponse::hang());
    let upstream = MockServer::start().await;
    let vertex = Vertex::new()
        .with_project(support::PROJECT)
        .with_base_url(upstream.url())
        .with_service_account_json(&support::service_account_json(&format!("{}/token", tokens.url())))
        .unwrap();
    let started = tokio::time::Instant::now();
    let context = RequestContext::new().with_timeout(Duration::from_secs(3));
    let req = ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::user("hi")]);
    let err = vertex.into_service().oneshot(LlmRequest::chat(req).with_context(context)).await.unwrap_err();
    assert_eq!(*err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    assert_eq!(upstream.request_count(), 0);
}
