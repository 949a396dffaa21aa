//! Two gateways (separate in-process replicas: own limiters, own caches) sharing one SQLite key
//! store and the local Redis (127.0.0.1:6379) enforce one requests-per-minute limit; when Redis
//! goes away they keep answering with local limits. Router cooldowns are shared too, and a gateway
//! whose Redis is down at start switches to shared state once it comes up. Skipped with a message
//! when Redis is unreachable, unless `LLM_TEST_REQUIRE_SERVICES=1`.

mod common;

use common::*;
use llm_core::testkit::{MockResponse, MockServer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

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
    let (redis_url, cut) = redis_proxy().await;
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
    // that times out on a loaded machine is limited locally instead: each replica's local store
    // counts only the calls it admitted itself, so at most 50 through Redis and 50 per replica.
    let (one_before, two_before) = (fallbacks(&one).await, fallbacks(&two).await);
    let before = one_before + two_before;
    println!("{ok} admitted, {before} fallbacks to local limits");
    assert!(ok <= 50 + before as usize && ok <= 150, "{ok} admitted, {before} fallbacks");
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

async fn metrics_value(gw: &TestGateway, name: &str) -> Option<f64> {
    metric(&gw.get("/metrics").send().await.unwrap().text().await.unwrap(), name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_down_at_start_is_used_once_it_comes_up() {
    if !redis_up().await {
        return;
    }
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let db = db.to_str().unwrap();
    // A free port nobody listens on (yet).
    let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let late = TestGateway::start_with_db(&yaml(&upstream.url(), &format!("redis://{addr}")), Some(db)).await;
    assert_eq!(metrics_value(&late, "llm_gateway_shared_limits").await, Some(0.0));
    // Keys (and their budgets) made while Redis is away.
    let generate = |body: Value| {
        let req = late.post("/key/generate", &body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap()["key"].as_str().unwrap().to_owned() }
    };
    let limited = generate(json!({"rpm_limit": 1})).await;
    let budgeted = generate(json!({"max_budget": 0.02})).await;

    let started = std::time::Instant::now();
    let _redis = redis_proxy_on(TcpListener::bind(addr).await.unwrap());
    while metrics_value(&late, "llm_gateway_shared_limits").await != Some(1.0) {
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "never switched to shared limits");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    println!("shared limits after {:?}", started.elapsed());

    // Now shared with a replica connected from the start: one rpm limit, one budget.
    let (redis_url, _cut) = redis_proxy().await;
    let early = TestGateway::start_with_db(&yaml(&upstream.url(), &redis_url), Some(db)).await;
    assert_eq!(chat(&late.url, &limited).await, 200);
    assert_eq!(chat(&early.url, &limited).await, 429);
    // The budget set while Redis was away reaches Redis with the first call: $0.02 is two calls.
    assert_eq!(chat(&late.url, &budgeted).await, 200);
    assert_eq!(chat(&early.url, &budgeted).await, 200);
    assert_eq!(chat(&early.url, &budgeted).await, 400);
    assert_eq!(chat(&late.url, &budgeted).await, 400);
    assert_eq!(upstream.request_count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_started_on_one_replica_is_kept_by_the_other() {
    if !redis_up().await {
        return;
    }
    let (bad, good) = (MockServer::start().await, MockServer::start().await);
    bad.set_default(MockResponse::json(500, json!({"error": {"message": "down", "type": "server_error"}})));
    good.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    // Deployment ids unique to this run: the cooldowns in Redis are keyed by them.
    let run = uuid::Uuid::new_v4();
    let (bad_id, good_id) = (format!("bad-{run}"), format!("good-{run}"));
    let deployment = |url: &str, id: &str| {
        format!(
            "  - model_name: flaky\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {url}/v1\n      \
             api_key: os.environ/UPSTREAM_KEY\n    model_info:\n      id: {id}\n"
        )
    };
    let (redis_url, _cut) = redis_proxy().await;
    let yaml = format!(
        "model_list:\n{}{}router_settings:\n  num_retries: 0\n  allowed_fails: 0\n  cooldown_time: 30\n\
         general_settings:\n  master_key: {MASTER_KEY}\n  redis_url: \"{redis_url}\"\n",
        deployment(&bad.url(), &bad_id),
        deployment(&good.url(), &good_id)
    );
    let one = TestGateway::start(&yaml).await;
    let two = TestGateway::start(&yaml).await;
    let gauge = format!("llm_deployment_cooldown{{model_group=\"flaky\",deployment=\"{bad_id}\"}}");
    assert_eq!(metrics_value(&two, &gauge).await, Some(0.0));

    // Calls on one until one of them hits the failing deployment, which then cools down.
    for _ in 0..50 {
        if bad.request_count() > 0 {
            break;
        }
        let _ = one.post("/v1/chat/completions", &chat_body("flaky")).send().await.unwrap();
    }
    assert_eq!(bad.request_count(), 1, "one failure is enough (allowed_fails: 0)");
    assert_eq!(metrics_value(&one, &gauge).await, Some(1.0));
    // Two sees it within its sync interval, and sends nothing there.
    let started = std::time::Instant::now();
    while metrics_value(&two, &gauge).await != Some(1.0) {
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "two never saw the cooldown");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    println!("cooldown seen by the other replica after {:?}", started.elapsed());
    for _ in 0..12 {
        let resp = two.post("/v1/chat/completions", &chat_body("flaky")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-llm-deployment"], good_id.as_str());
    }
    assert_eq!(bad.request_count(), 1);
    assert_eq!(metrics_value(&two, "llm_gateway_redis_errors_total").await, Some(0.0));
}

async fn spend(gw: &TestGateway, key: &str) -> f64 {
    let info: Value = gw.get(&format!("/key/info?key={key}")).send().await.unwrap().json().await.unwrap();
    info["info"]["spend"].as_f64().unwrap()
}

/// With Redis configured but unreachable, each replica falls back to its own budget store: it
/// still learns budgets made on another replica after it started, with the spend logged so far,
/// and a restart keeps the spend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_away_budgets_made_elsewhere_and_past_spend_still_bind() {
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let db = db.to_str().unwrap();
    // Nothing listens on port 1.
    let config = yaml(&upstream.url(), "redis://127.0.0.1:1");
    let one = TestGateway::start_with_db(&config, Some(db)).await;
    let two = TestGateway::start_with_db(&config, Some(db)).await;
    let generate = |gw: &TestGateway, body: Value| {
        let req = gw.post("/key/generate", &body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap()["key"].as_str().unwrap().to_owned() }
    };
    // $0.025: two calls of $0.01.
    let key = generate(&one, json!({"max_budget": 0.025})).await;
    assert_eq!(chat(&two.url, &key).await, 200);
    assert_eq!(chat(&two.url, &key).await, 200);
    assert_eq!(chat(&two.url, &key).await, 400, "a key made on one is unlimited on two");
    // Spend logged by one counts on two.
    let seen = generate(&one, json!({"max_budget": 0.025, "budget_duration": "1d"})).await;
    assert_eq!(chat(&one.url, &seen).await, 200);
    one.gateway.spend_store().flush().await;
    assert_eq!(chat(&two.url, &seen).await, 200);
    assert_eq!(chat(&two.url, &seen).await, 400);
    two.gateway.spend_store().flush().await;
    two.stop().await;

    let three = TestGateway::start_with_db(&config, Some(db)).await;
    assert_eq!(chat(&three.url, &key).await, 400);
    assert_eq!(chat(&three.url, &seen).await, 400);
    assert!((spend(&three, &key).await - 0.02).abs() < 1e-9);
    assert!((spend(&three, &seen).await - 0.02).abs() < 1e-9);
    assert!(fallbacks(&three).await > 0);
    assert_eq!(upstream.request_count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_with_different_key_prefixes_keep_their_limits_apart() {
    if !redis_up().await {
        return;
    }
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let db = db.to_str().unwrap();
    let fleet = format!("fleet-{}:", uuid_like());
    let with_prefix = |prefix: &str| {
        yaml(&upstream.url(), "redis://127.0.0.1:6379")
            .replace("general_settings:\n", &format!("general_settings:\n  redis_key_prefix: \"{prefix}\"\n"))
    };
    // One key store, one Redis, two fleets: a key limited to one call a minute gets one call in
    // each fleet, and the Redis keys of the first fleet carry its prefix.
    let one = TestGateway::start_with_db(&with_prefix(&fleet), Some(db)).await;
    let two = TestGateway::start_with_db(&with_prefix(&format!("other-{fleet}")), Some(db)).await;
    let v: Value =
        one.post("/key/generate", &json!({"rpm_limit": 1})).send().await.unwrap().json().await.unwrap();
    let key = v["key"].as_str().unwrap().to_owned();
    assert_eq!(chat(&one.url, &key).await, 200);
    assert_eq!(chat(&one.url, &key).await, 429);
    assert_eq!(chat(&two.url, &key).await, 200);
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{fleet}rpm:*")).query_async(&mut conn).await.unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
}

fn uuid_like() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}
