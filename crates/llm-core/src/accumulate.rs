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
    usage: Option<Usage>,
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
}

#[derive(Debug, Default)]
struct ToolCallState {
    index: u32,
    id: String,
    kind: Option<String>,
    name: String,
    arguments: String,
}

fn append(slot: &mut Option<String>, piece: &str) {
    slot.get_or_insert_with(String::new).push_str(piece);
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
        }
    }

    /// The usage seen so far (the final usage chunk, once it arrived).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
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
                        extra: Extra::new(),
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
                        extra: Extra::new(),
                    },
                    logprobs: None,
                    finish_reason: s.finish_reason,
                    extra: Extra::new(),
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
            extra: Extra::new(),
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
