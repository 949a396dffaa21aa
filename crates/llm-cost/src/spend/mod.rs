//! Spend records and where they go.

mod memory;

use std::fmt;
use std::time::{Duration, SystemTime};

use llm_core::{Caller, ErrorKind, Usage};

use crate::cost::{Cost, CostUnknown};
use crate::money::NanoUsd;

pub use memory::{InMemorySpendSink, SpendKey, SpendTotals, utc_day};

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendStatus {
    /// A complete response, or a stream that reached its end.
    Success,
    /// The call failed before any response.
    Failed(ErrorKind),
    /// A stream ended with an error item.
    StreamFailed(ErrorKind),
    /// The caller dropped a stream before its end.
    StreamAbandoned,
}

impl SpendStatus {
    /// Whether the call succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, SpendStatus::Success)
    }
}

/// What one call cost and who spent it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendRecord {
    /// `RequestContext::request_id`.
    pub request_id: Option<String>,
    /// The model as requested.
    pub model: String,
    /// The provider that answered (response metadata).
    pub provider: Option<String>,
    /// The deployment that answered (response metadata).
    pub deployment: Option<String>,
    /// Who called (key id, user, team).
    pub caller: Caller,
    /// The request's tags.
    pub tags: Vec<String>,
    /// Tokens used, when reported.
    pub usage: Option<Usage>,
    /// The cost, or why it is unknown.
    pub cost: Result<Cost, CostUnknown>,
    /// From the call to the complete response or the end of the stream.
    pub latency: Duration,
    /// From the call to the first streamed chunk (streams only).
    pub time_to_first_token: Option<Duration>,
    /// How it ended.
    pub status: SpendStatus,
    /// When the call started.
    pub started_at: SystemTime,
    /// Whether the response was streamed.
    pub stream: bool,
    /// Whether the response came from a cache.
    pub cache_hit: bool,
}

impl SpendRecord {
    /// The cost in nano-dollars, when known.
    pub fn cost_nano_usd(&self) -> Option<NanoUsd> {
        self.cost.as_ref().ok().map(Cost::nano_usd)
    }
}

/// Where spend records go: a database, a log, a metrics counter, a channel.
///
/// `record` is called on the request's task (for streams, where the stream ends), so it must not
/// block: hand slow work to a channel. Closures are sinks:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use llm_cost::{SpendRecord, SpendSink};
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = {
///     let seen = Arc::clone(&seen);
///     move |r: SpendRecord| seen.lock().unwrap().push(r.model)
/// };
/// fn takes(_: impl SpendSink) {}
/// takes(sink);
/// ```
pub trait SpendSink: Send + Sync + 'static {
    /// Takes one record.
    fn record(&self, record: SpendRecord);
}

impl<F> SpendSink for F
where
    F: Fn(SpendRecord) + Send + Sync + 'static,
{
    fn record(&self, record: SpendRecord) {
        self(record)
    }
}

/// A sink that drops every record.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSpendSink;

impl SpendSink for NoSpendSink {
    fn record(&self, _: SpendRecord) {}
}

impl fmt::Debug for dyn SpendSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpendSink")
    }
}
