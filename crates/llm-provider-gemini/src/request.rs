//! Translating an OpenAI-shaped [`ChatRequest`] into a Gemini `GenerateContentRequest` body.
//!
//! Pure functions, shared with any other shell that speaks the same body (Vertex AI).

use std::collections::HashMap;

use llm_core::{
    ChatMessage, ChatRequest, ContentPart, LlmError, MessageContent, ReasoningEffort, ResponseFormat, Role,
    ToolCall, ToolChoice, ToolChoiceMode,
};
use serde_json::{Map, Value, json};

use crate::schema::to_gemini_schema;

/// The `thinkingBudget` sent for each `reasoning_effort` (tokens; `None` disables thinking).
///
/// | `reasoning_effort` | `thinkingBudget` | `includeThoughts` |
/// |---|---|---|
/// | `none` | 0 | not sent |
/// | `minimal` | 512 | true |
/// | `low` | 1024 | true |
/// | `medium` | 8192 | true |
/// | `high` | 24576 | true |
/// | `xhigh` | 32768 | true |
///
/// ```
/// use llm_core::ReasoningEffort;
/// assert_eq!(llm_provider_gemini::thinking_budget(ReasoningEffort::High), 24576);
/// ```
pub fn thinking_budget(effort: ReasoningEffort) -> u32 {
    match effort {
        ReasoningEffort::None => 0,
        ReasoningEffort::Minimal => 512,
        ReasoningEffort::Low => 1024,
        ReasoningEffort::Medium => 8192,
        ReasoningEffort::High => 24576,
        ReasoningEffort::Xhigh => 32768,
    }
}

/// The key under a tool call's extra fields where the Gemini thought signature travels, as
/// Google's own OpenAI-compatible endpoint spells it: `extra_content.google.thought_signature`.
pub const THOUGHT_SIGNATURE_FIELD: &str = "thought_signature";

/// The sentinel Google documents for a Gemini 3 function call replayed without its signature
/// (e.g. history rebuilt from a stream, or written by another model).
pub const SKIP_SIGNATURE_SENTINEL: &str = "skip_thought_signature_validator";

/// The resource path of `model` (`models/gemini-2.5-flash`), after dropping a `gemini/` routing
/// prefix. Names with characters outside `[A-Za-z0-9._-]` (plus one `/` for `tunedModels/…`)
/// are rejected, so a model name can never rewrite the URL.
///
/// ```
/// assert_eq!(llm_provider_gemini::model_path("gemini/gemini-2.5-flash").unwrap(), "models/gemini-2.5-flash");
/// assert!(llm_provider_gemini::model_path("x?key=1").is_err());
/// ```
pub fn model_path(model: &str) -> Result<String, LlmError> {
    let name = model.strip_prefix("gemini/").unwrap_or(model);
    let name = name.strip_prefix("models/").unwrap_or(name);
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let (collection, id) = match name.split_once('/') {
        Some((collection @ "tunedModels", id)) => (collection, id),
        Some(_) => return Err(invalid_model(model)),
        None => ("models", name),
    };
    if id.is_empty() || !id.chars().all(valid_char) {
        return Err(invalid_model(model));
    }
    Ok(format!("{collection}/{id}"))
}

fn invalid_model(model: &str) -> LlmError {
    LlmError::bad_request(format!("invalid Gemini model name {model:?}")).with_param("model")
}

/// Builds the `GenerateContentRequest` JSON body for `request`.
///
/// System and developer messages become `systemInstruction`; user and tool messages `user`
/// turns; assistant messages `model` turns; consecutive turns of one role are merged. See the
/// crate docs for the full mapping.
///
/// ```
/// use llm_core::{ChatMessage, ChatRequest};
/// let req = ChatRequest::new("gemini-2.5-flash", vec![ChatMessage::system("Be brief."), ChatMessage::user("Hi")])
///     .with_max_tokens(64);
/// let body = llm_provider_gemini::build_generate_content_request(&req).unwrap();
/// assert_eq!(body["systemInstruction"]["parts"][0]["text"], "Be brief.");
/// assert_eq!(body["contents"][0]["role"], "user");
/// assert_eq!(body["generationConfig"]["maxOutputTokens"], 64);
/// ```
pub fn build_generate_content_request(request: &ChatRequest) -> Result<Value, LlmError> {
    let mut body = Map::new();
    let requires_signatures = request.model.contains("gemini-3");
    let (system, contents) = build_contents(&request.messages, requires_signatures)?;
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    if let Some(tools) = build_tools(request)? {
        body.insert("tools".into(), tools);
        if let Some(config) = build_tool_config(request.tool_choice.as_ref()) {
            body.insert("toolConfig".into(), config);
        }
    }
    let generation = build_generation_config(request)?;
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    for (from, to) in [("safety_settings", "safetySettings"), ("cached_content", "cachedContent")] {
        if let Some(v) = request.extra.get(from).or_else(|| request.extra.get(to)) {
            body.insert(to.into(), v.clone());
        }
    }
    Ok(Value::Object(body))
}

