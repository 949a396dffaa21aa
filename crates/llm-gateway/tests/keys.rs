//! Virtual keys, teams and users: the admin API and every refusal, on SQLite and on the local
//! PostgreSQL (127.0.0.1:5432, database `test`; skipped with a message when it is unreachable,
//! unless `LLM_TEST_REQUIRE_SERVICES=1`).

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use llm_core::testkit::{MockResponse, MockServer};
use serde_json::{Value, json};

/// Two groups priced at $0.0001 per output token (free input): 100 output tokens cost $0.01.
pub fn priced_config(url: &str) -> String {
    let mut out = String::from("model_list:\n");
    for name in ["gpt-4o", "other"] {
        out.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {url}/v1\n      \
             api_key: os.environ/UPSTREAM_KEY\n      input_cost_per_token: 0\n      output_cost_per_token: 0.0001\n"
        ));
    }
    out.push_str(&format!("general_settings:\n  master_key: {MASTER_KEY}\n"));
    out
}

async fn upstream() -> MockServer {
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    upstream
}

fn body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 100})
}

async fn admin(gw: &TestGateway, path: &str, body: Value) -> (u16, Value) {
    let resp = gw.post(path, &body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn admin_get(gw: &TestGateway, path: &str) -> (u16, Value) {
    let resp = gw.get(path).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn generate(gw: &TestGateway, body: Value) -> (String, Value) {
    let (status, v) = admin(gw, "/key/generate", body).await;
    assert_eq!(status, 200, "{v}");
    (v["key"].as_str().unwrap().to_owned(), v)
}

async fn call(gw: &TestGateway, key: &str, model: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(&body(model))
        .send()
        .await
        .unwrap()
}

async fn status_of(gw: &TestGateway, key: &str, model: &str) -> (u16, Value) {
    let resp = call(gw, key, model).await;
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn key_lifecycle(db: Option<&str>) {
    let up = upstream().await;
    let gw = TestGateway::start_with_db(&priced_config(&up.url()), Some(db.unwrap_or(":memory:"))).await;
    let (key, v) = generate(
        &gw,
        json!({"key_alias": "ci", "models": ["gpt-4o"], "max_budget": 10.0, "budget_duration": "30d",
               "rpm_limit": 100, "tags": ["ci"], "metadata": {"owner": "qa"}, "duration": "1d"}),
    )
    .await;
    assert!(key.starts_with("sk-") && key.len() >= 35, "{key}");
    let token = v["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert_eq!(v["key_name"], format!("sk-...{}", &key[key.len() - 4..]));
    assert_eq!(v["key_alias"], "ci");
    assert!(v["expires"].as_i64().unwrap() > now() + 86_000);

    // The key works, for its model only.
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);
    // info by key and by token; list.
    let (s, info) = admin_get(&gw, &format!("/key/info?key={key}")).await;
    assert_eq!(s, 200);
    assert_eq!(info["key"], token.as_str());
    assert_eq!(info["info"]["metadata"]["owner"], "qa");
    assert!((info["info"]["spend"].as_f64().unwrap() - 0.01).abs() < 1e-9, "{info}");
    assert!(info.to_string().find(&key).is_none());
    let (s, by_token) = admin_get(&gw, &format!("/key/info?key={token}")).await;
    assert_eq!((s, &by_token["info"]["key_alias"]), (200, &json!("ci")));
    let (_, list) = admin_get(&gw, "/key/list").await;
    assert_eq!(list["keys"], json!([token]));
    let (_, full) = admin_get(&gw, "/key/list?return_full_object=true").await;
    assert_eq!(full["keys"][0]["key_alias"], "ci");

    // update: widen the models.
    let (s, v) = admin(&gw, "/key/update", json!({"key": key, "models": ["gpt-4o", "other"]})).await;
    assert_eq!((s, &v["models"]), (200, &json!(["gpt-4o", "other"])));
    assert_eq!(status_of(&gw, &key, "other").await.0, 200);
    let (s, v) = admin(&gw, "/key/update", json!({"key": key, "rpm_limit": "many"})).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("rpm_limit"), "{v}");

    // block / unblock, effective at once.
    assert_eq!(admin(&gw, "/key/block", json!({"key": key})).await.0, 200);
    let (s, v) = status_of(&gw, &key, "gpt-4o").await;
    assert_eq!(s, 401, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("blocked"));
    assert_eq!(admin(&gw, "/key/unblock", json!({"key": token})).await.0, 200);
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);

    // regenerate: the old key stops working, the new one keeps the settings and the spend.
    let (s, v) = admin(&gw, "/key/regenerate", json!({"key": key})).await;
    assert_eq!(s, 200, "{v}");
    let new_key = v["key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, key);
    assert_eq!(v["key_alias"], "ci");
    assert!((v["spend"].as_f64().unwrap() - 0.03).abs() < 1e-9, "{v}");
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 401);
    assert_eq!(status_of(&gw, &new_key, "gpt-4o").await.0, 200);
    let (s, v) = admin(&gw, &format!("/key/{new_key}/regenerate"), json!({})).await;
    assert_eq!(s, 200);
    let third = v["key"].as_str().unwrap().to_owned();
    assert_eq!(status_of(&gw, &new_key, "gpt-4o").await.0, 401);

    // delete by alias, then by key.
    let (s, v) = admin(&gw, "/key/delete", json!({"key_aliases": ["ci"]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["deleted_keys"].as_array().unwrap().len(), 1);
    assert_eq!(status_of(&gw, &third, "gpt-4o").await.0, 401);
    let (k2, _) = generate(&gw, json!({})).await;
    assert_eq!(admin(&gw, "/key/delete", json!({"keys": [k2]})).await.0, 200);
    assert_eq!(status_of(&gw, &k2, "gpt-4o").await.0, 401);
    assert_eq!(admin(&gw, "/key/delete", json!({"keys": [k2]})).await.0, 404);
    assert_eq!(admin_get(&gw, "/key/info?key=sk-nope").await.0, 404);
    assert_eq!(admin(&gw, "/key/delete", json!({})).await.0, 400);
    // A duplicate alias and a bad duration are refused.
    generate(&gw, json!({"key_alias": "dup"})).await;
    assert_eq!(admin(&gw, "/key/generate", json!({"key_alias": "dup"})).await.0, 400);
    assert_eq!(admin(&gw, "/key/generate", json!({"budget_duration": "soon"})).await.0, 400);
    assert_eq!(admin(&gw, "/key/generate", json!({"team_id": "ghost"})).await.0, 400);
}

async fn teams_and_users(db: Option<&str>) {
    let up = upstream().await;
    let gw = TestGateway::start_with_db(&priced_config(&up.url()), Some(db.unwrap_or(":memory:"))).await;
    let (s, team) = admin(
        &gw,
        "/team/new",
        json!({"team_id": "research", "team_alias": "R&D", "models": ["other"],
               "members_with_roles": [{"user_id": "ann", "role": "user"}]}),
    )
    .await;
    assert_eq!(s, 200, "{team}");
    assert_eq!(team["members"], json!(["ann"]));
    assert_eq!(admin(&gw, "/team/new", json!({"team_id": "research"})).await.0, 400);
    let (s, user) = admin(&gw, "/user/new", json!({"user_id": "ann", "max_budget": 5.0})).await;
    assert_eq!((s, &user["max_budget"]), (200, &json!(5.0)));
    assert_eq!(admin(&gw, "/user/new", json!({"user_id": "ann"})).await.0, 400);

    let (key, _) = generate(&gw, json!({"team_id": "research", "user_id": "ann"})).await;
    // The team allows `other` only.
    let (s, v) = status_of(&gw, &key, "gpt-4o").await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "model_not_allowed");
    assert_eq!(status_of(&gw, &key, "other").await.0, 200);

    // Spend rows carry key, team and user.
    gw.gateway.spend_store().flush().await;
    let (_, logs) = admin_get(&gw, "/spend/logs").await;
    assert_eq!(logs[0]["team"], "research");
    assert_eq!(logs[0]["user"], "ann");
    let (_, info) = admin_get(&gw, &format!("/key/info?key={key}")).await;
    assert_eq!(logs[0]["key_hash"], info["key"]);

    let (s, v) = admin(&gw, "/team/update", json!({"team_id": "research", "models": []})).await;
    assert_eq!((s, &v["team_alias"]), (200, &json!("R&D")));
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);
    let (s, info) = admin_get(&gw, "/team/info?team_id=research").await;
    assert_eq!(s, 200);
    assert_eq!(info["keys"].as_array().unwrap().len(), 1);
    assert!((info["team_info"]["spend"].as_f64().unwrap() - 0.02).abs() < 1e-9, "{info}");
    let (s, list) = admin_get(&gw, "/team/list").await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, 1));
    let (s, info) = admin_get(&gw, "/user/info?user_id=ann").await;
    assert_eq!(s, 200);
    assert!((info["user_info"]["spend"].as_f64().unwrap() - 0.02).abs() < 1e-9, "{info}");
    assert_eq!(info["keys"].as_array().unwrap().len(), 1);
    assert_eq!(admin_get(&gw, "/user/info?user_id=bob").await.0, 404);
    assert_eq!(admin_get(&gw, "/team/info?team_id=nope").await.0, 404);
    assert_eq!(admin(&gw, "/team/update", json!({"team_id": "nope"})).await.0, 404);

    let (s, v) = admin(&gw, "/team/delete", json!({"team_ids": ["research"]})).await;
    assert_eq!((s, &v["deleted_teams"]), (200, &json!(["research"])));
    assert_eq!(admin_get(&gw, "/team/list").await.1, json!([]));
}

