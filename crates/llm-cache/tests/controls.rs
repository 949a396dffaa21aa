//! Hits, per-request controls, expiry (paused time), namespaces, failures and backend errors.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Upstream, chat, embedding, text, with_control};
use llm_cache::{
    BackendError, CacheBackend, CacheEntry, CacheLayer, CacheStatus, MemoryBackend, TieredBackend, TokioClock,
};
use llm_core::{CacheControl, ErrorKind, LlmError, LlmResponse};
use tower::{Layer, ServiceExt};

fn layer() -> CacheLayer {
    CacheLayer::new().with_clock(TokioClock::new())
}

async fn ask(service: &llm_cache::CacheService<Upstream>, req: llm_core::LlmRequest) -> LlmResponse {
    service.clone().oneshot(req).await.expect("response")
}

#[tokio::test(start_paused = true)]
async fn a_repeated_request_is_a_hit_with_metadata() {
    let upstream = Upstream::numbered(Duration::from_millis(10));
    let cache = layer();
    let service = cache.layer(upstream.clone());
    let first = ask(&service, chat("Hi")).await;
    assert!(!first.metadata.cache_hit);
    assert_eq!(first.metadata.extensions.get::<CacheStatus>(), Some(&CacheStatus::Miss));
    tokio::time::advance(Duration::from_secs(3)).await;
    let second = ask(&service, chat("Hi")).await;
    assert!(second.metadata.cache_hit);
    assert_eq!(
        second.metadata.extensions.get::<CacheStatus>(),
        Some(&CacheStatus::Hit { age: Duration::from_secs(3) })
    );
    assert_eq!(text(second), "answer 1");
    assert_eq!(upstream.calls(), 1);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.stores), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn embeddings_are_cached_too() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let service = layer().layer(upstream.clone());
    ask(&service, embedding("hello")).await;
    let hit = ask(&service, embedding("hello")).await;
    assert!(hit.metadata.cache_hit);
    let body = hit.into_embedding().expect("embedding");
    assert_eq!(body, common::embedding_response(1.0));
    ask(&service, embedding("other")).await;
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn no_cache_skips_reading_but_still_stores() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let service = layer().layer(upstream.clone());
    ask(&service, chat("Hi")).await;
    let fresh =
        ask(&service, with_control(chat("Hi"), CacheControl { no_cache: true, ..Default::default() })).await;
    assert!(!fresh.metadata.cache_hit);
    assert_eq!(text(fresh), "answer 2");
    // The fresh answer replaced the stored one.
    assert_eq!(text(ask(&service, chat("Hi")).await), "answer 2");
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn no_store_does_not_write_but_reads() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let cache = layer();
    let service = cache.layer(upstream.clone());
    let no_store = || with_control(chat("Hi"), CacheControl { no_store: true, ..Default::default() });
    ask(&service, no_store()).await;
    assert_eq!(text(ask(&service, chat("Hi")).await), "answer 2", "nothing was stored");
    let hit = ask(&service, no_store()).await;
    assert!(hit.metadata.cache_hit, "no-store still reads");
    assert_eq!(cache.stats().stores, 1);
}

#[tokio::test(start_paused = true)]
async fn entries_expire_after_the_default_ttl() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let service = layer().with_ttl(Duration::from_secs(60)).layer(upstream.clone());
    ask(&service, chat("Hi")).await;
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(ask(&service, chat("Hi")).await.metadata.cache_hit);
    tokio::time::advance(Duration::from_secs(1)).await;
    let expired = ask(&service, chat("Hi")).await;
    assert!(!expired.metadata.cache_hit);
    assert_eq!(text(expired), "answer 2");
}

#[tokio::test(start_paused = true)]
async fn a_request_ttl_overrides_the_default() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let service = layer().with_ttl(Duration::from_secs(3600)).layer(upstream.clone());
    let short =
        with_control(chat("Hi"), CacheControl { ttl: Some(Duration::from_secs(5)), ..Default::default() });
    ask(&service, short).await;
    tokio::time::advance(Duration::from_millis(4_999)).await;
    assert!(ask(&service, chat("Hi")).await.metadata.cache_hit);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(!ask(&service, chat("Hi")).await.metadata.cache_hit);
    // A zero ttl stores nothing.
    let zero = with_control(chat("Bye"), CacheControl { ttl: Some(Duration::ZERO), ..Default::default() });
    ask(&service, zero).await;
    assert!(!ask(&service, chat("Bye")).await.metadata.cache_hit);
}

#[tokio::test(start_paused = true)]
async fn s_maxage_accepts_only_younger_entries() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let service = layer().layer(upstream.clone());
    ask(&service, chat("Hi")).await;
    tokio::time::advance(Duration::from_secs(30)).await;
    let max = |secs| {
        with_control(
            chat("Hi"),
            CacheControl { s_maxage: Some(Duration::from_secs(secs)), ..Default::default() },
        )
    };
    assert!(ask(&service, max(30)).await.metadata.cache_hit, "exactly 30 s old is accepted");
    let refreshed = ask(&service, max(10)).await;
    assert!(!refreshed.metadata.cache_hit);
    assert_eq!(text(refreshed), "answer 2");
    // The refreshed entry is young again.
    assert!(ask(&service, max(10)).await.metadata.cache_hit);
}

