//! Turning `streamGenerateContent?alt=sse` events into OpenAI-shaped [`ChatChunk`]s.

use std::collections::VecDeque;

use futures_util::{Stream, StreamExt};
use llm_core::sse::{SseStream, SseStreamError};
use llm_core::{
    ChatChunk, ChatStream, ChunkChoice, Delta, ErrorKind, Extra, FunctionCallDelta, LlmError, Role,
    ToolCallDelta, Usage,
};
use serde_json::{Map, Value};

use crate::partial_args;
use crate::response::{
    arguments_text, candidate_blocked, is_content_filter, map_finish_reason, map_usage, prompt_blocked,
    signature_extra, unix_now,
};
use crate::wire::{self, GenerateContentResponse};

/// A function call whose arguments are still arriving as `partialArgs`.
#[derive(Debug)]
struct PendingCall {
    id: Option<String>,
    name: String,
    args: Value,
    signature: Option<String>,
}

#[derive(Debug, Default)]
struct ChoiceState {
    index: u32,
    /// Tool calls emitted so far (the next call's `index`).
    tool_calls: u32,
    /// Whether any text, reasoning or tool call was emitted.
    produced: bool,
    finished: bool,
    pending: Option<PendingCall>,
}

/// An incremental parser of a Gemini event stream: feed each event's JSON with
/// [`push_event`](Self::push_event), then call [`finish`](Self::finish) at the end of the stream.
///
/// Each candidate becomes a choice: a first chunk with `role: assistant`, then text and
/// `reasoning_content` deltas, one whole tool-call delta per function call (calls whose
/// arguments stream as `partialArgs` are assembled first), and a chunk with the finish reason.
/// [`finish`](Self::finish) emits a last chunk without choices carrying the usage of the last
/// event that had token counts, or fails when no candidate ever finished (a truncated stream).
///
/// ```
/// let mut parser = llm_provider_gemini::StreamParser::new("gemini-2.5-flash");
/// let chunks = parser.push_event(r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP"}],
///   "usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1,"totalTokenCount":3}}"#).unwrap();
/// assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("Hi"));
/// let last = parser.finish().unwrap();
/// assert_eq!(last[0].usage.as_ref().unwrap().total_tokens, 3);
/// ```
#[derive(Debug)]
pub struct StreamParser {
    id: Option<String>,
    model: String,
    created: u64,
    choices: Vec<ChoiceState>,
    usage: Option<Usage>,
}

impl StreamParser {
    /// A parser for a stream answering a request for `model`.
    pub fn new(model: impl Into<String>) -> Self {
        Self { id: None, model: model.into(), created: unix_now(), choices: Vec::new(), usage: None }
    }

    fn chunk(&self) -> ChatChunk {
        ChatChunk::new(
            self.id.clone().unwrap_or_else(|| format!("gemini-{}", self.created)),
            &self.model,
            self.created,
        )
    }

    fn choice_position(&mut self, index: u32) -> (usize, bool) {
        match self.choices.iter().position(|c| c.index == index) {
            Some(p) => (p, false),
            None => {
                self.choices.push(ChoiceState { index, ..ChoiceState::default() });
                (self.choices.len() - 1, true)
            }
        }
    }

    /// Parses one event's data (a `GenerateContentResponse` fragment or an `{"error": …}` object)
    /// into the chunks it carries.
    pub fn push_event(&mut self, data: &str) -> Result<Vec<ChatChunk>, LlmError> {
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_str(data)?;
        if value.get("error").is_some() {
            return Err(crate::error::error_from_body_value(&value, 500, None));
        }
        let event: GenerateContentResponse = serde_json::from_value(value)?;
        if let Some(err) = prompt_blocked(&event) {
            return Err(err);
        }
        if self.id.is_none() {
            self.id = event.response_id.clone();
        }
        if let Some(m) = &event.model_version {
            self.model.clone_from(m);
        }
        if let Some(u) = event.usage_metadata.as_ref().and_then(map_usage) {
            self.usage = Some(u);
        }
        let mut chunks = Vec::new();
        for (position, candidate) in event.candidates.iter().enumerate() {
            let index = candidate.index.unwrap_or(u32::try_from(position).unwrap_or(u32::MAX));
            let (slot, new) = self.choice_position(index);
            if new {
                let delta = Delta { role: Some(Role::Assistant), ..Delta::default() };
                chunks.push(self.chunk_with(index, delta, None));
            }
            if let Some(chunk) = self.candidate_chunk(slot, candidate)? {
                chunks.push(chunk);
            }
        }
        Ok(chunks)
    }

