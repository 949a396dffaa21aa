//! `ChatRequest` → Converse request body, as pure functions.

use base64::Engine as _;
use llm_core::{
    ChatMessage, ChatRequest, ContentPart, LlmError, MessageContent, ReasoningEffort, ResponseFormat, Role,
    ToolChoice, ToolChoiceMode,
};
use serde_json::{Map, Value, json};

use crate::sigv4::uri_encode;

/// Converse top-level fields taken from the request's `extra` map as they are.
const PASSTHROUGH_FIELDS: &[&str] = &[
    "guardrailConfig",
    "performanceConfig",
    "requestMetadata",
    "serviceTier",
    "additionalModelResponseFieldPaths",
    "promptVariables",
];

/// The Bedrock model id of a request's model: a `bedrock/` (and LiteLLM's `converse/`) prefix is
/// removed; everything else — region-prefixed inference profiles like `us.anthropic.claude-…`,
/// ARNs — passes through unchanged.
///
/// ```
/// use llm_provider_bedrock::model_id;
/// assert_eq!(model_id("bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0"), "us.anthropic.claude-3-5-sonnet-20241022-v2:0");
/// assert_eq!(model_id("bedrock/converse/amazon.nova-pro-v1:0"), "amazon.nova-pro-v1:0");
/// assert_eq!(model_id("anthropic.claude-3-haiku-20240307-v1:0"), "anthropic.claude-3-haiku-20240307-v1:0");
/// ```
pub fn model_id(model: &str) -> &str {
    let m = model.strip_prefix("bedrock/").unwrap_or(model);
    m.strip_prefix("converse/").unwrap_or(m)
}

/// The request path for `operation` (`converse`, `converse-stream`, `invoke`) on `model`, with
/// the model id percent-encoded (ids contain `:`, ARNs contain `/`).
///
/// ```
/// assert_eq!(llm_provider_bedrock::model_path("us.anthropic.claude-3-haiku-20240307-v1:0", "converse"),
///            "/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/converse");
/// ```
pub fn model_path(model: &str, operation: &str) -> String {
    format!("/model/{}/{operation}", uri_encode(model_id(model), false))
}

/// Whether the model is an Anthropic Claude (directly or through an inference profile).
pub(crate) fn is_anthropic(model: &str) -> bool {
    model_id(model).contains("anthropic.")
}

/// The thinking budget for a reasoning effort on Anthropic models (`None` = thinking off).
pub fn thinking_budget(effort: ReasoningEffort) -> Option<u32> {
    match effort {
        ReasoningEffort::None => None,
        ReasoningEffort::Minimal | ReasoningEffort::Low => Some(1024),
        ReasoningEffort::Medium => Some(2048),
        ReasoningEffort::High => Some(4096),
        ReasoningEffort::Xhigh => Some(8192),
    }
}

