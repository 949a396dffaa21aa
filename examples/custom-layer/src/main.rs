//! Your own tower layer around every call the client makes: here, one that logs the provider,
//! model, outcome and latency of each request.
//!
//! Run it offline (no key: a mock upstream answers):
//!
//! ```sh
//! cargo run -p example-custom-layer
//! ```
//!
//! Run it against OpenAI:
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p example-custom-layer
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use llm::testkit::{MockResponse, MockServer};
use llm::{BoxLlmService, ChatMessage, Client, LlmRequest};
use serde_json::json;
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (builder, _mock) = if std::env::var_os("OPENAI_API_KEY").is_some() {
        (Client::builder(), None)
    } else {
        let mock = MockServer::start().await;
        mock.set_default(
            MockResponse::json(
                200,
                json!({"id": "chatcmpl-offline", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Pong."}}]}),
            )
            .with_delay(Duration::from_millis(25)),
        );
        println!("(offline: answering from a mock upstream at {})", mock.url());
        (Client::builder().api_key("openai", "offline").base_url("openai", mock.url()), Some(mock))
    };

    // The layer: a function from the provider's service to a wrapping service. Any
    // `tower::Layer<BoxLlmService>` works (tower's timeout, limits, your own structs, ...).
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let log_latency = tower::layer::layer_fn(move |inner: BoxLlmService| {
        let counter = Arc::clone(&counter);
        tower::service_fn(move |request: LlmRequest| {
            let inner = inner.clone();
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let model = request.operation.model().to_owned();
                let started = std::time::Instant::now();
                let result = inner.oneshot(request).await;
                let outcome = match &result {
                    Ok(response) => {
                        format!("ok from {}", response.metadata.provider.as_deref().unwrap_or("?"))
                    }
                    Err(e) => format!("error {}", e.kind()),
                };
                println!("[call {n}] {model}: {outcome} in {:?}", started.elapsed());
                result
            }
        })
    });
    let client = builder.layer(log_latency).build()?;

    for question in ["ping", "ping again"] {
        let answer = client.chat("openai/gpt-4o-mini", vec![ChatMessage::user(question)]).await?;
        println!("answer: {}", answer.text().unwrap_or_default());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the layer saw every call");
    Ok(())
}
