//! `llm-cache`: a response cache for `llm` services, as a tower layer.
//!
//! [`CacheLayer`] wraps any `Service<LlmRequest, Response = LlmResponse, Error = LlmError>`:
//!
//! - **Keys.** A BLAKE3 hash of the request's canonical JSON (object keys sorted at every depth,
//!   so field order never matters) over what changes the answer — model (or model group),
//!   messages, tools, tool_choice, response_format, sampling parameters, seed, n, stop, token
//!   limits, reasoning_effort, provider-specific extras — and not `user`, `metadata`, `stream` or
//!   `stream_options` ([`DefaultKeyMaker`]). Replace it with any [`KeyMaker`], closures included.
//!   Keys live in namespaces (per layer or per request).
//! - **Backends.** [`MemoryBackend`] (moka, bounded by bytes, a time-to-live per entry) by
//!   default; `RedisBackend` (feature `redis`) for many replicas; [`TieredBackend`] puts memory in
//!   front of Redis. Entries are complete responses with their insertion time ([`CacheEntry`]).
//! - **Per-request controls** from [`llm_core::CacheControl`] (LiteLLM's names): `no_cache` (do
//!   not read), `no_store` (do not write), `ttl`, `s_maxage` (accept only younger entries),
//!   `namespace`. A hit sets `ResponseMetadata::cache_hit`; every response carries a
//!   [`CacheStatus`] in its metadata extensions.
//! - **Streams.** A streamed request is answered from a stored complete response, replayed as
//!   chunks ([`replay_chunks`]). A streamed miss is forwarded chunk by chunk and stored once it
//!   ends with every choice finished — never after an error item, a cut-off end or an early drop
//!   (the store happens when the stream is polled to its end, before it reports that end).
//! - **Single-flight.** Identical non-streamed misses in flight at once share one upstream call;
//!   the others wait and get a copy (`cache_hit = true`, [`CacheStatus::Coalesced`]). A failure is
//!   not stored and reaches every waiter as an equivalent error (same kind, message, provider,
//!   param, code; the source chain is not copied). Streamed requests and `no_cache` requests are
//!   not coalesced: each goes upstream itself. The leader's controls decide whether the shared
//!   answer is stored. Waiters wait as long as the leader (bound them with an outer timeout); if
//!   the leader is cancelled, one waiter takes over.
//! - **Backend failures never fail a request**: they are logged (`tracing`, target `llm_cache`),
//!   counted in [`CacheStats::backend_errors`], and the request goes upstream.
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `redis` | `RedisBackend`, entries in Redis through the `redis` crate's reconnecting connection manager |
//! | `full` | every feature above |
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod backend;
mod clock;
mod entry;
mod flight;
mod key;
mod layer;
mod service;
mod stats;
mod stream;

pub use backend::{BackendError, CacheBackend, DEFAULT_MEMORY_CAPACITY_BYTES, MemoryBackend, TieredBackend};
#[cfg(feature = "redis")]
pub use backend::{DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT, RedisBackend};
pub use clock::{Clock, SystemClock, TokioClock};
pub use entry::{CacheEntry, CachedBody};
pub use key::{
    CacheKey, DEFAULT_IGNORED_CHAT_FIELDS, DEFAULT_IGNORED_EMBEDDING_FIELDS, DefaultKeyMaker, KeyMaker,
    canonical_json, write_canonical,
};
pub use layer::{CacheLayer, DEFAULT_TTL};
pub use service::{CacheService, CacheStatus};
pub use stats::CacheStats;
pub use stream::replay_chunks;