/// Turns the messages into `systemInstruction` parts and `contents`.
///
/// Gemini 3 rejects a replayed function call without its thought signature; when
/// `requires_signatures` is set and none of an assistant message's calls carries one, the first
/// call gets [`SKIP_SIGNATURE_SENTINEL`] (Gemini signs only the first call of parallel calls).
fn build_contents(
    messages: &[ChatMessage],
    requires_signatures: bool,
) -> Result<(Vec<Value>, Vec<Value>), LlmError> {
    let mut system = Vec::new();
    let mut contents: Vec<(&'static str, Vec<Value>)> = Vec::new();
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        let (role, parts) = match message.role {
            Role::System | Role::Developer => {
                system.extend(content_parts(message.content.as_ref(), i)?);
                continue;
            }
            Role::User => ("user", content_parts(message.content.as_ref(), i)?),
            Role::Assistant => {
                let mut parts = content_parts(message.content.as_ref(), i)?;
                parts.retain(|p| p.get("text").and_then(Value::as_str) != Some(""));
                let first_call = parts.len();
                for call in message.tool_calls.iter().flatten() {
                    call_names.insert(call.id.as_str(), call.function.name.as_str());
                    parts.push(function_call_part(call, i)?);
                }
                let calls = &mut parts[first_call..];
                if requires_signatures && calls.iter().all(|p| p.get("thoughtSignature").is_none()) {
                    if let Some(Value::Object(first)) = calls.first_mut() {
                        first
                            .insert("thoughtSignature".into(), Value::String(SKIP_SIGNATURE_SENTINEL.into()));
                    }
                }
                ("model", parts)
            }
            Role::Tool | Role::Function => {
                let name = message
                    .tool_call_id
                    .as_deref()
                    .and_then(|id| call_names.get(id).copied())
                    .or(message.name.as_deref())
                    .ok_or_else(|| {
                        LlmError::bad_request(format!(
                            "messages[{i}]: tool message answers no earlier tool call (unknown tool_call_id)"
                        ))
                        .with_param(format!("messages[{i}].tool_call_id"))
                    })?;
                ("user", vec![function_response_part(name, message)])
            }
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some((last_role, last_parts)) if *last_role == role => last_parts.extend(parts),
            _ => contents.push((role, parts)),
        }
    }
    if contents.is_empty() {
        return Err(LlmError::bad_request("Gemini needs at least one user or assistant message")
            .with_param("messages"));
    }
    let contents =
        contents.into_iter().map(|(role, parts)| json!({ "role": role, "parts": parts })).collect();
    Ok((system, contents))
}

fn function_call_part(call: &ToolCall, message_index: usize) -> Result<Value, LlmError> {
    let args_text = call.function.arguments.trim();
    let args = if args_text.is_empty() {
        Value::Object(Map::new())
    } else {
        match serde_json::from_str::<Value>(args_text) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(LlmError::bad_request(format!(
                    "messages[{message_index}]: tool call arguments must be a JSON object"
                ))
                .with_param(format!("messages[{message_index}].tool_calls")));
            }
        }
    };
    let mut part = Map::new();
    part.insert("functionCall".into(), json!({ "name": call.function.name, "args": args }));
    if let Some(sig) = call
        .extra
        .get("extra_content")
        .and_then(|e| e.get("google"))
        .and_then(|g| g.get(THOUGHT_SIGNATURE_FIELD))
        .and_then(Value::as_str)
    {
        part.insert("thoughtSignature".into(), Value::String(sig.to_owned()));
    }
    Ok(Value::Object(part))
}

fn function_response_part(name: &str, message: &ChatMessage) -> Value {
    let text = message.text().map(|t| t.into_owned()).unwrap_or_default();
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "content": text }),
    };
    json!({ "functionResponse": { "name": name, "response": response } })
}

fn content_parts(content: Option<&MessageContent>, message_index: usize) -> Result<Vec<Value>, LlmError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(vec![json!({ "text": t })]),
        Some(MessageContent::Parts(parts)) => {
            parts.iter().enumerate().map(|(j, p)| content_part(p, message_index, j)).collect()
        }
    }
}

