//! Cost logging per call: a `CostLayer` from `llm::cost` prices every response from its token
//! usage and the built-in price table, and records the spend in a sink you can query.
//!
//! Run it offline (no key: a mock upstream answers with scripted usage):
//!
//! ```sh
//! cargo run -p example-cost-logging
//! ```
//!
//! Run it against OpenAI:
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p example-cost-logging
//! ```

use llm::cost::{CostLayer, InMemorySpendSink, PriceTable, SpendKey};
use llm::testkit::{MockResponse, MockServer};
use llm::{ChatMessage, ChatRequest, Client, LlmRequest};
use serde_json::json;

const MODELS: [&str; 2] = ["openai/gpt-4o-mini", "openai/gpt-4o"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (builder, _mock) = if std::env::var_os("OPENAI_API_KEY").is_some() {
        (Client::builder(), None)
    } else {
        let mock = MockServer::start().await;
        for model in MODELS {
            let model = model.trim_start_matches("openai/");
            mock.push(MockResponse::json(
                200,
                json!({"id": "chatcmpl-offline", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Haiku: bytes flow, tokens count."}}],
                    "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}}),
            ));
        }
        println!("(offline: answering from a mock upstream at {})", mock.url());
        (Client::builder().api_key("openai", "offline").base_url("openai", mock.url()), Some(mock))
    };

    let sink = InMemorySpendSink::new();
    let client = builder.layer(CostLayer::new(PriceTable::builtin()).with_sink(sink.clone())).build()?;

    for model in MODELS {
        let request = ChatRequest::new(model, vec![ChatMessage::user("A haiku about billing.")]);
        // `send` returns the response with its metadata, where the cost layer put the price.
        let response = client.send(LlmRequest::chat(request)).await?;
        let cost = response.metadata.cost_usd;
        let usage = response.into_chat()?.usage.unwrap_or_default();
        match cost {
            Some(usd) => println!(
                "{model}: {} in + {} out tokens = ${usd:.6}",
                usage.prompt_tokens, usage.completion_tokens
            ),
            None => println!("{model}: no price known"),
        }
    }
    for model in MODELS {
        let totals = sink.totals(&SpendKey::Model(model.into()));
        println!("spent on {model}: {} nano-USD in {} request(s)", totals.cost.0, totals.requests);
    }
    Ok(())
}