async fn admin_api_needs_the_master_key(db: Option<&str>) {
    let up = upstream().await;
    let gw = TestGateway::start_with_db(&priced_config(&up.url()), Some(db.unwrap_or(":memory:"))).await;
    let (key, _) = generate(&gw, json!({})).await;
    let client = reqwest::Client::new();
    for path in ["/key/list", "/team/list", "/spend/logs"] {
        let url = format!("{}{path}", gw.url);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 401, "{path}");
        assert_eq!(client.get(&url).bearer_auth("sk-wrong").send().await.unwrap().status(), 401);
        let resp = client.get(&url).bearer_auth(&key).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{path}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["error"]["type"], "permission_error", "{v}");
    }
    let resp = client.post(format!("{}/key/generate", gw.url)).bearer_auth(&key).json(&json!({})).send();
    assert_eq!(resp.await.unwrap().status(), 403);
}

async fn bad_and_expired_keys_are_401(db: Option<&str>) {
    let up = upstream().await;
    let gw = TestGateway::start_with_db(&priced_config(&up.url()), Some(db.unwrap_or(":memory:"))).await;
    let (s, v) = status_of(&gw, "sk-not-a-key", "gpt-4o").await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let (expired, _) = generate(&gw, json!({"expires": now() - 10})).await;
    let (s, v) = status_of(&gw, &expired, "gpt-4o").await;
    assert_eq!(s, 401);
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"), "{v}");
    // Embeddings and /messages are guarded too.
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/embeddings", gw.url))
        .bearer_auth(&expired)
        .json(&json!({"model": "gpt-4o", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (limited, _) = generate(&gw, json!({"models": ["other"]})).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", &limited)
        .json(&json!({"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    for line in [
        "llm_gateway_refusals_total{reason=\"invalid_key\"} 1",
        "llm_gateway_refusals_total{reason=\"expired_key\"} 2",
        "llm_gateway_refusals_total{reason=\"model_not_allowed\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
    assert_eq!(up.request_count(), 0);
}

async fn budgets_of_key_user_and_team_are_enforced_before_the_call(db: Option<&str>) {
    let up = upstream().await;
    let gw = TestGateway::start_with_db(&priced_config(&up.url()), Some(db.unwrap_or(":memory:"))).await;
    // Each call reserves then spends $0.01: a $0.025 budget admits two.
    let (key, _) = generate(&gw, json!({"max_budget": 0.025})).await;
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);
    let (s, v) = status_of(&gw, &key, "gpt-4o").await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["type"], "budget_exceeded");
    assert_eq!(v["error"]["code"], "budget_exceeded");
    assert_eq!(up.request_count(), 2);

    admin(&gw, "/user/new", json!({"user_id": "u", "max_budget": 0.015})).await;
    let (ukey, _) = generate(&gw, json!({"user_id": "u"})).await;
    assert_eq!(status_of(&gw, &ukey, "gpt-4o").await.0, 200);
    assert_eq!(status_of(&gw, &ukey, "gpt-4o").await.0, 400);

    // The request's `user` field is the caller's word, not an identity: a key without a user of
    // its own can neither spend nor exhaust user `v`'s budget by naming it.
    admin(&gw, "/user/new", json!({"user_id": "v", "max_budget": 0.015})).await;
    let (other, _) = generate(&gw, json!({})).await;
    let mut naming_v = body("gpt-4o");
    naming_v["user"] = json!("v");
    for _ in 0..2 {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(&other)
            .json(&naming_v)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let (vkey, _) = generate(&gw, json!({"user_id": "v"})).await;
    assert_eq!(status_of(&gw, &vkey, "gpt-4o").await.0, 200, "v's budget is untouched");

    admin(&gw, "/team/new", json!({"team_id": "t", "max_budget": 0.015, "budget_duration": "30d"})).await;
    let (t1, _) = generate(&gw, json!({"team_id": "t"})).await;
    let (t2, _) = generate(&gw, json!({"team_id": "t"})).await;
    assert_eq!(status_of(&gw, &t1, "gpt-4o").await.0, 200);
    assert_eq!(status_of(&gw, &t2, "gpt-4o").await.0, 400);
    // Raising the team budget lets it in again.
    admin(&gw, "/team/update", json!({"team_id": "t", "max_budget": 1.0})).await;
    assert_eq!(status_of(&gw, &t2, "gpt-4o").await.0, 200);
    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("llm_gateway_refusals_total{reason=\"budget\"} 3"), "{metrics}");
}

async fn rate_limits_answer_429_with_retry_after(db: Option<&str>) {
    let up = upstream().await;
    let gw = TestGateway::start_with_db(&priced_config(&up.url()), Some(db.unwrap_or(":memory:"))).await;
    let (key, _) = generate(&gw, json!({"rpm_limit": 2})).await;
    assert_eq!(call(&gw, &key, "gpt-4o").await.status(), 200);
    assert_eq!(call(&gw, &key, "gpt-4o").await.status(), 200);
    let resp = call(&gw, &key, "gpt-4o").await;
    assert_eq!(resp.status(), 429);
    let after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&after), "{after}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");

    // Tokens per minute count real usage: the first call uses 1100 tokens.
    let (tkey, _) = generate(&gw, json!({"tpm_limit": 500})).await;
    assert_eq!(call(&gw, &tkey, "gpt-4o").await.status(), 200);
    gw.gateway.spend_store().flush().await;
    let resp = call(&gw, &tkey, "gpt-4o").await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().contains_key("retry-after"));

    // Team rpm is shared by its keys.
    admin(&gw, "/team/new", json!({"team_id": "t", "rpm_limit": 1})).await;
    let (a, _) = generate(&gw, json!({"team_id": "t"})).await;
    let (b, _) = generate(&gw, json!({"team_id": "t"})).await;
    assert_eq!(call(&gw, &a, "gpt-4o").await.status(), 200);
    assert_eq!(call(&gw, &b, "gpt-4o").await.status(), 429);

    // Parallel requests: one at a time.
    up.set_default(
        MockResponse::json(200, openai_chat("gpt-4o", "slow"))
            .with_delay(std::time::Duration::from_millis(300)),
    );
    let (pkey, _) = generate(&gw, json!({"max_parallel_requests": 1})).await;
    let (r1, r2) = tokio::join!(call(&gw, &pkey, "gpt-4o"), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        call(&gw, &pkey, "gpt-4o").await
    });
    assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (200, 429));
    assert_eq!(call(&gw, &pkey, "gpt-4o").await.status(), 200);

    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    for line in ["reason=\"rpm_limit\"} 2", "reason=\"tpm_limit\"} 1", "reason=\"parallel_limit\"} 1"] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
}