#[tokio::test(start_paused = true)]
async fn namespaces_keep_entries_apart() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let cache = layer();
    let service = cache.layer(upstream.clone());
    let in_ns = |ns: &str| {
        with_control(chat("Hi"), CacheControl { namespace: Some(ns.into()), ..Default::default() })
    };
    assert_eq!(text(ask(&service, in_ns("team-a")).await), "answer 1");
    assert_eq!(text(ask(&service, in_ns("team-b")).await), "answer 2");
    assert_eq!(text(ask(&service, chat("Hi")).await), "answer 3");
    assert_eq!(text(ask(&service, in_ns("team-a")).await), "answer 1");
    assert_eq!(text(ask(&service, in_ns("team-b")).await), "answer 2");
    // A colon in a namespace cannot collide with another namespace's keys.
    assert_eq!(text(ask(&service, in_ns("team-a:x")).await), "answer 4");
    // A layer-wide namespace applies when the request names none, and is separate from none.
    let other = cache.clone().with_namespace("team-a").layer(upstream.clone());
    assert_eq!(text(ask(&other, chat("Hi")).await), "answer 1");
    assert_eq!(upstream.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn failures_are_not_cached() {
    let upstream = Upstream::new(|_req, n| async move {
        if n == 1 {
            Err(LlmError::new(ErrorKind::ServiceUnavailable, "overloaded").with_provider("openai"))
        } else {
            Ok(LlmResponse::chat(common::chat_response("recovered")))
        }
    });
    let cache = layer();
    let service = cache.layer(upstream.clone());
    let err = service.clone().oneshot(chat("Hi")).await.expect_err("fails");
    assert_eq!(err.kind(), &ErrorKind::ServiceUnavailable);
    assert_eq!(text(ask(&service, chat("Hi")).await), "recovered");
    assert!(ask(&service, chat("Hi")).await.metadata.cache_hit);
    assert_eq!(upstream.calls(), 2);
    assert_eq!(cache.stats().stores, 1);
}

/// A backend that is always down.
#[derive(Debug)]
struct DownBackend;

#[async_trait::async_trait]
impl CacheBackend for DownBackend {
    async fn get(&self, _key: &str) -> Result<Option<Arc<CacheEntry>>, BackendError> {
        Err(BackendError::Unavailable("connection refused".into()))
    }
    async fn put(&self, _key: &str, _entry: Arc<CacheEntry>, _ttl: Duration) -> Result<(), BackendError> {
        Err(BackendError::Timeout(Duration::from_millis(500)))
    }
    async fn remove(&self, _key: &str) -> Result<(), BackendError> {
        Err(BackendError::Unavailable("connection refused".into()))
    }
}

#[tokio::test(start_paused = true)]
async fn backend_errors_never_fail_a_request() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let cache = CacheLayer::with_backend(DownBackend);
    let service = cache.layer(upstream.clone());
    assert_eq!(text(ask(&service, chat("Hi")).await), "answer 1");
    assert_eq!(text(ask(&service, chat("Hi")).await), "answer 2");
    let stats = cache.stats();
    assert_eq!(stats.backend_errors, 4, "two failed reads and two failed writes: {stats:?}");
    assert_eq!((stats.hits, stats.stores), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_tiered_cache_serves_from_memory_and_survives_a_remote_outage() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let shared_remote = Arc::new(MemoryBackend::default());
    let clock = TokioClock::new();
    // Replica 1 stores through both levels.
    let replica1 =
        CacheLayer::with_backend(TieredBackend::new(MemoryBackend::default(), shared_remote.clone()))
            .with_clock(clock);
    let s1 = replica1.layer(upstream.clone());
    ask(&s1, chat("Hi")).await;
    // Replica 2 (empty memory) finds it in the remote and fills its memory level.
    let tiered2 =
        Arc::new(TieredBackend::new(MemoryBackend::default(), shared_remote.clone()).with_clock(clock));
    let replica2 = CacheLayer::with_backend(tiered2.clone()).with_clock(clock);
    let s2 = replica2.layer(upstream.clone());
    assert!(ask(&s2, chat("Hi")).await.metadata.cache_hit);
    tiered2.memory().run_pending_tasks().await;
    assert_eq!(tiered2.memory().entry_count(), 1);
    // A tiered cache whose remote is down still answers (from upstream), counting the failures.
    let down =
        CacheLayer::with_backend(TieredBackend::new(MemoryBackend::default(), DownBackend)).with_clock(clock);
    let s3 = down.layer(upstream.clone());
    assert_eq!(text(ask(&s3, chat("Hi")).await), "answer 2");
    // ... and its memory level was written before the remote failed, so the next read hits.
    assert!(ask(&s3, chat("Hi")).await.metadata.cache_hit);
    assert_eq!(down.stats().backend_errors, 2, "{:?}", down.stats());
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test]
async fn the_memory_backend_is_bounded_by_bytes() {
    let memory = MemoryBackend::new(20_000);
    let entry = |i: usize| {
        let body = llm_cache::CachedBody::Chat(common::chat_response(&"x".repeat(1_000 + i)));
        Arc::new(CacheEntry::new(body, 0, Duration::from_secs(60)))
    };
    for i in 0..100 {
        memory.put(&format!("k{i}"), entry(i), Duration::from_secs(60)).await.expect("put");
    }
    memory.run_pending_tasks().await;
    assert!(memory.weighted_size() <= 20_000, "{memory:?}");
    assert!(memory.entry_count() > 5 && memory.entry_count() < 20, "{memory:?}");
}

#[test]
fn the_layer_debug_output_names_its_settings() {
    let cache = CacheLayer::new().with_namespace("tenant");
    let shown = format!("{cache:?}");
    assert!(shown.contains("CacheLayer") && shown.contains("tenant"), "{shown}");
}

#[tokio::test(start_paused = true)]
async fn the_service_can_be_type_erased() {
    let upstream = Upstream::numbered(Duration::ZERO);
    let boxed = llm_core::BoxLlmService::new(CacheLayer::new().layer(upstream.clone()));
    boxed.clone().oneshot(chat("Hi")).await.expect("ok");
    assert!(boxed.oneshot(chat("Hi")).await.expect("ok").metadata.cache_hit);
    assert_eq!(upstream.calls(), 1);
}
