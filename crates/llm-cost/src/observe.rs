//! Shared plumbing of the layers: what a request asks to be priced as, and a stream wrapper that
//! reports how a stream ended exactly once.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use llm_core::{ChatChunk, ChatResponse, ChatStream, ErrorKind, LlmError, LlmRequest, Usage};
use serde_json::Value;

use crate::cost::{Cost, CostInput, CostUnknown, ServiceTier};
use crate::lookup::LookupHints;
use crate::table::PriceTable;

/// How the request wants to be priced, read before the call.
#[derive(Debug, Clone)]
pub(crate) struct PricingRequest {
    pub(crate) model: String,
    pub(crate) hints: LookupHints,
    pub(crate) service_tier: Option<ServiceTier>,
}

impl PricingRequest {
    pub(crate) fn from_request(request: &LlmRequest) -> Self {
        let ext = &request.context.extensions;
        let service_tier = ext.get::<ServiceTier>().copied().or_else(|| match &request.operation {
            llm_core::Operation::Chat(chat) => {
                chat.extra.get("service_tier").and_then(Value::as_str).map(ServiceTier::from_wire)
            }
            _ => None,
        });
        Self {
            model: request.operation.model().to_owned(),
            hints: ext.get::<LookupHints>().cloned().unwrap_or_default(),
            service_tier,
        }
    }

    /// Prices `usage`; the response's own tier and model name are used when the request did not
    /// say (the model only when the requested name is not in the table).
    pub(crate) fn cost(
        &self,
        table: &PriceTable,
        usage: Option<&Usage>,
        response_model: Option<&str>,
        response_tier: Option<&str>,
        images: u64,
        duration: std::time::Duration,
    ) -> Result<Cost, CostUnknown> {
        let usage = usage.ok_or(CostUnknown::NoUsage)?;
        let tier =
            self.service_tier.or_else(|| response_tier.map(ServiceTier::from_wire)).unwrap_or_default();
        let input = CostInput::from_usage(usage)
            .with_service_tier(tier)
            .with_duration(duration)
            .with_output_images(images);
        match table.cost(&self.model, &self.hints, &input) {
            Err(CostUnknown::ModelNotFound { model }) => match response_model.filter(|m| !m.is_empty()) {
                Some(m) if m != self.model => match table.cost(m, &self.hints, &input) {
                    Err(CostUnknown::ModelNotFound { .. }) => Err(CostUnknown::ModelNotFound { model }),
                    other => other,
                },
                _ => Err(CostUnknown::ModelNotFound { model }),
            },
            other => other,
        }
    }
}

/// Images in a complete response (LiteLLM puts generated images in `message.images`).
pub(crate) fn response_images(response: &ChatResponse) -> u64 {
    response
        .choices
        .iter()
        .filter_map(|c| c.message.extra.get("images").and_then(Value::as_array))
        .map(|a| a.len() as u64)
        .sum()
}

fn chunk_images(chunk: &ChatChunk) -> u64 {
    chunk
        .choices
        .iter()
        .filter_map(|c| c.delta.extra.get("images").and_then(Value::as_array))
        .map(|a| a.len() as u64)
        .sum()
}

/// How a stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    Completed,
    Failed(ErrorKind),
    Abandoned,
}

/// What a stream carried, reported once when it ends.
#[derive(Debug, Clone)]
pub(crate) struct StreamOutcome {
    pub(crate) end: StreamEnd,
    pub(crate) usage: Option<Usage>,
    pub(crate) model: Option<String>,
    pub(crate) service_tier: Option<String>,
    pub(crate) images: u64,
    /// From the wrapping to the first chunk, when one arrived.
    pub(crate) time_to_first_chunk: Option<std::time::Duration>,
}

type OnEnd = Box<dyn FnOnce(StreamOutcome) + Send>;

/// Forwards every chunk unchanged and calls `on_end` once: at the end, at the first error item, or
/// when dropped early.
pub(crate) struct ObservedStream {
    inner: ChatStream,
    usage: Option<Usage>,
    model: Option<String>,
    service_tier: Option<String>,
    images: u64,
    started: tokio::time::Instant,
    time_to_first_chunk: Option<std::time::Duration>,
    on_end: Option<OnEnd>,
}

impl ObservedStream {
    /// `started` is when the call began, for the time to the first chunk.
    pub(crate) fn wrap(
        inner: ChatStream,
        started: tokio::time::Instant,
        on_end: impl FnOnce(StreamOutcome) + Send + 'static,
    ) -> ChatStream {
        Box::pin(Self {
            inner,
            usage: None,
            model: None,
            service_tier: None,
            images: 0,
            started,
            time_to_first_chunk: None,
            on_end: Some(Box::new(on_end)),
        })
    }

    fn finish(&mut self, end: StreamEnd) {
        if let Some(on_end) = self.on_end.take() {
            on_end(StreamOutcome {
                end,
                usage: self.usage.take(),
                model: self.model.take(),
                service_tier: self.service_tier.take(),
                images: self.images,
                time_to_first_chunk: self.time_to_first_chunk,
            });
        }
    }
}

impl Stream for ObservedStream {
    type Item = Result<ChatChunk, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = std::task::ready!(this.inner.as_mut().poll_next(cx));
        match &item {
            Some(Ok(chunk)) => {
                if this.time_to_first_chunk.is_none() {
                    this.time_to_first_chunk = Some(this.started.elapsed());
                }
                if let Some(usage) = &chunk.usage {
                    this.usage = Some(Usage::clone(usage));
                }
                if this.model.is_none() && !chunk.model.is_empty() {
                    this.model = Some(chunk.model.clone());
                }
                if let Some(tier) = &chunk.service_tier {
                    this.service_tier = Some(tier.clone());
                }
                this.images += chunk_images(chunk);
            }
            Some(Err(e)) => this.finish(StreamEnd::Failed(e.kind().clone())),
            None => this.finish(StreamEnd::Completed),
        }
        Poll::Ready(item)
    }
}

impl Drop for ObservedStream {
    fn drop(&mut self) {
        self.finish(StreamEnd::Abandoned);
    }
}
