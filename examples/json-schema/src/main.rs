//! Structured output: ask Gemini for JSON matching a schema and parse it into a Rust struct.
//! The same request works unchanged with `openai/...` or `anthropic/...` models.
//!
//! Run it offline (no key: a mock upstream answers with scripted JSON):
//!
//! ```sh
//! cargo run -p example-json-schema
//! ```
//!
//! Run it against Gemini:
//!
//! ```sh
//! GEMINI_API_KEY=... cargo run -p example-json-schema
//! ```

use llm::testkit::{MockResponse, MockServer};
use llm::{ChatMessage, ChatRequest, Client, Extra, JsonSchemaFormat, ResponseFormat};
use serde::Deserialize;
use serde_json::json;

const MODEL: &str = "gemini/gemini-2.5-flash";

/// What we want back.
#[derive(Debug, Deserialize)]
struct Recipe {
    name: String,
    minutes: u32,
    ingredients: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let has_key = ["GEMINI_API_KEY", "GOOGLE_API_KEY"].iter().any(|k| std::env::var_os(k).is_some());
    let (client, _mock) = if has_key {
        (Client::from_env(), None)
    } else {
        let mock = MockServer::start().await;
        let recipe = json!({"name": "Pancakes", "minutes": 20,
            "ingredients": ["flour", "milk", "eggs", "butter"]});
        mock.push(MockResponse::json(
            200,
            json!({"candidates": [{"index": 0, "finishReason": "STOP",
                    "content": {"role": "model", "parts": [{"text": recipe.to_string()}]}}],
                "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 25, "totalTokenCount": 55},
                "modelVersion": "gemini-2.5-flash"}),
        ));
        println!("(offline: answering from a mock upstream at {})", mock.url());
        let client = Client::builder().api_key("gemini", "offline").base_url("gemini", mock.url()).build()?;
        (client, Some(mock))
    };

    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "minutes": {"type": "integer"},
            "ingredients": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["name", "minutes", "ingredients"]
    });
    let mut request = ChatRequest::new(MODEL, vec![ChatMessage::user("A quick breakfast recipe, please.")]);
    request.response_format = Some(ResponseFormat::JsonSchema {
        json_schema: JsonSchemaFormat {
            name: "recipe".into(),
            description: None,
            schema: Some(schema),
            strict: Some(true),
            extra: Extra::new(),
        },
    });

    let answer = client.chat_request(request).await?;
    let text = answer.text().ok_or("the model returned no text")?;
    let recipe: Recipe = serde_json::from_str(&text)?;
    println!("{} ({} min): {}", recipe.name, recipe.minutes, recipe.ingredients.join(", "));
    Ok(())
}
