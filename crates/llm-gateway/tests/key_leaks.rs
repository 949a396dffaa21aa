//! A generated key's plaintext appears nowhere: not in the SQLite file, the logs, or any error
//! body. (Own test binary: it installs a global log subscriber.)

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use llm_core::testkit::{MockResponse, MockServer};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_never_appear_in_plaintext() {
    let logs = Capture::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "llm_gateway=trace,llm_router=trace,llm_cost=trace,llm_core=trace,llm_cache=trace",
        ))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let upstream = MockServer::start().await;
    upstream.set_default(MockResponse::json(200, openai_chat("gpt-4o", "ok")));
    upstream.push(MockResponse::json(500, json!({"error": {"message": "boom"}})));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gateway.db");
    let yaml = config(&[("gpt-4o", &upstream.url())], "router_settings: {num_retries: 0}\n");
    let gw = TestGateway::start_with_db(&yaml, Some(db.to_str().unwrap())).await;

    let generate = |body: Value| gw.post("/key/generate", &body).send();
    let v: Value =
        generate(json!({"key_alias": "leak", "models": ["gpt-4o"], "rpm_limit": 3, "max_budget": 0.003}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let key = v["key"].as_str().unwrap().to_owned();
    let token = v["token"].as_str().unwrap().to_owned();

    let client = reqwest::Client::new();
    let mut bodies = Vec::new();
    let send = |model: &str| {
        client
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(&key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": key.clone()}], "max_tokens": 10}))
            .send()
    };
    // Upstream failure, success, model refused, budget, rate limit, then blocked.
    for model in ["gpt-4o", "gpt-4o", "gpt-3", "gpt-4o", "gpt-4o"] {
        let resp = send(model).await.unwrap();
        bodies.push((resp.status().as_u16(), resp.text().await.unwrap()));
    }
    gw.post("/key/block", &json!({"key": key})).send().await.unwrap();
    let resp = send("gpt-4o").await.unwrap();
    bodies.push((resp.status().as_u16(), resp.text().await.unwrap()));
    let info = gw.get(&format!("/key/info?key={key}")).send().await.unwrap().text().await.unwrap();
    bodies.push((200, info));
    let statuses: Vec<u16> = bodies.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, [500, 200, 403, 400, 429, 401, 200], "{bodies:?}");

    gw.gateway.spend_store().flush().await;
    gw.stop().await;
    // Every file SQLite wrote (database, journal, WAL). The last connection may still be closing
    // (which checkpoints and removes the WAL): when a listed file is gone, read them all again.
    let (files, saw_hash) = loop {
        let mut contents = Vec::new();
        let mut complete = true;
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            match std::fs::read(entry.unwrap().path()) {
                Ok(bytes) => contents.push(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => complete = false,
                Err(e) => panic!("{e}"),
            }
        }
        if complete {
            for bytes in &contents {
                assert!(!contains(bytes, key.as_bytes()), "the key is in the database");
            }
            break (contents.len(), contents.iter().any(|b| contains(b, token.as_bytes())));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        files >= 1 && saw_hash,
        "the database holds the key's hash, so the search looked in the right place"
    );
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.contains(&key), "the key is in the logs:\n{logs}");
    for (status, body) in &bodies {
        assert!(!body.contains(&key), "the key is in a {status} body: {body}");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
