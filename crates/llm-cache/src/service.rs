//! The cache service: looks up, coalesces, calls upstream and stores.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use llm_core::{
    CacheControl, ChatResponse, EmbeddingResponse, LlmError, LlmRequest, LlmResponse, Operation,
    ResponseBody, ResponseMetadata,
};
use tower::{Service, ServiceExt};

use crate::flight::{ErrorSnapshot, Flights, LeaderGuard, Outcome, Role, wait};
use crate::key::storage_key;
use crate::stats::Counters;
use crate::stream::{StoringStream, replay_stream};
use crate::{CacheBackend, CacheEntry, CacheStats, CachedBody, Clock, DefaultKeyMaker, KeyMaker};

/// How a response relates to the cache; inserted into `ResponseMetadata::extensions` of every
/// response that passed through a [`CacheService`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// Served from the cache; `age` is how long ago the entry was stored.
    Hit {
        /// The entry's age.
        age: Duration,
    },
    /// Served by an identical request that was already in flight (no upstream call of its own).
    /// `cache_hit` is `true`; the rest of the metadata (provider, attempts, latency, cost) is a
    /// copy of the leader's, so spend trackers should skip such responses as they skip hits.
    Coalesced,
    /// Went upstream.
    Miss,
}

/// State shared by a layer's services and the streams they return.
pub(crate) struct Shared {
    pub(crate) backend: Arc<dyn CacheBackend>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) default_ttl: Duration,
    pub(crate) namespace: Option<String>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) flights: Arc<Flights>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.backend)
            .field("default_ttl", &self.default_ttl)
            .field("namespace", &self.namespace)
            .field("stats", &self.counters.snapshot())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn backend_error(&self, op: &'static str, key: &str, error: &crate::BackendError) {
        Counters::bump(&self.counters.backend_errors);
        tracing::warn!(target: "llm_cache", op, key, %error, "cache backend failed; going on without it");
    }

    pub(crate) fn stream_not_stored(&self, key: &str, why: &'static str) {
        Counters::bump(&self.counters.streams_not_stored);
        tracing::debug!(target: "llm_cache", key, why, "stream not stored");
    }

    /// A usable entry for `key`: present, unexpired, young enough for `s_maxage`, of the
    /// operation's kind. `Err` when the backend failed (already logged and counted).
    async fn lookup(
        &self,
        key: &str,
        control: &CacheControl,
        chat: bool,
    ) -> Result<Option<Arc<CacheEntry>>, ()> {
        let entry = match self.backend.get(key).await {
            Ok(Some(entry)) => entry,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.backend_error("get", key, &e);
                return Err(());
            }
        };
        let now = self.clock.now_ms();
        if entry.is_expired(now) || control.s_maxage.is_some_and(|max| entry.age(now) > max) {
            return Ok(None);
        }
        let kind_matches =
            matches!((&entry.body, chat), (CachedBody::Chat(_), true) | (CachedBody::Embedding(_), false));
        Ok(kind_matches.then_some(entry))
    }

    fn hit(&self, entry: &CacheEntry, plan: &Plan) -> LlmResponse {
        Counters::bump(&self.counters.hits);
        let mut metadata = ResponseMetadata::default();
        metadata.extensions.insert(CacheStatus::Hit { age: entry.age(self.clock.now_ms()) });
        response_from(&entry.body, plan.stream, plan.include_usage, metadata)
    }

    /// Writes `body` under `key` for `ttl`; failures are logged and counted.
    pub(crate) async fn store(&self, key: &str, body: CachedBody, ttl: Duration) {
        let entry = Arc::new(CacheEntry::new(body, self.clock.now_ms(), ttl));
        match self.backend.put(key, entry, ttl).await {
            Ok(()) => Counters::bump(&self.counters.stores),
            Err(e) => self.backend_error("put", key, &e),
        }
    }
}

