//! A tool-calling loop: the model asks for a tool, the program runs it, sends the result back,
//! and repeats until the model answers in text.
//!
//! Run it offline (no key: a mock upstream first asks for `get_weather`, then answers):
//!
//! ```sh
//! cargo run -p example-tool-calling
//! ```
//!
//! Run it against OpenAI:
//!
//! ```sh
//! OPENAI_API_KEY=sk-... cargo run -p example-tool-calling
//! ```

use llm::testkit::{MockResponse, MockServer};
use llm::{ChatMessage, ChatRequest, Client, Tool};
use serde::Deserialize;
use serde_json::{Value, json};

const MODEL: &str = "openai/gpt-4o-mini";
/// A model that keeps calling tools must not loop forever.
const MAX_TURNS: usize = 5;

#[derive(Deserialize)]
struct WeatherArgs {
    city: String,
}

/// The tool itself: a stand-in for a real weather API.
fn get_weather(args: &WeatherArgs) -> Value {
    let (temp_c, sky) = match args.city.as_str() {
        "Paris" => (18, "cloudy"),
        "Tokyo" => (24, "sunny"),
        _ => (20, "clear"),
    };
    json!({"city": args.city, "temperature_c": temp_c, "sky": sky})
}

fn completion(message: Value, finish_reason: &str) -> MockResponse {
    MockResponse::json(
        200,
        json!({"id": "chatcmpl-offline", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 60, "completion_tokens": 20, "total_tokens": 80}}),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, mock) = if std::env::var_os("OPENAI_API_KEY").is_some() {
        (Client::from_env(), None)
    } else {
        let mock = MockServer::start().await;
        mock.push(completion(
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}),
            "tool_calls",
        ));
        mock.push(completion(
            json!({"role": "assistant", "content": "It is 18 °C and cloudy in Paris: take a light jacket."}),
            "stop",
        ));
        println!("(offline: a mock upstream at {} plays the model)", mock.url());
        let client = Client::builder().api_key("openai", "offline").base_url("openai", mock.url()).build()?;
        (client, Some(mock))
    };

    let weather = Tool::function(
        "get_weather",
        "Current weather in a city",
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
    );
    let mut messages = vec![ChatMessage::user("Do I need a jacket in Paris today?")];

    for _ in 0..MAX_TURNS {
        let request = ChatRequest::new(MODEL, messages.clone()).with_tools(vec![weather.clone()]);
        let response = client.chat_request(request).await?;
        let choice = response.choices.into_iter().next().ok_or("the model returned no choice")?;
        let calls = choice.message.tool_calls.clone().unwrap_or_default();
        if calls.is_empty() {
            println!("answer: {}", choice.message.text().unwrap_or_default());
            if let Some(mock) = mock {
                // The second request carried the tool's result back to the model.
                let sent = mock.requests()[1].json();
                assert_eq!(sent["messages"][2]["role"], "tool");
            }
            return Ok(());
        }
        messages.push(choice.message);
        for call in calls {
            let result = match call.function.name.as_str() {
                "get_weather" => serde_json::from_str::<WeatherArgs>(&call.function.arguments)
                    .map(|args| get_weather(&args))
                    .unwrap_or_else(|e| json!({"error": format!("bad arguments: {e}")})),
                other => json!({"error": format!("unknown tool `{other}`")}),
            };
            println!("tool {}({}) -> {result}", call.function.name, call.function.arguments);
            messages.push(ChatMessage::tool(call.id, result.to_string()));
        }
    }
    Err(format!("no answer after {MAX_TURNS} turns").into())
}
