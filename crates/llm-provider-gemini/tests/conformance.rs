//! The `llm-core` conformance suite against the Gemini adapter, with upstream answers spelled
//! the way `generativelanguage.googleapis.com` spells them.

use llm_core::conformance::{Fixture, ToolCallScript};
use llm_core::testkit::{MockResponse, MockServer};
use llm_core::{BoxLlmService, ChatMessage, ChatRequest, LlmRequest, ProviderService, Usage};
use llm_provider_gemini::Gemini;
use serde_json::{Value, json};
use tower::ServiceExt;

struct GeminiFixture;

fn usage_json(u: &Usage) -> Value {
    json!({"promptTokenCount": u.prompt_tokens, "candidatesTokenCount": u.completion_tokens,
           "totalTokenCount": u.total_tokens})
}

fn text_event(text: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
           "modelVersion": "test-model", "responseId": "r1"})
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

impl Fixture for GeminiFixture {
    fn service(&self, base_url: &str) -> BoxLlmService {
        ProviderService::new(Gemini::new().with_api_key("test-key").with_base_url(base_url)).boxed()
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
        // Gemini sends each function call whole, in one event.
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
        MockResponse::json(
            status,
            json!({"error": {"code": status, "message": message, "status": google_status(status)}}),
        )
    }

    fn context_window_error(&self) -> MockResponse {
        self.error_response(
            400,
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        )
    }
}

#[tokio::test]
async fn gemini_passes_the_conformance_suite() {
    llm_core::conformance::run(&GeminiFixture).await;
}

#[tokio::test]
async fn requests_use_the_documented_paths_and_key_header() {
    let server = MockServer::start().await;
    server.push(GeminiFixture.text_response("hi", &Usage::new(1, 1)));
    server.push(GeminiFixture.text_stream(&["hi"], &Usage::new(1, 1)));
    let svc = GeminiFixture.service(&server.url());
    let req = ChatRequest::new("gemini/gemini-2.5-flash", vec![ChatMessage::user("hi")]);
    svc.clone().oneshot(LlmRequest::chat(req.clone())).await.unwrap();
    let stream =
        svc.oneshot(LlmRequest::chat(req.with_stream(true))).await.unwrap().into_chat_stream().unwrap();
    llm_core::collect_stream(stream).await.unwrap();
    let seen = server.requests();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(seen[1].path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    for r in &seen {
        assert_eq!(r.header("x-goog-api-key"), Some("test-key"));
        assert!(r.header("authorization").is_none());
        assert_eq!(r.json()["contents"][0], json!({"role": "user", "parts": [{"text": "hi"}]}));
    }
}

#[tokio::test]
async fn a_missing_key_fails_before_any_request() {
    let server = MockServer::start().await;
    let svc = ProviderService::new(Gemini::new().with_base_url(server.url())).boxed();
    let req = ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::user("hi")]);
    let err = svc.oneshot(LlmRequest::chat(req)).await.unwrap_err();
    assert_eq!(*err.kind(), llm_core::ErrorKind::Authentication);
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn embeddings_single_batch_and_dimensions() {
    let server = MockServer::start().await;
    server.push(MockResponse::json(200, json!({"embedding": {"values": [0.25, -1.0]}})));
    server.push(MockResponse::json(200, json!({"embeddings": [{"values": [1.0]}, {"values": [2.0]}]})));
    let svc = GeminiFixture.service(&server.url());
    let one = llm_core::EmbeddingRequest::new("text-embedding-004", "hello");
    let res = svc.clone().oneshot(LlmRequest::embedding(one)).await.unwrap().into_embedding().unwrap();
    assert_eq!(res.data[0].embedding, llm_core::EmbeddingVector::Float(vec![0.25, -1.0]));
    let mut many =
        llm_core::EmbeddingRequest::new("text-embedding-004", vec!["a".to_owned(), "b".to_owned()]);
    many.dimensions = Some(8);
    let res = svc.oneshot(LlmRequest::embedding(many)).await.unwrap().into_embedding().unwrap();
    assert_eq!(res.data.len(), 2);
    assert_eq!(res.data[1].index, 1);
    let seen = server.requests();
    assert_eq!(seen[0].path, "/v1beta/models/text-embedding-004:embedContent");
    assert_eq!(seen[1].path, "/v1beta/models/text-embedding-004:batchEmbedContents");
    assert_eq!(
        seen[1].json()["requests"][0],
        json!({"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8, "model": "models/text-embedding-004"})
    );
}

#[tokio::test(start_paused = true)]
async fn a_hanging_upstream_times_out() {
    let server = MockServer::start().await;
    server.push(MockResponse::hang());
    let gemini = Gemini::new()
        .with_api_key("k")
        .with_base_url(server.url())
        .with_timeout(std::time::Duration::from_secs(5));
    let svc = ProviderService::new(gemini).boxed();
    let req = ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::user("hi")]);
    let err = svc.oneshot(LlmRequest::chat(req)).await.unwrap_err();
    assert_eq!(*err.kind(), llm_core::ErrorKind::Timeout);
}