async fn concurrent_calls_never_pass_budget_or_rpm(db: Option<&str>) {
    let up = upstream().await;
    let gw = TestGateway::start_with_db(&priced_config(&up.url()), Some(db.unwrap_or(":memory:"))).await;
    let (key, _) = generate(&gw, json!({"max_budget": 0.5, "rpm_limit": 60})).await;
    let calls = (0..400).map(|_| {
        let (url, key) = (gw.url.clone(), key.clone());
        tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&body("gpt-4o"))
                .send()
                .await
                .unwrap();
            resp.status().as_u16()
        })
    });
    let statuses: Vec<u16> =
        futures_util::future::join_all(calls).await.into_iter().map(|r| r.unwrap()).collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    let budget = statuses.iter().filter(|s| **s == 400).count();
    assert_eq!(ok + limited + budget, 400, "{statuses:?}");
    // rpm admits at most 60; the budget, 50 calls of $0.01.
    assert!(ok <= 50, "{ok} admitted");
    assert!(ok >= 40, "{ok} admitted");
    assert!(limited >= 340, "{limited} rate limited");
    assert_eq!(up.request_count(), ok);
    gw.gateway.spend_store().flush().await;
    let (_, logs) = admin_get(&gw, "/spend/logs").await;
    let spent: f64 = logs.as_array().unwrap().iter().filter_map(|r| r["cost_usd"].as_f64()).sum();
    assert!(spent <= 0.5 + 1e-9, "spent {spent}");
    let (_, info) = admin_get(&gw, &format!("/key/info?key={key}")).await;
    assert!(info["info"]["spend"].as_f64().unwrap() <= 0.5 + 1e-9, "{info}");
}

