//! Two gateways (separate in-process replicas: own limiters, own caches) sharing one SQLite key
//! store and the local Redis (127.0.0.1:6379) enforce one requests-per-minute limit; when Redis
//! goes away they keep answering with local limits. Skipped with a message when Redis is
//! unreachable, unless `LLM_TEST_REQUIRE_SERVICES=1`.

mod common;

use common::*;
use llm_core::testkit::{MockResponse, MockServer};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const REDIS: &str = "127.0.0.1:6379";

async fn redis_up() -> bool {
    match TcpStream::connect(REDIS).await {
        Ok(_) => true,
        Err(e) => {
            if std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("Redis at {REDIS} is required: {e}");
            }
            println!("skipping: Redis at {REDIS} is unreachable: {e}");
            false
        }
    }
}

/// A TCP proxy to Redis that the test can cut: dropping the set closes every connection.
async fn proxy() -> (String, JoinSet<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut set = JoinSet::new();
    set.spawn(async move {
        let mut conns = JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            conns.spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(REDIS).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (format!("redis://{addr}"), set)
}

/// gpt-4o at $0.0001 per output token, free input: a call of 100 output tokens costs $0.01.
fn yaml(url: &str, redis: &str) -> String {
    format!(
        "model_list:\n  - model_name: gpt-4o\n    litellm_params:\n      model: openai/gpt-4o\n      \
         api_base: {url}/v1\n      api_key: os.environ/UPSTREAM_KEY\n      input_cost_per_token: 0\n      \
         output_cost_per_token: 0.0001\ngeneral_settings:\n  master_key: {MASTER_KEY}\n  redis_url: \"{redis}\"\n"
    )
}

async fn chat(gw_url: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{gw_url}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 100}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn fallbacks(gw: &TestGateway) -> u64 {
    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    let line = metrics.lines().find(|l| l.starts_with("llm_gateway_redis_fallback_total ")).unwrap();
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_rpm_limit_and_survive_redis_loss() {
    if !redis_up().await {
        return;
    }
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let db = db.to_str().unwrap();
    let (redis_url, cut) = proxy().await;
    let one = TestGateway::start_with_db(&yaml(&upstream.url(), &redis_url), Some(db)).await;
    let two = TestGateway::start_with_db(&yaml(&upstream.url(), &redis_url), Some(db)).await;
    let v: Value = one
        .post("/key/generate", &json!({"rpm_limit": 60, "max_budget": 0.5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = v["key"].as_str().unwrap().to_owned();

    let mut calls = JoinSet::new();
    for i in 0..400 {
        let url = if i % 2 == 0 { one.url.clone() } else { two.url.clone() };
        let key = key.clone();
        calls.spawn(async move { chat(&url, &key).await });
    }
    let statuses: Vec<u16> = calls.join_all().await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count() + statuses.iter().filter(|s| **s == 400).count(),
        400 - ok
    );
    assert_eq!(upstream.request_count(), ok);
    // One budget for both: $0.50 is 50 calls of $0.01 (and one rpm limit of 60). A Redis call
    // that times out on a loaded machine is limited locally instead (each replica still keeps
    // to the limits alone): allow for those.
    let (one_before, two_before) = (fallbacks(&one).await, fallbacks(&two).await);
    let before = one_before + two_before;
    println!("{ok} admitted, {before} fallbacks to local limits");
    assert!(ok <= 50 + before as usize && ok <= 100, "{ok} admitted, {before} fallbacks");
    if before == 0 {
        assert_eq!(ok, 50);
        one.gateway.spend_store().flush().await;
        two.gateway.spend_store().flush().await;
        let logs: Value = one.get("/spend/logs").send().await.unwrap().json().await.unwrap();
        let spent: f64 = logs.as_array().unwrap().iter().filter_map(|r| r["cost_usd"].as_f64()).sum();
        assert!(spent <= 0.5 + 1e-9 && spent > 0.49, "spent {spent}");
        let info: Value =
            two.get(&format!("/key/info?key={key}")).send().await.unwrap().json().await.unwrap();
        assert!((info["info"]["spend"].as_f64().unwrap() - spent).abs() < 1e-9, "{info}");
    }
    let metrics = one.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("llm_gateway_shared_limits 1"), "{metrics}");

    // Redis goes away mid-run: both gateways keep answering, limited locally, and say so.
    drop(cut);
    let v: Value =
        one.post("/key/generate", &json!({"rpm_limit": 1000})).send().await.unwrap().json().await.unwrap();
    let other = v["key"].as_str().unwrap().to_owned();
    for gw in [&one, &two] {
        assert_eq!(chat(&gw.url, &other).await, 200);
    }
    assert!(fallbacks(&one).await > one_before && fallbacks(&two).await > two_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_at_start_leaves_local_limits() {
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    // Nothing listens on port 1.
    let gw = TestGateway::start(&yaml(&upstream.url(), "redis://127.0.0.1:1")).await;
    let v: Value =
        gw.post("/key/generate", &json!({"rpm_limit": 1})).send().await.unwrap().json().await.unwrap();
    let key = v["key"].as_str().unwrap().to_owned();
    assert_eq!(chat(&gw.url, &key).await, 200);
    assert_eq!(chat(&gw.url, &key).await, 429);
    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("reason=\"rpm_limit\"} 1"), "{metrics}");
    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("llm_gateway_shared_limits 0"), "{metrics}");
}
