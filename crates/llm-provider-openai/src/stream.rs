//! Turning an upstream event-stream body into a [`ChatStream`].

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use llm_core::sse::{SseStream, SseStreamError};
use llm_core::{ChatStream, ErrorKind, LlmError};
use tokio::time::Instant;

use crate::ApiKey;
use crate::wire::{StreamEvent, parse_stream_data};

type Events<E> = SseStream<BoxStream<'static, Result<Bytes, E>>>;

struct State<E> {
    events: Events<E>,
    idle: Duration,
    deadline: Option<Instant>,
    provider: Cow<'static, str>,
    key: Option<ApiKey>,
    finished: bool,
}

/// Chunks from `body`, each as soon as its event arrives. The stream ends cleanly only at
/// `data: [DONE]`; a body that ends before it, breaks, stalls longer than `idle`, passes
/// `deadline` or carries an `{"error":…}` event ends with an error item.
/// Error messages have `key` redacted and name `provider`.
pub(crate) fn chunk_stream<E>(
    body: BoxStream<'static, Result<Bytes, E>>,
    idle: Duration,
    deadline: Option<Instant>,
    provider: Cow<'static, str>,
    key: Option<ApiKey>,
) -> ChatStream
where
    E: std::error::Error + Send + Sync + 'static,
{
    let state = State { events: SseStream::new(body), idle, deadline, provider, key, finished: false };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        if st.finished {
            return None;
        }
        let item = next_item(&mut st).await;
        match item {
            Some(Ok(chunk)) => Some((Ok(chunk), st)),
            Some(Err(e)) => {
                st.finished = true;
                let e = match &st.key {
                    Some(key) => crate::client::redact(key, e),
                    None => e,
                };
                Some((Err(e.with_provider(st.provider.clone())), st))
            }
            None => None,
        }
    }))
}

async fn next_item<E>(st: &mut State<E>) -> Option<Result<llm_core::ChatChunk, LlmError>>
where
    E: std::error::Error + Send + Sync + 'static,
{
    loop {
        let wait_until = match st.deadline {
            Some(d) => d.min(Instant::now() + st.idle),
            None => Instant::now() + st.idle,
        };
        let event = match tokio::time::timeout_at(wait_until, st.events.next()).await {
            Err(_) => {
                return Some(Err(LlmError::new(
                    ErrorKind::Timeout,
                    format!("the stream stalled: no event within {:?} or the deadline passed", st.idle),
                )));
            }
            Ok(None) => {
                return Some(Err(LlmError::new(
                    ErrorKind::Transport,
                    "the stream ended before `data: [DONE]`: the answer may be incomplete",
                )));
            }
            Ok(Some(Err(SseStreamError::Body(e)))) => {
                return Some(Err(
                    LlmError::new(ErrorKind::Transport, "the stream was cut off").with_source(e)
                ));
            }
            Ok(Some(Err(SseStreamError::Decode(e)))) => {
                return Some(Err(LlmError::decode(format!("invalid event stream: {e}"), e)));
            }
            Ok(Some(Ok(event))) => event,
        };
        match parse_stream_data(&event.data) {
            Ok(StreamEvent::Chunk(chunk)) => return Some(Ok(*chunk)),
            Ok(StreamEvent::Skip) => continue,
            Ok(StreamEvent::Done) => {
                st.finished = true;
                return None;
            }
            Err(e) => return Some(Err(e)),
        }
    }
}
