//! Translation of the common [`ChatRequest`] into an Anthropic Messages API request body.
//!
//! Pure functions: no I/O, tested without HTTP. See [`to_messages_request`] for the mapping.

use llm_core::{
    ChatMessage, ChatRequest, ContentPart, Extra, FilePart, LlmError, MessageContent, ResponseFormat, Role,
    ToolChoice, ToolChoiceMode,
};
use serde_json::{Map, Value, json};

use crate::defaults::{ANSWER_ROOM_WITH_THINKING, MIN_THINKING_BUDGET, default_max_tokens, thinking_budget};

/// The provider name used in error messages.
const TARGET: &str = "anthropic";

/// The beta a `file_id` document source needs.
const FILES_API_BETA: &str = "files-api-2025-04-14";

/// Extra (unmodelled) OpenAI parameters that Anthropic has no equivalent for.
const OPENAI_ONLY_EXTRAS: &[&str] = &[
    "logit_bias",
    "modalities",
    "audio",
    "prediction",
    "functions",
    "function_call",
    "web_search_options",
    "store",
    "verbosity",
    "prompt_cache_key",
    "safety_identifier",
];

/// How to translate: options that are not part of the request itself.
///
/// ```
/// use llm_provider_anthropic::TranslateOptions;
/// let opts = TranslateOptions::new().with_stream(true).with_drop_params(true);
/// assert!(opts.stream && opts.drop_params);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TranslateOptions {
    /// Drop parameters Anthropic does not support instead of failing with
    /// [`LlmError::unsupported_param`].
    pub drop_params: bool,
    /// Ask for a server-sent-event stream (`"stream": true`).
    pub stream: bool,
    /// `max_tokens` when the caller gives none, instead of [`default_max_tokens`].
    pub default_max_tokens: Option<u32>,
}

impl TranslateOptions {
    /// Defaults: fail on unsupported parameters, no stream, per-family `max_tokens`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`drop_params`](Self::drop_params).
    pub fn with_drop_params(mut self, drop_params: bool) -> Self {
        self.drop_params = drop_params;
        self
    }

    /// Sets [`stream`](Self::stream).
    pub fn with_stream(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }

    /// Sets [`default_max_tokens`](Self::default_max_tokens).
    pub fn with_default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = Some(max_tokens);
        self
    }
}

/// A translated request: the JSON body for `POST /v1/messages` and the `anthropic-beta` values it
/// needs (from an `anthropic_beta` extra, or implied by its content).
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesRequest {
    /// The request body.
    pub body: Map<String, Value>,
    /// Beta feature names for the `anthropic-beta` header (deduplicated, in order).
    pub betas: Vec<String>,
}

