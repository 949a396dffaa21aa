//! ConverseStream events → `ChatChunk`s.
//!
//! [`StreamParser`] is the pure state machine (one event in, chunks out); [`chunk_stream`]
//! drives it from the HTTP body through the [`EventStreamDecoder`].
//!
//! | event | chunk |
//! |---|---|
//! | `messageStart` | a delta with `role: assistant` |
//! | `contentBlockStart.start.toolUse` | a tool-call delta with `index`, `id`, `type`, `name` |
//! | `contentBlockDelta.delta.text` | `content` |
//! | `contentBlockDelta.delta.toolUse.input` | an argument fragment for the block's tool call |
//! | `contentBlockDelta.delta.reasoningContent.text` | `reasoning_content` |
//! | `contentBlockDelta.delta.reasoningContent.signature` / `redactedContent` | the signed block in the delta's `thinking_blocks` extra |
//! | `contentBlockStop` of a tool call without arguments | the fragment `{}` |
//! | `messageStop` | `finish_reason` (a guardrail stop before any output is a `ContentPolicy` error item) |
//! | `metadata.usage` | a chunk without choices carrying the usage (see [`usage_from_bedrock`]) |
//! | `exception` messages | an error item ([`error_from_exception`]) |
//!
//! A stream that ends without `messageStop`, inside a frame, or with a transport error ends with
//! an error item. `metadata` (usage) is not required: real recordings end with `messageStop`
//! alone, or send `metadata` before it; the usage chunk is forwarded whenever it arrives.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use llm_core::{
    ChatChunk, ChatStream, Delta, ErrorKind, FinishReason, FunctionCallDelta, LlmError, Role, ToolCallDelta,
};
use serde_json::{Value, json};

use crate::error::{PROVIDER, error_from_exception};
use crate::eventstream::{EventStreamDecoder, Frame, HeaderValue};
use crate::response::{finish_reason, usage_from_bedrock};

#[derive(Debug)]
struct ToolState {
    index: u32,
    has_arguments: bool,
}

/// Turns ConverseStream events into chunks, one event at a time.
///
/// ```
/// use llm_provider_bedrock::StreamParser;
/// let mut p = StreamParser::new("id-1", "model", 0);
/// let chunks = p.on_event("contentBlockDelta", &serde_json::json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}})).unwrap();
/// assert_eq!(chunks[0].choices[0].delta.content.as_deref(), Some("Hi"));
/// p.on_event("messageStop", &serde_json::json!({"stopReason": "end_turn"})).unwrap();
/// assert!(p.finish().is_ok());
/// ```
#[derive(Debug)]
pub struct StreamParser {
    id: String,
    model: String,
    created: u64,
    role_sent: bool,
    produced_output: bool,
    tools: HashMap<u64, ToolState>,
    next_tool_index: u32,
    reasoning: String,
    stopped: bool,
}

