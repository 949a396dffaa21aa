//! Server-sent events: an incremental decoder (bytes in, events out) and an encoder.
//!
//! The decoder follows the WHATWG event-stream rules: lines end with LF, CR or CRLF; `:` starts a
//! comment; `data` lines of one event are joined with `\n`; a blank line dispatches the event.
//! Bytes may be split anywhere, including inside a CRLF pair or a UTF-8 character: lines are only
//! decoded once complete, and each byte is scanned once.
//!
//! ```
//! use llm_core::sse::SseDecoder;
//! let mut dec = SseDecoder::new();
//! dec.feed(b"data: {\"a\":").unwrap();
//! assert!(dec.next_event().is_none());
//! dec.feed(b"1}\r\n\r\ndata: [DONE]\n\n").unwrap();
//! assert_eq!(dec.next_event().unwrap().data, "{\"a\":1}");
//! assert!(dec.next_event().unwrap().is_done());
//! ```

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use futures_util::StreamExt;
use serde::Serialize;

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when present.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The `id:` field, when present in this event.
    pub id: Option<String>,
    /// The `retry:` field in milliseconds, when present.
    pub retry: Option<u64>,
}

impl SseEvent {
    /// An event carrying only `data`.
    pub fn data(data: impl Into<String>) -> Self {
        Self { data: data.into(), ..Self::default() }
    }

    /// Whether this is OpenAI's end marker `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line or event grew past the decoder's size limit.
    #[error("server-sent event larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// The default limit for one line or one event: 16 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// An incremental event-stream decoder.
#[derive(Debug)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already searched for a line end.
    scanned: usize,
    /// The last line ended with CR at the end of the input: an LF that follows belongs to it.
    skip_lf: bool,
    at_start: bool,
    pending: SseEvent,
    has_data: bool,
    ready: VecDeque<SseEvent>,
    max_bytes: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder with the default size limit.
    pub fn new() -> Self {
        Self::with_max_event_bytes(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that fails when a line or an event exceeds `max_bytes`.
    pub fn with_max_event_bytes(max_bytes: usize) -> Self {
        Self {
            buf: Vec::new(),
            scanned: 0,
            skip_lf: false,
            at_start: true,
            pending: SseEvent::default(),
            has_data: false,
            ready: VecDeque::new(),
            max_bytes,
        }
    }

    /// Feeds bytes; complete events become available from [`next_event`](Self::next_event).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), SseError> {
        if self.skip_lf && !bytes.is_empty() {
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
            self.skip_lf = false;
        }
        self.buf.extend_from_slice(bytes);
        if self.at_start {
            // A UTF-8 byte-order mark may open the stream; drop it once three bytes are there.
            if self.buf.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buf) {
                return Ok(());
            }
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
            self.at_start = false;
        }
        let mut line_start = 0;
        let mut i = self.scanned;
        while i < self.buf.len() {
            // Line ends are found with a vectorized search, not byte by byte.
            let Some(at) = memchr::memchr2(b'\n', b'\r', &self.buf[i..]) else { break };
            i += at;
            let b = self.buf[i];
            let end = i;
            i += 1;
            if b == b'\r' {
                if i < self.buf.len() {
                    if self.buf[i] == b'\n' {
                        i += 1;
                    }
                } else {
                    self.skip_lf = true;
                }
            }
            let (start, stop) = (line_start, end);
            line_start = i;
            self.process_line(start, stop)?;
        }
        self.buf.drain(..line_start);
        self.scanned = self.buf.len();
        if self.buf.len() > self.max_bytes {
            return Err(SseError::TooLarge { limit: self.max_bytes });
        }
        Ok(())
    }

    /// The next complete event, if one is ready.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    /// Ends the input: a last line or event without its closing blank line is still dispatched
    /// (servers often close right after the last `data:` line).
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        if !self.buf.is_empty() {
            let len = self.buf.len();
            self.process_line(0, len)?;
            self.buf.clear();
            self.scanned = 0;
        }
        self.dispatch();
        Ok(self.ready.pop_front())
    }

    fn process_line(&mut self, start: usize, end: usize) -> Result<(), SseError> {
        let line = &self.buf[start..end];
        if line.is_empty() {
            self.dispatch();
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match line.iter().position(|&c| c == b':') {
            Some(colon) => {
                let v = &line[colon + 1..];
                (&line[..colon], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &line[..0]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.pending.data.push('\n');
                }
                self.has_data = true;
                push_lossy(&mut self.pending.data, value);
                if self.pending.data.len() > self.max_bytes {
                    return Err(SseError::TooLarge { limit: self.max_bytes });
                }
            }
            b"event" => self.pending.event = Some(lossy(value)),
            b"id" if !value.contains(&0) => self.pending.id = Some(lossy(value)),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.pending.retry = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self) {
        if self.has_data {
            self.ready.push_back(std::mem::take(&mut self.pending));
        } else {
            self.pending = SseEvent::default();
        }
        self.has_data = false;
    }
}

/// An error of [`SseStream`]: the byte stream's own error or a decoding error.
#[derive(Debug, thiserror::Error)]
pub enum SseStreamError<E> {
    /// The underlying byte stream failed.
    #[error("reading the event stream failed: {0}")]
    Body(E),
    /// The bytes are not a valid event stream.
    #[error(transparent)]
    Decode(#[from] SseError),
}

/// Turns a stream of byte chunks into a stream of [`SseEvent`]s, yielding each event as soon as its
/// closing blank line arrives.
pub struct SseStream<S> {
    inner: S,
    decoder: SseDecoder,
    done: bool,
}

impl<S> std::fmt::Debug for SseStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SseStream").field("decoder", &self.decoder).field("done", &self.done).finish()
    }
}

