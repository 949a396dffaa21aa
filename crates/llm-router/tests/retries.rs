//! Retry rules: which kinds, how often, how long to wait, and within the deadline.

mod common;

use std::time::Duration;

use common::*;
use llm_core::{ErrorKind, RequestContext};
use llm_router::{Deployment, Router};
use tokio::time::Instant;
use tower::ServiceExt;

fn single(m: &Mock, json: serde_json::Value) -> Router {
    Router::builder()
        .seed(1)
        .settings(settings(json))
        .deployment("m", Deployment::new("only", "upstream-model", m.service.clone()))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_and_every_attempt_recorded() {
    let m = failing_first(2, ErrorKind::ServiceUnavailable, "ok");
    let router = single(&m, serde_json::json!({"num_retries": 2}));
    let resp = router.oneshot(chat("m")).await.unwrap();
    let attempts = &resp.metadata.attempts;
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0].error, Some(ErrorKind::ServiceUnavailable));
    assert_eq!(attempts[1].error, Some(ErrorKind::ServiceUnavailable));
    assert_eq!(attempts[2].error, None);
    assert!(attempts.iter().all(|a| a.deployment == "only"));
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("only"));
    // Every attempt got a fresh request addressed to the deployment's upstream model.
    assert_eq!(m.models(), ["upstream-model"; 3]);
}

#[tokio::test(start_paused = true)]
async fn some_kinds_are_never_retried() {
    for kind in [
        ErrorKind::Authentication,
        ErrorKind::BadRequest,
        ErrorKind::ContextWindowExceeded,
        ErrorKind::ContentPolicy,
    ] {
        let m = failing(kind.clone());
        let router = single(
            &m,
            serde_json::json!({"num_retries": 5, "retry_policy": {
                "AuthenticationErrorRetries": 5, "BadRequestErrorRetries": 5,
                "ContentPolicyViolationErrorRetries": 5}}),
        );
        let err = router.oneshot(chat("m")).await.unwrap_err();
        assert_eq!(err.kind(), &kind);
        assert_eq!(m.count(), 1, "{kind:?} was retried");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_counts_are_per_kind() {
    let policy = serde_json::json!({"num_retries": 0, "retry_policy": {
        "RateLimitErrorRetries": 1, "TimeoutErrorRetries": 3, "InternalServerErrorRetries": 2}});
    for (kind, calls) in [
        (ErrorKind::RateLimited { retry_after: None }, 2),
        (ErrorKind::Timeout, 4),
        (ErrorKind::Upstream { status: 500 }, 3),
        (ErrorKind::Transport, 1),
    ] {
        let m = failing(kind.clone());
        let err = single(&m, policy.clone()).oneshot(chat("m")).await.unwrap_err();
        assert_eq!(err.kind(), &kind);
        assert_eq!(m.count(), calls, "{kind:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn backoff_is_exponential_with_jitter_and_retry_after_wins() {
    let m = failing_first(3, ErrorKind::Transport, "ok");
    let router = single(&m, serde_json::json!({"num_retries": 3, "retry_backoff_base": 1.0}));
    router.oneshot(chat("m")).await.unwrap();
    let t = m.times();
    let gaps: Vec<Duration> = t.windows(2).map(|w| w[1] - w[0]).collect();
    for (n, gap) in gaps.iter().enumerate() {
        let full = Duration::from_secs(1 << n);
        assert!(*gap >= full / 2 && *gap <= full, "retry {n} waited {gap:?}");
    }

    let m = failing_first(1, ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(7)) }, "ok");
    let router = single(&m, serde_json::json!({"num_retries": 1}));
    router.oneshot(chat("m")).await.unwrap();
    let t = m.times();
    assert_eq!(t[1] - t[0], Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_deadline() {
    let m = failing(ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(7)) });
    let router = single(&m, serde_json::json!({"num_retries": 5}));
    let started = Instant::now();
    let req = chat("m").with_context(RequestContext::new().with_timeout(Duration::from_secs(5)));
    let err = router.oneshot(req).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RateLimited { .. }));
    assert_eq!(m.count(), 1);
    assert_eq!(started.elapsed(), Duration::ZERO, "no pointless wait");
}

#[tokio::test(start_paused = true)]
async fn a_slow_deployment_times_out_and_the_deadline_caps_the_call() {
    let slow = ok_after(Duration::from_secs(30), "late");
    let router = Router::builder()
        .settings(settings(serde_json::json!({"num_retries": 1, "timeout": 2})))
        .deployment("m", Deployment::new("slow", "up", slow.service.clone()))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = router.clone().oneshot(chat("m")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout);
    assert_eq!(slow.count(), 2);
    assert!(started.elapsed() >= Duration::from_secs(4) && started.elapsed() < Duration::from_secs(6));

    let started = Instant::now();
    let req = chat("m").with_context(RequestContext::new().with_timeout(Duration::from_millis(500)));
    let err = router.oneshot(req).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout);
    assert_eq!(started.elapsed(), Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn retries_move_to_another_deployment() {
    let bad = failing(ErrorKind::ServiceUnavailable);
    let good = ok("fine");
    let router = Router::builder()
        .seed(3)
        .settings(settings(serde_json::json!({"num_retries": 1, "allowed_fails": 100})))
        .deployment("m", Deployment::new("bad", "up-bad", bad.service.clone()))
        .deployment("m", Deployment::new("good", "up-good", good.service.clone()))
        .build()
        .unwrap();
    for _ in 0..20 {
        let resp = router.clone().oneshot(chat("m")).await.unwrap();
        assert_eq!(resp.metadata.deployment_id.as_deref(), Some("good"));
        assert!(resp.metadata.attempts.len() <= 2);
    }
    assert!(bad.count() > 0 && bad.count() < 20);
    assert!(bad.models().iter().all(|m| m == "up-bad"));
    assert!(good.models().iter().all(|m| m == "up-good"));
}
