//! Pure request building and response parsing: no HTTP, no I/O, testable on bytes.
//!
//! The common types already are OpenAI's wire shape, so a request is the caller's
//! [`ChatRequest`] with its model rewritten and the vendor's [`Quirk`]s applied, serialized once;
//! responses and chunks are deserialized straight into [`ChatResponse`] and [`ChatChunk`], with
//! unknown fields kept in their `extra` maps.

use llm_core::{
    ChatChunk, ChatRequest, ChatResponse, ChunkChoice, Delta, EmbeddingRequest, EmbeddingResponse, Extra,
    FunctionCallDelta, LlmError, MessageContent, OpenAiErrorBody, StreamOptions, ToolCallDelta,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Quirk;
use crate::error::error_from_body;

/// How to turn a caller's request into the upstream's body.
#[derive(Debug, Clone, Copy)]
pub struct WireOptions<'a> {
    /// The vendor's departures from OpenAI's format.
    pub quirks: &'a [Quirk],
    /// Remove parameters the vendor rejects instead of failing.
    pub drop_params: bool,
    /// The provider name: the model prefix that is stripped (`groq` turns `groq/llama-3` into
    /// `llama-3`) and the name in `unsupported_parameter` errors.
    pub provider: &'a str,
}

impl Default for WireOptions<'_> {
    fn default() -> Self {
        Self { quirks: &[], drop_params: false, provider: "openai" }
    }
}

/// The model name the upstream expects: `model` without a leading `provider/`. Only the first
/// segment is a provider: `openrouter/meta-llama/x` keeps `meta-llama/x`.
///
/// ```
/// use llm_provider_openai::wire::upstream_model;
/// assert_eq!(upstream_model("groq/llama-3.3-70b", "groq"), "llama-3.3-70b");
/// assert_eq!(upstream_model("meta-llama/llama-3", "openrouter"), "meta-llama/llama-3");
/// ```
pub fn upstream_model<'m>(model: &'m str, provider: &str) -> &'m str {
    match model.split_once('/') {
        Some((prefix, rest)) if !rest.is_empty() && prefix == provider => rest,
        _ => model,
    }
}

/// Whether `model` is an OpenAI reasoning model (o-series, gpt-5 family), which rejects
/// `max_tokens` in favour of `max_completion_tokens`.
pub fn is_reasoning_model(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    let m = m.strip_prefix("ft:").unwrap_or(m);
    let o_series = m.len() >= 2 && m.starts_with('o') && m.as_bytes()[1].is_ascii_digit();
    o_series || (m.starts_with("gpt-5") && !m.contains("chat"))
}

macro_rules! typed_params {
    ($($field:ident),* $(,)?) => {
        /// Removes parameter `name` (a modelled field or an `extra` entry) and returns its JSON value.
        fn take_param(req: &mut ChatRequest, name: &str) -> Option<Value> {
            match name {
                $(stringify!($field) => req.$field.take().and_then(|v| serde_json::to_value(v).ok()),)*
                _ => req.extra.remove(name),
            }
        }

        /// Sets parameter `name` to `value` (a modelled field when `name` is one).
        fn set_param(req: &mut ChatRequest, name: &str, value: Value) -> Result<(), LlmError> {
            match name {
                $(stringify!($field) => {
                    req.$field = Some(serde_json::from_value(value).map_err(|e| {
                        LlmError::bad_request(format!("invalid value for `{name}`: {e}")).with_param(name)
                    })?);
                })*
                _ => {
                    req.extra.insert(name.to_owned(), value);
                }
            }
            Ok(())
        }

        /// Whether parameter `name` is set.
        fn has_param(req: &ChatRequest, name: &str) -> bool {
            match name {
                $(stringify!($field) => req.$field.is_some(),)*
                _ => req.extra.contains_key(name),
            }
        }
    };
}

typed_params!(
    tools,
    tool_choice,
    parallel_tool_calls,
    response_format,
    reasoning_effort,
    n,
    stop,
    seed,
    temperature,
    top_p,
    max_tokens,
    max_completion_tokens,
    frequency_penalty,
    presence_penalty,
    logprobs,
    top_logprobs,
    stream_options,
    user,
    metadata,
);

