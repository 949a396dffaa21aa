//! Parsing a complete Messages API answer into a [`ChatResponse`]; `stop_reason` and usage
//! mapping shared with the stream parser.

use std::time::{SystemTime, UNIX_EPOCH};

use llm_core::{
    ChatMessage, ChatResponse, Choice, ErrorKind, Extra, FinishReason, FunctionCall, LlmError,
    MessageContent, Role, ToolCall, Usage,
};
use serde::Deserialize;
use serde_json::Value;

/// The `finish_reason` for an Anthropic `stop_reason`.
///
/// | `stop_reason` | `finish_reason` |
/// |---|---|
/// | `end_turn`, `stop_sequence` | `stop` |
/// | `max_tokens`, `model_context_window_exceeded` | `length` |
/// | `tool_use` | `tool_calls` |
/// | `refusal` | `content_filter` |
/// | anything else (`pause_turn`, …) | kept as sent |
///
/// ```
/// use llm_core::FinishReason;
/// use llm_provider_anthropic::finish_reason;
/// assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
/// assert_eq!(finish_reason("pause_turn"), FinishReason::Other("pause_turn".into()));
/// ```
pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Anthropic's token counts, as sent in a message, `message_start` or `message_delta`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct AnthropicUsage {
    /// Input tokens not read from or written to the cache.
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// Output tokens (thinking included).
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// Input tokens written to the cache.
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the cache.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    /// Server-tool counts (e.g. `{"web_search_requests": 2}`), kept for pricing.
    #[serde(default)]
    pub server_tool_use: Option<Value>,
}

impl AnthropicUsage {
    /// Overwrites the counts `later` has (a `message_delta` updates those of `message_start`).
    pub fn update(&mut self, later: &AnthropicUsage) {
        let take = |mine: &mut Option<u64>, theirs: Option<u64>| {
            if theirs.is_some() {
                *mine = theirs;
            }
        };
        take(&mut self.input_tokens, later.input_tokens);
        take(&mut self.output_tokens, later.output_tokens);
        take(&mut self.cache_creation_input_tokens, later.cache_creation_input_tokens);
        take(&mut self.cache_read_input_tokens, later.cache_read_input_tokens);
        if later.server_tool_use.is_some() {
            self.server_tool_use.clone_from(&later.server_tool_use);
        }
    }

