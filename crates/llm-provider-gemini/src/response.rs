//! Parsing a Gemini `GenerateContentResponse` into an OpenAI-shaped [`ChatResponse`].

use std::time::{SystemTime, UNIX_EPOCH};

use llm_core::{
    ChatMessage, ChatResponse, Choice, ErrorKind, Extra, FinishReason, FunctionCall, LlmError,
    MessageContent, Role, ToolCall, Usage,
};
use serde_json::{Value, json};

use crate::request::THOUGHT_SIGNATURE_FIELD;
use crate::wire::{self, GenerateContentResponse, UsageMetadata};

/// Maps a Gemini `finishReason` to the OpenAI one.
///
/// `STOP` is `tool_calls` when the candidate called functions, else `stop`; `MAX_TOKENS` is
/// `length`; `SAFETY`, `RECITATION`, `BLOCKLIST`, `PROHIBITED_CONTENT`, `SPII` and the `IMAGE_*`
/// safety reasons are `content_filter`; every other reason (`OTHER`, `MALFORMED_FUNCTION_CALL`,
/// `LANGUAGE`, …) is `stop`, or `tool_calls` when functions were called.
///
/// ```
/// use llm_core::FinishReason;
/// assert_eq!(llm_provider_gemini::map_finish_reason("MAX_TOKENS", false), FinishReason::Length);
/// assert_eq!(llm_provider_gemini::map_finish_reason("STOP", true), FinishReason::ToolCalls);
/// ```
pub fn map_finish_reason(reason: &str, has_tool_calls: bool) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        r if is_content_filter(r) => FinishReason::ContentFilter,
        _ if has_tool_calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

pub(crate) fn is_content_filter(reason: &str) -> bool {
    matches!(
        reason,
        "SAFETY"
            | "RECITATION"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION"
    )
}