/// Translates a chat request into a Converse (or ConverseStream) request body.
///
/// | OpenAI | Converse |
/// |---|---|
/// | `system` / `developer` messages | `system: [{text}]` |
/// | user/assistant text, `image_url` (`data:` URLs), `file` (PDF `data:`) | `text`, `image{format,source{bytes}}`, `document{format,name,source{bytes}}` blocks |
/// | assistant `tool_calls` | `toolUse{toolUseId,name,input}` blocks |
/// | `tool` messages | `toolResult{toolUseId,content:[{json}\|{text}]}` in a user turn |
/// | consecutive same-role turns | merged into one message |
/// | `tools`, `tool_choice` auto/required/named | `toolConfig{tools:[{toolSpec}],toolChoice:{auto}\|{any}\|{tool:{name}}}` |
/// | `tool_choice: "none"` | `toolConfig` omitted (kept without `toolChoice` when the history has tool blocks, which Bedrock requires) |
/// | `max_tokens`/`max_completion_tokens`, `temperature`, `top_p`, `stop` | `inferenceConfig{maxTokens,temperature,topP,stopSequences}` |
/// | `reasoning_effort` (Anthropic models) | `additionalModelRequestFields.thinking{type:"enabled",budget_tokens}` |
/// | `reasoning_effort` (`openai.*` models) | `additionalModelRequestFields.reasoning_effort` |
/// | extra `top_k` | `additionalModelRequestFields.top_k` |
/// | extra `additionalModelRequestFields` / `additional_model_request_fields` | merged into `additionalModelRequestFields` |
/// | `response_format: json_schema` | `outputConfig.textFormat{type:"json_schema",structure{jsonSchema{schema,name}}}` |
/// | `cache_control` on a message, a text part or a tool (Anthropic style) | a `cachePoint{type:"default"}` block after it |
/// | extra `guardrailConfig`, `performanceConfig`, `requestMetadata`, `serviceTier`, … | passed through |
///
/// Errors ([`llm_core::ErrorKind::BadRequest`]): `n > 1`, `logprobs`, `json_object` response
/// format, reasoning effort on a model family without a known mapping, images by `https` URL
/// (Bedrock takes bytes or S3 only), unsupported image or file formats, non-JSON tool arguments.
/// Ignored: `seed`, penalties, `user`, `metadata`, `parallel_tool_calls`, `stream_options`.
///
/// ```
/// use llm_core::{ChatMessage, ChatRequest};
/// let req = ChatRequest::new("bedrock/anthropic.claude-3-haiku-20240307-v1:0",
///     vec![ChatMessage::system("Be brief."), ChatMessage::user("Hi")]).with_max_tokens(100);
/// let body = llm_provider_bedrock::to_converse(&req).unwrap();
/// assert_eq!(body["system"], serde_json::json!([{"text": "Be brief."}]));
/// assert_eq!(body["messages"], serde_json::json!([{"role": "user", "content": [{"text": "Hi"}]}]));
/// assert_eq!(body["inferenceConfig"]["maxTokens"], 100);
/// ```
pub fn to_converse(req: &ChatRequest) -> Result<Value, LlmError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(LlmError::unsupported_param("n", "Bedrock Converse"));
    }
    if req.logprobs == Some(true) {
        return Err(LlmError::unsupported_param("logprobs", "Bedrock Converse"));
    }
    let mut body = Map::new();

    let mut system = Vec::new();
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut has_tool_blocks = false;
    for (i, message) in req.messages.iter().enumerate() {
        let (role, blocks) = match message.role {
            Role::System | Role::Developer => {
                system.extend(system_blocks(message));
                continue;
            }
            Role::User => ("user", with_message_cache_point(message, user_blocks(message, i)?)),
            Role::Assistant => {
                ("assistant", with_message_cache_point(message, assistant_blocks(message, i)?))
            }
            Role::Tool | Role::Function => {
                has_tool_blocks = true;
                ("user", vec![tool_result_block(message, i)?])
            }
        };
        if role == "assistant" && blocks.iter().any(|b| b.get("toolUse").is_some()) {
            has_tool_blocks = true;
        }
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last_role, last)) if *last_role == role => last.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
    body.insert(
        "messages".into(),
        Value::Array(
            messages.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect(),
        ),
    );

    if let Some(tool_config) = tool_config(req, has_tool_blocks)? {
        body.insert("toolConfig".into(), tool_config);
    }

    let mut inference = Map::new();
    if let Some(max) = req.output_token_limit() {
        inference.insert("maxTokens".into(), max.into());
    }
    if let Some(t) = req.temperature {
        inference.insert("temperature".into(), t.into());
    }
    if let Some(p) = req.top_p {
        inference.insert("topP".into(), p.into());
    }
    if !req.stop_sequences().is_empty() {
        inference.insert("stopSequences".into(), req.stop_sequences().into());
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }

    let additional = additional_fields(req)?;
    if !additional.is_empty() {
        body.insert("additionalModelRequestFields".into(), Value::Object(additional));
    }

    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            return Err(LlmError::unsupported_param("response_format", "Bedrock Converse (json_object)"));
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let schema = json_schema.schema.clone().unwrap_or_else(|| json!({"type": "object"}));
            let mut def = Map::new();
            def.insert("schema".into(), Value::String(schema.to_string()));
            def.insert("name".into(), Value::String(json_schema.name.clone()));
            if let Some(d) = &json_schema.description {
                def.insert("description".into(), Value::String(d.clone()));
            }
            body.insert(
                "outputConfig".into(),
                json!({"textFormat": {"type": "json_schema", "structure": {"jsonSchema": def}}}),
            );
        }
    }

    for field in PASSTHROUGH_FIELDS {
        if let Some(v) = req.extra.get(*field) {
            body.insert((*field).to_owned(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

fn additional_fields(req: &ChatRequest) -> Result<Map<String, Value>, LlmError> {
    let mut fields = Map::new();
    if let Some(effort) = req.reasoning_effort {
        if is_anthropic(&req.model) {
            if let Some(budget) = thinking_budget(effort) {
                fields.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
            }
        } else if model_id(&req.model).starts_with("openai.") {
            let value = serde_json::to_value(effort).unwrap_or(Value::Null);
            fields.insert("reasoning_effort".into(), value);
        } else if effort != ReasoningEffort::None {
            return Err(LlmError::unsupported_param(
                "reasoning_effort",
                &format!("Bedrock model {}", req.model),
            ));
        }
    }
    if let Some(k) = req.extra.get("top_k") {
        fields.insert("top_k".into(), k.clone());
    }
    for key in ["additionalModelRequestFields", "additional_model_request_fields"] {
        match req.extra.get(key) {
            None => {}
            Some(Value::Object(extra)) => {
                for (k, v) in extra {
                    fields.insert(k.clone(), v.clone());
                }
            }
            Some(_) => {
                return Err(LlmError::bad_request(format!("`{key}` must be a JSON object")).with_param(key));
            }
        }
    }
    Ok(fields)
}

fn tool_config(req: &ChatRequest, has_tool_blocks: bool) -> Result<Option<Value>, LlmError> {
    let Some(tools) = req.tools.as_ref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let specs: Vec<Value> = tools
        .iter()
        .flat_map(|t| {
            let mut spec = Map::new();
            spec.insert("name".into(), t.function.name.clone().into());
            if let Some(d) = t.function.description.as_ref().filter(|d| !d.is_empty()) {
                spec.insert("description".into(), d.clone().into());
            }
            let schema =
                t.function.parameters.clone().unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            spec.insert("inputSchema".into(), json!({"json": schema}));
            let cache = t.extra.contains_key("cache_control").then(cache_point);
            std::iter::once(json!({"toolSpec": spec})).chain(cache)
        })
        .collect();
    let choice = match &req.tool_choice {
        None | Some(ToolChoice::Mode(ToolChoiceMode::Auto)) => Some(json!({"auto": {}})),
        Some(ToolChoice::Mode(ToolChoiceMode::Required)) => Some(json!({"any": {}})),
        Some(ToolChoice::Mode(ToolChoiceMode::None)) => {
            if !has_tool_blocks {
                return Ok(None);
            }
            None
        }
        Some(ToolChoice::Named(named)) => {
            if !tools.iter().any(|t| t.function.name == named.function.name) {
                return Err(LlmError::bad_request(format!(
                    "tool_choice names `{}`, which is not among the tools",
                    named.function.name
                ))
                .with_param("tool_choice"));
            }
            Some(json!({"tool": {"name": named.function.name}}))
        }
    };
    let mut config = Map::new();
    config.insert("tools".into(), Value::Array(specs));
    if let Some(c) = choice {
        config.insert("toolChoice".into(), c);
    }
    Ok(Some(Value::Object(config)))
}

/// Bedrock's prompt-cache marker, placed after the content to cache.
fn cache_point() -> Value {
    json!({"cachePoint": {"type": "default"}})
}

/// Appends a cache point after the last block, unless there is none or it is one already.
fn push_cache_point(blocks: &mut Vec<Value>) {
    if blocks.last().is_some_and(|b| b.get("cachePoint").is_none()) {
        blocks.push(cache_point());
    }
}

/// Appends a cache point when the message itself carries `cache_control`.
fn with_message_cache_point(message: &ChatMessage, mut blocks: Vec<Value>) -> Vec<Value> {
    if message.extra.contains_key("cache_control") {
        push_cache_point(&mut blocks);
    }
    blocks
}

fn system_blocks(message: &ChatMessage) -> Vec<Value> {
    let mut blocks = Vec::new();
    match &message.content {
        None => {}
        Some(MessageContent::Text(t)) => blocks.extend(text_block(t)),
        Some(MessageContent::Parts(parts)) => {
            for part in parts {
                if let ContentPart::Text(t) = part {
                    blocks.extend(text_block(&t.text));
                    if t.extra.contains_key("cache_control") {
                        push_cache_point(&mut blocks);
                    }
                }
            }
        }
    }
    with_message_cache_point(message, blocks)
}

fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"text": text}))
}

