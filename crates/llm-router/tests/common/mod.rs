//! Mock deployments for router tests: plain tower services with scripted behaviour.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_core::{
    BoxLlmService, ChatChunk, ChatMessage, ChatRequest, ChatResponse, Delta, ErrorKind, LlmError, LlmRequest,
    LlmResponse, Usage,
};
use tokio::time::Instant;

/// A scripted deployment: counts calls, remembers the model and time of each.
#[derive(Clone)]
pub struct Mock {
    pub calls: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<(String, Instant)>>>,
    pub service: BoxLlmService,
}

impl Mock {
    pub fn count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn models(&self) -> Vec<String> {
        self.seen.lock().unwrap().iter().map(|(m, _)| m.clone()).collect()
    }

    pub fn times(&self) -> Vec<Instant> {
        self.seen.lock().unwrap().iter().map(|(_, t)| *t).collect()
    }
}

/// A deployment whose answer to call number `n` (0-based) is `f(n, request)`.
pub fn mock<F, Fut>(f: F) -> Mock
where
    F: Fn(usize, LlmRequest) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<LlmResponse, LlmError>> + Send + 'static,
{
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (calls.clone(), seen.clone());
    let service = BoxLlmService::new(tower::service_fn(move |req: LlmRequest| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        s.lock().unwrap().push((req.operation.model().to_owned(), Instant::now()));
        f(n, req)
    }));
    Mock { calls, seen, service }
}

/// Always answers at once with `text`.
pub fn ok(text: &'static str) -> Mock {
    mock(move |_, req| async move { Ok(answer(req.operation.model(), text, None)) })
}

/// Always answers after `delay`.
pub fn ok_after(delay: Duration, text: &'static str) -> Mock {
    mock(move |_, req| async move {
        tokio::time::sleep(delay).await;
        Ok(answer(req.operation.model(), text, None))
    })
}

/// Always fails with `kind`.
pub fn failing(kind: ErrorKind) -> Mock {
    mock(move |_, _| {
        let kind = kind.clone();
        async move { Err(LlmError::new(kind, "scripted failure")) }
    })
}

/// Fails with `kind` for the first `n` calls, then answers.
pub fn failing_first(n: usize, kind: ErrorKind, text: &'static str) -> Mock {
    mock(move |i, req| {
        let kind = kind.clone();
        async move {
            if i < n {
                Err(LlmError::new(kind, "scripted failure"))
            } else {
                Ok(answer(req.operation.model(), text, None))
            }
        }
    })
}

pub fn answer(model: &str, text: &str, usage: Option<Usage>) -> LlmResponse {
    let mut resp: ChatResponse = serde_json::from_value(serde_json::json!({
        "id": "chatcmpl-1",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]
    }))
    .unwrap();
    resp.usage = usage.map(Box::new);
    LlmResponse::chat(resp)
}

pub fn chunk(text: &str) -> ChatChunk {
    ChatChunk::new("chatcmpl-1", "m", 0).with_delta(Delta::text(text), None)
}

pub fn chat(model: &str) -> LlmRequest {
    LlmRequest::chat(ChatRequest::new(model, vec![ChatMessage::user("Hi")]))
}

pub fn stream_req(model: &str) -> LlmRequest {
    LlmRequest::chat(ChatRequest::new(model, vec![ChatMessage::user("Hi")]).with_stream(true))
}

pub fn text_of(resp: LlmResponse) -> String {
    resp.into_chat().unwrap().text().unwrap().into_owned()
}

pub fn settings(json: serde_json::Value) -> llm_router::RouterSettings {
    serde_json::from_value(json).unwrap()
}