/// Maps `usageMetadata` to [`Usage`]; `None` when it carries no token counts.
///
/// `prompt_tokens` = `promptTokenCount` + `toolUsePromptTokenCount`; `completion_tokens` =
/// `candidatesTokenCount` + `thoughtsTokenCount`; `cached_tokens` = `cachedContentTokenCount`;
/// `reasoning_tokens` = `thoughtsTokenCount`; `total_tokens` = `totalTokenCount` (else the sum).
pub(crate) fn map_usage(meta: &UsageMetadata) -> Option<Usage> {
    if meta.prompt_token_count.is_none() && meta.total_token_count.is_none() {
        return None;
    }
    let prompt =
        meta.prompt_token_count.unwrap_or(0).saturating_add(meta.tool_use_prompt_token_count.unwrap_or(0));
    let thoughts = meta.thoughts_token_count;
    let completion = meta.candidates_token_count.unwrap_or(0).saturating_add(thoughts.unwrap_or(0));
    let mut usage = Usage::new(prompt, completion);
    if let Some(total) = meta.total_token_count {
        usage.total_tokens = total;
    }
    if let Some(cached) = meta.cached_content_token_count {
        usage = usage.with_cached_tokens(cached);
    }
    if let Some(t) = thoughts {
        usage = usage.with_reasoning_tokens(t);
    }
    Some(usage)
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub(crate) fn prompt_blocked(response: &GenerateContentResponse) -> Option<LlmError> {
    if !response.candidates.is_empty() {
        return None;
    }
    let feedback = response.prompt_feedback.as_ref()?;
    let reason = feedback.block_reason.as_deref()?;
    let detail = feedback.block_reason_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
    Some(LlmError::new(ErrorKind::ContentPolicy, format!("Gemini blocked the prompt ({reason}){detail}")))
}

pub(crate) fn candidate_blocked(reason: Option<&str>, message: Option<&str>) -> LlmError {
    let reason = reason.unwrap_or("SAFETY");
    let detail = message.map(|m| format!(": {m}")).unwrap_or_default();
    LlmError::new(ErrorKind::ContentPolicy, format!("Gemini blocked the answer ({reason}){detail}"))
}

/// The extra fields of a tool call carrying Gemini's thought signature.
pub(crate) fn signature_extra(signature: Option<&str>) -> Extra {
    let mut extra = Extra::new();
    if let Some(sig) = signature {
        extra.insert("extra_content".into(), json!({ "google": { THOUGHT_SIGNATURE_FIELD: sig } }));
    }
    extra
}

/// The argument text of a complete function call (`{}` when it has none).
pub(crate) fn arguments_text(args: Option<&Value>) -> String {
    match args {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(v) => v.to_string(),
    }
}

/// Parses a complete `generateContent` response body.
///
/// `model` is used when the body has no `modelVersion`. A prompt blocked by
/// `promptFeedback.blockReason`, or an answer whose every candidate was stopped for safety
/// before producing anything, is an [`ErrorKind::ContentPolicy`] error; a body that is not a
/// `GenerateContentResponse` is [`ErrorKind::Decode`].
///
/// ```
/// let body = br#"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi!"}]},"finishReason":"STOP"}],
///   "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}"#;
/// let res = llm_provider_gemini::parse_generate_content_response(body, "gemini-2.5-flash").unwrap();
/// assert_eq!(res.text().unwrap(), "Hi!");
/// assert_eq!(res.usage.unwrap().total_tokens, 5);
/// ```
pub fn parse_generate_content_response(body: &[u8], model: &str) -> Result<ChatResponse, LlmError> {
    let value: Value = serde_json::from_slice(body)?;
    if value.get("error").is_some() {
        return Err(crate::error::error_from_body_value(&value, 500, None));
    }
    let response: GenerateContentResponse = serde_json::from_value(value)?;
    if let Some(err) = prompt_blocked(&response) {
        return Err(err);
    }
    if response.candidates.is_empty() {
        return Err(LlmError::new(ErrorKind::Decode, "Gemini answered without any candidate"));
    }
    let mut choices = Vec::with_capacity(response.candidates.len());
    let mut blocked = None;
    for (position, candidate) in response.candidates.iter().enumerate() {
        let index = candidate.index.unwrap_or(u32::try_from(position).unwrap_or(u32::MAX));
        let choice = parse_candidate(candidate, index);
        let empty = choice.message.content.is_none()
            && choice.message.tool_calls.is_none()
            && choice.message.reasoning_content.is_none();
        if empty && candidate.finish_reason.as_deref().is_some_and(is_content_filter) {
            blocked = Some(candidate_blocked(
                candidate.finish_reason.as_deref(),
                candidate.finish_message.as_deref(),
            ));
        } else {
            choices.push(choice);
        }
    }
    if choices.is_empty() {
        if let Some(err) = blocked {
            return Err(err);
        }
    }
    Ok(ChatResponse {
        id: response.response_id.clone().unwrap_or_else(|| format!("gemini-{}", unix_now())),
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: response.model_version.clone().unwrap_or_else(|| model.to_owned()),
        choices,
        usage: response.usage_metadata.as_ref().and_then(map_usage).map(Box::new),
        system_fingerprint: None,
        service_tier: None,
        extra: Extra::new(),
    })
}

fn parse_candidate(candidate: &wire::Candidate, index: u32) -> Choice {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for part in candidate.content.iter().flat_map(|c| &c.parts) {
        if let Some(call) = &part.function_call {
            let id = call.id.clone().unwrap_or_else(|| format!("call_{}", tool_calls.len()));
            tool_calls.push(ToolCall {
                id,
                kind: "function".to_owned(),
                function: FunctionCall {
                    name: call.name.clone().unwrap_or_default(),
                    arguments: arguments_text(call.args.as_ref()),
                },
                extra: signature_extra(part.thought_signature.as_deref()),
            });
        } else if let Some(t) = &part.text {
            if part.thought { reasoning.push_str(t) } else { text.push_str(t) }
        }
    }
    let finish_reason =
        candidate.finish_reason.as_deref().map(|r| map_finish_reason(r, !tool_calls.is_empty()));
    let message = ChatMessage {
        role: Role::Assistant,
        content: (!text.is_empty()
            || (tool_calls.is_empty() && reasoning.is_empty() && !is_blocked(candidate)))
        .then_some(MessageContent::Text(text)),
        name: None,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        tool_call_id: None,
        refusal: None,
        reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
        extra: Extra::new(),
    };
    Choice { index, message, logprobs: None, finish_reason, extra: Extra::new() }
}

fn is_blocked(candidate: &wire::Candidate) -> bool {
    candidate.finish_reason.as_deref().is_some_and(is_content_filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safety_without_content_is_content_policy() {
        let body = br#"{"candidates":[{"finishReason":"SAFETY","index":0}]}"#;
        let err = parse_generate_content_response(body, "m").unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::ContentPolicy);
        let body = br#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}"#;
        let err = parse_generate_content_response(body, "m").unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::ContentPolicy);
        assert!(err.message().contains("PROHIBITED_CONTENT"));
    }

    #[test]
    fn safety_after_some_text_is_a_content_filter_finish() {
        let body = br#"{"candidates":[{"content":{"parts":[{"text":"Well"}]},"finishReason":"RECITATION"}]}"#;
        let res = parse_generate_content_response(body, "m").unwrap();
        assert_eq!(res.choices[0].finish_reason, Some(FinishReason::ContentFilter));
        assert_eq!(res.model, "m");
    }

    #[test]
    fn thoughts_and_calls() {
        let body = br#"{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true},{"text":"A"},
            {"functionCall":{"name":"f"}},{"functionCall":{"name":"g","args":{"x":[1,{"y":null}]}},"thoughtSignature":"s"}]},
            "finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":5,
            "thoughtsTokenCount":6,"cachedContentTokenCount":2,"totalTokenCount":15}}"#;
        let res = parse_generate_content_response(body, "m").unwrap();
        let msg = &res.choices[0].message;
        assert_eq!(msg.reasoning_content.as_deref(), Some("hmm"));
        assert_eq!(res.text().unwrap(), "A");
        let calls = msg.tool_calls.as_ref().unwrap();
        assert_eq!((calls[0].id.as_str(), calls[0].function.arguments.as_str()), ("call_0", "{}"));
        assert_eq!(calls[1].function.arguments, r#"{"x":[1,{"y":null}]}"#);
        assert_eq!(calls[1].extra["extra_content"]["google"]["thought_signature"], "s");
        assert_eq!(res.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        let u = res.usage.unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (4, 11, 15));
        assert_eq!((u.cached_tokens(), u.reasoning_tokens()), (2, 6));
    }

    #[test]
    fn garbage_is_decode() {
        for body in [&b"{"[..], b"[]", br#"{"candidates":7}"#, br#"{}"#] {
            let err = parse_generate_content_response(body, "m").unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::Decode, "{}", String::from_utf8_lossy(body));
        }
    }
}