impl<S> SseStream<S> {
    /// Decodes `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner, decoder: SseDecoder::new(), done: false }
    }
}

impl<S, B, E> Stream for SseStream<S>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
{
    type Item = Result<SseEvent, SseStreamError<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(event) = this.decoder.next_event() {
                return Poll::Ready(Some(Ok(event)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match std::task::ready!(this.inner.poll_next_unpin(cx)) {
                Some(Ok(bytes)) => {
                    if let Err(e) = this.decoder.feed(bytes.as_ref()) {
                        this.done = true;
                        return Poll::Ready(Some(Err(e.into())));
                    }
                }
                Some(Err(e)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(SseStreamError::Body(e))));
                }
                None => {
                    this.done = true;
                    match this.decoder.finish() {
                        Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                        Ok(None) => return Poll::Ready(None),
                        Err(e) => return Poll::Ready(Some(Err(e.into()))),
                    }
                }
            }
        }
    }
}

/// Appends `bytes` to `out` as text, invalid UTF-8 replaced by U+FFFD. Valid input (nearly all)
/// takes `str::from_utf8`'s word-at-a-time check: `String::from_utf8_lossy` checks byte by byte,
/// and was 7% of a streamed chunk's instructions in the gateway.
fn push_lossy(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

fn lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    push_lossy(&mut out, bytes);
    out
}

/// The frame that ends an OpenAI stream.
pub const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

/// Encodes `event` as an event-stream frame; multi-line data becomes several `data:` lines.
///
/// ```
/// use llm_core::sse::{encode_event, SseDecoder, SseEvent};
/// let ev = SseEvent { event: Some("message_start".into()), data: "a\nb".into(), ..Default::default() };
/// let bytes = encode_event(&ev);
/// assert_eq!(&bytes[..], b"event: message_start\ndata: a\ndata: b\n\n");
/// let mut dec = SseDecoder::new();
/// dec.feed(&bytes).unwrap();
/// assert_eq!(dec.next_event(), Some(ev));
/// ```
pub fn encode_event(event: &SseEvent) -> Bytes {
    let mut out = BytesMut::with_capacity(event.data.len() + 16);
    if let Some(name) = &event.event {
        put_field(&mut out, "event", name);
    }
    if let Some(id) = &event.id {
        put_field(&mut out, "id", id);
    }
    if let Some(retry) = event.retry {
        put_field(&mut out, "retry", &retry.to_string());
    }
    for line in split_lines(&event.data) {
        put_field(&mut out, "data", line);
    }
    out.put_u8(b'\n');
    out.freeze()
}

/// Encodes a value as one `data: <json>\n\n` frame. Compact JSON never contains a raw newline.
pub fn encode_json<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    crate::json::write(&mut out, value)?;
    out.extend_from_slice(b"\n\n");
    Ok(Bytes::from(out))
}

/// Encodes the chunks of one stream as `data:` frames, byte for byte as [`encode_json`] does,
/// but serializes the fields every chunk of a stream repeats (`id`, `object`, `created`,
/// `model`) only when they change.
///
/// ```
/// use llm_core::{ChatChunk, sse::{ChunkEncoder, encode_json}};
/// let mut encoder = ChunkEncoder::new();
/// let chunk = ChatChunk::new("chatcmpl-1", "gpt-4o", 1_700_000_000);
/// assert_eq!(encoder.encode(&chunk).unwrap(), encode_json(&chunk).unwrap());
/// ```
#[derive(Debug, Default)]
pub struct ChunkEncoder {
    /// `data: {"id":…,"object":…,"created":…,"model":…` for the stream's current values.
    head: Vec<u8>,
    /// The values `head` was built from.
    id: String,
    object: String,
    created: u64,
    model: String,
}

