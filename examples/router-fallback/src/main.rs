//! Fallback with a router: callers ask for `cheap`; when its deployment fails, the router
//! answers from `accurate` instead. Which models those are is configuration, not code.
//!
//! Run it offline (no key: a mock upstream fails the cheap model with a 503, then answers for
//! the accurate one):
//!
//! ```sh
//! cargo run -p example-router-fallback
//! ```
//!
//! Run it against OpenAI (the cheap model will usually answer itself):
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p example-router-fallback
//! ```

use llm::router::{Deployment, Router, RouterSettings};
use llm::testkit::{MockResponse, MockServer};
use llm::{BoxLlmService, ChatMessage, ChatRequest, Client, LlmRequest};
use serde_json::json;
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _mock) = if std::env::var_os("OPENAI_API_KEY").is_some() {
        (Client::from_env(), None)
    } else {
        let mock = MockServer::start().await;
        mock.push(MockResponse::json(
            503,
            json!({"error": {"message": "The server is overloaded", "type": "server_error"}}),
        ));
        mock.push(MockResponse::json(
            200,
            json!({"id": "chatcmpl-offline", "object": "chat.completion", "created": 0, "model": "gpt-4o",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "The accurate model answered: 391."}}]}),
        ));
        println!("(offline: a mock upstream at {} fails the cheap model once)", mock.url());
        let client = Client::builder().api_key("openai", "offline").base_url("openai", mock.url()).build()?;
        (client, Some(mock))
    };

    // The client resolves `provider/model` strings, so one client serves every deployment.
    let service = BoxLlmService::new(client);
    let settings: RouterSettings = serde_json::from_value(json!({
        "fallbacks": [{"cheap": ["accurate"]}],
        "num_retries": 0
    }))?;
    let router = Router::builder()
        .settings(settings)
        .deployment("cheap", Deployment::new("mini", "openai/gpt-4o-mini", service.clone()))
        .deployment("accurate", Deployment::new("big", "openai/gpt-4o", service))
        .build()?;

    let request = ChatRequest::new("cheap", vec![ChatMessage::user("What is 17 × 23?")]);
    let response = router.oneshot(LlmRequest::chat(request)).await?;
    for attempt in &response.metadata.attempts {
        let outcome = attempt.error.as_ref().map_or("ok".to_owned(), |kind| format!("failed: {kind}"));
        println!("attempt on {}: {outcome} ({:?})", attempt.deployment, attempt.latency);
    }
    println!("answered by: {}", response.metadata.deployment_id.as_deref().unwrap_or("?"));
    println!("answer: {}", response.into_chat()?.text().unwrap_or_default());
    Ok(())
}