fn content_part(part: &ContentPart, i: usize, j: usize) -> Result<Value, LlmError> {
    let bad = |what: &str| {
        LlmError::bad_request(format!("messages[{i}].content[{j}]: {what}"))
            .with_param(format!("messages[{i}].content[{j}]"))
    };
    Ok(match part {
        ContentPart::Text(t) => json!({ "text": t.text }),
        ContentPart::Refusal(r) => json!({ "text": r.refusal }),
        ContentPart::ImageUrl(image) => {
            let url = image.image_url.url.as_str();
            if let Some((mime, data)) = parse_data_url(url) {
                inline_data(mime, data)
            } else if is_remote_uri(url) {
                let mime = guess_mime_type(url).unwrap_or("image/jpeg");
                json!({ "fileData": { "mimeType": mime, "fileUri": url } })
            } else {
                return Err(bad("image_url must be a data: URL or an http(s):// or gs:// URL"));
            }
        }
        ContentPart::InputAudio(audio) => {
            let mime = match audio.input_audio.format.as_str() {
                "mp3" => "audio/mp3".to_owned(),
                other => format!("audio/{other}"),
            };
            inline_data(&mime, &audio.input_audio.data)
        }
        ContentPart::File(file) => {
            let f = &file.file;
            let named_mime = f.filename.as_deref().and_then(guess_mime_type);
            if let Some(data) = f.file_data.as_deref() {
                match parse_data_url(data) {
                    Some((mime, data)) => inline_data(mime, data),
                    None if data.starts_with("data:") => return Err(bad("file_data must be base64")),
                    None => inline_data(named_mime.unwrap_or("application/pdf"), data),
                }
            } else if let Some(id) = f.file_id.as_deref() {
                let mime = named_mime.or_else(|| guess_mime_type(id)).unwrap_or("application/pdf");
                json!({ "fileData": { "mimeType": mime, "fileUri": id } })
            } else {
                return Err(bad("file needs file_data or file_id"));
            }
        }
    })
}

fn inline_data(mime: &str, data: &str) -> Value {
    json!({ "inlineData": { "mimeType": mime, "data": data } })
}

fn is_remote_uri(url: &str) -> bool {
    ["http://", "https://", "gs://"]
        .iter()
        .any(|p| url.get(..p.len()).is_some_and(|s| s.eq_ignore_ascii_case(p)))
}

/// Splits `data:<mime>;base64,<data>` into its media type and base64 payload.
/// An empty media type becomes `application/octet-stream`.
fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let (mime, data) = llm_core::parse_base64_data_url(url)?;
    let mime = if mime.is_empty() { "application/octet-stream" } else { mime };
    Some((mime, data))
}

/// Guesses a media type from the extension of a file name or URL path.
pub(crate) fn guess_mime_type(name: &str) -> Option<&'static str> {
    let path = name.split(['?', '#']).next().unwrap_or(name);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "json" => "application/json",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "ogg" => "audio/ogg",
        "aac" => "audio/aac",
        "mp4" => "video/mp4",
        "mov" => "video/mov",
        "webm" => "video/webm",
        _ => return None,
    })
}

fn build_tools(request: &ChatRequest) -> Result<Option<Value>, LlmError> {
    let Some(tools) = request.tools.as_ref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let mut declarations = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        if tool.kind != "function" {
            return Err(LlmError::bad_request(format!(
                "tools[{i}]: tool type {:?} is not supported by Gemini",
                tool.kind
            ))
            .with_param(format!("tools[{i}].type")));
        }
        let f = &tool.function;
        let mut decl = Map::new();
        decl.insert("name".into(), Value::String(f.name.clone()));
        if let Some(d) = &f.description {
            decl.insert("description".into(), Value::String(d.clone()));
        }
        if let Some(params) = &f.parameters {
            let schema = to_gemini_schema(params);
            // Gemini rejects an OBJECT schema without properties: a function without arguments
            // simply has no `parameters`.
            let empty_object = schema.get("properties").and_then(Value::as_object).is_none_or(Map::is_empty)
                && schema
                    .get("type")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t.eq_ignore_ascii_case("object"));
            if !empty_object {
                decl.insert("parameters".into(), schema);
            }
        }
        declarations.push(Value::Object(decl));
    }
    Ok(Some(json!([{ "functionDeclarations": declarations }])))
}

fn build_tool_config(choice: Option<&ToolChoice>) -> Option<Value> {
    let config = match choice? {
        ToolChoice::Mode(ToolChoiceMode::Auto) => json!({ "mode": "AUTO" }),
        ToolChoice::Mode(ToolChoiceMode::None) => json!({ "mode": "NONE" }),
        ToolChoice::Mode(ToolChoiceMode::Required) => json!({ "mode": "ANY" }),
        ToolChoice::Named(named) => json!({ "mode": "ANY", "allowedFunctionNames": [named.function.name] }),
    };
    Some(json!({ "functionCallingConfig": config }))
}