fn user_blocks(message: &ChatMessage, index: usize) -> Result<Vec<Value>, LlmError> {
    let mut blocks = Vec::new();
    match &message.content {
        None => {}
        Some(MessageContent::Text(t)) => blocks.extend(text_block(t)),
        Some(MessageContent::Parts(parts)) => {
            for (p, part) in parts.iter().enumerate() {
                let param = || format!("messages[{index}].content[{p}]");
                match part {
                    ContentPart::Text(t) => {
                        blocks.extend(text_block(&t.text));
                        if t.extra.contains_key("cache_control") {
                            push_cache_point(&mut blocks);
                        }
                    }
                    ContentPart::ImageUrl(img) => blocks.push(image_block(&img.image_url.url, &param())?),
                    ContentPart::File(file) => {
                        let data = file.file.file_data.as_deref().ok_or_else(|| {
                            LlmError::bad_request(
                                "Bedrock takes files as inline data (file_data), not file_id",
                            )
                            .with_param(param())
                        })?;
                        blocks.push(document_block(data, file.file.filename.as_deref(), index, p, &param())?);
                    }
                    ContentPart::InputAudio(_) => {
                        return Err(LlmError::unsupported_param(&param(), "Bedrock Converse (input_audio)"));
                    }
                    ContentPart::Refusal(r) => blocks.extend(text_block(&r.refusal)),
                }
            }
        }
    }
    Ok(blocks)
}