fn cacheable_body(body: &ResponseBody) -> Option<CachedBody> {
    match body {
        ResponseBody::Chat(r) => Some(CachedBody::Chat(ChatResponse::clone(r))),
        ResponseBody::Embedding(r) => Some(CachedBody::Embedding(EmbeddingResponse::clone(r))),
        _ => None,
    }
}

fn response_from(
    body: &CachedBody,
    stream: bool,
    include_usage: bool,
    mut metadata: ResponseMetadata,
) -> LlmResponse {
    let body = match body {
        CachedBody::Chat(r) if stream => ResponseBody::ChatStream(replay_stream(r, include_usage)),
        CachedBody::Chat(r) => ResponseBody::Chat(Box::new(r.clone())),
        CachedBody::Embedding(r) => ResponseBody::Embedding(Box::new(r.clone())),
    };
    metadata.cache_hit = true;
    LlmResponse { body, metadata }
}

/// The per-request facts the cache needs, read before the request moves upstream.
struct Plan {
    key: String,
    control: CacheControl,
    chat: bool,
    stream: bool,
    include_usage: bool,
}

impl Plan {
    fn new(request: &LlmRequest, key: &crate::CacheKey, shared: &Shared) -> Option<Self> {
        let control = request.context.cache.clone();
        let namespace = control.namespace.as_deref().or(shared.namespace.as_deref());
        let (chat, include_usage) = match &request.operation {
            Operation::Chat(r) => {
                (true, r.stream_options.as_ref().and_then(|o| o.include_usage) != Some(false))
            }
            Operation::Embedding(_) => (false, false),
            _ => return None,
        };
        Some(Self {
            key: storage_key(namespace, key),
            stream: request.operation.is_stream(),
            control,
            chat,
            include_usage,
        })
    }
}

/// The service a [`CacheLayer`](crate::CacheLayer) wraps around `S`.
pub struct CacheService<S, K = DefaultKeyMaker> {
    pub(crate) inner: S,
    pub(crate) keys: Arc<K>,
    pub(crate) shared: Arc<Shared>,
}

impl<S: Clone, K> Clone for CacheService<S, K> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), keys: self.keys.clone(), shared: self.shared.clone() }
    }
}

impl<S: fmt::Debug, K> fmt::Debug for CacheService<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheService").field("inner", &self.inner).field("cache", &self.shared).finish()
    }
}

impl<S, K> CacheService<S, K> {
    /// The cache's counters (shared with the layer and every clone).
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot()
    }
}

impl<S, K> Service<LlmRequest> for CacheService<S, K>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = LlmError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    K: KeyMaker,
{
    type Response = LlmResponse;
    type Error = LlmError;
    type Future = BoxFuture<'static, Result<LlmResponse, LlmError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), LlmError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        // Use the service that was driven to readiness; leave a fresh clone in its place.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let plan = self.keys.make_key(&request).and_then(|key| Plan::new(&request, &key, &self.shared));
        let Some(plan) = plan else {
            Counters::bump(&self.shared.counters.bypassed);
            return Box::pin(inner.call(request));
        };
        let shared = self.shared.clone();
        Box::pin(serve(shared, inner, request, plan))
    }
}

