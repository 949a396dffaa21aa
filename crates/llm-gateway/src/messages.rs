//! `POST /messages`: Anthropic's Messages API in and out, for any model group.
//!
//! The request is translated to an OpenAI-shaped [`ChatRequest`], routed like any chat, and the
//! answer (complete or streamed) translated back into Anthropic's response or event stream.

use bytes::Bytes;
use llm_core::{ChatRequest, ChatStream, ErrorKind, LlmError};
use serde_json::{Map, Value, json};

/// Anthropic's error body for `e`.
pub(crate) fn error_body(e: &LlmError) -> Value {
    let kind = match e.kind() {
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RateLimited { .. } => "rate_limit_error",
        ErrorKind::ServiceUnavailable => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::BadRequest
        | ErrorKind::ContextWindowExceeded
        | ErrorKind::ContentPolicy
        | ErrorKind::BudgetExceeded => "invalid_request_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": e.message()}})
}

fn bad(message: impl Into<String>) -> LlmError {
    LlmError::bad_request(message.into())
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn image_part(block: &Value) -> Option<Value> {
    let source = &block["source"];
    let url = match source["type"].as_str()? {
        "base64" => format!("data:{};base64,{}", source["media_type"].as_str()?, source["data"].as_str()?),
        "url" => source["url"].as_str()?.to_owned(),
        _ => return None,
    };
    Some(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// Translates an Anthropic Messages request body into a chat request.
pub(crate) fn to_chat_request(body: &Value) -> Result<ChatRequest, LlmError> {
    let obj = body.as_object().ok_or_else(|| bad("the request body must be a JSON object"))?;
    let model = obj.get("model").and_then(Value::as_str).ok_or_else(|| bad("missing field `model`"))?;
    let input =
        obj.get("messages").and_then(Value::as_array).ok_or_else(|| bad("missing field `messages`"))?;
    let mut messages = Vec::new();
    if let Some(system) = obj.get("system") {
        messages.push(json!({"role": "system", "content": text_of(system)}));
    }
    for (i, m) in input.iter().enumerate() {
        let role = m["role"].as_str().ok_or_else(|| bad(format!("messages[{i}].role is missing")))?;
        let content = &m["content"];
        match (role, content) {
            (_, Value::String(s)) => messages.push(json!({"role": role, "content": s})),
            ("user", Value::Array(blocks)) => {
                let mut parts = Vec::new();
                for b in blocks {
                    match b["type"].as_str() {
                        Some("text") => parts.push(json!({"type": "text", "text": b["text"]})),
                        Some("image") => parts.extend(image_part(b)),
                        Some("tool_result") => messages.push(json!({
                            "role": "tool",
                            "tool_call_id": b["tool_use_id"],
                            "content": text_of(&b["content"]),
                        })),
                        _ => {}
                    }
                }
                if !parts.is_empty() {
                    messages.push(json!({"role": "user", "content": parts}));
                }
            }
            ("assistant", Value::Array(blocks)) => {
                let text = text_of(content);
                let calls: Vec<Value> = blocks
                    .iter()
                    .filter(|b| b["type"] == "tool_use")
                    .map(|b| {
                        json!({"id": b["id"], "type": "function",
                               "function": {"name": b["name"], "arguments": b["input"].to_string()}})
                    })
                    .collect();
                let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { text.into() }});
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                messages.push(msg);
            }
            _ => return Err(bad(format!("messages[{i}]: unsupported role `{role}` or content"))),
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), model.into());
    out.insert("messages".into(), messages.into());
    for (from, to) in [
        ("max_tokens", "max_tokens"),
        ("temperature", "temperature"),
        ("top_p", "top_p"),
        ("stop_sequences", "stop"),
    ] {
        if let Some(v) = obj.get(from).filter(|v| !v.is_null()) {
            out.insert(to.into(), v.clone());
        }
    }
    if obj.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), true.into());
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(user) = obj.get("metadata").and_then(|m| m.get("user_id")).and_then(Value::as_str) {
        out.insert("user".into(), user.into());
    }
    if let Some(tools) = obj.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t["name"], "description": t.get("description").cloned().unwrap_or(Value::Null),
                    "parameters": t["input_schema"]}})
            })
            .collect();
        out.insert("tools".into(), tools.into());
    }
    if let Some(choice) = obj.get("tool_choice") {
        let mapped = match choice["type"].as_str() {
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "function": {"name": choice["name"]}}),
            _ => json!("auto"),
        };
        out.insert("tool_choice".into(), mapped);
    }
    serde_json::from_value(Value::Object(out)).map_err(|e| bad(format!("invalid Messages request: {e}")))
}

