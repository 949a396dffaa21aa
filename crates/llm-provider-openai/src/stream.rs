//! Turning an upstream event-stream body into a [`ChatStream`].

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::{BoxStream, Stream};
use llm_core::sse::{SseStream, SseStreamError};
use llm_core::{ChatStream, ErrorKind, LlmError};
use tokio::time::{Instant, Sleep};

use crate::ApiKey;
use crate::wire::{StreamEvent, parse_stream_data};

type Events<E> = SseStream<BoxStream<'static, Result<Bytes, E>>>;

/// The chunks of one upstream stream. A hand-written stream rather than `unfold`: no state moved
/// in and out of a future per chunk, and one idle timer per stream, re-armed only when it fires
/// before the limit (events keep pushing the limit back), instead of a new timer per event.
struct ChunkStream<E> {
    events: Events<E>,
    idle: Duration,
    deadline: Option<Instant>,
    /// When the last event arrived (the stream's start before the first).
    last_event: Instant,
    /// Fires at or before the current limit: the deadline, or `idle` after the last event.
    timer: Pin<Box<Sleep>>,
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
    let now = Instant::now();
    let mut stream = ChunkStream {
        events: SseStream::new(body),
        idle,
        deadline,
        last_event: now,
        timer: Box::pin(tokio::time::sleep_until(now)),
        provider,
        key,
        finished: false,
    };
    let limit = stream.limit();
    stream.timer.as_mut().reset(limit);
    Box::pin(stream)
}

impl<E> ChunkStream<E> {
    /// When the stream fails for want of an event.
    fn limit(&self) -> Instant {
        let idle = self.last_event + self.idle;
        self.deadline.map_or(idle, |d| d.min(idle))
    }

    /// Ends the stream with `e`, its key redacted and the provider named.
    fn fail(&mut self, e: LlmError) -> Poll<Option<Result<llm_core::ChatChunk, LlmError>>> {
        self.finished = true;
        let e = match &self.key {
            Some(key) => crate::client::redact(key, e),
            None => e,
        };
        Poll::Ready(Some(Err(e.with_provider(self.provider.clone()))))
    }
}

impl<E> Stream for ChunkStream<E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    type Item = Result<llm_core::ChatChunk, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        loop {
            let event = match this.events.poll_next_unpin(cx) {
                Poll::Pending => break,
                Poll::Ready(None) => {
                    return this.fail(LlmError::new(
                        ErrorKind::Transport,
                        "the stream ended before `data: [DONE]`: the answer may be incomplete",
                    ));
                }
                Poll::Ready(Some(Err(SseStreamError::Body(e)))) => {
                    return this
                        .fail(LlmError::new(ErrorKind::Transport, "the stream was cut off").with_source(e));
                }
                Poll::Ready(Some(Err(SseStreamError::Decode(e)))) => {
                    return this.fail(LlmError::decode(format!("invalid event stream: {e}"), e));
                }
                Poll::Ready(Some(Ok(event))) => event,
            };
            this.last_event = Instant::now();
            match parse_stream_data(&event.data) {
                Ok(StreamEvent::Chunk(chunk)) => return Poll::Ready(Some(Ok(*chunk))),
                Ok(StreamEvent::Skip) => {}
                Ok(StreamEvent::Done) => {
                    this.finished = true;
                    return Poll::Ready(None);
                }
                Err(e) => return this.fail(e),
            }
        }
        // No event yet: wait until the limit, re-arming the timer when it fires early.
        while this.timer.as_mut().poll(cx).is_ready() {
            let limit = this.limit();
            if Instant::now() >= limit {
                return this.fail(LlmError::new(
                    ErrorKind::Timeout,
                    format!("the stream stalled: no event within {:?} or the deadline passed", this.idle),
                ));
            }
            this.timer.as_mut().reset(limit);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> Bytes {
        let chunk = serde_json::json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
        llm_core::sse::encode_json(&chunk).unwrap()
    }

    /// `frames`, each after its delay, then (when `stall`) nothing ever again.
    fn body(
        frames: Vec<(Duration, Bytes)>,
        stall: bool,
    ) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
        let frames = futures_util::stream::iter(frames).then(|(delay, bytes)| async move {
            tokio::time::sleep(delay).await;
            Ok(bytes)
        });
        if stall { frames.chain(futures_util::stream::pending()).boxed() } else { frames.boxed() }
    }

    const IDLE: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn events_closer_than_the_idle_limit_never_time_out() {
        // Six events 6 s apart: 36 s in all, more than three idle limits.
        let mut frames: Vec<_> = (0..6).map(|i| (Duration::from_secs(6), chunk(&i.to_string()))).collect();
        frames.push((Duration::from_secs(6), Bytes::from_static(b"data: [DONE]\n\n")));
        let stream = chunk_stream(body(frames, false), IDLE, None, "openai".into(), None);
        let items: Vec<_> = stream.collect().await;
        assert_eq!(items.len(), 6, "{items:?}");
        assert!(items.iter().all(Result::is_ok), "{items:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_times_out_the_idle_limit_after_the_last_event() {
        let frames = vec![(Duration::from_secs(4), chunk("a")), (Duration::from_secs(7), chunk("b"))];
        let mut stream = chunk_stream(body(frames, true), IDLE, None, "openai".into(), None);
        assert!(stream.next().await.unwrap().is_ok());
        assert!(stream.next().await.unwrap().is_ok());
        let last_event = Instant::now();
        let err = stream.next().await.unwrap().unwrap_err();
        assert_eq!((err.kind(), err.provider()), (&ErrorKind::Timeout, Some("openai")));
        assert_eq!(Instant::now() - last_event, IDLE);
        assert!(stream.next().await.is_none(), "the error ends the stream");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_a_steady_stream() {
        let frames = (0..10).map(|i| (Duration::from_secs(3), chunk(&i.to_string()))).collect();
        let started = Instant::now();
        let deadline = Some(started + Duration::from_secs(10));
        let items: Vec<_> =
            chunk_stream(body(frames, true), IDLE, deadline, "openai".into(), None).collect().await;
        assert_eq!(items.len(), 4, "three chunks, then the deadline: {items:?}");
        assert_eq!(items[3].as_ref().unwrap_err().kind(), &ErrorKind::Timeout);
        assert_eq!(Instant::now() - started, Duration::from_secs(10));
    }
}