async fn serve<S>(
    shared: Arc<Shared>,
    inner: S,
    request: LlmRequest,
    plan: Plan,
) -> Result<LlmResponse, LlmError>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = LlmError> + Send + 'static,
    S::Future: Send + 'static,
{
    let control = &plan.control;
    let mut backend_healthy = true;
    if !control.no_cache {
        match shared.lookup(&plan.key, control, plan.chat).await {
            Ok(Some(entry)) => return Ok(shared.hit(&entry, &plan)),
            Ok(None) => {}
            Err(()) => backend_healthy = false,
        }
    }
    let ttl = control.ttl.unwrap_or(shared.default_ttl);
    let store = (!control.no_store && !ttl.is_zero()).then_some(ttl);

    // Streams are not coalesced: each streamed miss goes upstream and is stored when it ends.
    // `no-cache` asks for a fresh answer, so it does not join a flight either.
    if plan.stream || control.no_cache {
        Counters::bump(&shared.counters.misses);
        return call_and_store(&shared, inner, request, &plan.key, store).await;
    }

    // A follower whose leader gave up (was cancelled) joins again, so one of the waiters
    // becomes the new leader instead of all of them going upstream at once.
    let mut miss_counted = false;
    for _ in 0..MAX_FLIGHT_JOINS {
        let rx = match shared.flights.join(&plan.key) {
            Role::Leader(guard) => {
                // A flight for this key may have stored its answer and ended between our
                // lookup and our join: look once more before going upstream.
                if backend_healthy {
                    if let Ok(Some(entry)) = shared.lookup(&plan.key, control, plan.chat).await {
                        let shared_response = (entry.body.clone(), ResponseMetadata::default());
                        guard.finish(Outcome::Done(Arc::new(shared_response)));
                        return Ok(shared.hit(&entry, &plan));
                    }
                }
                if !miss_counted {
                    Counters::bump(&shared.counters.misses);
                }
                return lead(&shared, inner, request, &plan, store, guard).await;
            }
            Role::Follower(rx) => rx,
        };
        if !std::mem::replace(&mut miss_counted, true) {
            Counters::bump(&shared.counters.misses);
        }
        match wait(rx).await {
            Outcome::Done(shared_response) => {
                Counters::bump(&shared.counters.coalesced);
                let (body, metadata) = &*shared_response;
                let mut metadata = metadata.clone();
                metadata.extensions.insert(CacheStatus::Coalesced);
                return Ok(response_from(body, false, plan.include_usage, metadata));
            }
            Outcome::Failed(error) => return Err(error.rebuild()),
            Outcome::Abandoned => continue,
        }
    }
    call_and_store(&shared, inner, request, &plan.key, store).await
}

/// How many times a request joins a flight before going upstream alone.
const MAX_FLIGHT_JOINS: usize = 3;

/// Goes upstream for a flight, stores the answer, then hands it (or the failure) to the
/// followers.
async fn lead<S>(
    shared: &Arc<Shared>,
    inner: S,
    request: LlmRequest,
    plan: &Plan,
    ttl: Option<Duration>,
    guard: LeaderGuard,
) -> Result<LlmResponse, LlmError>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = LlmError> + Send + 'static,
    S::Future: Send + 'static,
{
    match inner.oneshot(request).await {
        Ok(mut response) => {
            response.metadata.extensions.insert(CacheStatus::Miss);
            match cacheable_body(&response.body) {
                Some(body) => {
                    if let Some(ttl) = ttl {
                        shared.store(&plan.key, body.clone(), ttl).await;
                    }
                    guard.finish(Outcome::Done(Arc::new((body, response.metadata.clone()))));
                }
                None => guard.finish(Outcome::Abandoned),
            }
            Ok(response)
        }
        Err(e) => {
            guard.finish(Outcome::Failed(Arc::new(ErrorSnapshot::of(&e))));
            Err(e)
        }
    }
}

/// Goes upstream alone; stores a complete response (or, for a stream, the finished stream) when
/// `ttl` is set.
async fn call_and_store<S>(
    shared: &Arc<Shared>,
    inner: S,
    request: LlmRequest,
    key: &str,
    ttl: Option<Duration>,
) -> Result<LlmResponse, LlmError>
where
    S: Service<LlmRequest, Response = LlmResponse, Error = LlmError> + Send + 'static,
    S::Future: Send + 'static,
{
    let mut response = inner.oneshot(request).await?;
    response.metadata.extensions.insert(CacheStatus::Miss);
    let Some(ttl) = ttl else { return Ok(response) };
    let body = match response.body {
        ResponseBody::ChatStream(stream) => {
            let storing = StoringStream::new(stream, shared.clone(), key.to_owned(), ttl);
            ResponseBody::ChatStream(Box::pin(storing))
        }
        other => {
            if let Some(cached) = cacheable_body(&other) {
                shared.store(key, cached, ttl).await;
            }
            other
        }
    };
    Ok(LlmResponse { body, metadata: response.metadata })
}
