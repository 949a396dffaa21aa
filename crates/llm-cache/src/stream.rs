//! Streams: replaying a stored response as chunks, and storing a stream once it has finished.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use futures_util::future::BoxFuture;
use llm_core::{
    ChatChunk, ChatResponse, ChatStream, ChunkChoice, Delta, Extra, FunctionCallDelta, LlmError,
    StreamAccumulator, ToolCallDelta,
};

use crate::CachedBody;
use crate::service::Shared;

/// The chunks a stream of `response` would have carried: per choice a role chunk, reasoning,
/// content and refusal chunks, one delta per tool call (id, name and all arguments), and a
/// finish chunk; then a usage chunk when the response has usage and `include_usage` is set.
///
/// ```
/// use llm_core::{ChatMessage, ChatResponse, Choice, Extra, FinishReason, collect_stream};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let response = ChatResponse {
///     id: "c1".into(), object: "chat.completion".into(), created: 1, model: "m".into(),
///     choices: vec![Choice { index: 0, message: ChatMessage::assistant("Hello"), logprobs: None,
///                            finish_reason: Some(FinishReason::Stop), extra: Extra::new() }],
///     usage: None, system_fingerprint: None, service_tier: None, extra: Extra::new(),
/// };
/// let chunks = llm_cache::replay_chunks(&response, true);
/// assert_eq!(chunks.len(), 3); // role, content, finish
/// let stream = Box::pin(futures_util::stream::iter(chunks.into_iter().map(Ok)));
/// assert_eq!(collect_stream(stream).await.unwrap().text().unwrap(), "Hello");
/// # });
/// ```
pub fn replay_chunks(response: &ChatResponse, include_usage: bool) -> Vec<ChatChunk> {
    let base = || {
        let mut chunk = ChatChunk::new(response.id.clone(), response.model.clone(), response.created);
        chunk.system_fingerprint.clone_from(&response.system_fingerprint);
        chunk.service_tier.clone_from(&response.service_tier);
        chunk
    };
    let with_choice = |index: u32, delta: Delta, choice_extra: Option<(Option<serde_json::Value>, _)>| {
        let mut chunk = base();
        let (logprobs, finish_reason) = choice_extra.unwrap_or((None, None));
        chunk.choices.push(ChunkChoice { index, delta, logprobs, finish_reason, extra: Extra::new() });
        chunk
    };
    let mut chunks = Vec::new();
    for choice in &response.choices {
        let message = &choice.message;
        chunks.push(with_choice(choice.index, Delta { role: Some(message.role), ..Delta::default() }, None));
        if let Some(reasoning) = &message.reasoning_content {
            let delta = Delta { reasoning_content: Some(reasoning.clone()), ..Delta::default() };
            chunks.push(with_choice(choice.index, delta, None));
        }
        if let Some(text) = message.text() {
            let delta = Delta::text(text.into_owned());
            chunks.push(with_choice(choice.index, delta, Some((choice.logprobs.clone(), None))));
        }
        if let Some(refusal) = &message.refusal {
            let delta = Delta { refusal: Some(refusal.clone()), ..Delta::default() };
            chunks.push(with_choice(choice.index, delta, None));
        }
        for (position, call) in message.tool_calls.iter().flatten().enumerate() {
            let delta = Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: u32::try_from(position).unwrap_or(u32::MAX),
                    id: Some(call.id.clone()),
                    kind: Some(call.kind.clone()),
                    function: Some(FunctionCallDelta {
                        name: Some(call.function.name.clone()),
                        arguments: Some(call.function.arguments.clone()),
                    }),
                    extra: call.extra.clone(),
                }]),
                ..Delta::default()
            };
            chunks.push(with_choice(choice.index, delta, None));
        }
        chunks.push(with_choice(choice.index, Delta::default(), Some((None, choice.finish_reason.clone()))));
    }
    if let (Some(usage), true) = (&response.usage, include_usage) {
        let mut chunk = base();
        chunk.usage = Some(usage.clone());
        chunks.push(chunk);
    }
    chunks
}

/// A stream replaying `response`.
pub(crate) fn replay_stream(response: &ChatResponse, include_usage: bool) -> ChatStream {
    Box::pin(futures_util::stream::iter(replay_chunks(response, include_usage).into_iter().map(Ok)))
}

enum State {
    Forwarding,
    Storing(BoxFuture<'static, ()>),
    /// Passing items through without keeping them (after an error item).
    Failed,
    Done,
}

/// Forwards an upstream stream chunk by chunk, folding the chunks into a [`StreamAccumulator`];
/// when the stream ends cleanly with every choice finished, stores the complete response before
/// reporting the end. A stream that yields an error, ends without a finish reason, or is dropped
/// early is never stored.
pub(crate) struct StoringStream {
    inner: ChatStream,
    acc: StreamAccumulator,
    state: State,
    store: Option<(Arc<Shared>, String, Duration)>,
}

impl StoringStream {
    pub(crate) fn new(inner: ChatStream, shared: Arc<Shared>, key: String, ttl: Duration) -> Self {
        Self {
            inner,
            acc: StreamAccumulator::new(),
            state: State::Forwarding,
            store: Some((shared, key, ttl)),
        }
    }
}

impl Drop for StoringStream {
    fn drop(&mut self) {
        if matches!(self.state, State::Forwarding) {
            if let Some((shared, key, _)) = &self.store {
                shared.stream_not_stored(key, "dropped before its end");
            }
        }
    }
}

impl Stream for StoringStream {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Forwarding => match ready!(this.inner.as_mut().poll_next(cx)) {
                    Some(Ok(chunk)) => {
                        this.acc.push(&chunk);
                        return Poll::Ready(Some(Ok(chunk)));
                    }
                    Some(Err(e)) => {
                        this.state = State::Failed;
                        if let Some((shared, key, _)) = &this.store {
                            shared.stream_not_stored(key, "failed");
                        }
                        return Poll::Ready(Some(Err(e)));
                    }
                    None => {
                        let response = std::mem::take(&mut this.acc).finish();
                        let finished = !response.choices.is_empty()
                            && response.choices.iter().all(|c| c.finish_reason.is_some());
                        match this.store.take() {
                            Some((shared, key, ttl)) if finished => {
                                let body = CachedBody::Chat(response);
                                this.state =
                                    State::Storing(Box::pin(
                                        async move { shared.store(&key, body, ttl).await },
                                    ));
                            }
                            Some((shared, key, _)) => {
                                shared.stream_not_stored(&key, "ended without a finish reason");
                                this.state = State::Done;
                            }
                            None => this.state = State::Done,
                        }
                    }
                },
                State::Storing(fut) => {
                    ready!(fut.as_mut().poll(cx));
                    this.state = State::Done;
                }
                State::Failed => return this.inner.as_mut().poll_next(cx),
                State::Done => return Poll::Ready(None),
            }
        }
    }
}
