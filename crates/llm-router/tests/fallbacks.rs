//! Fallback rules: generic, context-window and content-policy lists, `*`, depth, unknown models.

mod common;

use common::*;
use llm_core::ErrorKind;
use llm_router::{Deployment, Router};
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn a_failing_group_falls_back_in_order() {
    let fast = failing(ErrorKind::ServiceUnavailable);
    let accurate = ok("accurate");
    let router = Router::builder()
        .settings(settings(serde_json::json!({
            "num_retries": 1,
            "fallbacks": [{"fast": ["missing", "accurate"]}],
        })))
        .deployment("fast", Deployment::new("fast-1", "up-fast", fast.service.clone()))
        .deployment("accurate", Deployment::new("acc-1", "up-acc", accurate.service.clone()))
        .build()
        .unwrap();
    let resp = router.oneshot(chat("fast")).await.unwrap();
    let m = &resp.metadata;
    assert_eq!(m.deployment_id.as_deref(), Some("acc-1"));
    let trail: Vec<(&str, Option<ErrorKind>)> =
        m.attempts.iter().map(|a| (a.deployment.as_str(), a.error.clone())).collect();
    assert_eq!(
        trail,
        [
            ("fast-1", Some(ErrorKind::ServiceUnavailable)),
            ("fast-1", Some(ErrorKind::ServiceUnavailable)),
            ("acc-1", None)
        ]
    );
    assert_eq!(accurate.models(), ["up-acc"]);
    assert_eq!(text_of(resp), "accurate");
}

fn three_way(kind: ErrorKind) -> (Router, Mock, Mock, Mock) {
    let (generic, long, safe) = (ok("generic"), ok("long"), ok("safe"));
    let router = Router::builder()
        .settings(settings(serde_json::json!({
            "fallbacks": [{"m": ["generic"]}],
            "context_window_fallbacks": [{"m": ["long"]}],
            "content_policy_fallbacks": [{"m": ["safe"]}],
        })))
        .deployment("m", Deployment::new("m-1", "up", failing(kind).service))
        .deployment("generic", Deployment::new("g", "up", generic.service.clone()))
        .deployment("long", Deployment::new("l", "up", long.service.clone()))
        .deployment("safe", Deployment::new("s", "up", safe.service.clone()))
        .build()
        .unwrap();
    (router, generic, long, safe)
}

#[tokio::test(start_paused = true)]
async fn context_window_and_content_policy_have_their_own_lists() {
    let (router, generic, long, safe) = three_way(ErrorKind::ContextWindowExceeded);
    assert_eq!(text_of(router.oneshot(chat("m")).await.unwrap()), "long");
    assert_eq!((generic.count(), long.count(), safe.count()), (0, 1, 0));

    let (router, generic, long, safe) = three_way(ErrorKind::ContentPolicy);
    assert_eq!(text_of(router.oneshot(chat("m")).await.unwrap()), "safe");
    assert_eq!((generic.count(), long.count(), safe.count()), (0, 0, 1));

    let (router, generic, long, safe) = three_way(ErrorKind::Timeout);
    assert_eq!(text_of(router.oneshot(chat("m")).await.unwrap()), "generic");
    assert_eq!((generic.count(), long.count(), safe.count()), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn bad_requests_do_not_fall_back() {
    let (router, generic, long, safe) = three_way(ErrorKind::BadRequest);
    assert_eq!(router.oneshot(chat("m")).await.unwrap_err().kind(), &ErrorKind::BadRequest);
    assert_eq!(generic.count() + long.count() + safe.count(), 0);
}

#[tokio::test(start_paused = true)]
async fn star_catches_every_group_and_depth_is_bounded() {
    let last = ok("last");
    let router = Router::builder()
        .settings(settings(serde_json::json!({
            "num_retries": 0,
            "max_fallbacks": 2,
            "fallbacks": [{"a": ["b"]}, {"b": ["c"]}, {"c": ["d"]}, {"*": ["d"]}],
        })))
        .deployment("a", Deployment::new("a", "up", failing(ErrorKind::Transport).service))
        .deployment("b", Deployment::new("b", "up", failing(ErrorKind::Transport).service))
        .deployment("c", Deployment::new("c", "up", failing(ErrorKind::Transport).service))
        .deployment("d", Deployment::new("d", "up", last.service.clone()))
        .deployment("x", Deployment::new("x", "up", failing(ErrorKind::Transport).service))
        .build()
        .unwrap();
    // a → b → c is two hops; d would be the third.
    let err = router.clone().oneshot(chat("a")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transport);
    assert_eq!(last.count(), 0);
    // "x" has no list of its own: `*` sends it to d.
    let resp = router.oneshot(chat("x")).await.unwrap();
    assert_eq!(resp.metadata.deployment_id.as_deref(), Some("d"));
    assert_eq!(resp.metadata.attempts.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn default_fallbacks_and_cycles() {
    let z = failing(ErrorKind::Transport);
    let router = Router::builder()
        .settings(settings(serde_json::json!({
            "num_retries": 0,
            "fallbacks": [{"a": ["b"]}, {"b": ["a"]}],
            "default_fallbacks": ["z"],
        })))
        .deployment("a", Deployment::new("a", "up", failing(ErrorKind::Transport).service))
        .deployment("b", Deployment::new("b", "up", failing(ErrorKind::Transport).service))
        .deployment("z", Deployment::new("z", "up", z.service.clone()))
        .deployment("lone", Deployment::new("l", "up", failing(ErrorKind::Transport).service))
        .build()
        .unwrap();
    // A group without a list of its own uses default_fallbacks.
    let resp_err = router.clone().oneshot(chat("lone")).await.unwrap_err();
    assert_eq!(resp_err.kind(), &ErrorKind::Transport);
    assert_eq!(z.count(), 1);
    // a → b → (a again is skipped); b has its own list, so "z" is not reached.
    let err = router.oneshot(chat("a")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transport);
    assert_eq!(z.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn unknown_models_are_not_found_with_the_known_names() {
    let router = Router::builder()
        .deployment("gpt-4o", Deployment::new("a", "up", ok("x").service))
        .deployment("claude", Deployment::new("b", "up", ok("x").service))
        .build()
        .unwrap();
    let err = router.oneshot(chat("gpt-5")).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert!(err.message().contains("gpt-5"), "{err}");
    assert!(err.message().contains("claude, gpt-4o"), "{err}");
}

#[test]
fn duplicate_deployment_ids_are_rejected() {
    let err = Router::builder()
        .deployment("m", Deployment::new("same", "up", ok("x").service))
        .deployment("m", Deployment::new("same", "up", ok("x").service))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("same"));
}
