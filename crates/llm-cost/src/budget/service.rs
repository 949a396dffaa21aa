use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use llm_core::{ErrorKind, LlmError, LlmRequest, LlmResponse, Operation, ResponseBody, Usage};
use tokio::time::Instant;
use tower::Service;

use super::{BudgetLayer, BudgetScope, BudgetStore, Reservation, UnpricedPolicy};
use crate::cost::{CostInput, CostUnknown, compute_cost};
use crate::cost_layer::PricedWith;
use crate::money::NanoUsd;
use crate::observe::{ObservedStream, PricingRequest, StreamEnd, response_images};
use crate::table::PriceTable;
use crate::tokens::count_operation_tokens;

/// The service made by [`BudgetLayer`].
#[derive(Clone)]
pub struct BudgetService<S> {
    pub(crate) inner: S,
    pub(crate) config: BudgetLayer,
}

impl<S: fmt::Debug> fmt::Debug for BudgetService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetService").field("inner", &self.inner).field("config", &self.config).finish()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<LlmRequest> for BudgetService<S>
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
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let scopes = BudgetScope::for_caller(&request.context.caller);
        if scopes.is_empty() {
            return Box::pin(inner.call(request));
        }
        let config = self.config.clone();
        Box::pin(async move {
            let pricing = PricingRequest::from_request(&request);
            // Without a limit to check, the estimate (a token count of the prompt) is not needed.
            let estimate = if !config.store.limits_any(&scopes) {
                Ok(NanoUsd::ZERO)
            } else {
                estimate_max_cost(&config.table, &pricing, &request.operation)
            };
            let estimate = match estimate {
                Ok(n) => n,
                Err(reason) => match config.unpriced {
                    UnpricedPolicy::Allow => NanoUsd::ZERO,
                    UnpricedPolicy::Reject => {
                        return Err(LlmError::new(
                            ErrorKind::BudgetExceeded,
                            format!("the call cannot be checked against the budget: {reason}"),
                        ));
                    }
                },
            };
            let reservation = config.store.reserve(&scopes, estimate, (config.clock)()).await?;
            let guard =
                ReservationGuard { store: Some(Arc::clone(&config.store)), reservation: Some(reservation) };
            let started = Instant::now();
            let mut response = match inner.call(request).await {
                Ok(r) => r,
                Err(e) => {
                    guard.release().await;
                    return Err(e);
                }
            };
            let cached = response.metadata.cache_hit;
            let table = &config.table;
            let actual = match &mut response.body {
                _ if cached => Err(CostUnknown::NoUsage),
                ResponseBody::Chat(chat) => pricing.cost(
                    table,
                    chat.usage.as_deref(),
                    Some(&chat.model),
                    chat.service_tier.as_deref(),
                    response_images(chat),
                    started.elapsed(),
                ),
                ResponseBody::Embedding(e) => {
                    let usage = Usage::new(e.usage.prompt_tokens, 0);
                    pricing.cost(table, Some(&usage), Some(&e.model), None, 0, started.elapsed())
                }
                ResponseBody::ChatStream(stream) => {
                    let upstream = std::mem::replace(stream, Box::pin(futures_util::stream::empty()));
                    let table = config.table.clone();
                    let clock = Arc::clone(&config.clock);
                    *stream = ObservedStream::wrap(upstream, tokio::time::Instant::now(), move |outcome| {
                        let cost = pricing.cost(
                            &table,
                            outcome.usage.as_ref(),
                            outcome.model.as_deref(),
                            outcome.service_tier.as_deref(),
                            outcome.images,
                            started.elapsed(),
                        );
                        match (cost, outcome.end) {
                            _ if cached => guard.settle_detached(NanoUsd::ZERO, clock()),
                            (Ok(cost), _) => guard.settle_detached(cost.nano_usd(), clock()),
                            // Provider errors are not billed; the guard releases on drop.
                            (Err(_), StreamEnd::Failed(_)) => drop(guard),
                            (Err(_), _) => guard.settle_detached(estimate, clock()),
                        }
                    });
                    return Ok(response);
                }
                _ => Err(CostUnknown::NoUsage),
            };
            if !cached {
                // A `CostLayer` above with the same table takes this cost instead of pricing the
                // response again.
                response.metadata.extensions.insert(PricedWith { table: table.id(), cost: actual.clone() });
            }
            let actual = match actual {
                _ if cached => NanoUsd::ZERO,
                Ok(cost) => cost.nano_usd(),
                Err(_) => estimate,
            };
            guard.settle(actual, (config.clock)()).await;
            Ok(response)
        })
    }
}

/// The most a call can cost: the prompt's tokens plus `n` × the output limit, all at full
/// (uncached) prices, with output at the higher of the output and reasoning prices.
pub(crate) fn estimate_max_cost(
    table: &PriceTable,
    pricing: &PricingRequest,
    operation: &Operation,
) -> Result<NanoUsd, CostUnknown> {
    let resolved = table.resolve(&pricing.model, &pricing.hints)?;
    let prompt_tokens = count_operation_tokens(operation).tokens;
    let completion_tokens = match operation {
        Operation::Chat(chat) => {
            let limit = chat
                .output_token_limit()
                .map(u64::from)
                .or_else(|| resolved.price.output_token_limit())
                .ok_or_else(|| CostUnknown::MissingPrice {
                    model: resolved.key.clone(),
                    field: "max_output_tokens".to_owned(),
                })?;
            limit.saturating_mul(u64::from(chat.n.unwrap_or(1).max(1)))
        }
        _ => 0,
    };
    let input = CostInput {
        prompt_tokens,
        completion_tokens,
        service_tier: pricing.service_tier.unwrap_or_default(),
        ..CostInput::default()
    };
    let as_text = compute_cost(&resolved, &input)?;
    let as_reasoning = compute_cost(&resolved, &CostInput { reasoning_tokens: completion_tokens, ..input })?;
    Ok(NanoUsd::from_usd_ceil(as_text.usd.max(as_reasoning.usd)))
}

/// Releases its reservation when dropped unsettled (the call's future was dropped, or failed).
struct ReservationGuard {
    store: Option<Arc<dyn BudgetStore>>,
    reservation: Option<Reservation>,
}

impl ReservationGuard {
    async fn settle(mut self, actual: NanoUsd, now: std::time::SystemTime) {
        if let (Some(store), Some(r)) = (self.store.take(), self.reservation.take()) {
            if let Err(e) = store.settle(r, actual, now).await {
                tracing::warn!(error = %e, "could not settle a budget reservation");
            }
        }
    }

    async fn release(mut self) {
        if let (Some(store), Some(r)) = (self.store.take(), self.reservation.take()) {
            if let Err(e) = store.release(r).await {
                tracing::warn!(error = %e, "could not release a budget reservation");
            }
        }
    }

    /// Settles on the runtime in the background (from a stream's end, which cannot wait).
    fn settle_detached(self, actual: NanoUsd, now: std::time::SystemTime) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(self.settle(actual, now));
            }
            Err(_) => tracing::warn!("no tokio runtime: a budget reservation stays booked"),
        }
    }
}

impl Drop for ReservationGuard {
    fn drop(&mut self) {
        if let (Some(store), Some(r)) = (self.store.take(), self.reservation.take()) {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if let Err(e) = store.release(r).await {
                        tracing::warn!(error = %e, "could not release a budget reservation");
                    }
                });
            }
        }
    }
}
