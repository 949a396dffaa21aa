//! Single-flight: identical concurrent misses share one upstream call.

mod common;

use std::time::Duration;

use common::{Upstream, chat, text, with_control};
use futures_util::future::join_all;
use llm_cache::{CacheLayer, CacheStatus};
use llm_core::{CacheControl, ErrorKind, LlmError, LlmResponse};
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn a_hundred_identical_requests_make_one_upstream_call() {
    let upstream = Upstream::numbered(Duration::from_millis(200));
    let cache = CacheLayer::new();
    let service = cache.layer(upstream.clone());
    let calls = (0..100).map(|_| service.clone().oneshot(chat("Hi")));
    let responses = join_all(calls).await;
    assert_eq!(upstream.calls(), 1);
    let mut coalesced = 0;
    for response in responses {
        let response = response.expect("every request answered");
        if response.metadata.extensions.get::<CacheStatus>() == Some(&CacheStatus::Coalesced) {
            assert!(response.metadata.cache_hit, "a coalesced answer made no upstream call of its own");
            coalesced += 1;
        }
        assert_eq!(text(response), "answer 1");
    }
    assert_eq!(coalesced, 99);
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.stores), (100, 99, 1));
    // Afterwards it is an ordinary hit.
    assert!(service.clone().oneshot(chat("Hi")).await.expect("ok").metadata.cache_hit);
    assert_eq!(upstream.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multithreaded_runtime_too() {
    // The upstream answers only once all 100 requests have missed, so they surely overlap.
    let (release, released) = tokio::sync::watch::channel(false);
    let upstream = Upstream::new(move |_req, n| {
        let mut released = released.clone();
        async move {
            let _ = released.wait_for(|r| *r).await;
            Ok(LlmResponse::chat(common::chat_response(&format!("answer {n}"))))
        }
    });
    let cache = CacheLayer::new();
    let service = cache.layer(upstream.clone());
    let tasks: Vec<_> = (0..100).map(|_| tokio::spawn(service.clone().oneshot(chat("Hi")))).collect();
    while cache.stats().misses < 100 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    release.send_replace(true);
    for task in tasks {
        assert_eq!(text(task.await.expect("joined").expect("ok")), "answer 1");
    }
    assert_eq!(upstream.calls(), 1);
    assert_eq!(cache.stats().coalesced, 99);
}

#[tokio::test(start_paused = true)]
async fn a_failure_reaches_every_waiter_and_is_not_cached() {
    let upstream = Upstream::new(|_req, n| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if n == 1 {
            Err(LlmError::new(
                ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(2)) },
                "slow down",
            )
            .with_provider("openai")
            .with_code("rate_limit_exceeded"))
        } else {
            Ok(LlmResponse::chat(common::chat_response("second try")))
        }
    });
    let cache = CacheLayer::new();
    let service = cache.layer(upstream.clone());
    let results = join_all((0..100).map(|_| service.clone().oneshot(chat("Hi")))).await;
    assert_eq!(upstream.calls(), 1);
    for result in results {
        let error = result.expect_err("every waiter gets the failure");
        assert_eq!(error.kind(), &ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(2)) });
        assert_eq!(error.message(), "slow down");
        assert_eq!(error.provider(), Some("openai"));
        assert_eq!(error.code(), Some("rate_limit_exceeded"));
    }
    assert_eq!(cache.stats().stores, 0);
    assert_eq!(text(service.clone().oneshot(chat("Hi")).await.expect("retried")), "second try");
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn different_requests_are_not_coalesced() {
    let upstream = Upstream::numbered(Duration::from_millis(100));
    let service = CacheLayer::new().layer(upstream.clone());
    let results = join_all((0..10).map(|i| service.clone().oneshot(chat(&format!("q{i}"))))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(upstream.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn no_cache_requests_do_not_join_a_flight() {
    let upstream = Upstream::numbered(Duration::from_millis(100));
    let service = CacheLayer::new().layer(upstream.clone());
    let fresh = with_control(chat("Hi"), CacheControl { no_cache: true, ..Default::default() });
    let (a, b) = tokio::join!(service.clone().oneshot(chat("Hi")), service.clone().oneshot(fresh));
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn waiters_go_upstream_themselves_when_the_leader_is_cancelled() {
    let upstream = Upstream::numbered(Duration::from_millis(100));
    let service = CacheLayer::new().layer(upstream.clone());
    let leader = tokio::spawn(service.clone().oneshot(chat("Hi")));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let follower = tokio::spawn(service.clone().oneshot(chat("Hi")));
    tokio::time::sleep(Duration::from_millis(10)).await;
    leader.abort();
    let answer = follower.await.expect("joined").expect("answered");
    assert_eq!(text(answer), "answer 2");
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn when_the_leader_is_cancelled_one_waiter_takes_over() {
    let upstream = Upstream::numbered(Duration::from_millis(100));
    let service = CacheLayer::new().layer(upstream.clone());
    let leader = tokio::spawn(service.clone().oneshot(chat("Hi")));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let followers: Vec<_> = (0..10).map(|_| tokio::spawn(service.clone().oneshot(chat("Hi")))).collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    leader.abort();
    for follower in followers {
        assert_eq!(text(follower.await.expect("joined").expect("answered")), "answer 2");
    }
    assert_eq!(upstream.calls(), 2, "the cancelled call and one replacement");
}

/// Reports a miss on its first read (as if the entry were stored just after it), then reads
/// through to `memory`.
#[derive(Debug)]
struct LateStore {
    memory: llm_cache::MemoryBackend,
    first: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl llm_cache::CacheBackend for LateStore {
    async fn get(
        &self,
        key: &str,
    ) -> Result<Option<std::sync::Arc<llm_cache::CacheEntry>>, llm_cache::BackendError> {
        if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Ok(None);
        }
        self.memory.get(key).await
    }
    async fn put(
        &self,
        key: &str,
        entry: std::sync::Arc<llm_cache::CacheEntry>,
        ttl: Duration,
    ) -> Result<(), llm_cache::BackendError> {
        self.memory.put(key, entry, ttl).await
    }
    async fn remove(&self, key: &str) -> Result<(), llm_cache::BackendError> {
        self.memory.remove(key).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_leader_looks_again_before_going_upstream() {
    let memory = llm_cache::MemoryBackend::default();
    let upstream = Upstream::numbered(Duration::ZERO);
    // An earlier flight stored the answer...
    CacheLayer::with_backend(memory.clone()).layer(upstream.clone()).oneshot(chat("Hi")).await.expect("ok");
    // ... just after this request's first read missed.
    let backend = LateStore { memory, first: std::sync::atomic::AtomicBool::new(true) };
    let cache = CacheLayer::with_backend(backend);
    let answer = cache.layer(upstream.clone()).oneshot(chat("Hi")).await.expect("ok");
    assert!(answer.metadata.cache_hit);
    assert_eq!(upstream.calls(), 1, "no second upstream call");
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 0));
}