    /// The usage in OpenAI's meaning: `prompt_tokens` = input + cache read + cache creation,
    /// `cached_tokens` = cache read, `cache_creation_tokens` = cache creation; `server_tool_use`
    /// is kept in the usage's extra fields.
    ///
    /// ```
    /// use llm_provider_anthropic::AnthropicUsage;
    /// let u = AnthropicUsage {
    ///     input_tokens: Some(10), output_tokens: Some(5),
    ///     cache_read_input_tokens: Some(100), cache_creation_input_tokens: Some(20),
    ///     ..Default::default()
    /// }.to_usage();
    /// assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (130, 5, 135));
    /// assert_eq!((u.cached_tokens(), u.cache_creation_tokens()), (100, 20));
    /// ```
    pub fn to_usage(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let created = self.cache_creation_input_tokens.unwrap_or(0);
        let prompt = self.input_tokens.unwrap_or(0).saturating_add(read).saturating_add(created);
        let mut usage = Usage::new(prompt, self.output_tokens.unwrap_or(0));
        if let Some(read) = self.cache_read_input_tokens {
            usage = usage.with_cached_tokens(read);
        }
        if let Some(created) = self.cache_creation_input_tokens {
            usage = usage.with_cache_creation_tokens(created);
        }
        if let Some(server) = self.server_tool_use.as_ref().filter(|v| !v.is_null()) {
            usage.extra.insert("server_tool_use".into(), server.clone());
        }
        usage
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[derive(Deserialize)]
struct MessageBody {
    #[serde(default)]
    id: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    model: String,
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
    #[serde(default)]
    stop_details: Option<Value>,
    #[serde(default)]
    usage: Option<UsageBody>,
}

#[derive(Deserialize)]
struct UsageBody {
    #[serde(flatten)]
    counts: AnthropicUsage,
    #[serde(default)]
    service_tier: Option<String>,
}

/// Parses a complete Messages API body (`{"type":"message",…}`) into a [`ChatResponse`].
///
/// Text blocks are joined into `content`, `tool_use` blocks become `tool_calls` (arguments as
/// compact JSON text), `thinking` text becomes `reasoning_content`, and the thinking blocks
/// themselves (with their signatures, and `redacted_thinking` blocks) are kept in the message's
/// `thinking_blocks` extra so a later turn can send them back. Unknown block types are skipped.
/// A body that is not a message is an [`ErrorKind::Decode`] error.
///
/// ```
/// use llm_core::FinishReason;
/// let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
///   "content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","stop_sequence":null,
///   "usage":{"input_tokens":3,"output_tokens":2,"cache_read_input_tokens":4}}"#;
/// let res = llm_provider_anthropic::from_messages_response(body).unwrap();
/// assert_eq!(res.text().unwrap(), "Hi!");
/// assert_eq!(res.choices[0].finish_reason, Some(FinishReason::Stop));
/// assert_eq!(res.usage.unwrap().prompt_tokens, 7);
/// ```
pub fn from_messages_response(body: &[u8]) -> Result<ChatResponse, LlmError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| LlmError::decode(format!("the Messages API answer is not valid JSON: {e}"), e))?;
    if value.get("type").and_then(Value::as_str) == Some("error") {
        return Err(crate::error::error_from_event(&value.to_string()));
    }
    let message: MessageBody = serde_json::from_value(value)
        .map_err(|e| LlmError::decode(format!("the Messages API answer is not a message: {e}"), e))?;
    if message.kind.as_deref().is_some_and(|k| k != "message") {
        return Err(LlmError::new(
            ErrorKind::Decode,
            format!("expected a `message` object, got `{}`", message.kind.unwrap_or_default()),
        ));
    }
    Ok(build_response(message))
}

fn build_response(message: MessageBody) -> ChatResponse {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for block in message.content {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("thinking") => {
                reasoning.push_str(block.get("thinking").and_then(Value::as_str).unwrap_or(""));
                thinking_blocks.push(block);
            }
            Some("redacted_thinking") => thinking_blocks.push(block),
            Some("tool_use") => {
                let id = block.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
                let name = block.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
                let input = block.get("input").cloned().unwrap_or_else(|| Value::Object(Default::default()));
                tool_calls.push(ToolCall {
                    id,
                    kind: "function".to_owned(),
                    function: FunctionCall { name, arguments: input.to_string() },
                    extra: Extra::new(),
                });
            }
            _ => {}
        }
    }
    let content =
        if text.is_empty() && !tool_calls.is_empty() { None } else { Some(MessageContent::Text(text)) };
    let mut msg_extra = Extra::new();
    if !thinking_blocks.is_empty() {
        msg_extra.insert("thinking_blocks".into(), Value::Array(thinking_blocks));
    }
    let mut choice_extra = Extra::new();
    if let Some(seq) = message.stop_sequence {
        choice_extra.insert("stop_sequence".into(), Value::String(seq));
    }
    if let Some(details) = message.stop_details.filter(|d| !d.is_null()) {
        choice_extra.insert("stop_details".into(), details);
    }
    let (usage, service_tier) = match message.usage {
        Some(u) => (Some(u.counts.to_usage()), u.service_tier),
        None => (None, None),
    };
    ChatResponse {
        id: message.id,
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: message.model,
        choices: vec![Choice {
            index: 0,
            message: ChatMessage {
                role: Role::Assistant,
                content,
                name: None,
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                tool_call_id: None,
                refusal: None,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                extra: msg_extra,
            },
            logprobs: None,
            finish_reason: message.stop_reason.as_deref().map(finish_reason),
            extra: choice_extra,
        }],
        usage: usage.map(Box::new),
        system_fingerprint: None,
        service_tier,
        extra: Extra::new(),
    }
}