impl ChunkEncoder {
    /// An encoder for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// `chunk` as one `data: <json>\n\n` frame.
    pub fn encode(&mut self, chunk: &crate::ChatChunk) -> Result<Bytes, serde_json::Error> {
        let same = !self.head.is_empty()
            && self.created == chunk.created
            && self.id == chunk.id
            && self.model == chunk.model
            && self.object == chunk.object;
        if !same {
            self.head.clear();
            self.head.extend_from_slice(b"data: {\"id\":");
            crate::json::write_str(&mut self.head, &chunk.id);
            self.head.extend_from_slice(b",\"object\":");
            crate::json::write_str(&mut self.head, &chunk.object);
            self.head.extend_from_slice(b",\"created\":");
            self.head.extend_from_slice(itoa::Buffer::new().format(chunk.created).as_bytes());
            self.head.extend_from_slice(b",\"model\":");
            crate::json::write_str(&mut self.head, &chunk.model);
            chunk.id.clone_into(&mut self.id);
            chunk.object.clone_into(&mut self.object);
            self.created = chunk.created;
            chunk.model.clone_into(&mut self.model);
        }
        let mut out = Vec::with_capacity(self.head.len() + 256);
        out.extend_from_slice(&self.head);
        // The other fields in declaration order, as the derived `Serialize` writes them.
        out.extend_from_slice(b",\"choices\":");
        crate::json::write(&mut out, &chunk.choices)?;
        if let Some(usage) = &chunk.usage {
            out.extend_from_slice(b",\"usage\":");
            crate::json::write(&mut out, usage)?;
        }
        if let Some(fingerprint) = &chunk.system_fingerprint {
            out.extend_from_slice(b",\"system_fingerprint\":");
            crate::json::write_str(&mut out, fingerprint);
        }
        if let Some(tier) = &chunk.service_tier {
            out.extend_from_slice(b",\"service_tier\":");
            crate::json::write_str(&mut out, tier);
        }
        for (key, value) in &chunk.extra {
            out.push(b',');
            crate::json::write_str(&mut out, key);
            out.push(b':');
            crate::json::write(&mut out, value)?;
        }
        out.extend_from_slice(b"}\n\n");
        Ok(Bytes::from(out))
    }
}

fn put_field(out: &mut BytesMut, name: &str, value: &str) {
    // A field value cannot hold a line break; keep only the part before it.
    let value = value.split(['\r', '\n']).next().unwrap_or("");
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    out.put_slice(value.as_bytes());
    out.put_u8(b'\n');
}

fn split_lines(data: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(data);
    std::iter::from_fn(move || {
        let s = rest?;
        match s.find(['\r', '\n']) {
            Some(i) => {
                let skip = if s[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&s[i + skip..]);
                Some(&s[..i])
            }
            None => {
                rest = None;
                Some(s)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c).unwrap();
            while let Some(e) = d.next_event() {
                out.push(e);
            }
        }
        while let Some(e) = d.finish().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn fields_comments_and_line_endings() {
        let evs = decode_all(&[b": ping\r\nevent: a\rdata: 1\r\ndata:2\nid: 9\nretry: 50\n\ndata\n\n"]);
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].event.as_deref(), Some("a"));
        assert_eq!(evs[0].data, "1\n2");
        assert_eq!(evs[0].id.as_deref(), Some("9"));
        assert_eq!(evs[0].retry, Some(50));
        assert_eq!(evs[1].data, "");
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let evs = decode_all(&[b"data: a\r", b"\n\r", b"\ndata: b\n\n"]);
        assert_eq!(evs.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let evs = decode_all(&[b"event: a\xFFb\nid: \xC3\ndata: ok \xF0\x9F\ndata: \xE9t\xE9\n\n"]);
        assert_eq!(evs[0].event.as_deref(), Some("a\u{FFFD}b"));
        assert_eq!(evs[0].id.as_deref(), Some("\u{FFFD}"));
        assert_eq!(evs[0].data, "ok \u{FFFD}\n\u{FFFD}t\u{FFFD}");
    }

    #[test]
    fn utf8_split_inside_character() {
        let text = "data: héllo 🌍\n\n".as_bytes();
        let evs = decode_all(&[&text[..8], &text[8..15], &text[15..]]);
        assert_eq!(evs[0].data, "héllo 🌍");
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_bom_is_dropped() {
        let evs = decode_all(&[b"\xEF\xBB", b"\xBFevent: x\n\ndata: y\n\n"]);
        assert_eq!(evs, vec![SseEvent::data("y")]);
    }

    #[test]
    fn trailing_event_without_blank_line_is_kept() {
        assert_eq!(decode_all(&[b"data: [DONE]"]), vec![SseEvent::data("[DONE]")]);
    }

    #[test]
    fn too_large_is_an_error() {
        let mut d = SseDecoder::with_max_event_bytes(8);
        assert!(d.feed(b"data: 0123456789").is_err());
    }
}
