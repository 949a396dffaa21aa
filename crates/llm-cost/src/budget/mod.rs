//! Budgets: [`BudgetLayer`] stops a caller's spending before it passes their budget.
//!
//! Before each call the layer reserves the most the call can cost — the prompt's tokens (counted
//! or estimated) plus the output limit (`max_completion_tokens`/`max_tokens`, else the model's
//! `max_output_tokens`) times `n`, at the table's prices — against every budget of the caller
//! (key, user, team). A reservation that does not fit is refused with
//! [`ErrorKind::BudgetExceeded`] and the call is not made.
//! After the call the reservation is settled to the real cost; a failed call releases it. Since
//! reserving checks and books in one step, concurrent calls cannot together pass a budget, as long
//! as the reservation is an upper bound of the cost (for non-OpenAI models the prompt is estimated
//! at four characters per token, so an unusual prompt can cost more than reserved).
//!
//! Budgets live in a [`BudgetStore`]: [`InMemoryBudgetStore`] for one process; a gateway with
//! many replicas implements the trait on a shared store (e.g. Redis, with the check-and-book done
//! in one script).
//!
//! ```
//! use llm_core::{Caller, ChatMessage, ChatRequest, ChatResponse, ErrorKind, LlmError, LlmRequest,
//!     LlmResponse, RequestContext, Usage};
//! use llm_cost::{Budget, BudgetLayer, BudgetScope, BudgetStore, InMemoryBudgetStore, NanoUsd, PriceTable};
//! use tower::{Layer, Service, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = InMemoryBudgetStore::new();
//! let team = BudgetScope::Team("research".into());
//! // $0.01 a day for the team.
//! store.set_budget(team.clone(), Budget::new(NanoUsd(10_000_000)).with_window("1d".parse().unwrap()),
//!     std::time::SystemTime::now()).await.unwrap();
//! let upstream = service_fn(|_req: LlmRequest| async move {
//!     let mut resp: ChatResponse = serde_json::from_value(serde_json::json!({
//!         "id": "r1", "object": "chat.completion", "created": 0, "model": "gpt-4o", "choices": []
//!     })).unwrap();
//!     resp.usage = Some(Box::new(Usage::new(10, 100)));
//!     Ok::<_, LlmError>(LlmResponse::chat(resp))
//! });
//! let mut svc = BudgetLayer::new(store.clone(), PriceTable::builtin()).layer(upstream);
//! let call = |max_tokens: u32| {
//!     let mut ctx = RequestContext::new();
//!     ctx.caller = Caller { team_id: Some("research".into()), ..Caller::default() };
//!     LlmRequest::chat(ChatRequest::new("gpt-4o", vec![ChatMessage::user("Hi")]).with_max_tokens(max_tokens))
//!         .with_context(ctx)
//! };
//! // Up to 500 output tokens at $10/M fits: reserved ≈ $0.005, settled to $0.001025.
//! svc.ready().await.unwrap().call(call(500)).await.unwrap();
//! // 2000 output tokens could cost $0.02: refused before the call.
//! let err = svc.ready().await.unwrap().call(call(2_000)).await.unwrap_err();
//! assert_eq!(err.kind(), &ErrorKind::BudgetExceeded);
//! let status = store.status(&team, std::time::SystemTime::now()).await.unwrap().unwrap();
//! assert_eq!((status.spent, status.reserved), (NanoUsd(1_025_000), NanoUsd(0)));
//! # });
//! ```

mod layer;
mod memory;
mod service;
mod window;

use std::time::SystemTime;

use async_trait::async_trait;
use llm_core::{Caller, ErrorKind, LlmError};

use crate::money::NanoUsd;

pub use layer::{BudgetLayer, UnpricedPolicy};
pub use memory::InMemoryBudgetStore;
pub use service::BudgetService;
pub use window::{BudgetWindow, InvalidDuration};

/// Whose budget.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BudgetScope {
    /// A virtual key, by id.
    Key(String),
    /// A user.
    User(String),
    /// A team.
    Team(String),
}

impl BudgetScope {
    /// The scopes of a caller: its key, user and team, when set.
    pub fn for_caller(caller: &Caller) -> Vec<BudgetScope> {
        let mut scopes = Vec::with_capacity(3);
        scopes.extend(caller.key_id.clone().map(BudgetScope::Key));
        scopes.extend(caller.user_id.clone().map(BudgetScope::User));
        scopes.extend(caller.team_id.clone().map(BudgetScope::Team));
        scopes
    }
}

