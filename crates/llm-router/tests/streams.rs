//! The streaming rule (retry and fall back only before the first chunk) and hedged requests.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use llm_core::{ChatChunk, ErrorKind, LlmError, LlmResponse};
use llm_router::{Deployment, Router};
use tokio::time::Instant;
use tower::ServiceExt;

type Items = Vec<Result<ChatChunk, LlmError>>;

fn streaming(items: fn() -> Items) -> Mock {
    mock(
        move |_, _| async move { Ok(LlmResponse::chat_stream(Box::pin(futures_util::stream::iter(items())))) },
    )
}

fn texts(items: &[Result<ChatChunk, LlmError>]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            Ok(c) => c.choices[0].delta.content.clone().unwrap_or_default(),
            Err(e) => format!("error: {}", e.kind()),
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_stream_failing_before_its_first_chunk_is_retried_elsewhere() {
    let broken = streaming(|| vec![Err(LlmError::new(ErrorKind::ServiceUnavailable, "overloaded"))]);
    let good = streaming(|| vec![Ok(chunk("Hel")), Ok(chunk("lo"))]);
    let router = Router::builder()
        .settings(settings(serde_json::json!({"num_retries": 1, "allowed_fails": 0})))
        .deployment("m", Deployment::new("broken", "up", broken.service.clone()).with_order(1))
        .deployment("m", Deployment::new("good", "up", good.service.clone()).with_order(2))
        .build()
        .unwrap();
    let resp = router.oneshot(stream_req("m")).await.unwrap();
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("good"));
    assert_eq!(resp.metadata.attempts[0].error, Some(ErrorKind::ServiceUnavailable));
    assert!(resp.metadata.time_to_first_token.is_some());
    let items: Items = resp.into_chat_stream().unwrap().collect().await;
    assert_eq!(texts(&items), ["Hel", "lo"]);
    assert_eq!((broken.count(), good.count()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn after_the_first_chunk_an_error_passes_through_as_an_item() {
    let midway = streaming(|| {
        vec![Ok(chunk("Hel")), Err(LlmError::new(ErrorKind::Transport, "reset")), Ok(chunk("never?"))]
    });
    let other = streaming(|| vec![Ok(chunk("other"))]);
    let router = Router::builder()
        .settings(settings(serde_json::json!({"num_retries": 3, "fallbacks": [{"m": ["n"]}]})))
        .deployment("m", Deployment::new("midway", "up", midway.service.clone()))
        .deployment("n", Deployment::new("other", "up", other.service.clone()))
        .build()
        .unwrap();
    let resp = router.clone().oneshot(stream_req("m")).await.unwrap();
    assert_eq!(resp.metadata.attempts.len(), 1);
    let items: Items = resp.into_chat_stream().unwrap().collect().await;
    assert_eq!(texts(&items), ["Hel", "error: transport error", "never?"]);
    assert_eq!((midway.count(), other.count()), (1, 0));
    // The finished stream gave its in-flight slot back.
    assert_eq!(router.status("m").unwrap()[0].in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_without_a_first_chunk_in_time_falls_back() {
    let stuck = mock(|_, _| async {
        let s = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(chunk("late"))
        });
        Ok(LlmResponse::chat_stream(Box::pin(s)))
    });
    let other = streaming(|| vec![Ok(chunk("quick"))]);
    let router = Router::builder()
        .settings(settings(serde_json::json!({
            "num_retries": 0, "stream_timeout": 2, "fallbacks": [{"m": ["n"]}]})))
        .deployment("m", Deployment::new("stuck", "up", stuck.service.clone()))
        .deployment("n", Deployment::new("other", "up", other.service.clone()))
        .build()
        .unwrap();
    let started = Instant::now();
    let resp = router.oneshot(stream_req("m")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(resp.metadata.attempts[0].error, Some(ErrorKind::Timeout));
    let items: Items = resp.into_chat_stream().unwrap().collect().await;
    assert_eq!(texts(&items), ["quick"]);
}

/// A deployment that answers after `delay` and raises `dropped` if its call is cancelled.
fn cancellable(delay: Duration, text: &'static str, dropped: Arc<AtomicBool>) -> Mock {
    struct OnDrop(Arc<AtomicBool>, bool);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            if !self.1 {
                self.0.store(true, Ordering::SeqCst);
            }
        }
    }
    mock(move |_, req| {
        let dropped = dropped.clone();
        async move {
            let mut guard = OnDrop(dropped, false);
            tokio::time::sleep(delay).await;
            guard.1 = true;
            Ok(answer(req.operation.model(), text, None))
        }
    })
}

fn hedged_router(slow: &Mock, fast: &Mock, hedging: serde_json::Value) -> Router {
    Router::builder()
        .settings(settings(serde_json::json!({"hedging": hedging})))
        .deployment("m", Deployment::new("slow", "up", slow.service.clone()).with_order(1))
        .deployment("m", Deployment::new("fast", "up", fast.service.clone()).with_order(2))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_hedge_goes_out_after_the_delay_and_the_first_answer_wins() {
    let slow_dropped = Arc::new(AtomicBool::new(false));
    let slow = cancellable(Duration::from_secs(10), "slow", slow_dropped.clone());
    let fast = cancellable(Duration::from_millis(100), "fast", Arc::default());
    let router = hedged_router(&slow, &fast, serde_json::json!({"delay": 1.0}));
    let started = Instant::now();
    let resp = router.clone().oneshot(chat("m")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(1_100));
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("fast"));
    let trail: Vec<_> =
        resp.metadata.attempts.iter().map(|a| (a.deployment.clone(), a.error.clone())).collect();
    assert_eq!(trail, [("slow".to_owned(), Some(ErrorKind::Cancelled)), ("fast".to_owned(), None)]);
    assert!(slow_dropped.load(Ordering::SeqCst), "the losing call was cancelled");
    assert!(router.status("m").unwrap().iter().all(|s| s.in_flight == 0));
    assert_eq!(text_of(resp), "fast");
}

#[tokio::test(start_paused = true)]
async fn no_hedge_when_the_first_answers_in_time_or_hedging_is_off() {
    let slow = cancellable(Duration::from_millis(500), "slow", Arc::default());
    let fast = ok("fast");
    let router = hedged_router(&slow, &fast, serde_json::json!({"delay": 1.0}));
    assert_eq!(text_of(router.oneshot(chat("m")).await.unwrap()), "slow");
    assert_eq!(fast.count(), 0);

    let slow = cancellable(Duration::from_secs(10), "slow", Arc::default());
    let router = Router::builder()
        .deployment("m", Deployment::new("slow", "up", slow.service.clone()).with_order(1))
        .deployment("m", Deployment::new("fast", "up", fast.service.clone()).with_order(2))
        .build()
        .unwrap();
    assert_eq!(text_of(router.oneshot(chat("m")).await.unwrap()), "slow");
    assert_eq!(fast.count(), 0, "hedging is off by default");
}

#[tokio::test(start_paused = true)]
async fn when_the_first_fails_after_the_hedge_the_hedge_answers() {
    let failing_late = mock(|_, _| async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Err(LlmError::new(ErrorKind::Upstream { status: 500 }, "boom"))
    });
    let fast_enough = ok_after(Duration::from_secs(3), "hedge");
    let router = hedged_router(&failing_late, &fast_enough, serde_json::json!({"delay": 1.0}));
    let started = Instant::now();
    let resp = router.oneshot(chat("m")).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(4));
    let errors: Vec<_> = resp.metadata.attempts.iter().map(|a| a.error.clone()).collect();
    assert_eq!(errors, [Some(ErrorKind::Upstream { status: 500 }), None]);
}

