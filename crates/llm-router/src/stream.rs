//! Streams: the router looks at the first item before answering, so a stream that fails at once
//! can still be retried or fall back; later items pass through unchanged, errors included.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;
use llm_core::{ChatChunk, ChatStream, ErrorKind, LlmError};
use tokio::time::{Instant, Sleep};

use crate::cooldown::{CooldownPolicy, CooldownStore};
use crate::state::Lease;

/// Where a failure in the middle of a stream is counted against its deployment.
pub(crate) struct FailureSink {
    pub(crate) store: std::sync::Arc<dyn CooldownStore>,
    pub(crate) deployment: std::sync::Arc<str>,
    pub(crate) policy: CooldownPolicy,
}

/// The first item of a stream, taken before the stream is handed to the caller.
#[allow(clippy::large_enum_variant)] // short-lived, and boxing the chunk would cost an allocation
pub(crate) enum Head {
    /// A chunk arrived: the stream is committed to this deployment.
    Chunk(ChatChunk),
    /// The stream failed before its first chunk.
    Failed(LlmError),
    /// The stream ended without any chunk.
    Empty,
}

pub(crate) async fn peek(stream: &mut ChatStream) -> Head {
    match stream.next().await {
        Some(Ok(chunk)) => Head::Chunk(chunk),
        Some(Err(e)) => Head::Failed(e),
        None => Head::Empty,
    }
}

/// The stream handed to the caller: the peeked chunk, then the rest. It keeps the deployment's
/// lease (in-flight slot and token reservation) until the stream ends or is dropped, and settles
/// the token count from the usage of the final chunk. With an idle limit, a stream that sends
/// nothing for that long ends with a [`ErrorKind::Timeout`] item instead of hanging.
pub(crate) struct RoutedStream {
    head: Option<ChatChunk>,
    rest: ChatStream,
    lease: Option<Lease>,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    failures: Option<FailureSink>,
}

impl RoutedStream {
    pub(crate) fn new(
        head: Option<ChatChunk>,
        rest: ChatStream,
        lease: Lease,
        idle: Option<Duration>,
        failures: Option<FailureSink>,
    ) -> Self {
        let idle = idle.map(|d| (d, Box::pin(tokio::time::sleep(d))));
        let mut this = Self { head, rest, lease: Some(lease), idle, failures };
        if let Some(usage) = this.head.as_ref().and_then(|c| c.usage.as_ref()) {
            let total = usage.total_tokens;
            if let Some(l) = this.lease.as_mut() {
                l.settle(total);
            }
        }
        this
    }
}

impl Stream for RoutedStream {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(head)));
        }
        if this.lease.is_none() {
            return Poll::Ready(None);
        }
        let item = match this.rest.as_mut().poll_next(cx) {
            Poll::Ready(item) => item,
            Poll::Pending => {
                if let Some((limit, sleep)) = this.idle.as_mut() {
                    if sleep.as_mut().poll(cx).is_ready() {
                        let message = format!("the stream sent nothing for {limit:?}");
                        this.lease = None;
                        this.count_failure();
                        return Poll::Ready(Some(Err(LlmError::new(ErrorKind::Timeout, message))));
                    }
                }
                return Poll::Pending;
            }
        };
        if let Some((limit, sleep)) = this.idle.as_mut() {
            sleep.as_mut().reset(Instant::now() + *limit);
        }
        match &item {
            Some(Ok(chunk)) => {
                if let (Some(usage), Some(lease)) = (&chunk.usage, this.lease.as_mut()) {
                    lease.settle(usage.total_tokens);
                }
            }
            Some(Err(_)) => this.count_failure(),
            None => this.lease = None,
        }
        Poll::Ready(item)
    }
}

impl RoutedStream {
    /// Counts the first mid-stream failure towards the deployment's cooldown.
    fn count_failure(&mut self) {
        if let Some(sink) = self.failures.take() {
            sink.store.record_failure(&sink.deployment, false, &sink.policy);
        }
    }
}