/// Translates `request` into a Messages API body.
///
/// - `system`/`developer` messages (anywhere in the conversation) become the top-level `system`:
///   a string for one plain text, else a list of text blocks (keeping `cache_control`);
/// - `max_tokens` is always set: `max_completion_tokens`, else `max_tokens`, else
///   [`default_max_tokens`] (see [`thinking_budget`] for how thinking widens it);
/// - consecutive messages of one role are merged into one turn; `tool` messages become
///   `tool_result` blocks of a user turn; assistant `tool_calls` become `tool_use` blocks (their
///   arguments must be a JSON object, else [`ErrorKind::BadRequest`](llm_core::ErrorKind));
/// - image parts become `image` blocks (`data:` URLs → base64 source, `http(s)` → url source), PDF
///   file parts become `document` blocks, `cache_control` on parts, messages and tools is kept;
/// - an assistant message's `thinking_blocks` extra (as returned by this crate's parsers) is sent
///   back first, so a thinking turn with tool use can continue;
/// - `tools` → `input_schema` tools, `tool_choice` auto/required/named/none → auto/any/tool/none,
///   `parallel_tool_calls: false` → `disable_parallel_tool_use`;
/// - `stop` → `stop_sequences`, `user` → `metadata.user_id`, `reasoning_effort` or a `thinking`
///   extra → `thinking`, `temperature`/`top_p` as given, a `json_schema` `response_format` →
///   `output_config.format` (structured outputs);
/// - `n > 1`, `seed`, `frequency_penalty`/`presence_penalty` (non-zero), `logprobs`,
///   `top_logprobs`, `response_format: json_object` and OpenAI-only extras (`logit_bias`, …) fail with
///   [`LlmError::unsupported_param`] unless [`TranslateOptions::drop_params`] is set;
/// - every other extra (e.g. `top_k`) is passed through unchanged unless it would overwrite a
///   translated field; `anthropic_beta` (a string or a list) goes to [`MessagesRequest::betas`];
/// - not sent: `stream_options` (usage always arrives), OpenAI `metadata` other than its
///   `user_id`, message `name`s, and `reasoning_content` without signed `thinking_blocks`.
///
/// ```
/// use llm_core::{ChatMessage, ChatRequest};
/// use llm_provider_anthropic::{to_messages_request, TranslateOptions};
/// let req = ChatRequest::new("anthropic/claude-sonnet-4-5", vec![
///     ChatMessage::system("Be brief."),
///     ChatMessage::user("Hi"),
/// ]);
/// let out = to_messages_request(&req, &TranslateOptions::new()).unwrap();
/// assert_eq!(out.body["model"], "claude-sonnet-4-5");
/// assert_eq!(out.body["system"], "Be brief.");
/// assert_eq!(out.body["max_tokens"], 16384);
/// assert_eq!(out.body["messages"][0]["content"][0]["text"], "Hi");
/// ```
pub fn to_messages_request(
    request: &ChatRequest,
    options: &TranslateOptions,
) -> Result<MessagesRequest, LlmError> {
    let params = Params { drop: options.drop_params };
    let mut betas = Betas::default();
    check_unsupported(request, &params)?;

    let model = request.model.strip_prefix("anthropic/").unwrap_or(&request.model);
    let mut body = Map::new();
    body.insert("model".into(), Value::String(model.to_owned()));

    let (system, messages) = translate_messages(&request.messages, &mut betas)?;

    let (thinking, max_tokens) = thinking_and_max_tokens(request, model, options)?;
    body.insert("max_tokens".into(), json!(max_tokens));
    if let Some(system) = system {
        body.insert("system".into(), system);
    }
    body.insert("messages".into(), Value::Array(messages));

    if let Some(tools) = translate_tools(request)? {
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = translate_tool_choice(request) {
            body.insert("tool_choice".into(), Value::Object(choice));
        }
    }
    let stops = request.stop_sequences();
    if !stops.is_empty() {
        body.insert("stop_sequences".into(), json!(stops));
    }
    if let Some(t) = request.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = request.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(thinking) = thinking {
        body.insert("thinking".into(), thinking);
    }
    if let Some(ResponseFormat::JsonSchema { json_schema }) = &request.response_format {
        if let Some(schema) = &json_schema.schema {
            let format = json!({"type": "json_schema", "schema": schema});
            body.insert("output_config".into(), json!({ "format": format }));
        }
    }
    let user_id = request.user.clone().or_else(|| {
        request.metadata.as_ref().and_then(|m| m.get("user_id")).and_then(Value::as_str).map(str::to_owned)
    });
    if let Some(user_id) = user_id {
        body.insert("metadata".into(), json!({ "user_id": user_id }));
    }
    if options.stream {
        body.insert("stream".into(), Value::Bool(true));
    }
    pass_through_extras(request, &params, &mut body, &mut betas)?;
    Ok(MessagesRequest { body, betas: betas.0 })
}

struct Params {
    drop: bool,
}

impl Params {
    /// `Ok` when dropping is allowed, else the unsupported-parameter error.
    fn unsupported(&self, name: &str) -> Result<(), LlmError> {
        if self.drop { Ok(()) } else { Err(LlmError::unsupported_param(name, TARGET)) }
    }
}

#[derive(Default)]
struct Betas(Vec<String>);

impl Betas {
    fn add(&mut self, beta: &str) {
        let beta = beta.trim();
        if !beta.is_empty() && !self.0.iter().any(|b| b == beta) {
            self.0.push(beta.to_owned());
        }
    }
}

fn check_unsupported(request: &ChatRequest, params: &Params) -> Result<(), LlmError> {
    if request.n.is_some_and(|n| n > 1) {
        params.unsupported("n")?;
    }
    if request.seed.is_some() {
        params.unsupported("seed")?;
    }
    if request.frequency_penalty.is_some_and(|p| p != 0.0) {
        params.unsupported("frequency_penalty")?;
    }
    if request.presence_penalty.is_some_and(|p| p != 0.0) {
        params.unsupported("presence_penalty")?;
    }
    if request.logprobs == Some(true) {
        params.unsupported("logprobs")?;
    }
    if request.top_logprobs.is_some() {
        params.unsupported("top_logprobs")?;
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonSchema { json_schema }) if json_schema.schema.is_some() => {}
        Some(_) => params.unsupported("response_format")?,
    }
    Ok(())
}

