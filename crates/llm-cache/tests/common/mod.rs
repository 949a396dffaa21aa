//! Helpers shared by the integration tests: a scripted upstream service and response builders.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use llm_core::sse::SseDecoder;
use llm_core::{
    CacheControl, ChatChunk, ChatMessage, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse,
    LlmError, LlmRequest, LlmResponse, RequestContext,
};
use tower::Service;

type Behavior = dyn Fn(LlmRequest, usize) -> BoxFuture<'static, Result<LlmResponse, LlmError>> + Send + Sync;

/// An upstream that counts its calls and answers with `behavior(request, call_number)`.
#[derive(Clone)]
pub struct Upstream {
    calls: Arc<AtomicUsize>,
    behavior: Arc<Behavior>,
}

impl Upstream {
    pub fn new<F, Fut>(behavior: F) -> Self
    where
        F: Fn(LlmRequest, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<LlmResponse, LlmError>> + Send + 'static,
    {
        Self {
            calls: Arc::new(AtomicUsize::new(0)),
            behavior: Arc::new(move |r, n| Box::pin(behavior(r, n))),
        }
    }

    /// Answers every chat request with "answer N" (N = call number, from 1) and every
    /// embedding request with a vector `[N]`, after `delay`.
    pub fn numbered(delay: Duration) -> Self {
        Self::new(move |req, n| async move {
            tokio::time::sleep(delay).await;
            Ok(match req.operation {
                llm_core::Operation::Embedding(_) => LlmResponse::embedding(embedding_response(n as f64)),
                _ => LlmResponse::chat(chat_response(&format!("answer {n}"))),
            })
        })
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<LlmRequest> for Upstream {
    type Response = LlmResponse;
    type Error = LlmError;
    type Future = BoxFuture<'static, Result<LlmResponse, LlmError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), LlmError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: LlmRequest) -> Self::Future {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        (self.behavior)(req, n)
    }
}

pub fn chat_response(text: &str) -> ChatResponse {
    serde_json::from_value(serde_json::json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    }))
    .expect("valid response")
}

pub fn embedding_response(x: f64) -> EmbeddingResponse {
    serde_json::from_value(serde_json::json!({
        "object": "list", "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [x, 0.5]}],
        "usage": {"prompt_tokens": 2, "total_tokens": 2}
    }))
    .expect("valid response")
}

pub fn chat_request(prompt: &str) -> ChatRequest {
    ChatRequest::new("gpt-4o-mini", vec![ChatMessage::user(prompt)])
}

pub fn chat(prompt: &str) -> LlmRequest {
    LlmRequest::chat(chat_request(prompt))
}

pub fn streamed(prompt: &str) -> LlmRequest {
    LlmRequest::chat(chat_request(prompt).with_stream(true))
}

pub fn embedding(input: &str) -> LlmRequest {
    LlmRequest::embedding(EmbeddingRequest::new("text-embedding-3-small", input))
}

pub fn with_control(mut req: LlmRequest, control: CacheControl) -> LlmRequest {
    req.context = RequestContext { cache: control, ..RequestContext::default() };
    req
}

pub fn text(response: LlmResponse) -> String {
    response.into_chat().expect("chat").text().expect("text").into_owned()
}

/// The chunks of a recorded OpenAI stream in /work/shared/test-data/recorded/openai.
pub fn recorded_chunks(file: &str) -> Vec<ChatChunk> {
    let dir = llm_core::testkit::test_data_dir(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(dir.join("recorded/openai").join(file)).expect("recorded stream");
    let mut decoder = SseDecoder::new();
    decoder.feed(&bytes).expect("valid SSE");
    let mut chunks = Vec::new();
    let mut events = Vec::new();
    while let Some(event) = decoder.next_event() {
        events.push(event);
    }
    if let Ok(Some(event)) = decoder.finish() {
        events.push(event);
    }
    for event in events {
        if event.is_done() {
            break;
        }
        chunks.push(serde_json::from_str(&event.data).expect("chunk"));
    }
    chunks
}