fn build_generation_config(request: &ChatRequest) -> Result<Map<String, Value>, LlmError> {
    let mut config = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            config.insert(key.to_owned(), v);
        }
    };
    put("temperature", request.temperature.map(Value::from));
    put("topP", request.top_p.map(Value::from));
    put("topK", request.extra.get("top_k").or_else(|| request.extra.get("topK")).cloned());
    put("maxOutputTokens", request.output_token_limit().map(Value::from));
    let stops = request.stop_sequences();
    put("stopSequences", (!stops.is_empty()).then(|| json!(stops)));
    put("candidateCount", request.n.map(Value::from));
    // `seed` is an int32 on the wire: wider seeds keep their low 32 bits (still deterministic).
    put("seed", request.seed.map(|s| Value::from(s as i32)));
    put("presencePenalty", request.presence_penalty.map(Value::from));
    put("frequencyPenalty", request.frequency_penalty.map(Value::from));
    if request.logprobs == Some(true) {
        put("responseLogprobs", Some(Value::Bool(true)));
        put("logprobs", request.top_logprobs.map(Value::from));
    }
    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => put("responseMimeType", Some(json!("application/json"))),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            put("responseMimeType", Some(json!("application/json")));
            put("responseSchema", json_schema.schema.as_ref().map(to_gemini_schema));
        }
    }
    put("thinkingConfig", thinking_config(request)?);
    Ok(config)
}

