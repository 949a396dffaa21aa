//! `llm-cost`: what every LLM call costs, who spent it, and budgets that stop spending in time.
//!
//! - [`PriceTable`]: LiteLLM's `model_prices_and_context_window.json` — a snapshot compiled in
//!   ([`PriceTable::builtin`]), a user's own file ([`PriceTable::from_path`]) and run-time
//!   overrides ([`PriceTable::set`]); model names resolved as users write them
//!   ([`PriceTable::resolve`]).
//! - [`compute_cost`] / [`PriceTable::cost`]: the cost of a response from its [`llm_core::Usage`]
//!   (cache reads and writes, reasoning, audio, `_above_Nk_tokens` thresholds, service tiers,
//!   per-request, per-second and per-image prices); a missing price is a [`CostUnknown`], never 0.
//! - [`tokens`]: prompt token counts and context-window checks before a call.
//! - [`CostLayer`]: a tower layer that prices every response and hands a [`SpendRecord`] to a
//!   [`SpendSink`] (e.g. [`InMemorySpendSink`], which aggregates by key, user, team, model, tag
//!   and day).
//! - [`BudgetLayer`]: reserves the worst-case cost before a call, settles to the real cost after,
//!   so concurrent calls never overshoot a budget; state behind [`BudgetStore`].
//!
//! Money is summed in integer nano-dollars ([`NanoUsd`]).
//!
//! ```
//! use llm_core::Usage;
//! use llm_cost::{CostInput, LookupHints, PriceTable, ServiceTier};
//!
//! let table = PriceTable::builtin();
//! // 250k prompt tokens cross Gemini 2.5 Pro's 200k threshold: every token is billed at the
//! // `_above_200k_tokens` prices ($2.5/M input, $15/M output).
//! let usage = Usage::new(250_000, 1_000).with_reasoning_tokens(600);
//! let input = CostInput::from_usage(&usage);
//! let cost = table.cost("gemini/gemini-2.5-pro", &LookupHints::default(), &input).unwrap();
//! assert!((cost.usd - (250_000.0 * 2.5e-6 + 1_000.0 * 1.5e-5)).abs() < 1e-12);
//! // The batch tier uses the `_batches` prices.
//! let batch = input.with_service_tier(ServiceTier::Batch);
//! let cheaper = table.cost("gemini/gemini-2.5-pro", &LookupHints::default(), &batch).unwrap();
//! assert!(cheaper.usd < cost.usd);
//! ```
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `tiktoken` | yes | exact token counts for OpenAI models (BPE vocabularies embedded by `tiktoken-rs`); without it every model is estimated at 4 characters per token |
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod budget;
mod cost;
pub mod cost_layer;
mod lookup;
mod money;
mod observe;
mod price;
mod snapshot;
mod spend;
mod table;
pub mod tokens;

pub use budget::{
    Budget, BudgetError, BudgetLayer, BudgetScope, BudgetService, BudgetStatus, BudgetStore, BudgetWindow,
    InMemoryBudgetStore, InvalidDuration, Reservation, UnpricedPolicy,
};
pub use cost::{Cost, CostBreakdown, CostInput, CostUnknown, ServiceTier, compute_cost};
pub use cost_layer::{CostLayer, CostOutcome, CostService, StreamCost};
pub use lookup::{LookupHints, Resolution, ResolvedModel};
pub use money::{NANOS_PER_USD, NanoUsd};
pub use price::{ModelPrice, PriceTier};
pub use snapshot::{
    BUILTIN_SNAPSHOT, PriceTableError, SNAPSHOT_FORMAT, generate_snapshot, parse_litellm_json, parse_snapshot,
};
pub use spend::{
    InMemorySpendSink, NoSpendSink, SpendKey, SpendRecord, SpendSink, SpendStatus, SpendTotals, utc_day,
};
pub use table::PriceTable;
