//! Parsing the Messages API event stream into OpenAI-shaped [`ChatChunk`]s.
//!
//! [`StreamParser`] is a pure state machine fed one [`SseEvent`] at a time; [`chunk_stream`]
//! drives it over a byte stream with [`llm_core::sse::SseStream`] (each byte scanned once).

use std::collections::VecDeque;

use futures_core::Stream;
use futures_util::StreamExt;
use llm_core::sse::{SseEvent, SseStream, SseStreamError};
use llm_core::{
    BoxError, ChatChunk, ChatStream, Delta, ErrorKind, Extra, FinishReason, FunctionCallDelta, LlmError,
    Role, ToolCallDelta,
};
use serde_json::{Value, json};

use crate::error::error_from_event;
use crate::response::{AnthropicUsage, finish_reason, unix_now};

/// A content block of the message being streamed.
#[derive(Debug)]
struct Block {
    /// Anthropic's block index.
    index: u64,
    open: bool,
    kind: BlockKind,
}

#[derive(Debug)]
enum BlockKind {
    Text,
    Thinking { text: String },
    ToolUse { call_index: u32, name: String, arguments: String },
    Other,
}

/// Turns Messages API stream events into chunks, one event at a time.
///
/// - `message_start` → a first chunk with `role: assistant` (and empty content);
/// - `text_delta` → `content`, `thinking_delta` → `reasoning_content`; at `signature_delta` the
///   whole thinking block (text and signature) is sent in the delta's `thinking_blocks` extra, as
///   is a `redacted_thinking` block, so a later turn can send them back;
/// - each `tool_use` block becomes one tool call, numbered in order from 0: its first fragment has
///   id, type and name; every `input_json_delta` is forwarded exactly as received; a call without
///   input gets the arguments `{}`;
/// - `message_delta` → the last chunk, with the finish reason and the usage (normalised to
///   OpenAI's meaning, see [`AnthropicUsage::to_usage`]);
/// - `ping` and unknown events or block types are skipped;
/// - an `error` event, a tool call whose arguments are not complete JSON when its block or the
///   message ends, or an unreadable event is an error.
///
/// ```
/// use llm_core::sse::SseEvent;
/// use llm_provider_anthropic::StreamParser;
/// let mut parser = StreamParser::new();
/// let mut chunks = Vec::new();
/// for data in [
///     r#"{"type":"message_start","message":{"id":"msg_1","model":"claude-sonnet-4-5","usage":{"input_tokens":5,"output_tokens":1}}}"#,
///     r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
///     r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
///     r#"{"type":"content_block_stop","index":0}"#,
///     r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}"#,
///     r#"{"type":"message_stop"}"#,
/// ] {
///     parser.push(&SseEvent::data(data), &mut chunks).unwrap();
/// }
/// assert!(parser.finish().is_ok());
/// assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("Hi"));
/// assert_eq!(chunks.last().unwrap().usage.as_ref().unwrap().total_tokens, 7);
/// ```
#[derive(Debug)]
pub struct StreamParser {
    id: String,
    model: String,
    created: u64,
    started: bool,
    final_sent: bool,
    stopped: bool,
    blocks: Vec<Block>,
    next_call_index: u32,
    usage: AnthropicUsage,
    stop_reason: Option<String>,
    stop_details: Option<Value>,
}

impl Default for StreamParser {
    fn default() -> Self {
        Self::new()
    }
}

fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl StreamParser {
    /// A parser for one stream; chunks carry the current time as `created`.
    pub fn new() -> Self {
        Self::with_created(unix_now())
    }

    /// A parser whose chunks carry `created` (Unix seconds).
    pub fn with_created(created: u64) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created,
            started: false,
            final_sent: false,
            stopped: false,
            blocks: Vec::new(),
            next_call_index: 0,
            usage: AnthropicUsage::default(),
            stop_reason: None,
            stop_details: None,
        }
    }

    /// Whether `message_stop` arrived (the stream ended normally).
    pub fn is_done(&self) -> bool {
        self.stopped
    }

    /// Checks the end of input: an error unless `message_stop` arrived.
    pub fn finish(&self) -> Result<(), LlmError> {
        if self.stopped {
            Ok(())
        } else {
            Err(LlmError::new(ErrorKind::Transport, "the Anthropic stream ended before `message_stop`"))
        }
    }

    /// Feeds one event; the chunks it produces are appended to `out` (also on error, the chunks
    /// produced before the failure are there).
    pub fn push(&mut self, event: &SseEvent, out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        if self.stopped {
            return Ok(());
        }
        let data: Value = serde_json::from_str(&event.data).map_err(|e| {
            LlmError::decode(format!("unreadable Anthropic stream event {:?}: {e}", event.event), e)
        })?;
        let kind = get_str(&data, "type").or(event.event.as_deref()).unwrap_or("");
        match kind {
            "message_start" => self.on_message_start(&data, out),
            "content_block_start" => self.on_block_start(&data, out),
            "content_block_delta" => self.on_block_delta(&data, out)?,
            "content_block_stop" => self.on_block_stop(&data, out)?,
            "message_delta" => self.on_message_delta(&data, out)?,
            "message_stop" => {
                if !self.final_sent {
                    self.emit_final(out)?;
                }
                self.stopped = true;
            }
            "error" => return Err(error_from_event(&event.data)),
            _ => {} // `ping` and events this parser does not know
        }
        Ok(())
    }

    fn chunk(&self, delta: Delta) -> ChatChunk {
        ChatChunk::new(self.id.clone(), self.model.clone(), self.created).with_delta(delta, None)
    }

    fn ensure_started(&mut self, out: &mut Vec<ChatChunk>) {
        if !self.started {
            self.started = true;
            let delta =
                Delta { role: Some(Role::Assistant), content: Some(String::new()), ..Delta::default() };
            out.push(self.chunk(delta));
        }
    }

    fn on_message_start(&mut self, data: &Value, out: &mut Vec<ChatChunk>) {
        if let Some(message) = data.get("message") {
            if let Some(id) = get_str(message, "id") {
                self.id = id.to_owned();
            }
            if let Some(model) = get_str(message, "model") {
                self.model = model.to_owned();
            }
            self.update_usage(message.get("usage"));
        }
        self.ensure_started(out);
    }

    fn update_usage(&mut self, usage: Option<&Value>) {
        if let Some(u) = usage.and_then(|u| serde_json::from_value::<AnthropicUsage>(u.clone()).ok()) {
            self.usage.update(&u);
        }
    }

    fn block_mut(&mut self, data: &Value) -> Option<&mut Block> {
        let index = data.get("index").and_then(Value::as_u64)?;
        self.blocks.iter_mut().rev().find(|b| b.index == index)
    }

    fn on_block_start(&mut self, data: &Value, out: &mut Vec<ChatChunk>) {
        self.ensure_started(out);
        let Some(index) = data.get("index").and_then(Value::as_u64) else { return };
        let empty = Value::Null;
        let block = data.get("content_block").unwrap_or(&empty);
        let kind = match get_str(block, "type") {
            Some("text") => {
                if let Some(text) = get_str(block, "text").filter(|t| !t.is_empty()) {
                    out.push(self.chunk(Delta::text(text)));
                }
                BlockKind::Text
            }
            Some("thinking") => {
                let text = get_str(block, "thinking").unwrap_or("").to_owned();
                if !text.is_empty() {
                    out.push(self.chunk(Delta { reasoning_content: Some(text.clone()), ..Delta::default() }));
                }
                BlockKind::Thinking { text }
            }
            Some("redacted_thinking") => {
                out.push(self.chunk(thinking_blocks_delta(block.clone())));
                BlockKind::Other
            }
            Some("tool_use") => {
                let call_index = self.next_call_index;
                self.next_call_index = self.next_call_index.saturating_add(1);
                let name = get_str(block, "name").unwrap_or("").to_owned();
                let arguments = match block.get("input") {
                    Some(Value::Object(m)) if !m.is_empty() => Value::Object(m.clone()).to_string(),
                    _ => String::new(),
                };
                let delta = ToolCallDelta {
                    index: call_index,
                    id: Some(get_str(block, "id").unwrap_or("").to_owned()),
                    kind: Some("function".to_owned()),
                    function: Some(FunctionCallDelta {
                        name: Some(name.clone()),
                        arguments: Some(arguments.clone()),
                    }),
                    extra: Default::default(),
                };
                out.push(self.chunk(Delta { tool_calls: Some(vec![delta]), ..Delta::default() }));
                BlockKind::ToolUse { call_index, name, arguments }
            }
            _ => BlockKind::Other,
        };
        self.blocks.push(Block { index, open: true, kind });
    }

    fn on_block_delta(&mut self, data: &Value, out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        self.ensure_started(out);
        let empty = Value::Null;
        let delta = data.get("delta").unwrap_or(&empty);
        match get_str(delta, "type") {
            Some("text_delta") => {
                if let Some(text) = get_str(delta, "text").filter(|t| !t.is_empty()) {
                    out.push(self.chunk(Delta::text(text)));
                }
            }
            Some("thinking_delta") => {
                let Some(text) = get_str(delta, "thinking").filter(|t| !t.is_empty()) else { return Ok(()) };
                if let Some(Block { kind: BlockKind::Thinking { text: all }, .. }) = self.block_mut(data) {
                    all.push_str(text);
                }
                out.push(self.chunk(Delta { reasoning_content: Some(text.to_owned()), ..Delta::default() }));
            }
            Some("signature_delta") => {
                let signature = get_str(delta, "signature").unwrap_or("");
                let thinking = match self.block_mut(data) {
                    Some(Block { kind: BlockKind::Thinking { text }, .. }) => std::mem::take(text),
                    _ => String::new(),
                };
                let block = json!({"type": "thinking", "thinking": thinking, "signature": signature});
                out.push(self.chunk(thinking_blocks_delta(block)));
            }
            Some("input_json_delta") => {
                let Some(fragment) = get_str(delta, "partial_json").filter(|f| !f.is_empty()) else {
                    return Ok(());
                };
                let call_index = match self.block_mut(data) {
                    Some(Block { kind: BlockKind::ToolUse { call_index, arguments, .. }, .. }) => {
                        arguments.push_str(fragment);
                        *call_index
                    }
                    // Input of a server tool (`server_tool_use`, run by Anthropic) or of an unknown
                    // block: not a call for the client.
                    _ => return Ok(()),
                };
                let delta = ToolCallDelta {
                    index: call_index,
                    id: None,
                    kind: None,
                    function: Some(FunctionCallDelta { name: None, arguments: Some(fragment.to_owned()) }),
                    extra: Default::default(),
                };
                out.push(self.chunk(Delta { tool_calls: Some(vec![delta]), ..Delta::default() }));
            }
            _ => {} // citations_delta, compaction_delta and future kinds
        }
        Ok(())
    }

    fn on_block_stop(&mut self, data: &Value, out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        let Some(block) = self.block_mut(data) else { return Ok(()) };
        block.open = false;
        let BlockKind::ToolUse { call_index, name, arguments } = &block.kind else { return Ok(()) };
        let call_index = *call_index;
        if arguments.trim().is_empty() {
            let delta = ToolCallDelta {
                index: call_index,
                id: None,
                kind: None,
                function: Some(FunctionCallDelta { name: None, arguments: Some("{}".to_owned()) }),
                extra: Default::default(),
            };
            out.push(self.chunk(Delta { tool_calls: Some(vec![delta]), ..Delta::default() }));
        } else if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(arguments) {
            return Err(LlmError::decode(
                format!("the arguments of tool call `{name}` (index {call_index}) are not valid JSON: {e}"),
                e,
            ));
        }
        Ok(())
    }

    fn on_message_delta(&mut self, data: &Value, out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        if let Some(delta) = data.get("delta") {
            if let Some(reason) = get_str(delta, "stop_reason") {
                self.stop_reason = Some(reason.to_owned());
            }
            if let Some(details) = delta.get("stop_details").filter(|d| !d.is_null()) {
                self.stop_details = Some(details.clone());
            }
        }
        self.update_usage(data.get("usage"));
        self.emit_final(out)
    }

    /// The last chunk: finish reason and usage; an error when a tool call is still incomplete.
    fn emit_final(&mut self, out: &mut Vec<ChatChunk>) -> Result<(), LlmError> {
        self.ensure_started(out);
        let open_call = self.blocks.iter().find_map(|b| match &b.kind {
            BlockKind::ToolUse { name, call_index, .. } if b.open => Some((name.clone(), *call_index)),
            _ => None,
        });
        if let Some((name, index)) = open_call {
            let reason = self.stop_reason.as_deref().unwrap_or("none");
            return Err(LlmError::new(
                ErrorKind::Decode,
                format!(
                    "the Anthropic message ended (stop_reason `{reason}`) before the arguments of tool call \
                     `{name}` (index {index}) were complete"
                ),
            ));
        }
        self.final_sent = true;
        let reason: Option<FinishReason> = self.stop_reason.as_deref().map(finish_reason);
        let mut chunk = ChatChunk::new(self.id.clone(), self.model.clone(), self.created)
            .with_delta(Delta::default(), reason);
        if let (Some(details), Some(choice)) = (&self.stop_details, chunk.choices.first_mut()) {
            choice.extra.insert("stop_details".into(), details.clone());
        }
        chunk.usage = Some(Box::new(self.usage.to_usage()));
        out.push(chunk);
        Ok(())
    }
}