fn pass_through_extras(
    request: &ChatRequest,
    params: &Params,
    body: &mut Map<String, Value>,
    betas: &mut Betas,
) -> Result<(), LlmError> {
    for (key, value) in &request.extra {
        match key.as_str() {
            "thinking" => {}
            "anthropic_beta" => match value {
                Value::String(s) => s.split(',').for_each(|b| betas.add(b)),
                Value::Array(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(s) => betas.add(s),
                            None => {
                                return Err(LlmError::bad_request("`anthropic_beta` must hold strings")
                                    .with_param("anthropic_beta"));
                            }
                        }
                    }
                }
                _ => {
                    return Err(LlmError::bad_request("`anthropic_beta` must be a string or a list")
                        .with_param("anthropic_beta"));
                }
            },
            "store" if matches!(value, Value::Bool(false) | Value::Null) => {}
            "service_tier" if !matches!(value.as_str(), Some("auto" | "standard_only")) => {
                params.unsupported("service_tier")?;
            }
            k if OPENAI_ONLY_EXTRAS.contains(&k) => params.unsupported(k)?,
            k if body.contains_key(k) => {}
            k => {
                body.insert(k.to_owned(), value.clone());
            }
        }
    }
    Ok(())
}

/// The `thinking` object (if any) and the `max_tokens` to send.
fn thinking_and_max_tokens(
    request: &ChatRequest,
    model: &str,
    options: &TranslateOptions,
) -> Result<(Option<Value>, u32), LlmError> {
    let family_default = options.default_max_tokens.unwrap_or_else(|| default_max_tokens(model));
    let caller_limit = request.output_token_limit();
    if let Some(explicit) = request.extra.get("thinking") {
        if !explicit.is_object() {
            return Err(LlmError::bad_request("`thinking` must be an object").with_param("thinking"));
        }
        let budget = explicit.get("budget_tokens").and_then(Value::as_u64);
        let max_tokens = match (caller_limit, budget) {
            (Some(limit), _) => limit,
            (None, Some(b)) => {
                let wanted = b.saturating_add(u64::from(ANSWER_ROOM_WITH_THINKING));
                u32::try_from(wanted).unwrap_or(u32::MAX).max(family_default)
            }
            (None, None) => family_default,
        };
        return Ok((Some(explicit.clone()), max_tokens));
    }
    let Some(mut budget) = request.reasoning_effort.and_then(thinking_budget) else {
        return Ok((None, caller_limit.unwrap_or(family_default)));
    };
    let max_tokens = match caller_limit {
        Some(limit) => {
            if budget >= limit {
                budget = limit / 2;
                if budget < MIN_THINKING_BUDGET {
                    return Err(LlmError::bad_request(format!(
                        "max_tokens {limit} leaves no room for extended thinking (needs a budget of at \
                         least {MIN_THINKING_BUDGET} tokens below max_tokens)"
                    ))
                    .with_param("reasoning_effort"));
                }
            }
            limit
        }
        None => family_default.max(budget.saturating_add(ANSWER_ROOM_WITH_THINKING)),
    };
    Ok((Some(json!({"type": "enabled", "budget_tokens": budget})), max_tokens))
}

/// One Anthropic turn being built.
struct Turn {
    role: &'static str,
    content: Vec<Value>,
}

fn push_turn(turns: &mut Vec<Turn>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => last.content.extend(blocks),
        _ => turns.push(Turn { role, content: blocks }),
    }
}

/// Lifts system messages out and turns the rest into merged user/assistant turns.
fn translate_messages(
    messages: &[ChatMessage],
    betas: &mut Betas,
) -> Result<(Option<Value>, Vec<Value>), LlmError> {
    let mut system_blocks: Vec<Value> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let (role, mut blocks) = match message.role {
            Role::System | Role::Developer => {
                let mut blocks = system_content(message, i)?;
                apply_message_cache_control(message, &mut blocks);
                system_blocks.extend(blocks);
                continue;
            }
            Role::User => ("user", user_content(message.content.as_ref(), i, betas)?),
            Role::Assistant => ("assistant", assistant_content(message, i)?),
            Role::Tool => ("user", vec![tool_result(message, i, betas)?]),
            Role::Function => {
                return Err(LlmError::bad_request(format!(
                    "messages[{i}]: legacy `function` messages are not supported by {TARGET}; use tool messages"
                ))
                .with_param("messages"));
            }
        };
        apply_message_cache_control(message, &mut blocks);
        push_turn(&mut turns, role, blocks);
    }
    let system = match system_blocks.len() {
        0 => None,
        1 if system_blocks[0].as_object().is_some_and(|b| b.len() == 2) => {
            system_blocks[0].get("text").cloned()
        }
        _ => Some(Value::Array(system_blocks)),
    };
    let messages =
        turns.into_iter().map(|t| json!({"role": t.role, "content": Value::Array(t.content)})).collect();
    Ok((system, messages))
}