impl StreamParser {
    /// A parser whose chunks carry `id`, `model` and `created`.
    pub fn new(id: impl Into<String>, model: impl Into<String>, created: u64) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            created,
            role_sent: false,
            produced_output: false,
            tools: HashMap::new(),
            next_tool_index: 0,
            reasoning: String::new(),
            stopped: false,
        }
    }

    fn chunk(&mut self, mut delta: Delta, finish: Option<FinishReason>) -> ChatChunk {
        if !self.role_sent {
            delta.role = Some(Role::Assistant);
            self.role_sent = true;
        }
        ChatChunk::new(self.id.clone(), self.model.clone(), self.created).with_delta(delta, finish)
    }

    fn tool_delta(&mut self, call: ToolCallDelta) -> ChatChunk {
        self.chunk(Delta { tool_calls: Some(vec![call]), ..Delta::default() }, None)
    }

    /// The chunks for one decoded event (`:event-type` and its JSON payload). Unknown events
    /// give no chunks.
    pub fn on_event(&mut self, event_type: &str, payload: &Value) -> Result<Vec<ChatChunk>, LlmError> {
        let block_index = payload.get("contentBlockIndex").and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        match event_type {
            "messageStart" if !self.role_sent => out.push(self.chunk(Delta::default(), None)),
            "contentBlockStart" => {
                if let Some(tool) = payload.pointer("/start/toolUse") {
                    let index = self.tool_for(block_index);
                    self.produced_output = true;
                    let call = ToolCallDelta {
                        index,
                        id: tool.get("toolUseId").and_then(Value::as_str).map(str::to_owned),
                        kind: Some("function".into()),
                        function: Some(FunctionCallDelta {
                            name: tool.get("name").and_then(Value::as_str).map(str::to_owned),
                            arguments: Some(String::new()),
                        }),
                        extra: Default::default(),
                    };
                    out.push(self.tool_delta(call));
                }
            }
            "contentBlockDelta" => {
                let Some(delta) = payload.get("delta") else { return Ok(out) };
                if let Some(text) = delta.get("text").and_then(Value::as_str) {
                    if !text.is_empty() {
                        self.produced_output = true;
                        out.push(self.chunk(Delta::text(text), None));
                    }
                } else if let Some(tool) = delta.get("toolUse") {
                    let fragment = tool.get("input").and_then(Value::as_str).unwrap_or_default();
                    let index = self.tool_for(block_index);
                    if !fragment.is_empty() {
                        if let Some(t) = self.tools.get_mut(&block_index) {
                            t.has_arguments = true;
                        }
                        let call = ToolCallDelta {
                            index,
                            id: None,
                            kind: None,
                            function: Some(FunctionCallDelta {
                                name: None,
                                arguments: Some(fragment.to_owned()),
                            }),
                            extra: Default::default(),
                        };
                        out.push(self.tool_delta(call));
                    }
                } else if let Some(reasoning) = delta.get("reasoningContent") {
                    if let Some(text) = reasoning.get("text").and_then(Value::as_str) {
                        if !text.is_empty() {
                            self.reasoning.push_str(text);
                            out.push(self.chunk(
                                Delta { reasoning_content: Some(text.to_owned()), ..Delta::default() },
                                None,
                            ));
                        }
                    }
                    let block = if let Some(sig) = reasoning.get("signature") {
                        let thinking = std::mem::take(&mut self.reasoning);
                        Some(json!({"type": "thinking", "thinking": thinking, "signature": sig}))
                    } else {
                        reasoning
                            .get("redactedContent")
                            .map(|data| json!({"type": "redacted_thinking", "data": data}))
                    };
                    if let Some(block) = block {
                        let mut delta = Delta::default();
                        delta.extra.insert("thinking_blocks".into(), Value::Array(vec![block]));
                        out.push(self.chunk(delta, None));
                    }
                }
            }
            "contentBlockStop" => {
                if let Some(t) = self.tools.get(&block_index).filter(|t| !t.has_arguments) {
                    let index = t.index;
                    let call = ToolCallDelta {
                        index,
                        id: None,
                        kind: None,
                        function: Some(FunctionCallDelta { name: None, arguments: Some("{}".into()) }),
                        extra: Default::default(),
                    };
                    if let Some(t) = self.tools.get_mut(&block_index) {
                        t.has_arguments = true;
                    }
                    out.push(self.tool_delta(call));
                }
            }
            "messageStop" => {
                let reason = payload.get("stopReason").and_then(Value::as_str).unwrap_or("end_turn");
                let finish = finish_reason(reason);
                self.stopped = true;
                if finish == FinishReason::ContentFilter && !self.produced_output {
                    return Err(LlmError::new(
                        ErrorKind::ContentPolicy,
                        format!("Bedrock stopped the answer ({reason}) before any output"),
                    )
                    .with_provider(PROVIDER));
                }
                out.push(self.chunk(Delta::default(), Some(finish)));
            }
            "metadata" => {
                if let Some(usage) = payload.get("usage") {
                    let mut chunk = ChatChunk::new(self.id.clone(), self.model.clone(), self.created);
                    chunk.usage = Some(Box::new(usage_from_bedrock(usage)));
                    out.push(chunk);
                }
            }
            _ => {}
        }
        Ok(out)
    }

    fn tool_for(&mut self, block_index: u64) -> u32 {
        if let Some(t) = self.tools.get(&block_index) {
            return t.index;
        }
        let index = self.next_tool_index;
        self.next_tool_index += 1;
        self.tools.insert(block_index, ToolState { index, has_arguments: false });
        index
    }

    /// The chunks for one event-stream message: events by `:event-type`, exceptions and errors as
    /// `Err`.
    pub fn on_frame(&mut self, frame: &Frame) -> Result<Vec<ChatChunk>, LlmError> {
        match frame.header_str(":message-type").unwrap_or("event") {
            "event" => {
                let event_type = frame.header_str(":event-type").unwrap_or_default().to_owned();
                let payload: Value = if frame.payload.is_empty() {
                    Value::Object(Default::default())
                } else {
                    serde_json::from_slice(&frame.payload).map_err(|e| {
                        LlmError::decode(format!("invalid JSON in the `{event_type}` event: {e}"), e)
                            .with_provider(PROVIDER)
                    })?
                };
                self.on_event(&event_type, &payload)
            }
            "exception" => Err(error_from_exception(
                frame.header_str(":exception-type").unwrap_or("unknown"),
                &frame.payload,
            )),
            _ => {
                // `error` messages carry their code and message in headers.
                let code = frame.header_str(":error-code").unwrap_or("unknown").to_owned();
                let message = match frame.header(":error-message") {
                    Some(HeaderValue::String(m)) => m.clone(),
                    _ => String::from_utf8_lossy(&frame.payload).into_owned(),
                };
                Err(error_from_exception(&code, json!({"message": message}).to_string().as_bytes()))
            }
        }
    }

    /// Checks the stream ended properly (a `messageStop` was seen).
    pub fn finish(&self) -> Result<(), LlmError> {
        if self.stopped {
            Ok(())
        } else {
            Err(LlmError::new(ErrorKind::Transport, "the Bedrock stream ended before messageStop")
                .with_provider(PROVIDER))
        }
    }
}

