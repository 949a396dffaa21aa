//! The official `openai` Python package talks to the gateway: chat, streaming, tool calls,
//! embeddings, models and error mapping (`tests/openai_sdk_check.py`).
//!
//! Needs a Python with `openai` installed: `LLM_TEST_PYTHON` (set by `.ci/run`, which makes a
//! venv), else `python3` when it can import `openai`. Without one the test prints why and skips,
//! unless `LLM_TEST_REQUIRE_SERVICES=1`, where it fails.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{MASTER_KEY, TestGateway, UPSTREAM_KEY, openai_chat};
use llm_core::testkit::{MockResponse, MockServer};
use serde_json::json;

fn python_with_openai() -> Option<String> {
    let candidates = std::env::var("LLM_TEST_PYTHON").into_iter().chain(["python3".to_owned()]);
    for python in candidates {
        let ok =
            Command::new(&python).args(["-c", "import openai"]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_openai_python_package_works_against_the_gateway() {
    let Some(python) = python_with_openai() else {
        let why = "no Python with the `openai` package (set LLM_TEST_PYTHON)";
        if std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{why}, and LLM_TEST_REQUIRE_SERVICES=1");
        }
        eprintln!("SKIPPED the_official_openai_python_package_works_against_the_gateway: {why}");
        return;
    };

    let upstream = MockServer::start().await;
    let mut chat = openai_chat("gpt-4o-mini", "Hello from the mock!");
    chat["usage"] = json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18});
    upstream.push(MockResponse::json(200, chat));
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut usage_chunk = chunk(json!({}), None);
    usage_chunk["choices"] = json!([]);
    usage_chunk["usage"] = json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8});
    let stream = MockResponse::sse_json(
        &[
            chunk(json!({"role": "assistant", "content": ""}), None),
            chunk(json!({"content": "one"}), None),
            chunk(json!({"content": " two"}), None),
            chunk(json!({"content": " three"}), None),
            chunk(json!({}), Some("stop")),
            usage_chunk,
        ],
        true,
    )
    .with_chunk_interval(Duration::from_millis(20));
    upstream.push(stream);
    upstream.push(MockResponse::json(
        200,
        json!({
            "id": "c2", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}
        }),
    ));
    upstream.push(MockResponse::json(
        200,
        json!({"object": "list", "model": "text-embedding-3-small",
               "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]},
                        {"object": "embedding", "index": 1, "embedding": [0.4, 0.5, 0.6]}],
               "usage": {"prompt_tokens": 2, "total_tokens": 2}}),
    ));

    let url = upstream.url();
    let yaml = format!(
        "model_list:\n  - model_name: fast\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {url}/v1\n      api_key: os.environ/UPSTREAM_KEY\n  - model_name: embed\n    litellm_params:\n      model: openai/text-embedding-3-small\n      api_base: {url}/v1\n      api_key: os.environ/UPSTREAM_KEY\ngeneral_settings:\n  master_key: {MASTER_KEY}\n"
    );
    let gateway = TestGateway::start(&yaml).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_sdk_check.py");
    let base_url = format!("{}/v1", gateway.url);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("OPENAI_BASE_URL", base_url)
            .env("OPENAI_API_KEY", MASTER_KEY)
            .env_remove("OPENAI_ORG_ID")
            .env_remove("OPENAI_PROJECT_ID")
            .output()
            .expect("run python")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the openai SDK script failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("openai SDK check: ok"), "{stdout}");

    let requests = upstream.requests();
    assert_eq!(requests.len(), 4, "chat, stream, tool call, embeddings reached the upstream");
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {UPSTREAM_KEY}").as_str()),
            "the gateway holds the provider key"
        );
    }
    assert_eq!(requests[0].json()["model"], "gpt-4o-mini");
    assert_eq!(requests[1].json()["stream"], true);
    assert_eq!(requests[3].json()["model"], "text-embedding-3-small");
    gateway.stop().await;
}
