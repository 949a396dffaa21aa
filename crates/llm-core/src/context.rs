//! The per-request context carried beside every operation.

use std::time::Duration;

use tokio::time::Instant;

/// Who is calling: the gateway fills this from the virtual key; library users may leave it empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// The virtual key's id (never the key itself).
    pub key_id: Option<String>,
    /// The user the key or request belongs to.
    pub user_id: Option<String>,
    /// The team the key belongs to.
    pub team_id: Option<String>,
}

/// Per-request cache controls (LiteLLM's names: `no-cache`, `no-store`, `ttl`, `s-maxage`,
/// `namespace`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// Do not read from the cache.
    pub no_cache: bool,
    /// Do not write to the cache.
    pub no_store: bool,
    /// Store with this time-to-live instead of the default.
    pub ttl: Option<Duration>,
    /// Accept only entries younger than this.
    pub s_maxage: Option<Duration>,
    /// Keep entries apart from other namespaces.
    pub namespace: Option<String>,
}

/// Everything about a request that is not the provider payload.
///
/// ```
/// use std::time::Duration;
/// use llm_core::RequestContext;
/// let ctx = RequestContext::new().with_tag("batch").with_timeout(Duration::from_secs(30));
/// assert!(ctx.remaining().unwrap() <= Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// A unique id for logs and spend records.
    pub request_id: Option<String>,
    /// Who is calling.
    pub caller: Caller,
    /// Free-form tags for routing, spend attribution and metrics.
    pub tags: Vec<String>,
    /// The moment after which the request is abandoned.
    pub deadline: Option<Instant>,
    /// Cache controls.
    pub cache: CacheControl,
    /// Typed values layers hand each other.
    pub extensions: http::Extensions,
}

impl RequestContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tag.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Sets the deadline to `timeout` from now (keeps an earlier deadline).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        let candidate = Instant::now() + timeout;
        self.deadline = Some(match self.deadline {
            Some(d) if d < candidate => d,
            _ => candidate,
        });
        self
    }

    /// Time left before the deadline (`Some(ZERO)` once passed), or `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }
}