fn assistant_blocks(message: &ChatMessage, index: usize) -> Result<Vec<Value>, LlmError> {
    let mut blocks = Vec::new();
    // Signed reasoning from an earlier turn goes back first, as Claude requires.
    if let Some(Value::Array(thinking)) = message.extra.get("thinking_blocks") {
        for block in thinking {
            match block.get("type").and_then(Value::as_str) {
                Some("thinking") => {
                    let mut text = Map::new();
                    text.insert("text".into(), block.get("thinking").cloned().unwrap_or_else(|| "".into()));
                    if let Some(sig) = block.get("signature").filter(|s| s.is_string()) {
                        text.insert("signature".into(), sig.clone());
                    }
                    blocks.push(json!({"reasoningContent": {"reasoningText": text}}));
                }
                Some("redacted_thinking") => {
                    if let Some(data) = block.get("data") {
                        blocks.push(json!({"reasoningContent": {"redactedContent": data}}));
                    }
                }
                _ => {}
            }
        }
    }
    match &message.content {
        None => {}
        Some(content) => {
            if let Some(text) = content.text() {
                blocks.extend(text_block(&text));
            }
        }
    }
    for (c, call) in message.tool_calls.iter().flatten().enumerate() {
        let args = call.function.arguments.trim();
        let input: Value = if args.is_empty() {
            json!({})
        } else {
            serde_json::from_str(args).map_err(|e| {
                LlmError::bad_request(format!("tool call arguments are not JSON: {e}"))
                    .with_param(format!("messages[{index}].tool_calls[{c}].function.arguments"))
            })?
        };
        blocks.push(json!({"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": input}}));
    }
    Ok(blocks)
}

fn tool_result_block(message: &ChatMessage, index: usize) -> Result<Value, LlmError> {
    let id = message.tool_call_id.as_deref().or(message.name.as_deref()).ok_or_else(|| {
        LlmError::bad_request("a tool message needs tool_call_id")
            .with_param(format!("messages[{index}].tool_call_id"))
    })?;
    let text = message.text().map(|t| t.into_owned()).unwrap_or_default();
    let content = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => json!({"json": v}),
        _ => json!({"text": if text.is_empty() { " ".to_owned() } else { text }}),
    };
    Ok(json!({"toolResult": {"toolUseId": id, "content": [content]}}))
}

fn decode_base64(data: &str, param: &str) -> Result<(), LlmError> {
    // Bedrock's JSON protocol sends blobs as base64; check it is valid before sending.
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map(|_| ())
        .map_err(|e| LlmError::bad_request(format!("invalid base64 data: {e}")).with_param(param))
}

fn image_block(url: &str, param: &str) -> Result<Value, LlmError> {
    let Some((mime, data)) = llm_core::parse_base64_data_url(url) else {
        return Err(LlmError::bad_request(
            "Bedrock takes images as base64 data: URLs (data:image/png;base64,…), not by http URL",
        )
        .with_param(param));
    };
    let format = match mime {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(LlmError::bad_request(format!(
                "image type `{other}` is not supported by Bedrock (png, jpeg, gif, webp)"
            ))
            .with_param(param));
        }
    };
    decode_base64(data, param)?;
    Ok(json!({"image": {"format": format, "source": {"bytes": data.trim()}}}))
}

fn document_block(
    data: &str,
    filename: Option<&str>,
    message: usize,
    part: usize,
    param: &str,
) -> Result<Value, LlmError> {
    let (mime, data) = match llm_core::parse_base64_data_url(data) {
        Some((mime, data)) => (mime, data),
        None => ("application/pdf", data),
    };
    let format = match mime {
        "application/pdf" => "pdf",
        "text/csv" => "csv",
        "text/html" => "html",
        "text/plain" => "txt",
        "text/markdown" => "md",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        other => {
            return Err(LlmError::bad_request(format!("file type `{other}` is not supported by Bedrock"))
                .with_param(param));
        }
    };
    decode_base64(data, param)?;
    // Bedrock document names allow letters, digits, single spaces, hyphens, parentheses and brackets.
    let name: String = filename
        .map(|f| f.rsplit_once('.').map_or(f, |(stem, _)| stem))
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || " -()[]".contains(c) { c } else { '-' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let name = if name.is_empty() { format!("document-{message}-{part}") } else { name };
    Ok(json!({"document": {"format": format, "name": name, "source": {"bytes": data.trim()}}}))
}
