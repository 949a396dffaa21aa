//! End-to-end tests of the in-process gateway against mock upstreams.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use llm_core::testkit::{MockResponse, MockServer};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_routed_priced_and_logged() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(200, openai_chat("gpt-4o-2024-08-06", "Hello!")));
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;

    let resp = gw.post("/v1/chat/completions", &chat_body("gpt-4o")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let h = resp.headers().clone();
    assert_eq!(h["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello!");
    assert_eq!(h["x-llm-deployment"], "gpt-4o-0");
    assert_eq!(h["x-litellm-model-id"], "gpt-4o-0");
    // 1000 × $2.5/M + 100 × $10/M from the built-in table.
    let cost: f64 = h["x-llm-cost-usd"].to_str().unwrap().parse().unwrap();
    assert!((cost - 0.0035).abs() < 1e-9, "{cost}");
    assert_eq!(h["x-litellm-response-cost"], h["x-llm-cost-usd"]);
    assert!(h["x-llm-overhead-ms"].to_str().unwrap().parse::<f64>().unwrap() >= 0.0);
    let request_id = h["x-request-id"].to_str().unwrap().to_owned();
    assert!(!request_id.is_empty());

    // The gateway's key goes upstream; the caller's does not.
    let sent = &upstream.requests()[0];
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {UPSTREAM_KEY}").as_str()));
    assert_eq!(sent.json()["model"], "gpt-4o");

    gw.gateway.spend_store().flush().await;
    let logs: Value = gw.get("/spend/logs?model=gpt-4o").send().await.unwrap().json().await.unwrap();
    let row = &logs[0];
    assert_eq!(row["request_id"], request_id.as_str());
    assert_eq!(row["deployment"], "gpt-4o-0");
    assert_eq!(row["prompt_tokens"], 1000);
    assert_eq!(row["status"], "success");
    assert!((row["cost_usd"].as_f64().unwrap() - 0.0035).abs() < 1e-9);
    let key_hash = row["key_hash"].as_str().unwrap();
    assert_eq!(key_hash.len(), 64);
    assert!(!logs.to_string().contains(MASTER_KEY) && !logs.to_string().contains(UPSTREAM_KEY));

    let report: Value = gw.get("/spend/report?group_by=key").send().await.unwrap().json().await.unwrap();
    assert_eq!(report[0]["group"], key_hash);
    assert_eq!(report[0]["requests"], 1);
    let filtered: Value =
        gw.get("/spend/logs?key=nobody&start=2000-01-01").send().await.unwrap().json().await.unwrap();
    assert_eq!(filtered, json!([]));

    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("llm_requests_total{model_group=\"gpt-4o\",deployment=\"gpt-4o-0\""),
        "{metrics}"
    );
    assert!(metrics.contains("llm_gateway_overhead_seconds_count{deployment=\"gpt-4o-0\"}"), "{metrics}");
    assert!(!metrics.contains(UPSTREAM_KEY));
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_prices_and_model_info_ids_are_used() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(200, openai_chat("whatever", "ok")));
    let yaml = format!(
        "model_list:\n  - model_name: cheap\n    litellm_params:\n      model: openai/my-finetune\n      api_base: {}/v1\n      api_key: k\n      input_cost_per_token: 0.001\n      output_cost_per_token: 0.002\n    model_info:\n      id: ft-1\n",
        upstream.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let resp = gw.post("/chat/completions", &chat_body("cheap")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-llm-deployment"], "ft-1");
    let cost: f64 = resp.headers()["x-llm-cost-usd"].to_str().unwrap().parse().unwrap();
    assert!((cost - (1000.0 * 0.001 + 100.0 * 0.002)).abs() < 1e-9, "{cost}");
    assert_eq!(upstream.requests()[0].json()["model"], "my-finetune");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_chunks_arrive_as_they_are_generated() {
    let upstream = MockServer::start().await;
    let interval = Duration::from_millis(250);
    upstream.push(
        MockResponse::sse_json(&openai_chunks("gpt-4o", &["Hel", "lo", "!"]), true)
            .with_chunk_interval(interval),
    );
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let started = Instant::now();
    let resp = gw.post("/chat/completions", &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-llm-deployment"], "gpt-4o-0");
    let mut stream = resp.bytes_stream();
    let mut text = String::new();
    let mut first_at = None;
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.unwrap();
        if first_at.is_none() && String::from_utf8_lossy(&bytes).contains("Hel") {
            first_at = Some(started.elapsed());
        }
        text.push_str(&String::from_utf8_lossy(&bytes));
    }
    let total = started.elapsed();
    let first_at = first_at.expect("first chunk");
    // 5 upstream chunks 250 ms apart: the first must reach us long before the last.
    assert!(total >= interval * 4, "{total:?}");
    assert!(first_at + interval * 2 <= total, "first chunk at {first_at:?} of {total:?}");
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let content: String = data[..data.len() - 1]
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(content, "Hello!");

    gw.gateway.spend_store().flush().await;
    let logs: Value = gw.get("/spend/logs").send().await.unwrap().json().await.unwrap();
    assert_eq!(logs[0]["stream"], true);
    assert_eq!(logs[0]["completion_tokens"], 3);
    // The first chunk left the upstream 250 ms after the head; the row says how long it took.
    let ttft = logs[0]["ttft_ms"].as_u64().expect("ttft_ms is recorded for streams");
    assert!(ttft >= 200 && ttft <= logs[0]["latency_ms"].as_u64().unwrap(), "{ttft}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mid_stream_failure_sends_an_error_event_and_closes() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::sse_json(&openai_chunks("gpt-4o", &["a", "b", "c"]), true).cut_after(2));
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let text = gw.post("/chat/completions", &body).send().await.unwrap().text().await.unwrap();
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{text}");
    assert!(!text.contains("[DONE]"));
    gw.gateway.spend_store().flush().await;
    let logs: Value = gw.get("/spend/logs").send().await.unwrap().json().await.unwrap();
    assert_eq!(logs[0]["status"], "stream_failed");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_and_models() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(
        200,
        json!({"object": "list", "model": "text-embedding-3-small",
               "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
               "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
    ));
    let gw =
        TestGateway::start(&config(&[("embed", &upstream.url()), ("gpt-4o", &upstream.url())], "")).await;
    let resp = gw.post("/v1/embeddings", &json!({"model": "embed", "input": "hello"})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"][0]["embedding"], json!([0.1, 0.2]));

    for path in ["/models", "/v1/models"] {
        let text = gw.get(path).send().await.unwrap().text().await.unwrap();
        let models: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(models["object"], "list");
        let ids: Vec<&str> =
            models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["embed", "gpt-4o"]);
        assert!(!text.contains(UPSTREAM_KEY) && !text.contains("127.0.0.1"), "{text}");
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falls_back_from_a_failing_group_to_a_healthy_one() {
    let bad = MockServer::start().await;
    bad.set_default(MockResponse::json(
        503,
        json!({"error": {"message": "overloaded", "type": "server_error"}}),
    ));
    let good = MockServer::start().await;
    good.push(MockResponse::json(200, openai_chat("gpt-4o", "from good")));
    let extra = "router_settings:\n  num_retries: 0\n  fallbacks: [{\"bad\": [\"good\"]}]\n";
    let gw = TestGateway::start(&config(&[("bad", &bad.url()), ("good", &good.url())], extra)).await;
    let resp = gw.post("/chat/completions", &chat_body("bad")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-llm-deployment"], "good-0");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "from good");
    assert_eq!(bad.request_count(), 1);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_deployments_answer_in_openai_shape() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(200, anthropic_message("Bonjour")));
    let yaml = format!(
        "model_list:\n  - model_name: claude\n    litellm_params:\n      model: anthropic/claude-sonnet-4-5\n      api_base: {}\n      api_key: os.environ/UPSTREAM_KEY\n",
        upstream.url()
    );
    let gw = TestGateway::start(&yaml).await;
    let resp = gw.post("/chat/completions", &chat_body("claude")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Bonjour");
    let sent = &upstream.requests()[0];
    assert!(sent.path.ends_with("/v1/messages"), "{}", sent.path);
    assert_eq!(sent.header("x-api-key"), Some(UPSTREAM_KEY));
    assert_eq!(sent.json()["model"], "claude-sonnet-4-5");
    gw.stop().await;
}

async fn error_of(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "not an OpenAI error body: {body}");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_shaped_errors() {
    let upstream = MockServer::start().await;
    let extra = "general_settings:\n  max_request_size_mb: 0.001\n";
    let yaml = config(&[("gpt-4o", &upstream.url())], "").replace("general_settings:\n", extra);
    let gw = TestGateway::start(&yaml).await;
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(MASTER_KEY)
            .header("content-type", "application/json")
            .body(body)
    };

    let (status, body) = error_of(post("{not json").send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_json");

    let (status, body) = error_of(post(r#"{"model": "gpt-4o", "messages": 5}"#).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "messages");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let (status, body) = error_of(post(r#"{"messages": []}"#).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("model"), "{body}");

    let (status, body) = error_of(
        post(r#"{"model": "nope", "messages": [{"role": "user", "content": "x"}]}"#).send().await.unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].as_str().unwrap().contains("gpt-4o"), "{body}");

    let big = format!(
        r#"{{"model": "gpt-4o", "messages": [{{"role": "user", "content": "{}"}}]}}"#,
        "x".repeat(4096)
    );
    let resp = client
        .post(format!("{}/chat/completions", gw.url))
        .bearer_auth(MASTER_KEY)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(resp).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "request_too_large");

    let resp = gw.get("/no/such/route").send().await.unwrap();
    assert_eq!(error_of(resp).await.0, 404);
    assert_eq!(upstream.request_count(), 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_keep_their_status_and_are_logged() {
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(
        429,
        json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
    ));
    let extra = "router_settings:\n  num_retries: 0\n  disable_cooldowns: true\n";
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], extra)).await;
    let (status, body) =
        error_of(gw.post("/chat/completions", &chat_body("gpt-4o")).send().await.unwrap()).await;
    assert_eq!(status, 429, "{body}");
    assert!(!body.to_string().contains(UPSTREAM_KEY));
    gw.gateway.spend_store().flush().await;
    let logs: Value = gw.get("/spend/logs").send().await.unwrap().json().await.unwrap();
    assert_eq!(logs[0]["status"], "failed");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_need_the_master_key() {
    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/chat/completions", gw.url);

    let (status, body) = error_of(client.post(&url).json(&chat_body("gpt-4o")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], llm_core::ErrorKind::Authentication.openai_type());
    let wrong = client.post(&url).bearer_auth("sk-wrong").json(&chat_body("gpt-4o")).send().await.unwrap();
    let (status, body) = error_of(wrong).await;
    assert_eq!(status, 401);
    assert!(!body.to_string().contains("sk-wrong") && !body.to_string().contains(MASTER_KEY));
    let models = client.get(format!("{}/models", gw.url)).send().await.unwrap();
    assert_eq!(models.status(), 401);

    let ok =
        client.post(&url).header("x-api-key", MASTER_KEY).json(&chat_body("gpt-4o")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    for path in ["/health/liveliness", "/health/readiness", "/metrics"] {
        assert_eq!(client.get(format!("{}{path}", gw.url)).send().await.unwrap().status(), 200, "{path}");
    }
    assert_eq!(upstream.request_count(), 1);
    gw.stop().await;
}

/// Every API route answers with and without `/v1`, and each of them wants the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_routes_answer_with_and_without_v1_and_all_want_the_key() {
    let upstream = MockServer::start().await;
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;
    let client = reqwest::Client::new();
    for prefix in ["", "/v1"] {
        for (path, post) in
            [("/chat/completions", true), ("/embeddings", true), ("/messages", true), ("/models", false)]
        {
            let url = format!("{}{prefix}{path}", gw.url);
            let anonymous = if post { client.post(&url).json(&json!({})) } else { client.get(&url) };
            assert_eq!(anonymous.send().await.unwrap().status(), 401, "{prefix}{path}");
            // With the key, a route that exists answers anything but 404 (an empty body is a
            // 400 or 422; `/models` is 200).
            let keyed = if post {
                gw.post(&format!("{prefix}{path}"), &json!({}))
            } else {
                gw.get(&format!("{prefix}{path}"))
            };
            let status = keyed.send().await.unwrap().status();
            assert_ne!(status, 404, "{prefix}{path}");
            assert!(if post { status.is_client_error() } else { status == 200 }, "{prefix}{path}: {status}");
        }
    }
    assert_eq!(gw.post("/v2/chat/completions", &json!({})).send().await.unwrap().status(), 404);
    assert_eq!(upstream.request_count(), 0);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_master_key_everyone_is_let_in() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    let yaml =
        config(&[("gpt-4o", &upstream.url())], "").replace(&format!("  master_key: {MASTER_KEY}\n"), "");
    let gw = TestGateway::start(&yaml).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", gw.url))
        .json(&chat_body("gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_answers_repeats_without_upstream() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(200, openai_chat("gpt-4o", "cached answer")));
    let extra = "litellm_settings:\n  cache: true\n  cache_params: {type: local, ttl: 60}\n";
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], extra)).await;
    for _ in 0..2 {
        let resp = gw.post("/chat/completions", &chat_body("gpt-4o")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "cached answer");
    }
    assert_eq!(upstream.request_count(), 1);
    gw.gateway.spend_store().flush().await;
    let logs: Value = gw.get("/spend/logs").send().await.unwrap().json().await.unwrap();
    assert_eq!(logs[0]["cache_hit"], true);
    assert_eq!(logs[1]["cache_hit"], false);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_in_flight_requests_and_flushes_spend() {
    let upstream = MockServer::start().await;
    upstream
        .push(MockResponse::json(200, openai_chat("gpt-4o", "late")).with_delay(Duration::from_millis(400)));
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;
    let store = gw.gateway.spend_store().clone();
    let pending = tokio::spawn(gw.post("/chat/completions", &chat_body("gpt-4o")).send());
    // Wait until the request is upstream, then stop.
    while upstream.request_count() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.stop().await;
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let rows = store.logs(Default::default()).await.unwrap();
    assert_eq!(rows.len(), 1, "the spend row was written before serve returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_endpoint_speaks_anthropic_to_any_model() {
    let upstream = MockServer::start().await;
    let call = json!({"id": "chatcmpl-2", "object": "chat.completion", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}});
    upstream.push(MockResponse::json(200, call));
    upstream.push(MockResponse::sse_json(&openai_chunks("gpt-4o", &["Sun", "ny"]), true));
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;
    let client = reqwest::Client::new();
    let body = json!({"model": "gpt-4o", "max_tokens": 64, "system": "Be brief",
        "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    let resp = client
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", MASTER_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-llm-deployment"], "gpt-4o-0");
    let msg: Value = resp.json().await.unwrap();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(msg["content"][0]["type"], "tool_use");
    assert_eq!(msg["content"][0]["input"], json!({"city": "Paris"}));
    assert_eq!(msg["usage"]["output_tokens"], 7);
    let sent = upstream.requests()[0].json();
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": "Be brief"}));
    assert_eq!(sent["tools"][0]["function"]["name"], "weather");

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let text = client
        .post(format!("{}/messages", gw.url))
        .header("x-api-key", MASTER_KEY)
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(events.first(), Some(&"message_start"));
    assert_eq!(&events[events.len() - 2..], ["message_delta", "message_stop"]);
    let deltas: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter(|v| v["type"] == "content_block_delta")
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(deltas, "Sunny");

    // Errors come back in Anthropic's shape.
    let resp = client.post(format!("{}/messages", gw.url)).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client
        .post(format!("{}/messages", gw.url))
        .header("x-api-key", MASTER_KEY)
        .json(&json!({"model": "nope", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["type"], "error");
    assert_eq!(err["error"]["type"], "not_found_error");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_pass_through() {
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(
        200,
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}),
    ));
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;
    let mut body = chat_body("gpt-4o");
    body["tools"] =
        json!([{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]);
    body["tool_choice"] = json!("required");
    let resp: Value = gw.post("/chat/completions", &body).send().await.unwrap().json().await.unwrap();
    let call = &resp["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "weather");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(resp["choices"][0]["finish_reason"], "tool_calls");
    let sent = upstream.requests()[0].json();
    assert_eq!(sent["tools"][0]["function"]["name"], "weather");
    assert_eq!(sent["tool_choice"], "required");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_deployment_cools_down() {
    let bad = MockServer::start().await;
    bad.set_default(MockResponse::json(503, json!({"error": {"message": "down", "type": "server_error"}})));
    let good = MockServer::start().await;
    good.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    let yaml = format!(
        "model_list:
  - model_name: gpt-4o
    litellm_params: {{model: openai/gpt-4o, api_base: {}/v1, api_key: k, order: 1}}
  - model_name: gpt-4o
    litellm_params: {{model: openai/gpt-4o, api_base: {}/v1, api_key: k, order: 2}}
router_settings: {{num_retries: 1, allowed_fails: 0, cooldown_time: 600, retry_backoff_base: 0.001}}
",
        bad.url(),
        good.url()
    );
    let gw = TestGateway::start(&yaml).await;
    for _ in 0..5 {
        let resp = gw.post("/chat/completions", &chat_body("gpt-4o")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-llm-deployment"], "gpt-4o-1");
    }
    assert_eq!(bad.request_count(), 1, "the failing deployment is out after its first failure");
    assert_eq!(good.request_count(), 5);
    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("llm_deployment_cooldown{model_group=\"gpt-4o\",deployment=\"gpt-4o-0\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("llm_deployment_cooldown{model_group=\"gpt-4o\",deployment=\"gpt-4o-1\"} 0"),
        "{metrics}"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_mid_stream_cancels_and_logs_the_tokens_seen() {
    let upstream = MockServer::start().await;
    let words: Vec<String> = (0..40).map(|i| format!("w{i} ")).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    upstream.push(
        MockResponse::sse_json(&openai_chunks("gpt-4o", &words), true)
            .with_chunk_interval(Duration::from_millis(50)),
    );
    let gw = TestGateway::start(&config(&[("gpt-4o", &upstream.url())], "")).await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let resp = gw.post("/chat/completions", &body).send().await.unwrap();
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("w0"));
    drop(stream);
    // The gateway notices on its next write; the abandoned stream is logged.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        gw.gateway.spend_store().flush().await;
        let logs: Value = gw.get("/spend/logs").send().await.unwrap().json().await.unwrap();
        if let Some(row) = logs.as_array().and_then(|a| a.first()) {
            assert_eq!(row["status"], "stream_abandoned");
            break;
        }
        assert!(Instant::now() < deadline, "no spend row for the abandoned stream");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_first_token_gets_keep_alive_comments() {
    let upstream = MockServer::start().await;
    upstream.push(
        MockResponse::sse_json(&openai_chunks("gpt-4o", &["late"]), true)
            .with_delay(Duration::from_millis(700)),
    );
    let yaml = config(&[("gpt-4o", &upstream.url())], "")
        .replace("general_settings:\n", "general_settings:\n  stream_keepalive_seconds: 0.2\n");
    let gw = TestGateway::start(&yaml).await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = json!(true);
    let started = Instant::now();
    let resp = gw.post("/chat/completions", &body).send().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(600), "headers waited for the first token");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with(": keep-alive\n\n"), "{text}");
    assert!(text.contains("late") && text.ends_with("data: [DONE]\n\n"), "{text}");
    gw.stop().await;
}

/// `cache_params.type: redis`: two gateways share cached answers through the local Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cache_is_shared_by_replicas() {
    let reachable =
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect("127.0.0.1:6379"))
            .await
            .is_ok_and(|c| c.is_ok());
    if !reachable {
        assert!(
            std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "Redis on 127.0.0.1:6379 is required (LLM_TEST_REQUIRE_SERVICES=1)"
        );
        eprintln!("SKIPPED redis_cache_is_shared_by_replicas: no Redis on 127.0.0.1:6379");
        return;
    }
    let upstream = MockServer::start().await;
    upstream.push(MockResponse::json(200, openai_chat("gpt-4o", "shared answer")));
    // A namespace of its own, so earlier runs' entries never answer this one.
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let ns = format!("gw-test-{}-{nanos}", std::process::id());
    let extra = format!(
        "litellm_settings:\n  cache: true\n  cache_params: {{type: redis, host: 127.0.0.1, port: 6379, ttl: 60, namespace: {ns}}}\n"
    );
    let cfg = config(&[("gpt-4o", &upstream.url())], &extra);
    let first = TestGateway::start(&cfg).await;
    let second = TestGateway::start(&cfg).await;
    for gw in [&first, &second] {
        let body: Value =
            gw.post("/chat/completions", &chat_body("gpt-4o")).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "shared answer");
    }
    assert_eq!(upstream.request_count(), 1, "the second replica answered from Redis");
    first.stop().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_global_parallel_limit_calls_are_refused_at_once() {
    let upstream = MockServer::start().await;
    upstream.set_default(
        MockResponse::json(200, openai_chat("gpt-4o", "slow")).with_delay(Duration::from_millis(400)),
    );
    let yaml = config(&[("gpt-4o", &upstream.url())], "  global_max_parallel_requests: 2\n");
    let gw = TestGateway::start(&yaml).await;
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let call = gw.post("/v1/chat/completions", &chat_body("gpt-4o")).send();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let resp = call.await.unwrap();
                let retry = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
                (resp.status().as_u16(), retry, resp.json::<Value>().await.unwrap(), started.elapsed())
            })
        })
        .collect();
    let mut refused = 0;
    for call in calls {
        let (status, retry, body, took) = call.await.unwrap();
        if status == 429 {
            refused += 1;
            assert_eq!(retry.as_deref(), Some("1"));
            assert_eq!(body["error"]["code"], "global_parallel_limit", "{body}");
            assert!(took < Duration::from_millis(300), "refused after {took:?}: it queued");
        } else {
            assert_eq!(status, 200, "{body}");
        }
    }
    assert_eq!(refused, 2);
    assert_eq!(upstream.request_count(), 2);
    // The slots are free again once the answers are out.
    let resp = gw.post("/v1/chat/completions", &chat_body("gpt-4o")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let metrics = gw.get("/metrics").send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("reason=\"global_parallel_limit\"} 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_holds_its_global_slot_until_it_ends() {
    let upstream = MockServer::start().await;
    upstream.push(
        MockResponse::sse_json(&openai_chunks("gpt-4o", &["a", "b", "c", "d"]), true)
            .with_chunk_interval(Duration::from_millis(150)),
    );
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    let yaml = config(&[("gpt-4o", &upstream.url())], "  global_max_parallel_requests: 1\n");
    let gw = TestGateway::start(&yaml).await;
    let mut body = chat_body("gpt-4o");
    body["stream"] = Value::Bool(true);
    let stream = gw.post("/v1/chat/completions", &body).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    // Headers are out, the stream is not: the one slot is still taken.
    let resp = gw.post("/v1/chat/completions", &chat_body("gpt-4o")).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let text = stream.text().await.unwrap();
    assert!(text.contains("[DONE]"), "{text}");
    let resp = gw.post("/v1/chat/completions", &chat_body("gpt-4o")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