/// A message-level `cache_control` (LiteLLM's convention) applies to the message's last block.
fn apply_message_cache_control(message: &ChatMessage, blocks: &mut [Value]) {
    if let (Some(cc), Some(Value::Object(last))) = (message.extra.get("cache_control"), blocks.last_mut()) {
        last.entry("cache_control").or_insert_with(|| cc.clone());
    }
}

fn copy_cache_control(from: &Extra, block: &mut Value) {
    if let (Some(cc), Value::Object(b)) = (from.get("cache_control"), block) {
        b.insert("cache_control".into(), cc.clone());
    }
}

fn text_block(text: &str, extra: Option<&Extra>) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    let mut block = json!({"type": "text", "text": text});
    if let Some(extra) = extra {
        copy_cache_control(extra, &mut block);
    }
    Some(block)
}

fn part_error(i: usize, what: &str) -> LlmError {
    LlmError::bad_request(format!("messages[{i}]: {what}")).with_param("messages")
}

fn system_content(message: &ChatMessage, i: usize) -> Result<Vec<Value>, LlmError> {
    match &message.content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(text_block(t, None).into_iter().collect()),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => text_block(&t.text, Some(&t.extra)).map(Ok),
                _ => Some(Err(part_error(i, "system messages may only contain text parts"))),
            })
            .collect(),
    }
}

fn user_content(
    content: Option<&MessageContent>,
    i: usize,
    betas: &mut Betas,
) -> Result<Vec<Value>, LlmError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(MessageContent::Text(t)) => return Ok(text_block(t, None).into_iter().collect()),
        Some(MessageContent::Parts(parts)) => parts,
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for part in parts {
        let block = match part {
            ContentPart::Text(t) => text_block(&t.text, Some(&t.extra)),
            ContentPart::Refusal(r) => text_block(&r.refusal, Some(&r.extra)),
            ContentPart::ImageUrl(img) => {
                let mut block = image_block(&img.image_url.url, i)?;
                copy_cache_control(&img.extra, &mut block);
                Some(block)
            }
            ContentPart::File(file) => Some(file_block(file, i, betas)?),
            ContentPart::InputAudio(_) => {
                return Err(part_error(i, "audio input is not supported by anthropic"));
            }
        };
        blocks.extend(block);
    }
    Ok(blocks)
}

fn image_block(url: &str, i: usize) -> Result<Value, LlmError> {
    if url.starts_with("data:") {
        let (media_type, data) = llm_core::parse_base64_data_url(url)
            .ok_or_else(|| part_error(i, "image data URLs must be `data:<type>;base64,…`"))?;
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        );
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(part_error(i, "image URLs must be http(s) or base64 data URLs"))
}

fn file_block(part: &FilePart, i: usize, betas: &mut Betas) -> Result<Value, LlmError> {
    let file = &part.file;
    let mut block = if let Some(data) = &file.file_data {
        let (media_type, payload) = match llm_core::parse_base64_data_url(data) {
            Some((m, d)) => (m.to_owned(), d),
            None if data.starts_with("data:") => {
                return Err(part_error(i, "file data URLs must be `data:<type>;base64,…`"));
            }
            None => {
                let declared = file.extra.get("format").and_then(Value::as_str);
                (declared.unwrap_or("application/pdf").to_owned(), data.as_str())
            }
        };
        let source = json!({"type": "base64", "media_type": media_type, "data": payload});
        if media_type == "application/pdf" {
            json!({"type": "document", "source": source})
        } else if media_type.starts_with("image/") {
            json!({"type": "image", "source": source})
        } else {
            return Err(part_error(
                i,
                &format!(
                    "file parts of type `{media_type}` are not supported by anthropic (PDF and images are)"
                ),
            ));
        }
    } else if let Some(id) = &file.file_id {
        betas.add(FILES_API_BETA);
        json!({"type": "document", "source": {"type": "file", "file_id": id}})
    } else {
        return Err(part_error(i, "a file part needs `file_data` or `file_id`"));
    };
    if let (Some(name), Some(b)) = (&file.filename, block.as_object_mut()) {
        if b.get("type").and_then(Value::as_str) == Some("document") {
            b.insert("title".into(), Value::String(name.clone()));
        }
    }
    copy_cache_control(&part.extra, &mut block);
    Ok(block)
}