#[tokio::test(start_paused = true)]
async fn adaptive_hedging_waits_for_the_observed_p95() {
    // The primary answers in 100 ms most of the time; every tenth call hangs for 10 s.
    let primary = mock(|n, req| async move {
        let wait = if n % 10 == 9 { 10_000 } else { 100 };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        Ok(answer(req.operation.model(), "primary", None))
    });
    let backup = ok_after(Duration::from_millis(100), "backup");
    let router = hedged_router(&primary, &backup, serde_json::json!({"delay": 5.0, "adaptive": true}));
    let mut slowest = Duration::ZERO;
    for _ in 0..100 {
        let started = Instant::now();
        router.clone().oneshot(chat("m")).await.unwrap();
        slowest = slowest.max(started.elapsed());
    }
    // Before 20 samples the fixed 5 s delay applies; after that the p95 (100 ms) does.
    assert_eq!(slowest, Duration::from_millis(5_100));
    let started = Instant::now();
    for _ in 0..10 {
        router.clone().oneshot(chat("m")).await.unwrap();
    }
    assert!(started.elapsed() <= Duration::from_millis(10 * 200 + 10), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_goes_quiet_ends_with_a_timeout_item() {
    let quiet = mock(|_, _| async {
        let s = futures_util::stream::iter(vec![Ok(chunk("a"))]).chain(futures_util::stream::pending());
        Ok(LlmResponse::chat_stream(Box::pin(s)))
    });
    let router = Router::builder()
        .settings(settings(serde_json::json!({"stream_timeout": 3})))
        .deployment("m", Deployment::new("quiet", "up", quiet.service.clone()))
        .build()
        .unwrap();
    let started = Instant::now();
    let resp = router.clone().oneshot(stream_req("m")).await.unwrap();
    let items: Items = resp.into_chat_stream().unwrap().collect().await;
    assert_eq!(texts(&items), ["a", "error: timed out"]);
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert_eq!(router.status("m").unwrap()[0].in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn mid_stream_failures_count_towards_cooldown() {
    let midway = streaming(|| vec![Ok(chunk("a")), Err(LlmError::new(ErrorKind::Transport, "reset"))]);
    let other = streaming(|| vec![Ok(chunk("b"))]);
    let router = Router::builder()
        .settings(settings(serde_json::json!({"allowed_fails": 1, "cooldown_time": 60})))
        .deployment("m", Deployment::new("midway", "up", midway.service.clone()).with_order(1))
        .deployment("m", Deployment::new("other", "up", other.service.clone()).with_order(2))
        .build()
        .unwrap();
    for _ in 0..2 {
        let resp = router.clone().oneshot(stream_req("m")).await.unwrap();
        let items: Items = resp.into_chat_stream().unwrap().collect().await;
        assert_eq!(texts(&items), ["a", "error: transport error"]);
    }
    let resp = router.oneshot(stream_req("m")).await.unwrap();
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("other"));
}
