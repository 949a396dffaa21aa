//! Settings read with LiteLLM's names, tag routing, embeddings, and Debug output.

mod common;

use common::*;
use llm_core::{BoxLlmService, EmbeddingRequest, EmbeddingResponse, LlmRequest, LlmResponse, RequestContext};
use llm_router::{Deployment, RetryPolicy, Router, RouterSettings, RoutingStrategy};
use tower::ServiceExt;

#[test]
fn litellm_router_settings_parse() {
    let s: RouterSettings = serde_json::from_value(serde_json::json!({
        "routing_strategy": "usage-based-routing-v2",
        "routing_strategy_args": {"lowest_latency_buffer": 0.5},
        "num_retries": 4,
        "retry_policy": {
            "AuthenticationErrorRetries": 3,
            "TimeoutErrorRetries": 2,
            "RateLimitErrorRetries": 6,
            "ContentPolicyViolationErrorRetries": 1,
            "InternalServerErrorRetries": 5,
            "BadRequestErrorRetries": 0
        },
        "fallbacks": [{"gpt-4o-mini": ["gpt-4o", "claude-sonnet"]}],
        "context_window_fallbacks": [{"gpt-4o-mini": ["gpt-4.1"]}],
        "content_policy_fallbacks": [{"*": ["claude-sonnet"]}],
        "allowed_fails": 1,
        "cooldown_time": 12.5,
        "timeout": 30,
        "stream_timeout": 5,
        "redis_host": "ignored",
        "enable_pre_call_checks": true
    }))
    .unwrap();
    assert_eq!(s.routing_strategy, RoutingStrategy::UsageBased);
    assert_eq!(s.routing_strategy_args.lowest_latency_buffer, 0.5);
    assert_eq!(s.num_retries, 4);
    assert_eq!(
        s.retry_policy,
        Some(RetryPolicy {
            bad_request: Some(0),
            authentication: Some(3),
            content_policy: Some(1),
            timeout: Some(2),
            rate_limit: Some(6),
            internal_server: Some(5),
            api_connection: None,
        })
    );
    assert_eq!(s.fallbacks[0]["gpt-4o-mini"], ["gpt-4o", "claude-sonnet"]);
    assert_eq!(s.allowed_fails, 1);
    assert_eq!(s.cooldown_time, 12.5);
    assert_eq!(s.timeout, Some(30.0));
    assert!(s.hedging.is_none(), "hedging is off by default");

    for (name, strategy) in [
        ("simple-shuffle", RoutingStrategy::SimpleShuffle),
        ("least-busy", RoutingStrategy::LeastBusy),
        ("latency-based-routing", RoutingStrategy::LowestLatency),
        ("usage-based-routing", RoutingStrategy::UsageBased),
        ("usage-based-routing-v2", RoutingStrategy::UsageBased),
        ("cost-based-routing", RoutingStrategy::LowestCost),
        ("power-of-two-choices", RoutingStrategy::PowerOfTwoChoices),
    ] {
        assert_eq!(serde_json::from_value::<RoutingStrategy>(name.into()).unwrap(), strategy);
    }
    assert!(serde_json::from_value::<RoutingStrategy>("round-robin-ish".into()).is_err());
    let bad: Result<RouterSettings, _> = serde_json::from_value(serde_json::json!({"num_retries": -1}));
    assert!(bad.is_err());
}

#[tokio::test(start_paused = true)]
async fn negative_and_nan_settings_do_not_panic() {
    let s: RouterSettings = serde_json::from_value(serde_json::json!({
        "cooldown_time": -5, "timeout": -1, "retry_after": 1e300, "retry_backoff_base": -2,
        "routing_strategy_args": {"lowest_latency_buffer": -1, "ewma_alpha": 7},
        "hedging": {"delay": -3}
    }))
    .unwrap();
    let router = Router::builder()
        .settings(s)
        .deployment("m", Deployment::new("a", "up", ok("a").service))
        .build()
        .unwrap();
    assert_eq!(text_of(router.oneshot(chat("m")).await.unwrap()), "a");
}

#[tokio::test(start_paused = true)]
async fn tagged_requests_prefer_matching_deployments() {
    let (eu, us) = (ok("eu"), ok("us"));
    let router = Router::builder()
        .seed(5)
        .deployment("m", Deployment::new("eu", "up", eu.service.clone()).with_tag("eu"))
        .deployment("m", Deployment::new("us", "up", us.service.clone()).with_tag("us"))
        .build()
        .unwrap();
    for _ in 0..20 {
        let req = chat("m").with_context(RequestContext::new().with_tag("eu"));
        assert_eq!(text_of(router.clone().oneshot(req).await.unwrap()), "eu");
    }
    assert_eq!(us.count(), 0);
    // No deployment matches "apac": every deployment may serve it.
    for _ in 0..20 {
        let req = chat("m").with_context(RequestContext::new().with_tag("apac"));
        router.clone().oneshot(req).await.unwrap();
    }
    assert!(us.count() > 0 && eu.count() > 20);
}

#[tokio::test(start_paused = true)]
async fn embeddings_are_routed_with_the_deployment_model() {
    let svc = mock(|_, req: LlmRequest| async move {
        let resp: EmbeddingResponse = serde_json::from_value(serde_json::json!({
            "object": "list", "data": [], "model": req.operation.model(),
            "usage": {"prompt_tokens": 3, "total_tokens": 3}
        }))
        .unwrap();
        Ok(LlmResponse::embedding(resp))
    });
    let router = Router::builder()
        .deployment(
            "embed",
            Deployment::new("e", "text-embedding-3-small", svc.service.clone()).with_tpm(100),
        )
        .build()
        .unwrap();
    let resp =
        router.clone().oneshot(LlmRequest::embedding(EmbeddingRequest::new("embed", "hello"))).await.unwrap();
    assert_eq!(resp.into_embedding().unwrap().model, "text-embedding-3-small");
    assert_eq!(router.status("embed").unwrap()[0].minute_usage, (1, 3));
}

#[test]
fn debug_output_never_shows_the_wrapped_services() {
    let secret = String::from("sk-live-very-secret");
    let svc = BoxLlmService::new(tower::service_fn(move |_req: LlmRequest| {
        let key = secret.clone();
        async move { Err::<LlmResponse, _>(llm_core::LlmError::internal(format!("never shown {}", key.len()))) }
    }));
    let d = Deployment::new("a", "openai/gpt-4o", svc).with_rpm(10);
    let router = Router::builder().deployment("m", d.clone()).build().unwrap();
    // A router is itself a service that boxes like any other.
    let _boxed: BoxLlmService = BoxLlmService::new(router.clone());
    for text in
        [format!("{d:?}"), format!("{router:?}"), format!("{:?}", Router::builder().deployment("m", d))]
    {
        assert!(!text.contains("sk-live"), "{text}");
        assert!(text.contains("\"a\""), "{text}");
    }
}
