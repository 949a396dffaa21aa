//! [`CostLayer`]: prices every response and records its spend.
//!
//! For a complete response the layer sets `metadata.cost_usd` (left `None` when the cost is
//! unknown) and puts the full [`CostOutcome`] in `metadata.extensions`. A stream's metadata is
//! handed out before its usage exists, so the layer puts a [`StreamCost`] there instead, filled in
//! when the stream ends; the [`SpendRecord`](crate::SpendRecord) is sent to the sink then.
//!
//! The model is priced as, in order: the [`LookupHints`](crate::LookupHints) in the request's
//! extensions (`base_model`), the requested model, the model the response names. The service tier
//! comes from a [`ServiceTier`](crate::ServiceTier) in the request's extensions, else the
//! request's `service_tier` field, else the response's.
//!
//! ```
//! use llm_core::{ChatMessage, ChatRequest, ChatResponse, LlmError, LlmRequest, LlmResponse, Usage};
//! use llm_cost::{CostLayer, InMemorySpendSink, PriceTable, SpendKey};
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # tokio_test_block(async {
//! let upstream = service_fn(|req: LlmRequest| async move {
//!     let mut resp: ChatResponse = serde_json::from_value(serde_json::json!({
//!         "id": "r1", "object": "chat.completion", "created": 0, "model": "gpt-4o", "choices": []
//!     })).unwrap();
//!     resp.usage = Some(Box::new(Usage::new(1_000, 100)));
//!     Ok::<_, LlmError>(LlmResponse::chat(resp))
//! });
//! let sink = InMemorySpendSink::new();
//! let mut svc = CostLayer::new(PriceTable::builtin()).with_sink(sink.clone()).layer(upstream);
//! let req = LlmRequest::chat(ChatRequest::new("gpt-4o", vec![ChatMessage::user("Hi")]));
//! let resp = svc.ready().await.unwrap().call(req).await.unwrap();
//! // 1000 × $2.5/M + 100 × $10/M
//! assert!((resp.metadata.cost_usd.unwrap() - 0.0035).abs() < 1e-12);
//! assert_eq!(sink.totals(&SpendKey::Model("gpt-4o".into())).cost.0, 3_500_000);
//! # });
//! # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

mod layer;
mod service;

use std::sync::{Arc, OnceLock};

use crate::cost::{Cost, CostUnknown};

pub use layer::CostLayer;
pub use service::CostService;

/// The cost of a complete response, in `metadata.extensions`.
#[derive(Debug, Clone, PartialEq)]
pub struct CostOutcome(pub Result<Cost, CostUnknown>);

/// The cost of a complete response as a `BudgetLayer` below computed it, with the table it used:
/// a `CostLayer` with the same table takes it instead of pricing the response twice.
#[derive(Debug, Clone)]
pub(crate) struct PricedWith {
    pub(crate) table: crate::table::TableId,
    pub(crate) cost: Result<Cost, CostUnknown>,
}

/// The cost of a streamed response, in `metadata.extensions`; set when the stream ends.
#[derive(Debug, Clone, Default)]
pub struct StreamCost(Arc<OnceLock<Result<Cost, CostUnknown>>>);

impl StreamCost {
    /// The cost, once the stream has ended (or failed, or been dropped).
    pub fn get(&self) -> Option<&Result<Cost, CostUnknown>> {
        self.0.get()
    }

    /// The cost in dollars, once known.
    pub fn usd(&self) -> Option<f64> {
        self.get().and_then(|r| r.as_ref().ok()).map(|c| c.usd)
    }

    pub(crate) fn set(&self, cost: Result<Cost, CostUnknown>) {
        let _ = self.0.set(cost);
    }
}
