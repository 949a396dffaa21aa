//! Shared helpers: scripted upstream bodies and an in-process gateway on 127.0.0.1:0.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;

use llm_gateway::config::GatewayConfig;
use llm_gateway::{Gateway, GatewayOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const MASTER_KEY: &str = "sk-master-test";
pub const UPSTREAM_KEY: &str = "sk-upstream-secret";

/// An OpenAI chat completion.
pub fn openai_chat(model: &str, text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
    })
}

/// OpenAI stream chunks spelling `words`, then a usage chunk.
pub fn openai_chunks(model: &str, words: &[&str]) -> Vec<Value> {
    let mut out: Vec<Value> = words
        .iter()
        .map(|w| {
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
                   "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": null}]})
        })
        .collect();
    out.push(json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}));
    out
}

/// An Anthropic Messages response.
pub fn anthropic_message(text: &str) -> Value {
    json!({
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 20, "output_tokens": 5}
    })
}

pub fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]})
}

/// A gateway served in-process.
pub struct TestGateway {
    pub url: String,
    pub gateway: Gateway,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestGateway {
    pub async fn start(yaml: &str) -> Self {
        Self::start_with_db(yaml, Some(":memory:")).await
    }

    /// `db` overrides `general_settings.database_url` when given.
    pub async fn start_with_db(yaml: &str, db: Option<&str>) -> Self {
        let env: HashMap<String, String> = HashMap::from([("UPSTREAM_KEY".into(), UPSTREAM_KEY.into())]);
        let config = GatewayConfig::from_yaml_str(yaml, "test.yaml", &|k| env.get(k).cloned()).unwrap();
        let options = GatewayOptions { spend_db: db.map(str::to_owned), env: Arc::new(|_| None) };
        let gateway = Gateway::new(&config, options).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(gateway.clone().serve(listener, async {
            let _ = stopped.await;
        }));
        Self { url, gateway, stop: Some(stop), task }
    }

    /// Starts graceful shutdown and waits until the server has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }

    pub fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        reqwest::Client::new().post(format!("{}{path}", self.url)).bearer_auth(MASTER_KEY).json(body)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new().get(format!("{}{path}", self.url)).bearer_auth(MASTER_KEY)
    }
}

/// A config with one OpenAI-style group per `(name, url)`.
pub fn config(groups: &[(&str, &str)], extra: &str) -> String {
    let mut out = String::from("model_list:\n");
    for (name, url) in groups {
        out.push_str(&format!(
            "  - model_name: {name}\n    litellm_params:\n      model: openai/gpt-4o\n      api_base: {url}/v1\n      api_key: os.environ/UPSTREAM_KEY\n"
        ));
    }
    out.push_str(&format!("general_settings:\n  master_key: {MASTER_KEY}\n"));
    out.push_str(extra);
    out
}

/// The local Redis.
pub const REDIS: &str = "127.0.0.1:6379";
/// The local PostgreSQL (trust auth).
pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

fn services_required() -> bool {
    std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// Whether the local Redis answers; prints why a test is skipped (or panics when services are
/// required).
pub async fn redis_up() -> bool {
    match tokio::net::TcpStream::connect(REDIS).await {
        Ok(_) => true,
        Err(e) => {
            assert!(!services_required(), "Redis at {REDIS} is required: {e}");
            println!("skipping: Redis at {REDIS} is unreachable: {e}");
            false
        }
    }
}

/// A TCP proxy to the local Redis that a test can cut: dropping the returned set closes the
/// listener and every connection through it.
pub async fn redis_proxy() -> (String, tokio::task::JoinSet<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    (url, redis_proxy_on(listener))
}

/// A cuttable proxy to the local Redis on `listener`.
pub fn redis_proxy_on(listener: tokio::net::TcpListener) -> tokio::task::JoinSet<()> {
    let mut set = tokio::task::JoinSet::new();
    set.spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            conns.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(REDIS).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    set
}

/// A fresh schema in the local PostgreSQL: its URL and an admin client (to drop it with
/// [`drop_schema`]); `None` (with a printed message) when PostgreSQL is absent.
pub async fn pg_schema() -> Option<(String, tokio_postgres::Client)> {
    let (client, conn) = match tokio_postgres::connect(POSTGRES, tokio_postgres::NoTls).await {
        Ok(c) => c,
        Err(e) => {
            assert!(!services_required(), "PostgreSQL at {POSTGRES} is required: {e}");
            println!("skipping: PostgreSQL at {POSTGRES} is unreachable: {e}");
            return None;
        }
    };
    tokio::spawn(conn);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let schema = format!("llm_gateway_test_{}_{nanos}", std::process::id());
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    Some((format!("{POSTGRES}?options=-c%20search_path%3D{schema}"), client))
}

/// Drops the schema of a [`pg_schema`] URL.
pub async fn drop_schema(url: &str, admin: &tokio_postgres::Client) {
    let schema = url.rsplit("%3D").next().unwrap();
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

/// A value of `/metrics` text (the first line starting with `name `).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}
