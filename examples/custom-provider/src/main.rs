//! A third-party provider in a few lines: implement `llm_core::Provider`, wrap it in
//! `ProviderService`, and it is a tower service like every other `llm` provider.
//!
//! Run it (no network, no keys):
//!
//! ```sh
//! cargo run -p example-custom-provider
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use llm_core::{
    ChatChunk, ChatMessage, ChatRequest, ChatResponse, ChatStream, Choice, Delta, Extra, FinishReason,
    LlmError, LlmRequest, Provider, ProviderService, RequestContext, Usage,
};
use tower::ServiceExt;

/// Answers with the last user message, reversed.
struct Reverse;

fn reversed(request: &ChatRequest) -> String {
    let text = request.messages.last().and_then(ChatMessage::text).unwrap_or_default();
    text.chars().rev().collect()
}

#[async_trait::async_trait]
impl Provider for Reverse {
    fn name(&self) -> &str {
        "reverse"
    }

    async fn chat(&self, request: ChatRequest, _: &RequestContext) -> Result<ChatResponse, LlmError> {
        let text = reversed(&request);
        Ok(ChatResponse {
            id: "rev-1".into(),
            object: "chat.completion".into(),
            created: 0,
            model: request.model,
            choices: vec![Choice {
                index: 0,
                message: ChatMessage::assistant(text.clone()),
                logprobs: None,
                finish_reason: Some(FinishReason::Stop),
                extra: Extra::new(),
            }],
            usage: Some(Box::new(Usage::new(text.len() as u64, text.len() as u64))),
            system_fingerprint: None,
            service_tier: None,
            extra: Extra::new(),
        })
    }

    async fn chat_stream(&self, request: ChatRequest, _: &RequestContext) -> Result<ChatStream, LlmError> {
        let model = request.model.clone();
        let words: Vec<String> = reversed(&request).split_inclusive(' ').map(str::to_owned).collect();
        let chunks = futures_util::stream::iter(words).then(move |word| {
            let model = model.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(ChatChunk::new("rev-1", model, 0).with_delta(Delta::text(word), None))
            }
        });
        Ok(Box::pin(chunks))
    }
}

#[tokio::main]
async fn main() -> Result<(), LlmError> {
    let service = ProviderService::new(Reverse).boxed();

    let request = ChatRequest::new("reverse/v1", vec![ChatMessage::user("hello tower world")]);
    let response = service.clone().oneshot(LlmRequest::chat(request.clone())).await?;
    println!("provider: {:?}", response.metadata.provider);
    println!("complete: {}", response.into_chat()?.text().unwrap_or_default());

    let mut stream =
        service.oneshot(LlmRequest::chat(request.with_stream(true))).await?.into_chat_stream()?;
    print!("streamed: ");
    while let Some(chunk) = stream.next().await {
        print!("{}", chunk?.choices[0].delta.content.as_deref().unwrap_or(""));
    }
    println!();
    Ok(())
}
