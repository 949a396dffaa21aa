//! Streaming to stdout: print each piece of Claude's answer as it arrives, then the usage the
//! last chunk carries.
//!
//! Run it offline (no key: a local mock upstream streams a scripted answer):
//!
//! ```sh
//! cargo run -p example-streaming
//! ```
//!
//! Run it against Anthropic:
//!
//! ```sh
//! ANTHROPIC_API_KEY=sk-ant-... cargo run -p example-streaming
//! ```

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use llm::testkit::{MockResponse, MockServer};
use llm::{ChatMessage, Client};
use serde_json::{Value, json};

const MODEL: &str = "anthropic/claude-sonnet-4-5";

/// Anthropic's stream events for a short answer, split into a few text deltas.
fn scripted_events(pieces: &[&str]) -> Vec<Value> {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_offline", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    for piece in pieces {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}));
    }
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events.push(
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}}),
    );
    events.push(json!({"type": "message_stop"}));
    events
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _mock) = if std::env::var_os("ANTHROPIC_API_KEY").is_some() {
        (Client::from_env(), None)
    } else {
        let mock = MockServer::start().await;
        let pieces =
            ["Streams ", "arrive ", "chunk ", "by ", "chunk, ", "as ", "they ", "are ", "generated."];
        mock.push(
            MockResponse::sse_json(&scripted_events(&pieces), false)
                .with_chunk_interval(Duration::from_millis(40)),
        );
        println!("(offline: streaming from a mock upstream at {})", mock.url());
        let client =
            Client::builder().api_key("anthropic", "offline").base_url("anthropic", mock.url()).build()?;
        (client, Some(mock))
    };

    let mut stream =
        client.chat_stream(MODEL, vec![ChatMessage::user("Explain streaming in one sentence.")]).await?;
    let mut stdout = std::io::stdout();
    let mut usage = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?; // a failure mid-stream is an error item, never a silent end
        for choice in &chunk.choices {
            if let Some(text) = &choice.delta.content {
                write!(stdout, "{text}")?;
                stdout.flush()?;
            }
        }
        usage = chunk.usage.or(usage);
    }
    println!();
    if let Some(usage) = usage {
        println!("tokens: {} in, {} out", usage.prompt_tokens, usage.completion_tokens);
    }
    Ok(())
}
