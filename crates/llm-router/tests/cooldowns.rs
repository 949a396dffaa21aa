//! Cooldown rules: allowed fails within a window, immediate statuses, single deployments,
//! and a shared store.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use llm_core::ErrorKind;
use llm_router::{CooldownStore, Deployment, InMemoryCooldownStore, Router};
use tower::ServiceExt;

fn pair(flaky: &Mock, json: serde_json::Value) -> (Router, Mock) {
    let steady = ok("steady");
    let router = Router::builder()
        .seed(11)
        .settings(settings(json))
        .deployment("m", Deployment::new("flaky", "up", flaky.service.clone()).with_order(1))
        .deployment("m", Deployment::new("steady", "up", steady.service.clone()).with_order(2))
        .build()
        .unwrap();
    (router, steady)
}

#[tokio::test(start_paused = true)]
async fn too_many_failures_cool_a_deployment_down_then_it_returns() {
    let flaky = failing_first(2, ErrorKind::Upstream { status: 500 }, "flaky");
    let (router, steady) =
        pair(&flaky, serde_json::json!({"num_retries": 0, "allowed_fails": 1, "cooldown_time": 30}));
    // Two failures (one more than allowed) take "flaky" out.
    for _ in 0..2 {
        assert!(router.clone().oneshot(chat("m")).await.is_err());
    }
    assert!(router.status("m").unwrap()[0].cooldown_remaining.is_some());
    for _ in 0..5 {
        let resp = router.clone().oneshot(chat("m")).await.unwrap();
        assert_eq!(resp.metadata.deployment_id.as_deref(), Some("steady"));
    }
    assert_eq!((flaky.count(), steady.count()), (2, 5));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let resp = router.oneshot(chat("m")).await.unwrap();
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("flaky"));
}

#[tokio::test(start_paused = true)]
async fn failures_outside_the_window_are_forgotten() {
    let flaky = failing_first(3, ErrorKind::Upstream { status: 500 }, "flaky");
    let (router, _steady) =
        pair(&flaky, serde_json::json!({"num_retries": 0, "allowed_fails": 1, "allowed_fails_window": 10}));
    for _ in 0..3 {
        assert!(router.clone().oneshot(chat("m")).await.is_err());
        tokio::time::sleep(Duration::from_secs(11)).await;
    }
    assert!(router.status("m").unwrap()[0].cooldown_remaining.is_none());
}

#[tokio::test(start_paused = true)]
async fn auth_not_found_and_rate_limits_cool_down_at_once() {
    for kind in [ErrorKind::Authentication, ErrorKind::NotFound, ErrorKind::RateLimited { retry_after: None }]
    {
        let flaky = failing_first(1, kind.clone(), "flaky");
        let (router, steady) =
            pair(&flaky, serde_json::json!({"num_retries": 0, "allowed_fails": 100, "cooldown_time": 5}));
        assert_eq!(router.clone().oneshot(chat("m")).await.unwrap_err().kind(), &kind);
        let resp = router.clone().oneshot(chat("m")).await.unwrap();
        assert_eq!(resp.metadata.deployment_id.as_deref(), Some("steady"), "{kind:?}");
        assert_eq!(steady.count(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn client_errors_do_not_count() {
    let flaky = failing_first(5, ErrorKind::ContextWindowExceeded, "flaky");
    let (router, steady) = pair(&flaky, serde_json::json!({"allowed_fails": 0}));
    for _ in 0..5 {
        assert!(router.clone().oneshot(chat("m")).await.is_err());
    }
    assert!(router.status("m").unwrap()[0].cooldown_remaining.is_none());
    assert_eq!(steady.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_single_deployment_is_never_cooled_down() {
    let only = failing_first(10, ErrorKind::RateLimited { retry_after: None }, "finally");
    let router = Router::builder()
        .settings(settings(serde_json::json!({"num_retries": 0, "allowed_fails": 0})))
        .deployment("m", Deployment::new("only", "up", only.service.clone()))
        .build()
        .unwrap();
    for _ in 0..10 {
        assert!(router.clone().oneshot(chat("m")).await.is_err());
    }
    assert_eq!(text_of(router.oneshot(chat("m")).await.unwrap()), "finally");
    assert_eq!(only.count(), 11);
}

#[tokio::test(start_paused = true)]
async fn the_store_is_shared_and_pluggable() {
    let store = Arc::new(InMemoryCooldownStore::new());
    let build = |flaky: &Mock| {
        Router::builder()
            .settings(settings(serde_json::json!({"num_retries": 0, "cooldown_time": 60})))
            .cooldown_store(store.clone())
            .deployment("m", Deployment::new("shared-id", "up", flaky.service.clone()))
            .deployment("m", Deployment::new("other", "up", ok("other").service))
            .build()
            .unwrap()
    };
    let first = build(&failing(ErrorKind::Authentication));
    let second_flaky = ok("never");
    let second = build(&second_flaky);
    // Fail until the first router has tried "shared-id" once.
    for _ in 0..20 {
        let _ = first.clone().oneshot(chat("m")).await;
        if store.cooldown_remaining("shared-id").is_some() {
            break;
        }
    }
    assert!(store.cooldown_remaining("shared-id").is_some());
    // The second router sees the cooldown and never calls its "shared-id".
    for _ in 0..20 {
        second.clone().oneshot(chat("m")).await.unwrap();
    }
    assert_eq!(second_flaky.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn cooldowns_can_be_disabled() {
    let flaky = failing_first(3, ErrorKind::Authentication, "flaky");
    let (router, steady) = pair(&flaky, serde_json::json!({"num_retries": 0, "disable_cooldowns": true}));
    for _ in 0..3 {
        assert!(router.clone().oneshot(chat("m")).await.is_err());
    }
    assert_eq!(steady.count(), 0);
}
