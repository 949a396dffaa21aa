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
