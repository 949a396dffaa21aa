//! The tower layer and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower::Layer;

use crate::flight::Flights;
use crate::service::Shared;
use crate::stats::Counters;
use crate::{
    CacheBackend, CacheService, CacheStats, Clock, DefaultKeyMaker, KeyMaker, MemoryBackend, SystemClock,
};

/// How long entries live unless [`CacheLayer::with_ttl`] or a request's `ttl` says otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// A response cache for chat and embedding requests, as a tower [`Layer`].
///
/// Every service it builds (and every clone of them) shares one backend, one set of counters
/// and one table of in-flight requests.
///
/// ```
/// use llm_cache::CacheLayer;
/// use llm_core::{ChatMessage, ChatRequest, ChatResponse, LlmError, LlmRequest, LlmResponse};
/// use tower::{Layer, ServiceExt};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let upstream = tower::service_fn(|_req: LlmRequest| async {
///     let json = serde_json::json!({"id": "c1", "model": "m", "choices": [{"index": 0,
///         "message": {"role": "assistant", "content": "Hi!"}, "finish_reason": "stop"}]});
///     Ok::<_, LlmError>(LlmResponse::chat(serde_json::from_value::<ChatResponse>(json).unwrap()))
/// });
/// let cache = CacheLayer::new();
/// let service = cache.layer(upstream);
/// let request = || LlmRequest::chat(ChatRequest::new("m", vec![ChatMessage::user("Hello")]));
/// let first = service.clone().oneshot(request()).await?;
/// let second = service.clone().oneshot(request()).await?;
/// assert!(!first.metadata.cache_hit);
/// assert!(second.metadata.cache_hit);
/// assert_eq!(cache.stats().hits, 1);
/// # Ok::<(), LlmError>(())
/// # }).unwrap();
/// ```
pub struct CacheLayer<K = DefaultKeyMaker> {
    keys: Arc<K>,
    shared: Arc<Shared>,
}

impl<K> Clone for CacheLayer<K> {
    fn clone(&self) -> Self {
        Self { keys: self.keys.clone(), shared: self.shared.clone() }
    }
}

impl<K> fmt::Debug for CacheLayer<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer").field("cache", &self.shared).finish_non_exhaustive()
    }
}

impl Default for CacheLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl CacheLayer {
    /// An in-memory cache ([`MemoryBackend`] with its default size) with the default key.
    pub fn new() -> Self {
        Self::with_backend(MemoryBackend::default())
    }

    /// A cache over `backend` with the default key.
    pub fn with_backend(backend: impl CacheBackend) -> Self {
        let shared = Shared {
            backend: Arc::new(backend),
            clock: Arc::new(SystemClock),
            default_ttl: DEFAULT_TTL,
            namespace: None,
            counters: Arc::new(Counters::default()),
            flights: Arc::new(Flights::default()),
        };
        Self { keys: Arc::new(DefaultKeyMaker::new()), shared: Arc::new(shared) }
    }
}

impl<K> CacheLayer<K> {
    fn edit(self, change: impl FnOnce(&mut Shared)) -> Self {
        let Shared { backend, clock, default_ttl, namespace, counters, flights } = &*self.shared;
        let mut shared = Shared {
            backend: backend.clone(),
            clock: clock.clone(),
            default_ttl: *default_ttl,
            namespace: namespace.clone(),
            counters: counters.clone(),
            flights: flights.clone(),
        };
        change(&mut shared);
        Self { keys: self.keys, shared: Arc::new(shared) }
    }

    /// Replaces how keys are derived (a [`KeyMaker`] or a closure
    /// `Fn(&LlmRequest) -> Option<CacheKey>`).
    pub fn with_key_maker<K2: KeyMaker>(self, keys: K2) -> CacheLayer<K2> {
        CacheLayer { keys: Arc::new(keys), shared: self.shared }
    }

    /// Entries live this long unless a request sets its own `ttl` (default [`DEFAULT_TTL`]).
    pub fn with_ttl(self, ttl: Duration) -> Self {
        self.edit(|s| s.default_ttl = ttl)
    }

    /// Uses `namespace` for requests that do not name one.
    pub fn with_namespace(self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        self.edit(|s| s.namespace = Some(namespace))
    }

    /// Reads time from `clock` (default [`SystemClock`]; [`TokioClock`](crate::TokioClock) in
    /// tests with paused time).
    pub fn with_clock(self, clock: impl Clock) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(clock);
        self.edit(|s| s.clock = clock)
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot()
    }
}

impl<S, K> Layer<S> for CacheLayer<K> {
    type Service = CacheService<S, K>;

    fn layer(&self, inner: S) -> Self::Service {
        CacheService { inner, keys: self.keys.clone(), shared: self.shared.clone() }
    }
}
