use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use tower::Layer;

use super::{BudgetService, BudgetStore};
use crate::table::PriceTable;

/// What to do when a call with a budget cannot be priced (model not in the table, per-second
/// prices).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnpricedPolicy {
    /// Let it through without reserving or charging anything (LiteLLM's behaviour).
    #[default]
    Allow,
    /// Refuse it with `BudgetExceeded`: a budget that cannot be checked is not trusted.
    Reject,
}

pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// A tower layer that enforces budgets; see the [module docs](crate::budget).
#[derive(Clone)]
pub struct BudgetLayer {
    pub(crate) store: Arc<dyn BudgetStore>,
    pub(crate) table: PriceTable,
    pub(crate) clock: Clock,
    pub(crate) unpriced: UnpricedPolicy,
}

impl fmt::Debug for BudgetLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BudgetLayer").field("table", &self.table).field("unpriced", &self.unpriced).finish()
    }
}

impl BudgetLayer {
    /// Enforces the budgets of `store`, pricing with `table`.
    pub fn new(store: impl BudgetStore, table: PriceTable) -> Self {
        Self::with_shared_store(Arc::new(store), table)
    }

    /// Enforces the budgets of a shared store.
    pub fn with_shared_store(store: Arc<dyn BudgetStore>, table: PriceTable) -> Self {
        Self { store, table, clock: Arc::new(SystemTime::now), unpriced: UnpricedPolicy::default() }
    }

    /// Reads the time from `clock` (for budget windows) instead of the system clock.
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets what happens to calls that cannot be priced.
    pub fn with_unpriced_policy(mut self, policy: UnpricedPolicy) -> Self {
        self.unpriced = policy;
        self
    }
}

impl<S> Layer<S> for BudgetLayer {
    type Service = BudgetService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BudgetService { inner, config: self.clone() }
    }
}
