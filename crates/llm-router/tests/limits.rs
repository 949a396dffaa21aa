//! Per-deployment limits: rpm (governor), tpm from real usage, parallel requests.

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use llm_core::{ErrorKind, LlmResponse, Usage};
use llm_router::{Deployment, Router};
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn a_deployment_at_its_rpm_is_skipped_and_all_at_limit_is_rate_limited() {
    let (a, b) = (ok("a"), ok("b"));
    let router = Router::builder()
        .seed(1)
        .settings(settings(serde_json::json!({"num_retries": 0})))
        .deployment("m", Deployment::new("a", "up", a.service.clone()).with_rpm(3).with_rpm_burst(3))
        .deployment("m", Deployment::new("b", "up", b.service.clone()).with_rpm(2).with_rpm_burst(2))
        .build()
        .unwrap();
    for _ in 0..5 {
        router.clone().oneshot(chat("m")).await.unwrap();
    }
    assert_eq!((a.count(), b.count()), (3, 2));
    let err = router.clone().oneshot(chat("m")).await.unwrap_err();
    let ErrorKind::RateLimited { retry_after: Some(after) } = err.kind() else { panic!("{err:?}") };
    assert!(*after > Duration::ZERO && *after <= Duration::from_secs(60), "{after:?}");
    assert_eq!(a.count() + b.count(), 5, "no deployment was called over its limit");
    // After the wait, one is free again.
    tokio::time::sleep(*after).await;
    router.oneshot(chat("m")).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn rate_limited_requests_wait_and_retry_when_allowed() {
    let a = ok("a");
    let router = Router::builder()
        .settings(settings(serde_json::json!({"num_retries": 1})))
        .deployment("m", Deployment::new("a", "up", a.service.clone()).with_rpm(60).with_rpm_burst(1))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    router.clone().oneshot(chat("m")).await.unwrap();
    router.oneshot(chat("m")).await.unwrap();
    assert_eq!(a.count(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1), "second request waited for the limiter");
}

#[tokio::test(start_paused = true)]
async fn tpm_is_counted_from_real_usage() {
    let heavy = |t: &'static str| {
        mock(move |_, req| async move { Ok(answer(req.operation.model(), t, Some(Usage::new(900, 100)))) })
    };
    let (a, b) = (heavy("a"), heavy("b"));
    let router = Router::builder()
        .settings(settings(serde_json::json!({"num_retries": 0})))
        .deployment("m", Deployment::new("a", "up", a.service.clone()).with_tpm(1_500).with_order(1))
        .deployment("m", Deployment::new("b", "up", b.service.clone()).with_tpm(1_000).with_order(2))
        .build()
        .unwrap();
    // Each call reports 1000 tokens: "a" (1500 tpm) takes a second call, since 1000 plus the small
    // estimate still fits, but not a third; "b" (1000 tpm) takes one.
    for _ in 0..3 {
        router.clone().oneshot(chat("m")).await.unwrap();
    }
    assert_eq!((a.count(), b.count()), (2, 1));
    let err = router.clone().oneshot(chat("m")).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RateLimited { retry_after: Some(_) }), "{err:?}");
    tokio::time::sleep(Duration::from_secs(60)).await;
    router.oneshot(chat("m")).await.unwrap();
    assert_eq!(a.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn stream_usage_settles_tpm() {
    let streaming = mock(|_, _| async {
        let mut last = chunk("");
        last.choices.clear();
        last.usage = Some(Box::new(Usage::new(1_500, 500)));
        let s = futures_util::stream::iter(vec![Ok(chunk("a")), Ok(last)]);
        Ok(LlmResponse::chat_stream(Box::pin(s)))
    });
    let router = Router::builder()
        .deployment("m", Deployment::new("s", "up", streaming.service.clone()).with_tpm(2_000))
        .deployment("m", Deployment::new("other", "up", ok("x").service).with_order(2))
        .build()
        .unwrap();
    let resp = router.clone().oneshot(stream_req("m")).await.unwrap();
    let _ = resp.into_chat_stream().unwrap().collect::<Vec<_>>().await;
    assert_eq!(router.status("m").unwrap()[0].minute_usage, (1, 2_000));
    let resp = router.oneshot(chat("m")).await.unwrap();
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("other"));
}

#[tokio::test(start_paused = true)]
async fn max_parallel_requests_is_respected() {
    let slow = ok_after(Duration::from_secs(10), "slow");
    let other = ok("other");
    let router = Router::builder()
        .deployment("m", Deployment::new("slow", "up", slow.service.clone()).with_max_parallel_requests(2))
        .deployment("m", Deployment::new("other", "up", other.service.clone()).with_order(2))
        .build()
        .unwrap();
    let held: Vec<_> = (0..2).map(|_| tokio::spawn(router.clone().oneshot(chat("m")))).collect();
    tokio::task::yield_now().await;
    let resp = router.clone().oneshot(chat("m")).await.unwrap();
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("other"));
    for h in held {
        h.await.unwrap().unwrap();
    }
    let resp = router.oneshot(chat("m")).await.unwrap();
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("slow"));
}