/// A spending limit, optionally reset every window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The most that may be spent in a window (or ever, without a window).
    pub max: NanoUsd,
    /// How often spending resets; `None` never resets.
    pub window: Option<BudgetWindow>,
}

impl Budget {
    /// A budget of `max` that never resets.
    pub fn new(max: NanoUsd) -> Self {
        Self { max, window: None }
    }

    /// Resets the spending every `window`, counted from when the budget was set.
    pub fn with_window(mut self, window: BudgetWindow) -> Self {
        self.window = Some(window);
        self
    }

    /// A budget that never refuses: spending is tracked, nothing is limited.
    ///
    /// ```
    /// use llm_cost::{Budget, NanoUsd};
    /// assert!(Budget::unlimited().is_unlimited());
    /// assert!(!Budget::new(NanoUsd::dollars(5)).is_unlimited());
    /// ```
    pub fn unlimited() -> Self {
        Self::new(NanoUsd(u64::MAX))
    }

    /// Whether this budget never refuses.
    pub fn is_unlimited(&self) -> bool {
        self.max.0 == u64::MAX
    }
}

/// A budget's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetStatus {
    /// The budget.
    pub budget: Budget,
    /// Settled spending in the current window.
    pub spent: NanoUsd,
    /// Reserved by calls in flight.
    pub reserved: NanoUsd,
    /// When the current window ends.
    pub resets_at: Option<SystemTime>,
}

impl BudgetStatus {
    /// What is left for new reservations.
    pub fn remaining(&self) -> NanoUsd {
        self.budget.max.saturating_sub(self.spent).saturating_sub(self.reserved)
    }
}

/// Money booked against budgets for one call in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The store's id for it.
    pub id: u64,
    /// The scopes it was booked against (those with a budget).
    pub scopes: Vec<BudgetScope>,
    /// The amount booked.
    pub amount: NanoUsd,
}

/// Why a budget operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetError {
    /// The reservation does not fit in a budget.
    #[error(
        "budget exceeded for {scope:?}: spent {spent} + reserved {reserved} + this call's {requested} > max {max}"
    )]
    Exceeded {
        /// The budget that does not fit.
        scope: BudgetScope,
        /// Its limit.
        max: NanoUsd,
        /// Spent in the current window.
        spent: NanoUsd,
        /// Reserved by calls in flight.
        reserved: NanoUsd,
        /// What this call asked for.
        requested: NanoUsd,
    },
    /// The store failed (e.g. a network error to a shared store).
    #[error("budget store failed: {0}")]
    Store(String),
}

impl From<BudgetError> for LlmError {
    fn from(e: BudgetError) -> Self {
        let kind = match e {
            BudgetError::Exceeded { .. } => ErrorKind::BudgetExceeded,
            BudgetError::Store(_) => ErrorKind::ServiceUnavailable,
        };
        LlmError::new(kind, e.to_string())
    }
}

/// Where budgets and their spending live.
///
/// `reserve` must check every scope and book the amount in one atomic step, so that concurrent
/// reservations never together exceed a budget. Scopes without a budget are skipped.
#[async_trait]
pub trait BudgetStore: Send + Sync + 'static {
    /// Sets (or replaces) the budget of `scope`; spending so far is kept, and a new window starts
    /// at `now`.
    async fn set_budget(
        &self,
        scope: BudgetScope,
        budget: Budget,
        now: SystemTime,
    ) -> Result<(), BudgetError>;

    /// Books `amount` against every budget of `scopes`, or none if any would be exceeded.
    async fn reserve(
        &self,
        scopes: &[BudgetScope],
        amount: NanoUsd,
        now: SystemTime,
    ) -> Result<Reservation, BudgetError>;

    /// Replaces a reservation by the real cost.
    async fn settle(
        &self,
        reservation: Reservation,
        actual: NanoUsd,
        now: SystemTime,
    ) -> Result<(), BudgetError>;

    /// Whether any of `scopes` may refuse a call: `false` lets [`BudgetLayer`] skip estimating
    /// the call's cost (counting its prompt's tokens) and reserve nothing, while spending is still
    /// settled. Must answer without I/O; the default is the safe `true`.
    fn limits_any(&self, scopes: &[BudgetScope]) -> bool {
        let _ = scopes;
        true
    }

    /// Cancels a reservation (the call failed).
    async fn release(&self, reservation: Reservation) -> Result<(), BudgetError>;

    /// The state of a scope's budget; `None` when it has none.
    async fn status(&self, scope: &BudgetScope, now: SystemTime)
    -> Result<Option<BudgetStatus>, BudgetError>;
}