struct State<S> {
    body: S,
    decoder: EventStreamDecoder,
    parser: StreamParser,
    pending: VecDeque<Result<ChatChunk, LlmError>>,
    done: bool,
}

/// A [`ChatStream`] over a ConverseStream HTTP body.
///
/// A body error ends the stream with an [`ErrorKind::Transport`] item, unless the body stream
/// yields an [`LlmError`] itself: that one is passed on as it is (the HTTP shell reports a
/// passed deadline this way, as [`ErrorKind::Timeout`]).
pub fn chunk_stream<S, E>(body: S, parser: StreamParser) -> ChatStream
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let state =
        State { body, decoder: EventStreamDecoder::new(), parser, pending: VecDeque::new(), done: false };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                if item.is_err() {
                    st.done = true;
                    st.pending.clear();
                }
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            match st.body.next().await {
                Some(Ok(bytes)) => {
                    st.decoder.push(&bytes);
                    loop {
                        match st.decoder.next_frame() {
                            Ok(Some(frame)) => match st.parser.on_frame(&frame) {
                                Ok(chunks) => st.pending.extend(chunks.into_iter().map(Ok)),
                                Err(e) => {
                                    st.pending.push_back(Err(e));
                                    break;
                                }
                            },
                            Ok(None) => break,
                            Err(e) => {
                                st.pending.push_back(Err(LlmError::from(e).with_provider(PROVIDER)));
                                break;
                            }
                        }
                    }
                }
                Some(Err(e)) => st.pending.push_back(Err(body_error(e))),
                None => {
                    st.done = true;
                    let end = st
                        .decoder
                        .finish()
                        .map_err(|e| LlmError::from(e).with_provider(PROVIDER))
                        .and_then(|()| st.parser.finish());
                    if let Err(e) = end {
                        st.pending.push_back(Err(e));
                    }
                }
            }
        }
    }))
}

/// A body error as the stream's last item: an [`LlmError`] as it is, anything else a
/// `Transport` error.
fn body_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> LlmError {
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    match boxed.downcast::<LlmError>() {
        Ok(err) => *err,
        Err(e) => LlmError::new(ErrorKind::Transport, format!("the Bedrock stream was cut: {e}"))
            .with_provider(PROVIDER)
            .with_source(e),
    }
}