/// `expires` takes Unix seconds, an ISO 8601 datetime (as LiteLLM sends it) or `null`.
async fn expires_takes_unix_seconds_datetimes_and_null(db: Option<&str>) {
    let up = upstream().await;
    let gw = TestGateway::start_with_db(&priced_config(&up.url()), Some(db.unwrap_or(":memory:"))).await;
    let (key, v) = generate(&gw, json!({"expires": "2999-01-01T00:00:00Z"})).await;
    // `/key/info` and the admin answers give Unix seconds.
    assert_eq!(v["expires"], json!(32_472_144_000i64));
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);
    let (s, v) = admin(&gw, "/key/update", json!({"key": key, "expires": "2020-01-01T02:00:00+02:00"})).await;
    assert_eq!((s, &v["expires"]), (200, &json!(1_577_836_800)), "{v}");
    let (s, v) = status_of(&gw, &key, "gpt-4o").await;
    assert_eq!(s, 401, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("expired"), "{v}");
    let (s, v) = admin(&gw, "/key/update", json!({"key": key, "expires": null})).await;
    assert_eq!((s, &v["expires"]), (200, &Value::Null), "{v}");
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);
    let in_an_hour = now() + 3600;
    let (s, v) = admin(&gw, "/key/update", json!({"key": key, "expires": in_an_hour})).await;
    assert_eq!((s, v["expires"].as_i64().unwrap()), (200, in_an_hour));
    let (_, info) = admin_get(&gw, &format!("/key/info?key={key}")).await;
    assert_eq!(info["info"]["expires"], v["expires"]);
    for wrong in [json!("next tuesday"), json!("2026-02-30T00:00:00Z"), json!({"at": 1})] {
        for (path, body) in [
            ("/key/generate", json!({"expires": wrong})),
            ("/key/update", json!({"key": key, "expires": wrong})),
        ] {
            let (s, v) = admin(&gw, path, body).await;
            assert_eq!(s, 400, "{path} {wrong}: {v}");
            assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
            assert!(v["error"]["message"].as_str().unwrap().contains("`expires`"), "{v}");
        }
    }
    // The failed update changed nothing.
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);
}

