//! Each routing strategy's distribution, with a seeded router and paused time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use llm_router::{Deployment, Router, RoutingStrategy, TokenPrice};
use tower::ServiceExt;

async fn run(router: &Router, model: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let resp = router.clone().oneshot(chat(model)).await.unwrap();
        ids.push(resp.metadata.deployment_id.unwrap());
    }
    ids
}

fn share(ids: &[String], id: &str) -> f64 {
    ids.iter().filter(|i| *i == id).count() as f64 / ids.len() as f64
}

#[tokio::test(start_paused = true)]
async fn simple_shuffle_follows_weights() {
    let router = Router::builder()
        .seed(1)
        .deployment("m", Deployment::new("a", "up-a", ok("a").service).with_weight(1.0))
        .deployment("m", Deployment::new("b", "up-b", ok("b").service).with_weight(3.0))
        .build()
        .unwrap();
    let ids = run(&router, "m", 4000).await;
    let a = share(&ids, "a");
    assert!((0.22..0.28).contains(&a), "a got {a}");
}

#[tokio::test(start_paused = true)]
async fn simple_shuffle_uses_rpm_when_no_weight_and_uniform_without_either() {
    let router = Router::builder()
        .seed(2)
        .deployment("m", Deployment::new("a", "up", ok("a").service).with_rpm(100_000))
        .deployment("m", Deployment::new("b", "up", ok("b").service).with_rpm(400_000))
        .deployment("u", Deployment::new("x", "up", ok("x").service))
        .deployment("u", Deployment::new("y", "up", ok("y").service))
        .build()
        .unwrap();
    let ids = run(&router, "m", 2000).await;
    let a = share(&ids, "a");
    assert!((0.16..0.24).contains(&a), "a got {a}");
    let ids = run(&router, "u", 2000).await;
    let x = share(&ids, "x");
    assert!((0.45..0.55).contains(&x), "x got {x}");
}

#[tokio::test(start_paused = true)]
async fn least_busy_spreads_in_flight_requests() {
    let slow = |t| ok_after(Duration::from_secs(10), t).service;
    let router = Router::builder()
        .seed(3)
        .group_strategy("m", RoutingStrategy::LeastBusy)
        .deployment("m", Deployment::new("a", "up", slow("a")))
        .deployment("m", Deployment::new("b", "up", slow("b")))
        .deployment("m", Deployment::new("c", "up", slow("c")))
        .build()
        .unwrap();
    let handles: Vec<_> = (0..9).map(|_| tokio::spawn(router.clone().oneshot(chat("m")))).collect();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let status = router.status("m").unwrap();
    assert!(status.iter().all(|s| s.in_flight == 3), "{status:?}");
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert!(router.status("m").unwrap().iter().all(|s| s.in_flight == 0));
}

#[tokio::test(start_paused = true)]
async fn lowest_latency_prefers_fast_deployments_and_shares_between_near_equals() {
    let router = Router::builder()
        .seed(4)
        .group_strategy("m", RoutingStrategy::LowestLatency)
        .deployment("m", Deployment::new("fast", "up", ok_after(Duration::from_millis(100), "f").service))
        .deployment("m", Deployment::new("near", "up", ok_after(Duration::from_millis(105), "n").service))
        .deployment("m", Deployment::new("slow", "up", ok_after(Duration::from_millis(300), "s").service))
        .build()
        .unwrap();
    let ids = run(&router, "m", 400).await;
    let slow = ids.iter().filter(|i| *i == "slow").count();
    assert!(slow <= 2, "slow deployment used {slow} times (only to measure it)");
    let (fast, near) = (share(&ids, "fast"), share(&ids, "near"));
    assert!(fast > 0.3 && near > 0.3, "fast {fast}, near {near}");
}

#[tokio::test(start_paused = true)]
async fn lowest_latency_uses_time_to_first_token_for_streams() {
    use futures_util::StreamExt;
    // "a" answers complete calls fast but streams slowly; "b" the other way round.
    let svc = |complete_ms: u64, first_chunk_ms: u64| {
        mock(move |_, req: llm_core::LlmRequest| async move {
            if req.operation.is_stream() {
                tokio::time::sleep(Duration::from_millis(first_chunk_ms)).await;
                let s = futures_util::stream::iter(vec![Ok(chunk("x"))]);
                Ok(llm_core::LlmResponse::chat_stream(Box::pin(s)))
            } else {
                tokio::time::sleep(Duration::from_millis(complete_ms)).await;
                Ok(answer("m", "x", None))
            }
        })
        .service
    };
    let router = Router::builder()
        .seed(5)
        .settings(settings(serde_json::json!({"routing_strategy": "latency-based-routing"})))
        .deployment("m", Deployment::new("a", "up", svc(10, 500)))
        .deployment("m", Deployment::new("b", "up", svc(500, 10)))
        .build()
        .unwrap();
    let mut streamed = Vec::new();
    for _ in 0..50 {
        let resp = router.clone().oneshot(stream_req("m")).await.unwrap();
        streamed.push(resp.metadata.deployment_id.clone().unwrap());
        let _ = resp.into_chat_stream().unwrap().collect::<Vec<_>>().await;
    }
    assert!(share(&streamed, "b") > 0.9, "{streamed:?}");
    let complete = run(&router, "m", 50).await;
    assert!(share(&complete, "a") > 0.9, "{complete:?}");
}

