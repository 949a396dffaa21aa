//! Converse response → `ChatResponse`, stop reasons and usage, as pure functions.

use llm_core::{
    ChatMessage, ChatResponse, Choice, ErrorKind, Extra, FinishReason, FunctionCall, LlmError,
    MessageContent, Role, ToolCall, Usage,
};
use serde_json::{Value, json};

/// Maps a Converse `stopReason` to an OpenAI finish reason.
///
/// `end_turn`/`stop_sequence` → `stop`, `max_tokens`/`model_context_window_exceeded` → `length`,
/// `tool_use` → `tool_calls`, `guardrail_intervened`/`content_filtered` → `content_filter`; others
/// are kept as sent.
pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

fn count(usage: &Value, key: &str) -> u64 {
    usage.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Maps Converse `TokenUsage` to OpenAI usage.
///
/// Bedrock's `inputTokens` counts only the input that was neither read from nor written to the
/// prompt cache (`cacheReadInputTokens` and `cacheWriteInputTokens` are reported beside it, and
/// `totalTokens` includes them). OpenAI's `prompt_tokens` counts the whole prompt, so
/// `prompt_tokens = inputTokens + cacheReadInputTokens + cacheWriteInputTokens`, with the two
/// cache counts in `prompt_tokens_details` (`cached_tokens`, `cache_creation_tokens`) and
/// `total_tokens = prompt_tokens + completion_tokens`.
///
/// ```
/// let usage = llm_provider_bedrock::usage_from_bedrock(&serde_json::json!({
///     "inputTokens": 4, "outputTokens": 10, "totalTokens": 1514,
///     "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 500}));
/// assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (1504, 10, 1514));
/// assert_eq!((usage.cached_tokens(), usage.cache_creation_tokens()), (1000, 500));
/// ```
pub fn usage_from_bedrock(usage: &Value) -> Usage {
    let read = count(usage, "cacheReadInputTokens");
    let write = count(usage, "cacheWriteInputTokens");
    let prompt = count(usage, "inputTokens").saturating_add(read).saturating_add(write);
    let mut u = Usage::new(prompt, count(usage, "outputTokens"));
    if read > 0 || usage.get("cacheReadInputTokens").is_some() {
        u = u.with_cached_tokens(read);
    }
    if write > 0 || usage.get("cacheWriteInputTokens").is_some() {
        u = u.with_cache_creation_tokens(write);
    }
    u
}

/// What a list of Converse content blocks says, in OpenAI terms.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    pub(crate) text: Option<String>,
    pub(crate) reasoning: Option<String>,
    pub(crate) thinking_blocks: Vec<Value>,
    pub(crate) tool_calls: Vec<ToolCall>,
}

pub(crate) fn read_blocks(content: &[Value]) -> Blocks {
    let mut out = Blocks::default();
    for block in content {
        if let Some(text) = block.get("text").and_then(Value::as_str) {
            out.text.get_or_insert_with(String::new).push_str(text);
        } else if let Some(tool) = block.get("toolUse") {
            let input = tool.get("input").cloned().unwrap_or_else(|| json!({}));
            let arguments = match input {
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.tool_calls.push(ToolCall {
                id: tool.get("toolUseId").and_then(Value::as_str).unwrap_or_default().to_owned(),
                kind: "function".into(),
                function: FunctionCall {
                    name: tool.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
                    arguments,
                },
                extra: Extra::new(),
            });
        } else if let Some(reasoning) = block.get("reasoningContent") {
            if let Some(rt) = reasoning.get("reasoningText") {
                let text = rt.get("text").and_then(Value::as_str).unwrap_or_default();
                out.reasoning.get_or_insert_with(String::new).push_str(text);
                let mut tb = json!({"type": "thinking", "thinking": text});
                if let Some(sig) = rt.get("signature") {
                    tb["signature"] = sig.clone();
                }
                out.thinking_blocks.push(tb);
            } else if let Some(data) = reasoning.get("redactedContent") {
                out.thinking_blocks.push(json!({"type": "redacted_thinking", "data": data}));
            }
        }
    }
    out
}

/// Parses a Converse response body into a chat response for `model`, with id `id`.
///
/// Text blocks are concatenated into `content`; `toolUse` blocks become `tool_calls` (the input
/// serialized as JSON text); `reasoningContent` becomes `reasoning_content`, and the blocks with
/// their signatures are kept in the message's `thinking_blocks` extra (LiteLLM's name) so a later
/// turn can send them back. A guardrail or content-filter stop that produced neither text nor
/// tool calls is an [`ErrorKind::ContentPolicy`] error; with output it is a response whose finish
/// reason is `content_filter`.
///
/// ```
/// let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"Hi!"}]}},
///   "stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}"#;
/// let res = llm_provider_bedrock::parse_converse(body, "m", "id-1", 0).unwrap();
/// assert_eq!(res.text().as_deref(), Some("Hi!"));
/// assert_eq!(res.usage.unwrap().total_tokens, 5);
/// ```
pub fn parse_converse(body: &[u8], model: &str, id: &str, created: u64) -> Result<ChatResponse, LlmError> {
    let value: Value = serde_json::from_slice(body)?;
    let content = value
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| LlmError::new(ErrorKind::Decode, "Converse response has no output.message.content"))?;
    let stop_reason = value.get("stopReason").and_then(Value::as_str).unwrap_or("end_turn");
    let blocks = read_blocks(content);
    let finish = finish_reason(stop_reason);
    if finish == FinishReason::ContentFilter
        && blocks.tool_calls.is_empty()
        && blocks.text.as_deref().is_none_or(str::is_empty)
    {
        return Err(LlmError::new(
            ErrorKind::ContentPolicy,
            format!("Bedrock stopped the answer ({stop_reason}) before any output"),
        ));
    }
    let mut message = ChatMessage {
        role: Role::Assistant,
        content: blocks.text.map(MessageContent::Text),
        name: None,
        tool_calls: (!blocks.tool_calls.is_empty()).then_some(blocks.tool_calls),
        tool_call_id: None,
        refusal: None,
        reasoning_content: blocks.reasoning,
        extra: Extra::new(),
    };
    if !blocks.thinking_blocks.is_empty() {
        message.extra.insert("thinking_blocks".into(), Value::Array(blocks.thinking_blocks));
    }
    let mut extra = Extra::new();
    if let Some(fields) = value.get("additionalModelResponseFields") {
        extra.insert("additional_model_response_fields".into(), fields.clone());
    }
    if let Some(trace) = value.get("trace") {
        extra.insert("trace".into(), trace.clone());
    }
    Ok(ChatResponse {
        id: id.to_owned(),
        object: "chat.completion".into(),
        created,
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message,
            logprobs: None,
            finish_reason: Some(finish),
            extra: Extra::new(),
        }],
        usage: value.get("usage").map(|u| Box::new(usage_from_bedrock(u))),
        system_fingerprint: None,
        service_tier: value.pointer("/serviceTier/type").and_then(Value::as_str).map(str::to_owned),
        extra,
    })
}
