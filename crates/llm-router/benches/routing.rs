//! Routing overhead per request: pick + bookkeeping for a group of 10 deployments.
//!
//! Run: `cargo bench -p llm-router -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use llm_core::{BoxLlmService, ChatMessage, ChatRequest, ChatResponse, LlmRequest, LlmResponse};
use llm_router::{Deployment, Router, RoutingStrategy, TokenPrice};
use tower::{Service, ServiceExt};

fn ready_service() -> BoxLlmService {
    let resp: ChatResponse =
        serde_json::from_value(serde_json::json!({"id": "1", "model": "m", "choices": []})).unwrap();
    BoxLlmService::new(tower::service_fn(move |_req: LlmRequest| {
        let resp = resp.clone();
        async move { Ok::<_, llm_core::LlmError>(LlmResponse::chat(resp)) }
    }))
}

fn router(strategy: RoutingStrategy) -> Router {
    let mut b = Router::builder()
        .seed(1)
        .group_strategy("m", strategy)
        .cost_source(Arc::new(|m: &str| Some(TokenPrice { input: m.len() as f64 * 1e-7, output: 1e-6 })));
    for i in 0..10 {
        let d = Deployment::new(format!("deployment-{i}"), format!("provider/model-{i}"), ready_service())
            .with_weight(1.0 + i as f64)
            .with_rpm(1_000_000_000)
            .with_tpm(u64::MAX / 2);
        b = b.deployment("m", d);
    }
    b.build().unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pick_and_bookkeeping_10_deployments");
    for (name, s) in [
        ("simple-shuffle", RoutingStrategy::SimpleShuffle),
        ("least-busy", RoutingStrategy::LeastBusy),
        ("latency-based-routing", RoutingStrategy::LowestLatency),
        ("usage-based-routing-v2", RoutingStrategy::UsageBased),
        ("cost-based-routing", RoutingStrategy::LowestCost),
        ("power-of-two-choices", RoutingStrategy::PowerOfTwoChoices),
    ] {
        let r = router(s);
        g.bench_function(name, |b| b.iter(|| black_box(r.pick_for_bench(black_box("m")).unwrap())));
    }
    g.finish();

    // The whole service call with an always-ready deployment, including the request copy.
    let mut r = router(RoutingStrategy::SimpleShuffle);
    let req = LlmRequest::chat(ChatRequest::new("m", vec![ChatMessage::user("Hello there")]));
    c.bench_function("full_call_10_deployments", |b| {
        b.iter(|| {
            let fut = r.ready().now_or_never().unwrap().unwrap().call(req.clone());
            black_box(fut.now_or_never().unwrap().unwrap())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
