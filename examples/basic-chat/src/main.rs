//! Basic chat: one `provider/model` string, one call, one answer.
//!
//! Run it offline (no key: a local mock upstream answers):
//!
//! ```sh
//! cargo run -p example-basic-chat
//! ```
//!
//! Run it against OpenAI (any `provider/model` works if its key is set, e.g.
//! `LLM_MODEL=anthropic/claude-sonnet-4-5` with the `anthropic` feature):
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p example-basic-chat
//! ```

use llm::testkit::{MockResponse, MockServer};
use llm::{ChatMessage, Client};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::var("LLM_MODEL").unwrap_or_else(|_| "openai/gpt-4o-mini".to_owned());

    // With a key, the real API; without one, a scripted mock (kept alive until the end).
    let (client, _mock) = if std::env::var_os("OPENAI_API_KEY").is_some() {
        (Client::from_env(), None)
    } else {
        let mock = MockServer::start().await;
        mock.push(MockResponse::json(
            200,
            json!({"id": "chatcmpl-offline", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Rust's ownership rules let the compiler prove memory safety without a garbage collector."}}],
                "usage": {"prompt_tokens": 14, "completion_tokens": 16, "total_tokens": 30}}),
        ));
        println!("(offline: answering from a mock upstream at {})", mock.url());
        let client = Client::builder().api_key("openai", "offline").base_url("openai", mock.url()).build()?;
        (client, Some(mock))
    };

    let messages =
        vec![ChatMessage::system("Answer in one sentence."), ChatMessage::user("Why is Rust memory safe?")];
    let answer = client.chat(model.as_str(), messages).await?;

    println!("{model}: {}", answer.text().unwrap_or_default());
    if let Some(usage) = &answer.usage {
        println!("tokens: {} in, {} out", usage.prompt_tokens, usage.completion_tokens);
    }
    Ok(())
}