/// `db`, or a SQLite file in `dir` (so that two gateways can share it).
fn shared_db(db: Option<&str>, dir: &tempfile::TempDir) -> String {
    db.map(str::to_owned).unwrap_or_else(|| dir.path().join("gateway.db").to_string_lossy().into_owned())
}

async fn spend_of(gw: &TestGateway, key: &str) -> f64 {
    let (s, info) = admin_get(gw, &format!("/key/info?key={key}")).await;
    assert_eq!(s, 200, "{info}");
    info["info"]["spend"].as_f64().unwrap()
}

/// Without Redis, two gateways on one database: keys, teams and users made (or changed) on one
/// after the other started are limited on the other too, counting the spend logged so far.
async fn budgets_made_on_one_replica_bind_the_other(db: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let db = shared_db(db, &dir);
    let up = upstream().await;
    let yaml = priced_config(&up.url());
    let one = TestGateway::start_with_db(&yaml, Some(&db)).await;
    let two = TestGateway::start_with_db(&yaml, Some(&db)).await;

    // $0.025 admits two calls of $0.01 (the third's reservation would pass it).
    let (key, _) = generate(&one, json!({"max_budget": 0.025})).await;
    assert_eq!(status_of(&two, &key, "gpt-4o").await.0, 200);
    assert_eq!(status_of(&two, &key, "gpt-4o").await.0, 200);
    let (s, v) = status_of(&two, &key, "gpt-4o").await;
    assert_eq!(s, 400, "gateway two let a key made on gateway one past its budget: {v}");
    assert_eq!(v["error"]["type"], "budget_exceeded");

    admin(&one, "/team/new", json!({"team_id": "late-team", "max_budget": 0.015})).await;
    admin(&one, "/user/new", json!({"user_id": "late-user", "max_budget": 0.015})).await;
    let (tkey, _) = generate(&one, json!({"team_id": "late-team"})).await;
    let (ukey, _) = generate(&one, json!({"user_id": "late-user"})).await;
    for k in [&tkey, &ukey] {
        assert_eq!(status_of(&two, k, "gpt-4o").await.0, 200);
        assert_eq!(status_of(&two, k, "gpt-4o").await.0, 400, "team or user budget not enforced on two");
    }

    // Spend logged by one counts on two when two first sees the key.
    let (seen, _) = generate(&one, json!({"max_budget": 0.025, "budget_duration": "30d"})).await;
    assert_eq!(status_of(&one, &seen, "gpt-4o").await.0, 200);
    one.gateway.spend_store().flush().await;
    assert!((spend_of(&two, &seen).await - 0.01).abs() < 1e-9);
    assert_eq!(status_of(&two, &seen, "gpt-4o").await.0, 200);
    assert_eq!(status_of(&two, &seen, "gpt-4o").await.0, 400);

    // A budget raised on one applies on two once its cached record expires; spend is kept.
    admin(&one, "/key/update", json!({"key": key, "max_budget": 1.0})).await;
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    assert_eq!(status_of(&two, &key, "gpt-4o").await.0, 200);
    assert!((spend_of(&two, &key).await - 0.03).abs() < 1e-9);
    assert_eq!(up.request_count(), 7);
}

