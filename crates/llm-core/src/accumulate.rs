//! Rebuilding a complete [`ChatResponse`] from streamed [`ChatChunk`]s.

use futures_util::StreamExt;

use crate::{
    ChatChunk, ChatMessage, ChatResponse, ChatStream, Choice, Extra, FinishReason, FunctionCall, LlmError,
    MessageContent, Role, ToolCall, Usage,
};

/// Folds chunks into a complete response: text, reasoning and refusal appended per choice, tool
/// calls reassembled by `index` (argument fragments concatenated exactly), the last usage kept.
///
/// ```
/// use llm_core::{ChatChunk, Delta, StreamAccumulator};
/// let mut acc = StreamAccumulator::new();
/// acc.push(&ChatChunk::new("c1", "m", 0).with_delta(Delta::text("Hel"), None));
/// acc.push(&ChatChunk::new("c1", "m", 0).with_delta(Delta::text("lo"), None));
/// assert_eq!(acc.finish().text().unwrap(), "Hello");
/// ```
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    id: String,
    model: String,
    created: u64,
    system_fingerprint: Option<String>,
    service_tier: Option<String>,
    choices: Vec<ChoiceState>,
    usage: Option<Box<Usage>>,
    extra: Extra,
}

#[derive(Debug, Default)]
struct ChoiceState {
    index: u32,
    role: Option<Role>,
    content: Option<String>,
    reasoning: Option<String>,
    refusal: Option<String>,
    tool_calls: Vec<ToolCallState>,
    finish_reason: Option<FinishReason>,
    /// Unmodelled delta fields (e.g. `thinking_blocks`), merged across chunks.
    message_extra: Extra,
    /// Unmodelled choice fields, the last value kept.
    choice_extra: Extra,
}

#[derive(Debug, Default)]
struct ToolCallState {
    index: u32,
    id: String,
    kind: Option<String>,
    name: String,
    arguments: String,
    extra: Extra,
}

fn append(slot: &mut Option<String>, piece: &str) {
    slot.get_or_insert_with(String::new).push_str(piece);
}