/// `thinkingConfig` from `reasoning_effort`, or from an Anthropic-style `thinking` extra
/// (`{"type": "enabled", "budget_tokens": N}`) when no effort is given.
fn thinking_config(request: &ChatRequest) -> Result<Option<Value>, LlmError> {
    if let Some(effort) = request.reasoning_effort {
        return Ok(Some(match effort {
            ReasoningEffort::None => json!({ "thinkingBudget": 0 }),
            other => json!({ "thinkingBudget": thinking_budget(other), "includeThoughts": true }),
        }));
    }
    let Some(thinking) = request.extra.get("thinking") else {
        return Ok(None);
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(Some(json!({ "thinkingBudget": 0 }))),
        Some("enabled") => {
            let budget = thinking.get("budget_tokens").and_then(Value::as_u64).ok_or_else(|| {
                LlmError::bad_request("thinking.budget_tokens must be a non-negative integer")
                    .with_param("thinking.budget_tokens")
            })?;
            Ok(Some(json!({ "thinkingBudget": budget, "includeThoughts": true })))
        }
        _ => Err(LlmError::bad_request("thinking.type must be \"enabled\" or \"disabled\"")
            .with_param("thinking.type")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_core::{FunctionCall, Tool};

    fn req(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest::new("gemini-2.5-flash", messages)
    }

    fn assistant_call(id: &str, name: &str, args: &str) -> ChatMessage {
        let mut m = ChatMessage::assistant("");
        m.content = None;
        m.tool_calls = Some(vec![ToolCall {
            id: id.into(),
            kind: "function".into(),
            function: FunctionCall { name: name.into(), arguments: args.into() },
            extra: Default::default(),
        }]);
        m
    }

    #[test]
    fn merges_turns_and_maps_tool_results() {
        let body = build_generate_content_request(&req(vec![
            ChatMessage::system("sys"),
            ChatMessage::user("a"),
            ChatMessage::user("b"),
            assistant_call("c1", "weather", r#"{"city":"Paris"}"#),
            ChatMessage::tool("c1", "sunny"),
            ChatMessage::tool("c1", r#"{"temp": 21}"#),
            ChatMessage::user("thanks"),
        ]))
        .unwrap();
        let contents = body["contents"].as_array().unwrap();
        assert_eq!(contents.len(), 3);
        assert_eq!(contents[0], json!({"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}));
        assert_eq!(
            contents[1],
            json!({"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Paris"}}}]})
        );
        assert_eq!(contents[2]["parts"][0]["functionResponse"]["response"], json!({"content": "sunny"}));
        assert_eq!(contents[2]["parts"][1]["functionResponse"]["response"], json!({"temp": 21}));
        assert_eq!(contents[2]["parts"][2], json!({"text": "thanks"}));
    }

    #[test]
    fn unknown_tool_call_id_and_bad_arguments_are_bad_requests() {
        let err = build_generate_content_request(&req(vec![ChatMessage::tool("nope", "x")])).unwrap_err();
        assert_eq!(*err.kind(), llm_core::ErrorKind::BadRequest);
        let err = build_generate_content_request(&req(vec![assistant_call("c", "f", "[1]")])).unwrap_err();
        assert_eq!(*err.kind(), llm_core::ErrorKind::BadRequest);
        let err = build_generate_content_request(&req(vec![ChatMessage::system("only")])).unwrap_err();
        assert_eq!(err.param(), Some("messages"));
    }

    #[test]
    fn images_files_and_audio() {
        let parts = vec![
            ContentPart::image_url("data:image/png;base64,AAAA"),
            ContentPart::image_url("https://example.com/cat.webp?x=1"),
            serde_json::from_value(
                json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}}),
            )
            .unwrap(),
            serde_json::from_value(
                json!({"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}),
            )
            .unwrap(),
        ];
        let mut m = ChatMessage::user("");
        m.content = Some(MessageContent::Parts(parts));
        let body = build_generate_content_request(&req(vec![m])).unwrap();
        let p = &body["contents"][0]["parts"];
        assert_eq!(p[0], json!({"inlineData": {"mimeType": "image/png", "data": "AAAA"}}));
        assert_eq!(
            p[1],
            json!({"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?x=1"}})
        );
        assert_eq!(p[2], json!({"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}));
        assert_eq!(p[3], json!({"inlineData": {"mimeType": "audio/wav", "data": "UklG"}}));
        let mut bad = ChatMessage::user("");
        bad.content = Some(MessageContent::Parts(vec![ContentPart::image_url("file:///etc/passwd")]));
        assert!(build_generate_content_request(&req(vec![bad])).is_err());
    }

    #[test]
    fn tools_choice_and_generation_config() {
        let mut r = req(vec![ChatMessage::user("hi")]).with_tools(vec![
            Tool::function(
                "noargs",
                "d",
                json!({"type": "object", "properties": {}, "additionalProperties": false}),
            ),
            Tool::function("f", "d", json!({"type": "object", "properties": {"a": {"type": "string"}}})),
        ]);
        r.tool_choice =
            Some(serde_json::from_value(json!({"type": "function", "function": {"name": "f"}})).unwrap());
        r.stop = Some(llm_core::Stop::One("END".into()));
        r.max_completion_tokens = Some(10);
        r.max_tokens = Some(99);
        r.reasoning_effort = Some(ReasoningEffort::Low);
        r.response_format = Some(ResponseFormat::JsonObject);
        let body = build_generate_content_request(&r).unwrap();
        let decls = &body["tools"][0]["functionDeclarations"];
        assert!(decls[0].get("parameters").is_none());
        assert_eq!(decls[1]["parameters"]["properties"]["a"]["type"], "STRING");
        assert_eq!(
            body["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}})
        );
        let g = &body["generationConfig"];
        assert_eq!(g["stopSequences"], json!(["END"]));
        assert_eq!(g["maxOutputTokens"], 10);
        assert_eq!(g["thinkingConfig"], json!({"thinkingBudget": 1024, "includeThoughts": true}));
        assert_eq!(g["responseMimeType"], "application/json");
    }

    #[test]
    fn gemini_3_calls_without_a_signature_get_the_sentinel() {
        let history =
            vec![ChatMessage::user("q"), assistant_call("c1", "f", "{}"), ChatMessage::tool("c1", "r")];
        let mut r = req(history);
        let body = build_generate_content_request(&r).unwrap();
        assert!(body["contents"][1]["parts"][0].get("thoughtSignature").is_none(), "not for Gemini 2.5");
        r.model = "gemini-3-pro-preview".into();
        let body = build_generate_content_request(&r).unwrap();
        assert_eq!(body["contents"][1]["parts"][0]["thoughtSignature"], SKIP_SIGNATURE_SENTINEL);
        if let Some(calls) = r.messages[1].tool_calls.as_mut() {
            calls[0].extra.insert("extra_content".into(), json!({"google": {"thought_signature": "real"}}));
        }
        let body = build_generate_content_request(&r).unwrap();
        assert_eq!(body["contents"][1]["parts"][0]["thoughtSignature"], "real", "a real signature wins");
    }

    #[test]
    fn model_paths() {
        assert_eq!(model_path("models/gemini-pro").unwrap(), "models/gemini-pro");
        assert_eq!(model_path("tunedModels/my-model-1").unwrap(), "tunedModels/my-model-1");
        for bad in ["", "a/b", "gemini-pro:streamGenerateContent/../x", "a b", "tunedModels/"] {
            assert!(model_path(bad).is_err(), "{bad}");
        }
    }
}