/// Spend survives a restart: a key that spent its budget stays refused by a new gateway on the
/// same database, and `/key/info` still shows the spend.
async fn spent_budgets_survive_a_restart(db: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let db = shared_db(db, &dir);
    let up = upstream().await;
    let yaml = priced_config(&up.url());
    let gw = TestGateway::start_with_db(&yaml, Some(&db)).await;
    let (key, _) = generate(&gw, json!({"max_budget": 0.02})).await;
    let (windowed, _) = generate(&gw, json!({"max_budget": 0.02, "budget_duration": "30d"})).await;
    admin(&gw, "/team/new", json!({"team_id": "spenders", "max_budget": 0.01})).await;
    let (member, _) = generate(&gw, json!({"team_id": "spenders"})).await;
    for k in [&key, &key, &windowed, &windowed, &member] {
        assert_eq!(status_of(&gw, k, "gpt-4o").await.0, 200);
    }
    for k in [&key, &windowed, &member] {
        assert_eq!(status_of(&gw, k, "gpt-4o").await.0, 400);
    }
    gw.gateway.spend_store().flush().await;
    gw.stop().await;

    let gw = TestGateway::start_with_db(&yaml, Some(&db)).await;
    for k in [&key, &windowed, &member] {
        let (s, v) = status_of(&gw, k, "gpt-4o").await;
        assert_eq!(s, 400, "a restart forgot the spend: {v}");
        assert_eq!(v["error"]["type"], "budget_exceeded");
    }
    assert!((spend_of(&gw, &key).await - 0.02).abs() < 1e-9);
    assert!((spend_of(&gw, &windowed).await - 0.02).abs() < 1e-9);
    let (_, team) = admin_get(&gw, "/team/info?team_id=spenders").await;
    assert!((team["team_info"]["spend"].as_f64().unwrap() - 0.01).abs() < 1e-9, "{team}");
    // Raising the budget lets the key in again, with its spend kept.
    admin(&gw, "/key/update", json!({"key": key, "max_budget": 0.03})).await;
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 200);
    assert_eq!(status_of(&gw, &key, "gpt-4o").await.0, 400);
    assert_eq!(up.request_count(), 6);
}