    fn chunk_with(&self, index: u32, delta: Delta, finish: Option<llm_core::FinishReason>) -> ChatChunk {
        let mut chunk = self.chunk();
        chunk.choices.push(ChunkChoice {
            index,
            delta,
            logprobs: None,
            finish_reason: finish,
            extra: Extra::new(),
        });
        chunk
    }

    fn candidate_chunk(
        &mut self,
        slot: usize,
        candidate: &wire::Candidate,
    ) -> Result<Option<ChatChunk>, LlmError> {
        let mut delta = Delta::default();
        let mut calls = Vec::new();
        let state = &mut self.choices[slot];
        if state.finished {
            return Ok(None);
        }
        for part in candidate.content.iter().flat_map(|c| &c.parts) {
            if let Some(call) = &part.function_call {
                apply_function_call(state, call, part.thought_signature.as_deref(), &mut calls)?;
            } else if let Some(text) = part.text.as_deref().filter(|t| !t.is_empty()) {
                let target = if part.thought { &mut delta.reasoning_content } else { &mut delta.content };
                target.get_or_insert_with(String::new).push_str(text);
                state.produced = true;
            }
        }
        let mut finish = None;
        if let Some(reason) = candidate.finish_reason.as_deref() {
            finish_pending(state, &mut calls);
            if is_content_filter(reason) && !state.produced && delta.content.is_none() {
                return Err(candidate_blocked(Some(reason), candidate.finish_message.as_deref()));
            }
            state.finished = true;
            finish = Some(map_finish_reason(reason, state.tool_calls > 0));
        }
        if !calls.is_empty() {
            delta.tool_calls = Some(calls);
        }
        let index = state.index;
        let empty =
            delta.content.is_none() && delta.reasoning_content.is_none() && delta.tool_calls.is_none();
        Ok((!empty || finish.is_some()).then(|| self.chunk_with(index, delta, finish)))
    }

    /// Ends the stream: the final usage chunk, or an error when the stream stopped before every
    /// candidate sent its `finishReason`.
    pub fn finish(&mut self) -> Result<Vec<ChatChunk>, LlmError> {
        if self.choices.is_empty() || self.choices.iter().any(|c| !c.finished) {
            return Err(LlmError::new(
                ErrorKind::Transport,
                "the Gemini stream ended before a finishReason (truncated stream)",
            ));
        }
        let mut chunks = Vec::new();
        if let Some(usage) = self.usage.take() {
            let mut chunk = self.chunk();
            chunk.usage = Some(Box::new(usage));
            chunks.push(chunk);
        }
        Ok(chunks)
    }
}

fn emit_call(
    state: &mut ChoiceState,
    id: Option<String>,
    name: String,
    arguments: String,
    signature: Option<&str>,
    out: &mut Vec<ToolCallDelta>,
) {
    let index = state.tool_calls;
    state.tool_calls += 1;
    state.produced = true;
    out.push(ToolCallDelta {
        index,
        id: Some(id.unwrap_or_else(|| format!("call_{index}"))),
        kind: Some("function".to_owned()),
        function: Some(FunctionCallDelta { name: Some(name), arguments: Some(arguments) }),
        extra: signature_extra(signature),
    });
}

fn finish_pending(state: &mut ChoiceState, out: &mut Vec<ToolCallDelta>) {
    if let Some(p) = state.pending.take() {
        let arguments = p.args.to_string();
        emit_call(state, p.id, p.name, arguments, p.signature.as_deref(), out);
    }
}

/// Handles one `functionCall` part: a whole call, the start of a streamed call, a piece of its
/// arguments, or its end (`{}` or a piece without `willContinue`).
fn apply_function_call(
    state: &mut ChoiceState,
    call: &wire::FunctionCall,
    signature: Option<&str>,
    out: &mut Vec<ToolCallDelta>,
) -> Result<(), LlmError> {
    if let Some(name) = &call.name {
        finish_pending(state, out);
        if !call.will_continue && call.partial_args.is_empty() {
            let arguments = arguments_text(call.args.as_ref());
            emit_call(state, call.id.clone(), name.clone(), arguments, signature, out);
            return Ok(());
        }
        let args = match &call.args {
            Some(v @ Value::Object(_)) => v.clone(),
            _ => Value::Object(Map::new()),
        };
        state.pending = Some(PendingCall {
            id: call.id.clone(),
            name: name.clone(),
            args,
            signature: signature.map(str::to_owned),
        });
    }
    if !call.partial_args.is_empty() {
        let pending = state.pending.as_mut().ok_or_else(|| {
            LlmError::new(ErrorKind::Decode, "Gemini streamed function-call arguments without a call name")
        })?;
        if pending.signature.is_none() {
            pending.signature = signature.map(str::to_owned);
        }
        for piece in &call.partial_args {
            partial_args::apply(&mut pending.args, piece)?;
        }
    }
    if !call.will_continue {
        finish_pending(state, out);
    }
    Ok(())
}