fn stop_reason(finish: Option<&str>) -> &'static str {
    match finish {
        Some("length") => "max_tokens",
        Some("tool_calls") | Some("function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

fn usage(u: &Value) -> Value {
    let cached = u["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
    let prompt = u["prompt_tokens"].as_u64().unwrap_or(0);
    json!({
        "input_tokens": prompt.saturating_sub(cached),
        "output_tokens": u["completion_tokens"].as_u64().unwrap_or(0),
        "cache_read_input_tokens": cached,
    })
}

/// Translates a complete chat response (as JSON) into a Messages response.
pub(crate) fn to_messages_response(chat: &Value, model: &str) -> Value {
    let message = &chat["choices"][0]["message"];
    let mut content = Vec::new();
    let text = text_of(&message["content"]);
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        let args = call["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
        content.push(
            json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input}),
        );
    }
    json!({
        "id": chat["id"],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(chat["choices"][0]["finish_reason"].as_str()),
        "stop_sequence": null,
        "usage": usage(&chat["usage"]),
    })
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

#[derive(PartialEq)]
enum Open {
    None,
    Text,
    Tool(u64),
}

/// Turns chat chunks into Anthropic stream events.
struct Translator {
    model: String,
    started: bool,
    index: i64,
    open: Open,
    finish: Option<String>,
    usage: Value,
}

impl Translator {
    fn close(&mut self, out: &mut Vec<Bytes>) {
        if self.open != Open::None {
            out.push(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": self.index}),
            ));
            self.open = Open::None;
        }
    }

    fn start_block(&mut self, block: Value, out: &mut Vec<Bytes>) {
        self.close(out);
        self.index += 1;
        out.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": self.index, "content_block": block}),
        ));
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<Bytes>) {
        if !self.started {
            self.started = true;
            out.push(event(
                "message_start",
                &json!({"type": "message_start", "message": {
                "id": chunk["id"], "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ));
        }
        if chunk["usage"].is_object() {
            self.usage = chunk["usage"].clone();
        }
        let Some(choice) = chunk["choices"].get(0) else { return };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            if self.open != Open::Text {
                self.start_block(json!({"type": "text", "text": ""}), out);
                self.open = Open::Text;
            }
            let d = json!({"type": "content_block_delta", "index": self.index,
                           "delta": {"type": "text_delta", "text": text}});
            out.push(event("content_block_delta", &d));
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            let idx = call["index"].as_u64().unwrap_or(0);
            if self.open != Open::Tool(idx) {
                let block = json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": {}});
                self.start_block(block, out);
                self.open = Open::Tool(idx);
            }
            if let Some(args) = call["function"]["arguments"].as_str().filter(|a| !a.is_empty()) {
                let d = json!({"type": "content_block_delta", "index": self.index,
                               "delta": {"type": "input_json_delta", "partial_json": args}});
                out.push(event("content_block_delta", &d));
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.finish = Some(f.to_owned());
        }
    }

    fn end(&mut self, out: &mut Vec<Bytes>) {
        self.close(out);
        let u = usage(&self.usage);
        out.push(event(
            "message_delta",
            &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(self.finish.as_deref()), "stop_sequence": null},
            "usage": {"output_tokens": u["output_tokens"], "input_tokens": u["input_tokens"]}}),
        ));
        out.push(event("message_stop", &json!({"type": "message_stop"})));
    }
}

/// The event stream of a streamed Messages response.
pub(crate) fn event_stream(
    stream: ChatStream,
    model: String,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    use futures_util::StreamExt;
    let t =
        Translator { model, started: false, index: -1, open: Open::None, finish: None, usage: Value::Null };
    futures_util::stream::unfold(Some((stream, t)), |state| async move {
        let (mut stream, mut t) = state?;
        let mut out = Vec::new();
        let more = match stream.next().await {
            Some(Ok(chunk)) => {
                t.chunk(&serde_json::to_value(&chunk).unwrap_or(Value::Null), &mut out);
                true
            }
            Some(Err(e)) => {
                out.push(event("error", &error_body(&e)));
                false
            }
            None => {
                t.end(&mut out);
                false
            }
        };
        let bytes = Bytes::from(out.concat());
        Some((Ok(bytes), more.then_some((stream, t))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_a_request_with_tools_and_results() {
        let body = json!({
            "model": "claude", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief"}],
            "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
            "tools": [{"name": "weather", "description": "d", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "weather"},
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"},
                                              {"type": "text", "text": "thanks"}]}
            ]
        });
        let req = to_chat_request(&body).unwrap();
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["messages"][0], json!({"role": "system", "content": "Be brief"}));
        assert_eq!(v["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Paris\"}");
        assert_eq!(v["messages"][3]["role"], "tool");
        assert_eq!(v["messages"][3]["tool_call_id"], "t1");
        assert_eq!(v["messages"][4]["content"][0]["text"], "thanks");
        assert_eq!(v["tools"][0]["function"]["parameters"], json!({"type": "object"}));
        assert_eq!(v["tool_choice"]["function"]["name"], "weather");
        assert_eq!(v["stop"], json!(["END"]));
        assert_eq!(v["user"], "u1");
        assert_eq!(v["max_tokens"], 100);
    }

    #[test]
    fn rejects_bad_requests() {
        assert!(to_chat_request(&json!({"messages": []})).is_err());
        assert!(to_chat_request(&json!({"model": "m"})).is_err());
        assert!(to_chat_request(&json!([1])).is_err());
        assert!(to_chat_request(&json!({"model": "m", "messages": [{"content": "x"}]})).is_err());
    }

    #[test]
    fn translates_a_response_with_a_tool_call() {
        let chat = json!({"id": "c1", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me check",
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 6}}});
        let m = to_messages_response(&chat, "claude");
        assert_eq!(m["content"][0], json!({"type": "text", "text": "Let me check"}));
        assert_eq!(m["content"][1]["input"], json!({"city": "Paris"}));
        assert_eq!(m["stop_reason"], "tool_use");
        assert_eq!(m["usage"], json!({"input_tokens": 4, "output_tokens": 4, "cache_read_input_tokens": 6}));
    }
}