#[tokio::test(start_paused = true)]
async fn usage_based_balances_by_headroom() {
    // Each answer reports 100 tokens; "big" has four times the tpm of "small".
    let with_usage = |t: &'static str| {
        mock(move |_, req| async move {
            Ok(answer(req.operation.model(), t, Some(llm_core::Usage::new(90, 10))))
        })
        .service
    };
    let router = Router::builder()
        .seed(6)
        .group_strategy("m", RoutingStrategy::UsageBased)
        .deployment("m", Deployment::new("small", "up", with_usage("s")).with_tpm(2_000))
        .deployment("m", Deployment::new("big", "up", with_usage("b")).with_tpm(8_000))
        .build()
        .unwrap();
    let ids = run(&router, "m", 50).await;
    let small = ids.iter().filter(|i| *i == "small").count();
    assert!((8..=12).contains(&small), "small got {small} of 50");
}

#[tokio::test(start_paused = true)]
async fn lowest_cost_picks_the_cheapest_known_price() {
    let source = Arc::new(|model: &str| match model {
        "up-pricey" => Some(TokenPrice { input: 5e-6, output: 1.5e-5 }),
        "up-cheap" => Some(TokenPrice { input: 1.5e-7, output: 6e-7 }),
        _ => None,
    });
    let router = Router::builder()
        .seed(7)
        .cost_source(source)
        .group_strategy("m", RoutingStrategy::LowestCost)
        .deployment("m", Deployment::new("pricey", "up-pricey", ok("p").service))
        .deployment("m", Deployment::new("unknown", "up-unknown", ok("u").service))
        .deployment("m", Deployment::new("cheap", "up-cheap", ok("c").service))
        .deployment("m", Deployment::new("own", "up-pricey", ok("o").service).with_cost_per_token(1e-6, 1e-6))
        .build()
        .unwrap();
    let ids = run(&router, "m", 20).await;
    assert!(ids.iter().all(|i| i == "cheap"), "{ids:?}");
}

#[tokio::test(start_paused = true)]
async fn power_of_two_choices_avoids_the_busy_deployment() {
    let hold = ok_after(Duration::from_secs(100), "h");
    let router = Router::builder()
        .seed(8)
        .group_strategy("m", RoutingStrategy::PowerOfTwoChoices)
        .deployment("m", Deployment::new("a", "up", hold.service.clone()))
        .deployment("m", Deployment::new("b", "up", ok("b").service))
        .deployment("m", Deployment::new("c", "up", ok("c").service))
        .build()
        .unwrap();
    let ids = run(&router, "m", 3000).await;
    for id in ["b", "c"] {
        let s = share(&ids, id);
        assert!((0.28..0.39).contains(&s), "{id} got {s}");
    }
    // Keep "a" busy: a request to it never finishes during the test.
    let mut busy = Vec::new();
    let base = hold.count();
    for _ in 0..1000 {
        if hold.count() > base {
            break;
        }
        busy.push(tokio::spawn(router.clone().oneshot(chat("m"))));
        tokio::task::yield_now().await;
    }
    let before = hold.count();
    let ids = run(&router, "m", 300).await;
    assert_eq!(router.status("m").unwrap()[0].in_flight, 1);
    assert!(!ids.iter().any(|i| i == "a"), "the busy deployment was picked");
    assert_eq!(hold.count(), before);
}

#[tokio::test(start_paused = true)]
async fn lower_tiers_only_when_every_higher_one_is_unavailable() {
    let router = Router::builder()
        .seed(9)
        .deployment(
            "m",
            Deployment::new("primary-1", "up", ok("p1").service).with_order(1).with_rpm(2).with_rpm_burst(2),
        )
        .deployment(
            "m",
            Deployment::new("primary-2", "up", ok("p2").service).with_order(1).with_rpm(2).with_rpm_burst(2),
        )
        .deployment("m", Deployment::new("backup", "up", ok("b").service).with_order(2))
        .build()
        .unwrap();
    let ids = run(&router, "m", 6).await;
    assert_eq!(ids.iter().filter(|i| i.starts_with("primary")).count(), 4, "{ids:?}");
    assert_eq!(&ids[4..], ["backup", "backup"]);
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_choices() {
    let build = |seed| {
        Router::builder()
            .seed(seed)
            .deployment("m", Deployment::new("a", "up", ok("a").service))
            .deployment("m", Deployment::new("b", "up", ok("b").service))
            .deployment("m", Deployment::new("c", "up", ok("c").service))
            .build()
            .unwrap()
    };
    let first = run(&build(42), "m", 200).await;
    assert_eq!(first, run(&build(42), "m", 200).await);
    assert_ne!(first, run(&build(43), "m", 200).await);
}