/// Rewrites `req` in place for the upstream: model prefix stripped, quirks applied, and on a
/// stream `stream_options.include_usage` turned on unless the caller set it.
pub fn prepare_chat(req: &mut ChatRequest, opts: &WireOptions<'_>) -> Result<(), LlmError> {
    let model = upstream_model(&req.model, opts.provider);
    if model.len() != req.model.len() {
        req.model = model.to_owned();
    }
    if req.model.is_empty() {
        return Err(LlmError::bad_request("the request has no model").with_param("model"));
    }
    if req.is_stream() {
        let options = req
            .stream_options
            .get_or_insert_with(|| StreamOptions { include_usage: None, extra: Extra::new() });
        options.include_usage.get_or_insert(true);
    } else {
        // A complete answer cannot take stream options; OpenAI rejects them.
        req.stream_options = None;
        if req.stream == Some(false) {
            req.stream = None;
        }
    }
    for quirk in opts.quirks {
        match *quirk {
            Quirk::Unsupported(param) if has_param(req, param) => {
                if !opts.drop_params {
                    return Err(LlmError::unsupported_param(param, opts.provider));
                }
                take_param(req, param);
            }
            Quirk::Unsupported(_) => {}
            Quirk::Rename { from, to } => {
                if let Some(value) = take_param(req, from) {
                    if !has_param(req, to) {
                        set_param(req, to, value)?;
                    }
                }
            }
            Quirk::NoStreamOptions => req.stream_options = None,
            Quirk::ReasoningModelTokenLimit => {
                if is_reasoning_model(&req.model) {
                    if let Some(limit) = req.max_tokens.take() {
                        req.max_completion_tokens.get_or_insert(limit);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The JSON body for `POST …/chat/completions`: [`prepare_chat`], then one serialization.
///
/// ```
/// use llm_core::{ChatMessage, ChatRequest};
/// use llm_provider_openai::wire::{chat_body, WireOptions};
/// let req = ChatRequest::new("openai/gpt-4o", vec![ChatMessage::user("Hi")]).with_stream(true);
/// let body: serde_json::Value = serde_json::from_slice(&chat_body(req, &WireOptions::default()).unwrap()).unwrap();
/// assert_eq!(body["model"], "gpt-4o");
/// assert_eq!(body["stream_options"]["include_usage"], true);
/// ```
pub fn chat_body(mut req: ChatRequest, opts: &WireOptions<'_>) -> Result<Vec<u8>, LlmError> {
    prepare_chat(&mut req, opts)?;
    llm_core::json::to_vec(&req).map_err(|e| LlmError::internal(format!("serializing the request: {e}")))
}

/// The JSON body for `POST …/embeddings`, model prefix stripped.
pub fn embedding_body(mut req: EmbeddingRequest, opts: &WireOptions<'_>) -> Result<Vec<u8>, LlmError> {
    let model = upstream_model(&req.model, opts.provider);
    if model.len() != req.model.len() {
        req.model = model.to_owned();
    }
    if req.input.is_empty() {
        return Err(LlmError::bad_request("nothing to embed: `input` is empty").with_param("input"));
    }
    llm_core::json::to_vec(&req).map_err(|e| LlmError::internal(format!("serializing the request: {e}")))
}

/// Parses a complete chat response. A 200 body carrying `{"error": …}` (some vendors send
/// those) becomes the mapped error; anything else unparsable is [`ErrorKind::Decode`](llm_core::ErrorKind::Decode).
pub fn parse_chat_response(body: &[u8]) -> Result<ChatResponse, LlmError> {
    parse_or_error(body, "chat completion")
}

/// Parses an embeddings response.
pub fn parse_embedding_response(body: &[u8]) -> Result<EmbeddingResponse, LlmError> {
    parse_or_error(body, "embedding response")
}

/// Parses a `GET …/models` answer.
pub fn parse_model_list(body: &[u8]) -> Result<ModelList, LlmError> {
    parse_or_error(body, "model list")
}

fn parse_or_error<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, LlmError> {
    serde_json::from_slice(body).map_err(|e| {
        if let Ok(err) = serde_json::from_slice::<OpenAiErrorBody>(body) {
            return error_from_body(&err.error, None);
        }
        LlmError::decode(format!("invalid {what} from upstream: {e}"), e)
    })
}

/// One event of a chat stream, as far as the adapter cares.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// A chunk to forward.
    Chunk(Box<ChatChunk>),
    /// `data: [DONE]`: the stream is complete.
    Done,
    /// Nothing to forward (an empty keep-alive event).
    Skip,
}

/// Parses the `data` of one server-sent event. A mid-stream `{"error": …}` (alone, or beside
/// chunk fields as OpenRouter sends it) is the mapped error.
///
/// ```
/// use llm_provider_openai::wire::{parse_stream_data, StreamEvent};
/// assert_eq!(parse_stream_data("[DONE]").unwrap(), StreamEvent::Done);
/// let err = parse_stream_data(r#"{"error":{"message":"overloaded","type":"server_error"}}"#).unwrap_err();
/// assert!(err.is_retryable());
/// ```
pub fn parse_stream_data(data: &str) -> Result<StreamEvent, LlmError> {
    let data = data.trim();
    if data.is_empty() {
        return Ok(StreamEvent::Skip);
    }
    if data == "[DONE]" {
        return Ok(StreamEvent::Done);
    }
    match serde_json::from_str::<ChatChunk>(data) {
        Ok(chunk) => match chunk.extra.get("error") {
            Some(err @ Value::Object(_)) => Err(error_from_value(err)),
            _ => Ok(StreamEvent::Chunk(Box::new(chunk))),
        },
        Err(e) => match serde_json::from_str::<OpenAiErrorBody>(data) {
            Ok(body) => Err(error_from_body(&body.error, None)),
            Err(_) => Err(LlmError::decode(format!("invalid stream chunk from upstream: {e}"), e)),
        },
    }
}

fn error_from_value(err: &Value) -> LlmError {
    match serde_json::from_value::<llm_core::OpenAiError>(err.clone()) {
        Ok(e) => error_from_body(&e, None),
        Err(e) => LlmError::decode(format!("invalid error event from upstream: {e}"), e),
    }
}

/// A complete answer as one chunk (one delta per choice, with finish reasons and usage): for
/// upstreams that answer a stream request with a complete JSON body.
///
/// ```
/// use llm_core::{ChatMessage, ChatResponse, Choice, Extra, FinishReason};
/// let res = ChatResponse { id: "c".into(), object: "chat.completion".into(), created: 1, model: "m".into(),
///     choices: vec![Choice { index: 0, message: ChatMessage::assistant("Hi"), logprobs: None,
///         finish_reason: Some(FinishReason::Stop), extra: Extra::new() }],
///     usage: None, system_fingerprint: None, service_tier: None, extra: Extra::new() };
/// let chunk = llm_provider_openai::wire::response_to_chunk(res);
/// assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("Hi"));
/// ```
pub fn response_to_chunk(response: ChatResponse) -> ChatChunk {
    let mut chunk = ChatChunk::new(response.id, response.model, response.created);
    chunk.usage = response.usage;
    chunk.system_fingerprint = response.system_fingerprint;
    chunk.service_tier = response.service_tier;
    chunk.extra = response.extra;
    chunk.choices = response
        .choices
        .into_iter()
        .map(|choice| {
            let m = choice.message;
            let content = match m.content {
                Some(MessageContent::Text(t)) => Some(t),
                Some(parts @ MessageContent::Parts(_)) => parts.text().map(|t| t.into_owned()),
                None => None,
            };
            let tool_calls = m.tool_calls.map(|calls| {
                calls
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| ToolCallDelta {
                        index: i as u32,
                        id: Some(c.id),
                        kind: Some(c.kind),
                        function: Some(FunctionCallDelta {
                            name: Some(c.function.name),
                            arguments: Some(c.function.arguments),
                        }),
                        extra: c.extra,
                    })
                    .collect()
            });
            ChunkChoice {
                index: choice.index,
                delta: Delta {
                    role: Some(m.role),
                    content,
                    reasoning_content: m.reasoning_content,
                    refusal: m.refusal,
                    tool_calls,
                    extra: m.extra,
                },
                logprobs: choice.logprobs,
                finish_reason: choice.finish_reason,
                extra: choice.extra,
            }
        })
        .collect();
    chunk
}

/// `GET …/models`: the models the key may use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// Always `"list"`.
    #[serde(default)]
    pub object: String,
    /// The models.
    pub data: Vec<ModelInfo>,
    /// Other fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One model of a [`ModelList`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The model id to put in requests.
    pub id: String,
    /// Always `"model"`.
    #[serde(default)]
    pub object: String,
    /// Unix seconds.
    #[serde(default)]
    pub created: u64,
    /// The owning organisation.
    #[serde(default)]
    pub owned_by: String,
    /// Other fields (vendors add context length, pricing, …), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use llm_core::{ChatMessage, ErrorKind};
    use serde_json::json;

    use super::*;

    fn body(req: ChatRequest, opts: &WireOptions<'_>) -> Value {
        serde_json::from_slice(&chat_body(req, opts).unwrap()).unwrap()
    }

    #[test]
    fn reasoning_models() {
        for m in ["o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-mini", "azure/o3"] {
            assert!(is_reasoning_model(m), "{m}");
        }
        for m in ["gpt-4o", "gpt-5-chat-latest", "omni-moderation", "o", ""] {
            assert!(!is_reasoning_model(m), "{m}");
        }
    }

    #[test]
    fn reasoning_model_gets_max_completion_tokens() {
        let opts = WireOptions { quirks: &[Quirk::ReasoningModelTokenLimit], ..Default::default() };
        let b = body(ChatRequest::new("o3-mini", vec![ChatMessage::user("x")]).with_max_tokens(100), &opts);
        assert_eq!(b["max_completion_tokens"], 100);
        assert!(b.get("max_tokens").is_none());
        let b = body(ChatRequest::new("gpt-4o", vec![ChatMessage::user("x")]).with_max_tokens(100), &opts);
        assert_eq!(b["max_tokens"], 100);
    }

    #[test]
    fn quirks_rename_and_reject() {
        let mistral = crate::Vendor::get("mistral").unwrap();
        let opts = WireOptions { quirks: mistral.quirks, provider: "mistral", ..Default::default() };
        let mut req =
            ChatRequest::new("mistral/mistral-large", vec![ChatMessage::user("x")]).with_stream(true);
        req.seed = Some(7);
        req.max_completion_tokens = Some(50);
        let b = body(req, &opts);
        assert_eq!(b["model"], "mistral-large");
        assert_eq!(b["random_seed"], 7);
        assert_eq!(b["max_tokens"], 50);
        assert!(
            b.get("seed").is_none()
                && b.get("stream_options").is_none()
                && b.get("max_completion_tokens").is_none()
        );

        let groq = crate::Vendor::get("groq").unwrap();
        let mut opts = WireOptions { quirks: groq.quirks, provider: "groq", ..Default::default() };
        let mut req = ChatRequest::new("llama", vec![ChatMessage::user("x")]);
        req.logprobs = Some(true);
        req.extra.insert("logit_bias".into(), json!({"1": 2}));
        let err = chat_body(req.clone(), &opts).unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::BadRequest);
        assert_eq!(err.param(), Some("logprobs"));
        assert_eq!(err.code(), Some("unsupported_parameter"));
        opts.drop_params = true;
        let b = body(req, &opts);
        assert!(b.get("logprobs").is_none() && b.get("logit_bias").is_none());
    }

    #[test]
    fn non_stream_drops_stream_options_and_unknown_fields_pass() {
        let mut req = ChatRequest::new("gpt-4o", vec![ChatMessage::user("x")]);
        req.stream = Some(false);
        req.stream_options = Some(StreamOptions { include_usage: Some(true), extra: Extra::new() });
        req.extra.insert("prediction".into(), json!({"type": "content", "content": "x"}));
        let b = body(req, &WireOptions::default());
        assert!(b.get("stream_options").is_none() && b.get("stream").is_none());
        assert_eq!(b["prediction"]["type"], "content");
        let mut req = ChatRequest::new("gpt-4o", vec![ChatMessage::user("x")]);
        req.stream = Some(true);
        req.stream_options = Some(StreamOptions { include_usage: Some(false), extra: Extra::new() });
        assert_eq!(body(req, &WireOptions::default())["stream_options"]["include_usage"], false);
    }

    #[test]
    fn stream_data_events() {
        assert_eq!(parse_stream_data("  ").unwrap(), StreamEvent::Skip);
        let chunk = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"obfuscation":"x"}"#;
        match parse_stream_data(chunk).unwrap() {
            StreamEvent::Chunk(c) => assert_eq!(c.extra["obfuscation"], "x"),
            other => panic!("{other:?}"),
        }
        let openrouter = r#"{"id":"c","model":"m","choices":[],"error":{"code":429,"message":"slow down"}}"#;
        let e = parse_stream_data(openrouter).unwrap_err();
        assert_eq!(e.message(), "slow down");
        assert!(matches!(e.kind(), ErrorKind::RateLimited { .. }));
        assert_eq!(*parse_stream_data("{\"id\":").unwrap_err().kind(), ErrorKind::Decode);
        let ctx = r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        assert_eq!(*parse_stream_data(ctx).unwrap_err().kind(), ErrorKind::ContextWindowExceeded);
    }

    #[test]
    fn error_body_with_200_is_an_error() {
        let e = parse_chat_response(
            br#"{"error":{"message":"bad key","type":"authentication_error","code":"invalid_api_key"}}"#,
        )
        .unwrap_err();
        assert_eq!(*e.kind(), ErrorKind::Authentication);
        assert_eq!(*parse_chat_response(b"[1,2]").unwrap_err().kind(), ErrorKind::Decode);
    }

    #[test]
    fn complete_answer_becomes_one_chunk_that_accumulates_back() {
        let res: ChatResponse = serde_json::from_value(json!({"id": "c", "object": "chat.completion", "created": 5,
            "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant",
            "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}))
        .unwrap();
        let mut acc = llm_core::StreamAccumulator::new();
        acc.push(&response_to_chunk(res.clone()));
        let back = acc.finish();
        assert_eq!(back.choices[0].message.tool_calls, res.choices[0].message.tool_calls);
        assert_eq!(
            (back.usage, back.choices[0].finish_reason.clone()),
            (res.usage, res.choices[0].finish_reason.clone())
        );
    }

    #[test]
    fn empty_embedding_input_is_rejected() {
        let req = EmbeddingRequest::new("openai/text-embedding-3-small", Vec::<String>::new());
        assert_eq!(*embedding_body(req, &WireOptions::default()).unwrap_err().kind(), ErrorKind::BadRequest);
    }
}