/// Turns a `streamGenerateContent?alt=sse` byte stream into a [`ChatStream`].
///
/// Events are parsed as they arrive. An error event, a body that fails mid-way, or an end
/// without a `finishReason` yields one error item, after which the stream ends. A body error
/// is an [`ErrorKind::Transport`] error, unless the body stream yields an [`LlmError`] itself:
/// that one is passed on as it is (the HTTP shell reports a passed deadline this way, as
/// [`ErrorKind::Timeout`]).
pub fn chat_stream_from_sse<S, B, E>(bytes: S, model: impl Into<String>) -> ChatStream
where
    S: Stream<Item = Result<B, E>> + Send + Unpin + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    struct State<S> {
        events: SseStream<S>,
        parser: StreamParser,
        queue: VecDeque<Result<ChatChunk, LlmError>>,
        done: bool,
    }
    let state = State {
        events: SseStream::new(bytes),
        parser: StreamParser::new(model),
        queue: VecDeque::new(),
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.queue.pop_front() {
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            let result = match st.events.next().await {
                Some(Ok(event)) => st.parser.push_event(&event.data),
                Some(Err(SseStreamError::Body(e))) => Err(body_error(e)),
                Some(Err(e)) => {
                    Err(LlmError::new(ErrorKind::Transport, "the Gemini stream was cut off").with_source(e))
                }
                None => {
                    st.done = true;
                    st.parser.finish()
                }
            };
            match result {
                Ok(chunks) => st.queue.extend(chunks.into_iter().map(Ok)),
                Err(e) => {
                    st.done = true;
                    st.queue.push_back(Err(e));
                }
            }
        }
    });
    Box::pin(stream)
}

/// A body error as the stream's last item: an [`LlmError`] as it is, anything else a
/// `Transport` error.
fn body_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> LlmError {
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    match boxed.downcast::<LlmError>() {
        Ok(err) => *err,
        Err(e) => LlmError::new(ErrorKind::Transport, "the Gemini stream was cut off").with_source(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_core::FinishReason;

    #[test]
    fn truncated_and_error_events() {
        let mut p = StreamParser::new("m");
        p.push_event(r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}"#).unwrap();
        assert_eq!(*p.finish().unwrap_err().kind(), ErrorKind::Transport);
        let mut p = StreamParser::new("m");
        let err = p
            .push_event(
                r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#,
            )
            .unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::ServiceUnavailable);
        let mut p = StreamParser::new("m");
        assert_eq!(*p.push_event("{nope").unwrap_err().kind(), ErrorKind::Decode);
        assert!(p.finish().is_err(), "an empty stream is not a normal end");
    }

    #[test]
    fn safety_stop_before_content_is_an_error_and_after_is_a_filter() {
        let mut p = StreamParser::new("m");
        let err = p.push_event(r#"{"candidates":[{"finishReason":"SAFETY"}]}"#).unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::ContentPolicy);
        let mut p = StreamParser::new("m");
        p.push_event(r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}"#).unwrap();
        let c = p.push_event(r#"{"candidates":[{"finishReason":"SAFETY"}]}"#).unwrap();
        assert_eq!(c[0].choices[0].finish_reason, Some(FinishReason::ContentFilter));
    }

    #[test]
    fn partial_args_without_a_call_are_rejected() {
        let mut p = StreamParser::new("m");
        let err = p
            .push_event(r#"{"candidates":[{"content":{"parts":[{"functionCall":{"partialArgs":[{"jsonPath":"$.a","stringValue":"x"}]}}]}}]}"#)
            .unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Decode);
    }

    #[test]
    fn two_candidates_finish_apart() {
        let mut p = StreamParser::new("m");
        let c = p
            .push_event(r#"{"candidates":[{"index":0,"content":{"parts":[{"text":"a"}]},"finishReason":"STOP"},{"index":1,"content":{"parts":[{"text":"b"}]}}]}"#)
            .unwrap();
        assert_eq!(c.iter().filter(|c| c.choices[0].finish_reason.is_some()).count(), 1);
        assert!(p.finish().is_err(), "candidate 1 never finished");
    }
}
