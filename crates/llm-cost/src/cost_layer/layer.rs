use std::sync::Arc;

use tower::Layer;

use super::CostService;
use crate::spend::{NoSpendSink, SpendSink};
use crate::table::PriceTable;

/// A tower layer that prices every response and hands a spend record to a [`SpendSink`].
///
/// See the [module docs](crate::cost_layer) for what it sets and an example.
#[derive(Debug, Clone)]
pub struct CostLayer {
    table: PriceTable,
    sink: Arc<dyn SpendSink>,
}

impl CostLayer {
    /// Prices with `table` and records nowhere.
    pub fn new(table: PriceTable) -> Self {
        Self { table, sink: Arc::new(NoSpendSink) }
    }

    /// Sends every spend record to `sink`.
    pub fn with_sink(mut self, sink: impl SpendSink) -> Self {
        self.sink = Arc::new(sink);
        self
    }

    /// Sends every spend record to a shared `sink`.
    pub fn with_shared_sink(mut self, sink: Arc<dyn SpendSink>) -> Self {
        self.sink = sink;
        self
    }
}

impl<S> Layer<S> for CostLayer {
    type Service = CostService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CostService::new(inner, self.table.clone(), Arc::clone(&self.sink))
    }
}