fn assistant_content(message: &ChatMessage, i: usize) -> Result<Vec<Value>, LlmError> {
    let mut blocks = Vec::new();
    if let Some(Value::Array(thinking)) = message.extra.get("thinking_blocks") {
        for b in thinking {
            let kind = b.get("type").and_then(Value::as_str);
            if matches!(kind, Some("thinking" | "redacted_thinking")) {
                blocks.push(b.clone());
            }
        }
    }
    match &message.content {
        None => {}
        Some(MessageContent::Text(t)) => blocks.extend(text_block(t, None)),
        Some(MessageContent::Parts(parts)) => {
            for part in parts {
                let block = match part {
                    ContentPart::Text(t) => text_block(&t.text, Some(&t.extra)),
                    ContentPart::Refusal(r) => text_block(&r.refusal, Some(&r.extra)),
                    _ => return Err(part_error(i, "assistant messages may only contain text parts")),
                };
                blocks.extend(block);
            }
        }
    }
    for (j, call) in message.tool_calls.iter().flatten().enumerate() {
        let args = call.function.arguments.trim();
        let input: Value = if args.is_empty() {
            json!({})
        } else {
            serde_json::from_str(args).map_err(|e| {
                part_error(i, &format!("tool_calls[{j}].function.arguments is not valid JSON: {e}"))
            })?
        };
        if !input.is_object() {
            return Err(part_error(i, &format!("tool_calls[{j}].function.arguments must be a JSON object")));
        }
        let mut block =
            json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input});
        copy_cache_control(&call.extra, &mut block);
        blocks.push(block);
    }
    Ok(blocks)
}

fn tool_result(message: &ChatMessage, i: usize, betas: &mut Betas) -> Result<Value, LlmError> {
    let id =
        message.tool_call_id.as_deref().ok_or_else(|| part_error(i, "tool messages need `tool_call_id`"))?;
    let mut block = json!({"type": "tool_result", "tool_use_id": id});
    let content = match &message.content {
        None => None,
        Some(MessageContent::Text(t)) if t.is_empty() => None,
        Some(MessageContent::Text(t)) => Some(Value::String(t.clone())),
        Some(parts @ MessageContent::Parts(_)) => Some(Value::Array(user_content(Some(parts), i, betas)?)),
    };
    if let (Some(content), Value::Object(b)) = (content, &mut block) {
        b.insert("content".into(), content);
    }
    if let (Some(is_error @ Value::Bool(_)), Value::Object(b)) = (message.extra.get("is_error"), &mut block) {
        b.insert("is_error".into(), is_error.clone());
    }
    Ok(block)
}

fn translate_tools(request: &ChatRequest) -> Result<Option<Vec<Value>>, LlmError> {
    let Some(tools) = request.tools.as_ref().filter(|t| !t.is_empty()) else { return Ok(None) };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        if tool.kind != "function" {
            return Err(LlmError::bad_request(format!(
                "tools[{i}]: tool type `{}` is not supported by {TARGET}",
                tool.kind
            ))
            .with_param("tools"));
        }
        let f = &tool.function;
        let mut t = Map::new();
        t.insert("name".into(), Value::String(f.name.clone()));
        if let Some(d) = &f.description {
            t.insert("description".into(), Value::String(d.clone()));
        }
        let schema = f.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        t.insert("input_schema".into(), schema);
        let mut t = Value::Object(t);
        copy_cache_control(&f.extra, &mut t);
        copy_cache_control(&tool.extra, &mut t);
        out.push(t);
    }
    Ok(Some(out))
}

fn translate_tool_choice(request: &ChatRequest) -> Option<Map<String, Value>> {
    let mut choice = request.tool_choice.as_ref().map(|c| {
        let v = match c {
            ToolChoice::Mode(ToolChoiceMode::None) => json!({"type": "none"}),
            ToolChoice::Mode(ToolChoiceMode::Auto) => json!({"type": "auto"}),
            ToolChoice::Mode(ToolChoiceMode::Required) => json!({"type": "any"}),
            ToolChoice::Named(n) => json!({"type": "tool", "name": n.function.name}),
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    });
    if request.parallel_tool_calls == Some(false) {
        let c = choice.get_or_insert_with(|| {
            let mut m = Map::new();
            m.insert("type".into(), Value::String("auto".into()));
            m
        });
        if c.get("type").and_then(Value::as_str) != Some("none") {
            c.insert("disable_parallel_tool_use".into(), Value::Bool(true));
        }
    }
    choice
}