/// Merges `from` into `into`: arrays are concatenated (streamed lists such as `thinking_blocks`
/// arrive piece by piece), strings appended, anything else replaced by the newer value.
fn merge_extra(into: &mut Extra, from: &Extra) {
    for (key, value) in from {
        match (into.get_mut(key), value) {
            (Some(serde_json::Value::Array(old)), serde_json::Value::Array(new)) => {
                old.extend(new.iter().cloned())
            }
            (Some(serde_json::Value::String(old)), serde_json::Value::String(new)) => old.push_str(new),
            _ => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

impl StreamAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one chunk in.
    pub fn push(&mut self, chunk: &ChatChunk) {
        if self.id.is_empty() {
            self.id.clone_from(&chunk.id);
        }
        if self.model.is_empty() {
            self.model.clone_from(&chunk.model);
        }
        if self.created == 0 {
            self.created = chunk.created;
        }
        if chunk.system_fingerprint.is_some() {
            self.system_fingerprint.clone_from(&chunk.system_fingerprint);
        }
        if chunk.service_tier.is_some() {
            self.service_tier.clone_from(&chunk.service_tier);
        }
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        for (key, value) in &chunk.extra {
            self.extra.insert(key.clone(), value.clone());
        }
        for c in &chunk.choices {
            let state = match self.choices.iter().position(|s| s.index == c.index) {
                Some(i) => &mut self.choices[i],
                None => {
                    self.choices.push(ChoiceState { index: c.index, ..Default::default() });
                    self.choices.last_mut().expect("just pushed")
                }
            };
            let d = &c.delta;
            if d.role.is_some() {
                state.role = d.role;
            }
            if let Some(t) = &d.content {
                append(&mut state.content, t);
            }
            if let Some(t) = &d.reasoning_content {
                append(&mut state.reasoning, t);
            }
            if let Some(t) = &d.refusal {
                append(&mut state.refusal, t);
            }
            for tc in d.tool_calls.iter().flatten() {
                let call = match state.tool_calls.iter().position(|s| s.index == tc.index) {
                    Some(i) => &mut state.tool_calls[i],
                    None => {
                        state.tool_calls.push(ToolCallState { index: tc.index, ..Default::default() });
                        state.tool_calls.last_mut().expect("just pushed")
                    }
                };
                if let Some(id) = &tc.id {
                    call.id.clone_from(id);
                }
                if tc.kind.is_some() {
                    call.kind.clone_from(&tc.kind);
                }
                for (key, value) in &tc.extra {
                    call.extra.insert(key.clone(), value.clone());
                }
                if let Some(f) = &tc.function {
                    if let Some(name) = &f.name {
                        call.name.push_str(name);
                    }
                    if let Some(args) = &f.arguments {
                        call.arguments.push_str(args);
                    }
                }
            }
            if c.finish_reason.is_some() {
                state.finish_reason.clone_from(&c.finish_reason);
            }
            merge_extra(&mut state.message_extra, &d.extra);
            for (key, value) in &c.extra {
                state.choice_extra.insert(key.clone(), value.clone());
            }
        }
    }

    /// The usage seen so far (the final usage chunk, once it arrived).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_deref()
    }

    /// The complete response.
    pub fn finish(self) -> ChatResponse {
        let mut choices: Vec<Choice> = self
            .choices
            .into_iter()
            .map(|s| {
                let mut calls = s.tool_calls;
                calls.sort_by_key(|c| c.index);
                let tool_calls: Vec<ToolCall> = calls
                    .into_iter()
                    .map(|c| ToolCall {
                        id: c.id,
                        kind: c.kind.unwrap_or_else(|| "function".to_owned()),
                        function: FunctionCall { name: c.name, arguments: c.arguments },
                        extra: c.extra,
                    })
                    .collect();
                Choice {
                    index: s.index,
                    message: ChatMessage {
                        role: s.role.unwrap_or(Role::Assistant),
                        content: s.content.map(MessageContent::Text),
                        name: None,
                        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                        tool_call_id: None,
                        refusal: s.refusal,
                        reasoning_content: s.reasoning,
                        extra: s.message_extra,
                    },
                    logprobs: None,
                    finish_reason: s.finish_reason,
                    extra: s.choice_extra,
                }
            })
            .collect();
        choices.sort_by_key(|c| c.index);
        ChatResponse {
            id: self.id,
            object: "chat.completion".to_owned(),
            created: self.created,
            model: self.model,
            choices,
            usage: self.usage,
            system_fingerprint: self.system_fingerprint,
            service_tier: self.service_tier,
            extra: self.extra,
        }
    }
}

/// Drains `stream` into a complete response; the first error item is returned as the error.
pub async fn collect_stream(mut stream: ChatStream) -> Result<ChatResponse, LlmError> {
    let mut acc = StreamAccumulator::new();
    while let Some(chunk) = stream.next().await {
        acc.push(&chunk?);
    }
    Ok(acc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChatChunk, Delta};
    use serde_json::json;

    #[test]
    fn extras_are_merged_not_dropped() {
        let mut acc = StreamAccumulator::new();
        let mut d1 = Delta::text("a");
        d1.extra.insert("thinking_blocks".into(), json!([{"thinking": "x"}]));
        d1.extra.insert("note".into(), json!("he"));
        let mut d2 = Delta::text("b");
        d2.extra.insert("thinking_blocks".into(), json!([{"thinking": "y"}]));
        d2.extra.insert("note".into(), json!("llo"));
        let mut c1 = ChatChunk::new("id", "m", 1).with_delta(d1, None);
        c1.extra.insert("provider_specific".into(), json!(1));
        acc.push(&c1);
        let mut c2 = ChatChunk::new("id", "m", 1).with_delta(d2, Some(FinishReason::Stop));
        c2.choices[0].extra.insert("stop_details".into(), json!({"k": 1}));
        acc.push(&c2);
        let r = acc.finish();
        let m = &r.choices[0].message;
        assert_eq!(m.text().unwrap(), "ab");
        assert_eq!(m.extra["thinking_blocks"], json!([{"thinking": "x"}, {"thinking": "y"}]));
        assert_eq!(m.extra["note"], json!("hello"));
        assert_eq!(r.choices[0].extra["stop_details"], json!({"k": 1}));
        assert_eq!(r.extra["provider_specific"], json!(1));
    }
}