#[tokio::test(start_paused = true)]
async fn a_shorter_context_deadline_wins_over_the_timeout() {
    let server = MockServer::start().await;
    server.push(MockResponse::hang());
    let svc = GeminiFixture.service(&server.url());
    let req = ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::user("hi")]);
    let started = tokio::time::Instant::now();
    let context = llm_core::RequestContext::new().with_timeout(std::time::Duration::from_secs(2));
    let err = svc.oneshot(LlmRequest::chat(req).with_context(context)).await.unwrap_err();
    assert_eq!(*err.kind(), llm_core::ErrorKind::Timeout);
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn safety_blocks_are_content_policy_errors_complete_and_streamed() {
    let blocked_prompt =
        json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}});
    let blocked_answer = json!({"candidates": [{"finishReason": "SAFETY", "index": 0}]});
    for body in [blocked_prompt, blocked_answer] {
        let server = MockServer::start().await;
        server.push(MockResponse::json(200, body.clone()));
        server.push(MockResponse::sse_json(&[body], false));
        let svc = GeminiFixture.service(&server.url());
        let req = ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::user("hi")]);
        let err = svc.clone().oneshot(LlmRequest::chat(req.clone())).await.unwrap_err();
        assert_eq!(*err.kind(), llm_core::ErrorKind::ContentPolicy);
        let stream =
            svc.oneshot(LlmRequest::chat(req.with_stream(true))).await.unwrap().into_chat_stream().unwrap();
        let err = llm_core::collect_stream(stream).await.unwrap_err();
        assert_eq!(*err.kind(), llm_core::ErrorKind::ContentPolicy);
    }
}

#[tokio::test]
async fn large_embedding_lists_are_sent_in_batches_of_100() {
    let server = MockServer::start().await;
    let answer = |n: usize, start: usize| {
        let embeddings: Vec<Value> = (start..start + n).map(|i| json!({"values": [i as f64]})).collect();
        MockResponse::json(200, json!({"embeddings": embeddings}))
    };
    server.push(answer(100, 0));
    server.push(answer(50, 100));
    let texts: Vec<String> = (0..150).map(|i| format!("t{i}")).collect();
    let req = llm_core::EmbeddingRequest::new("text-embedding-004", texts);
    let res = GeminiFixture
        .service(&server.url())
        .oneshot(LlmRequest::embedding(req))
        .await
        .unwrap()
        .into_embedding()
        .unwrap();
    assert_eq!(res.data.len(), 150);
    for (i, e) in res.data.iter().enumerate() {
        assert_eq!(e.index as usize, i);
        assert_eq!(e.embedding, llm_core::EmbeddingVector::Float(vec![i as f64]));
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].json()["requests"][0]["content"]["parts"][0]["text"], "t100");
    let empty = llm_core::EmbeddingRequest::new("text-embedding-004", Vec::<String>::new());
    let err = GeminiFixture.service(&server.url()).oneshot(LlmRequest::embedding(empty)).await.unwrap_err();
    assert_eq!(*err.kind(), llm_core::ErrorKind::BadRequest);
}

#[tokio::test]
async fn an_upstream_that_echoes_the_key_never_leaks_it() {
    let server = MockServer::start().await;
    let key = "AIzaSyEXAMPLEKEY0123456789";
    server.push(MockResponse::json(
        400,
        json!({"error": {"code": 400, "message": format!("API key not valid: {key}"), "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}),
    ));
    let gemini = Gemini::new().with_api_key(key).with_base_url(server.url());
    assert!(!format!("{gemini:?}").contains(key));
    let svc = ProviderService::new(gemini).boxed();
    let req = ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::user("hi")]);
    let err = svc.oneshot(LlmRequest::chat(req)).await.unwrap_err();
    assert_eq!(*err.kind(), llm_core::ErrorKind::Authentication);
    for shown in [err.to_string(), format!("{err:?}"), serde_json::to_string(&err.to_openai_body()).unwrap()]
    {
        assert!(!shown.contains(key), "{shown}");
    }
}