fn thinking_blocks_delta(block: Value) -> Delta {
    let mut extra = Extra::new();
    extra.insert("thinking_blocks".into(), Value::Array(vec![block]));
    Delta { extra, ..Delta::default() }
}

struct State<S> {
    events: SseStream<S>,
    parser: StreamParser,
    pending: VecDeque<Result<ChatChunk, LlmError>>,
    done: bool,
}

/// A [`ChatStream`] over the body bytes of a Messages API stream.
///
/// Chunks are forwarded as their events arrive. A body error, an `error` event, a malformed
/// event or an end before `message_stop` ends the stream with an error item; it never ends
/// silently. A body error is a [`ErrorKind::Transport`] error, unless the body stream yields an
/// [`LlmError`] itself: that one is passed on as it is (the HTTP shell reports a passed deadline
/// this way, as [`ErrorKind::Timeout`]).
pub fn chunk_stream<S, B, E>(body: S) -> ChatStream
where
    S: Stream<Item = Result<B, E>> + Unpin + Send + 'static,
    B: AsRef<[u8]>,
    E: Into<BoxError>,
{
    let state = State {
        events: SseStream::new(body),
        parser: StreamParser::new(),
        pending: VecDeque::new(),
        done: false,
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            let failure = match st.events.next().await {
                Some(Ok(event)) => {
                    let mut out = Vec::new();
                    let result = st.parser.push(&event, &mut out);
                    st.pending.extend(out.into_iter().map(Ok));
                    match result {
                        Ok(()) if st.parser.is_done() => {
                            st.done = true;
                            None
                        }
                        Ok(()) => None,
                        Err(e) => Some(e),
                    }
                }
                Some(Err(SseStreamError::Body(e))) => Some(body_error(e.into())),
                Some(Err(SseStreamError::Decode(e))) => {
                    Some(LlmError::decode("the Anthropic stream is not a valid event stream", e))
                }
                None => {
                    st.done = true;
                    st.parser.finish().err()
                }
            };
            if let Some(e) = failure {
                st.pending.push_back(Err(e));
                st.done = true;
            } else if st.pending.is_empty() && st.done {
                return None;
            }
        }
    }))
}

/// A body error as the stream's last item.
fn body_error(e: BoxError) -> LlmError {
    match e.downcast::<LlmError>() {
        Ok(err) => *err,
        Err(e) => LlmError::new(ErrorKind::Transport, "reading the Anthropic stream failed").with_source(e),
    }
}
