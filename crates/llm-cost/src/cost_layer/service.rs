use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use llm_core::{LlmError, LlmRequest, LlmResponse, ResponseBody, Usage};
use tokio::time::Instant;
use tower::Service;

use super::{CostOutcome, PricedWith, StreamCost};
use crate::cost::{Cost, CostBreakdown, CostUnknown};
use crate::lookup::Resolution;
use crate::observe::{ObservedStream, PricingRequest, StreamEnd, response_images};
use crate::spend::{SpendRecord, SpendSink, SpendStatus};
use crate::table::PriceTable;

/// The service made by [`CostLayer`](super::CostLayer).
#[derive(Debug, Clone)]
pub struct CostService<S> {
    inner: S,
    table: PriceTable,
    sink: Arc<dyn SpendSink>,
}

impl<S> CostService<S> {
    pub(crate) fn new(inner: S, table: PriceTable, sink: Arc<dyn SpendSink>) -> Self {
        Self { inner, table, sink }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<LlmRequest> for CostService<S>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = LlmError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = LlmResponse;
    type Error = LlmError;
    type Future = BoxFuture<Result<LlmResponse, LlmError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LlmError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let pricing = PricingRequest::from_request(&request);
        let record = SpendRecord {
            request_id: request.context.request_id.clone(),
            model: pricing.model.clone(),
            provider: None,
            deployment: None,
            caller: request.context.caller.clone(),
            tags: request.context.tags.clone(),
            usage: None,
            cost: Err(CostUnknown::NoUsage),
            latency: Default::default(),
            time_to_first_token: None,
            status: SpendStatus::Success,
            started_at: SystemTime::now(),
            stream: request.operation.is_stream(),
            cache_hit: false,
        };
        let table = self.table.clone();
        let sink = Arc::clone(&self.sink);
        let started = Instant::now();
        // Take the service that was driven to readiness, leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut record = record;
            let mut response = match inner.call(request).await {
                Ok(r) => r,
                Err(e) => {
                    record.latency = started.elapsed();
                    record.status = SpendStatus::Failed(e.kind().clone());
                    sink.record(record);
                    return Err(e);
                }
            };
            let meta = &mut response.metadata;
            record.provider = meta.provider.clone();
            record.deployment = meta.deployment_id.clone();
            record.cache_hit = meta.cache_hit;
            let cache_hit = meta.cache_hit;
            let priced =
                meta.extensions.remove::<PricedWith>().filter(|p| p.table == table.id()).map(|p| p.cost);
            let (usage, cost) = match &mut response.body {
                ResponseBody::Chat(chat) => {
                    let cost = if cache_hit {
                        Ok(free(&pricing.model))
                    } else if let Some(cost) = priced {
                        cost
                    } else {
                        pricing.cost(
                            &table,
                            chat.usage.as_deref(),
                            Some(&chat.model),
                            chat.service_tier.as_deref(),
                            response_images(chat),
                            started.elapsed(),
                        )
                    };
                    (chat.usage.as_deref().cloned(), cost)
                }
                ResponseBody::Embedding(embedding) => {
                    let usage = Usage::new(embedding.usage.prompt_tokens, 0);
                    let cost = if cache_hit {
                        Ok(free(&pricing.model))
                    } else if let Some(cost) = priced {
                        cost
                    } else {
                        pricing.cost(&table, Some(&usage), Some(&embedding.model), None, 0, started.elapsed())
                    };
                    (Some(usage), cost)
                }
                ResponseBody::ChatStream(stream) => {
                    let handle = StreamCost::default();
                    response.metadata.extensions.insert(handle.clone());
                    let upstream = std::mem::replace(stream, Box::pin(futures_util::stream::empty()));
                    *stream = ObservedStream::wrap(upstream, started, move |outcome| {
                        let cost = if cache_hit {
                            Ok(free(&pricing.model))
                        } else {
                            pricing.cost(
                                &table,
                                outcome.usage.as_ref(),
                                outcome.model.as_deref(),
                                outcome.service_tier.as_deref(),
                                outcome.images,
                                started.elapsed(),
                            )
                        };
                        handle.set(cost.clone());
                        record.latency = started.elapsed();
                        record.time_to_first_token = outcome.time_to_first_chunk;
                        record.stream = true;
                        record.status = match outcome.end {
                            StreamEnd::Completed => SpendStatus::Success,
                            StreamEnd::Failed(kind) => SpendStatus::StreamFailed(kind),
                            StreamEnd::Abandoned => SpendStatus::StreamAbandoned,
                        };
                        record.usage = outcome.usage;
                        record.cost = cost;
                        sink.record(record);
                    });
                    return Ok(response);
                }
                _ => (None, Err(CostUnknown::NoUsage)),
            };
            response.metadata.cost_usd = cost.as_ref().ok().map(|c| c.usd);
            response.metadata.extensions.insert(CostOutcome(cost.clone()));
            record.latency = started.elapsed();
            record.usage = usage;
            record.cost = cost;
            sink.record(record);
            Ok(response)
        })
    }
}

/// A cache hit costs nothing.
fn free(model: &str) -> Cost {
    Cost {
        model: model.to_owned(),
        resolution: Resolution::Exact,
        usd: 0.0,
        breakdown: CostBreakdown::default(),
    }
}