const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh PostgreSQL schema (URL and an admin client); `None` when PostgreSQL is absent.
async fn schema_url() -> Option<(String, tokio_postgres::Client)> {
    let (client, conn) = match tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("PostgreSQL at {PG_URL} is required: {e}");
            }
            println!("skipping: PostgreSQL at {PG_URL} is unreachable: {e}");
            return None;
        }
    };
    tokio::spawn(conn);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("llm_gateway_keys_{}_{nanos}", std::process::id());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    Some((format!("{PG_URL}?options=-c%20search_path%3D{schema}"), client))
}

async fn drop_schema(url: &str, client: &tokio_postgres::Client) {
    let schema = url.rsplit("%3D").next().unwrap();
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

macro_rules! on_sqlite_and_postgres {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(None).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some((url, client)) = super::schema_url().await else { return };
                    super::$name(Some(&url)).await;
                    super::drop_schema(&url, &client).await;
                }
            )*
        }
    };
}

on_sqlite_and_postgres!(
    key_lifecycle,
    teams_and_users,
    admin_api_needs_the_master_key,
    bad_and_expired_keys_are_401,
    budgets_of_key_user_and_team_are_enforced_before_the_call,
    rate_limits_answer_429_with_retry_after,
    concurrent_calls_never_pass_budget_or_rpm,
    budgets_made_on_one_replica_bind_the_other,
    spent_budgets_survive_a_restart,
    expires_takes_unix_seconds_datetimes_and_null
);

/// Two gateways on one PostgreSQL database: a key made on one works on the other, and the keys
/// survive a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_keys_in_postgres() {
    let Some((url, client)) = schema_url().await else { return };
    let up = upstream().await;
    let yaml = priced_config(&up.url());
    let one = TestGateway::start_with_db(&yaml, Some(&url)).await;
    let two = TestGateway::start_with_db(&yaml, Some(&url)).await;
    admin(&one, "/team/new", json!({"team_id": "shared"})).await;
    let (key, _) = generate(&one, json!({"team_id": "shared", "models": ["gpt-4o"]})).await;
    assert_eq!(status_of(&two, &key, "gpt-4o").await.0, 200);
    assert_eq!(status_of(&two, &key, "other").await.0, 403);
    let (_, teams) = admin_get(&two, "/team/list").await;
    assert_eq!(teams[0]["team_id"], "shared");
    one.stop().await;
    let three = TestGateway::start_with_db(&yaml, Some(&url)).await;
    assert_eq!(status_of(&three, &key, "gpt-4o").await.0, 200);
    // Stored as a hash only.
    let rows = client
        .query(&format!("SELECT id, data FROM {}.gateway_keys", url.rsplit("%3D").next().unwrap()), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let (id, data): (String, String) = (rows[0].get(0), rows[0].get(1));
    assert_eq!(id.len(), 64);
    assert!(!data.contains(&key) && !id.contains(&key));
    drop_schema(&url, &client).await;
}
