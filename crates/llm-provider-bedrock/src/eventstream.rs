//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`), decoded
//! incrementally and encoded for tests and mock upstreams.
//!
//! A message is:
//!
//! ```text
//! total length u32 BE | headers length u32 BE | CRC32 of the 8 bytes before
//! headers (name len u8, name, type u8, value)… | payload | CRC32 of everything before
//! ```
//!
//! [`EventStreamDecoder`] takes bytes split anywhere, waits until a whole message is buffered
//! (it reads the total length once from the prelude, never rescans), checks both CRCs and yields
//! [`Frame`]s. Bad CRCs, absurd lengths and malformed headers are [`EventStreamError`]s, which
//! convert to [`llm_core::ErrorKind::Decode`].
//!
//! ```
//! use llm_provider_bedrock::eventstream::{EventStreamDecoder, Frame};
//! let bytes = Frame::event("contentBlockDelta", br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#.to_vec()).encode();
//! let mut decoder = EventStreamDecoder::new();
//! decoder.push(&bytes[..5]);
//! assert!(decoder.next_frame().unwrap().is_none()); // not whole yet
//! decoder.push(&bytes[5..]);
//! let frame = decoder.next_frame().unwrap().unwrap();
//! assert_eq!(frame.header_str(":event-type"), Some("contentBlockDelta"));
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use llm_core::LlmError;

/// Prelude (12 bytes) plus the trailing message CRC (4 bytes).
const MIN_MESSAGE_LEN: usize = 16;
/// The largest message accepted (AWS allows 16 MiB).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;
/// The largest headers section accepted (AWS allows 128 KiB).
pub const MAX_HEADERS_LEN: usize = 128 * 1024;

/// Why event-stream bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventStreamError {
    /// The prelude CRC does not match the first 8 bytes.
    #[error("event-stream prelude CRC mismatch (expected {expected:#010x}, computed {computed:#010x})")]
    PreludeCrc {
        /// The CRC in the message.
        expected: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The message CRC does not match the message.
    #[error("event-stream message CRC mismatch (expected {expected:#010x}, computed {computed:#010x})")]
    MessageCrc {
        /// The CRC in the message.
        expected: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// A total or headers length out of bounds.
    #[error("event-stream message length out of bounds (total {total}, headers {headers})")]
    Length {
        /// The announced total length.
        total: u32,
        /// The announced headers length.
        headers: u32,
    },
    /// A header that runs past its section or has an unknown type or bad UTF-8.
    #[error("malformed event-stream header: {0}")]
    Header(&'static str),
    /// The byte stream ended inside a message.
    #[error("event-stream ended inside a message ({0} bytes left over)")]
    Truncated(usize),
}

impl From<EventStreamError> for LlmError {
    fn from(e: EventStreamError) -> Self {
        LlmError::decode(e.to_string(), e)
    }
}

/// A header value, by its wire type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// Type 0 (`true`) or 1 (`false`).
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Short(i16),
    /// Type 4.
    Int(i32),
    /// Type 5.
    Long(i64),
    /// Type 6: u16 length-prefixed bytes.
    Bytes(Bytes),
    /// Type 7: u16 length-prefixed UTF-8.
    String(String),
    /// Type 8: milliseconds since the epoch.
    Timestamp(i64),
    /// Type 9: 16 bytes.
    Uuid([u8; 16]),
}

/// One decoded message: its headers in order and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Header names and values, in wire order.
    pub headers: Vec<(String, HeaderValue)>,
    /// The payload (JSON for Bedrock events and exceptions).
    pub payload: Bytes,
}

impl Frame {
    /// An `event` message of `event_type` with a JSON payload, as Bedrock sends them.
    pub fn event(event_type: &str, payload: impl Into<Bytes>) -> Self {
        Self {
            headers: vec![
                (":event-type".into(), HeaderValue::String(event_type.into())),
                (":content-type".into(), HeaderValue::String("application/json".into())),
                (":message-type".into(), HeaderValue::String("event".into())),
            ],
            payload: payload.into(),
        }
    }

    /// An `exception` message of `exception_type` (e.g. `throttlingException`) with a JSON payload.
    pub fn exception(exception_type: &str, payload: impl Into<Bytes>) -> Self {
        Self {
            headers: vec![
                (":exception-type".into(), HeaderValue::String(exception_type.into())),
                (":content-type".into(), HeaderValue::String("application/json".into())),
                (":message-type".into(), HeaderValue::String("exception".into())),
            ],
            payload: payload.into(),
        }
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The first string header called `name`.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        match self.header(name) {
            Some(HeaderValue::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The wire form of the message, with both CRCs.
    pub fn encode(&self) -> Bytes {
        let mut headers = BytesMut::new();
        for (name, value) in &self.headers {
            let name = &name.as_bytes()[..name.len().min(255)];
            headers.put_u8(name.len() as u8);
            headers.put_slice(name);
            match value {
                HeaderValue::Bool(true) => headers.put_u8(0),
                HeaderValue::Bool(false) => headers.put_u8(1),
                HeaderValue::Byte(b) => {
                    headers.put_u8(2);
                    headers.put_i8(*b);
                }
                HeaderValue::Short(v) => {
                    headers.put_u8(3);
                    headers.put_i16(*v);
                }
                HeaderValue::Int(v) => {
                    headers.put_u8(4);
                    headers.put_i32(*v);
                }
                HeaderValue::Long(v) => {
                    headers.put_u8(5);
                    headers.put_i64(*v);
                }
                HeaderValue::Bytes(b) => {
                    let b = &b[..b.len().min(u16::MAX as usize)];
                    headers.put_u8(6);
                    headers.put_u16(b.len() as u16);
                    headers.put_slice(b);
                }
                HeaderValue::String(s) => {
                    let b = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
                    headers.put_u8(7);
                    headers.put_u16(b.len() as u16);
                    headers.put_slice(b);
                }
                HeaderValue::Timestamp(v) => {
                    headers.put_u8(8);
                    headers.put_i64(*v);
                }
                HeaderValue::Uuid(u) => {
                    headers.put_u8(9);
                    headers.put_slice(u);
                }
            }
        }
        let total = MIN_MESSAGE_LEN + headers.len() + self.payload.len();
        let mut out = BytesMut::with_capacity(total);
        out.put_u32(total as u32);
        out.put_u32(headers.len() as u32);
        let prelude_crc = crc32fast::hash(&out[..8]);
        out.put_u32(prelude_crc);
        out.put_slice(&headers);
        out.put_slice(&self.payload);
        let message_crc = crc32fast::hash(&out);
        out.put_u32(message_crc);
        out.freeze()
    }
}

/// Decodes messages from bytes that arrive split anywhere.
///
/// Bytes are appended to one buffer; once the 12-byte prelude is there its lengths and CRC are
/// checked once, and the decoder then waits for the announced total before touching the message
/// again. After an error the decoder stays failed.
#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    buffer: BytesMut,
    /// The validated total length of the message being buffered.
    pending_total: Option<usize>,
    failed: Option<EventStreamError>,
}

impl EventStreamDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// The next whole message, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.decode_one() {
            Err(e) => {
                self.failed = Some(e.clone());
                self.buffer.clear();
                Err(e)
            }
            ok => ok,
        }
    }

    /// Checks that the input ended on a message boundary.
    pub fn finish(&self) -> Result<(), EventStreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.buffer.len() {
            0 => Ok(()),
            n => Err(EventStreamError::Truncated(n)),
        }
    }

    /// Bytes buffered but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    fn decode_one(&mut self) -> Result<Option<Frame>, EventStreamError> {
        let total = match self.pending_total {
            Some(t) => t,
            None => {
                if self.buffer.len() < 12 {
                    return Ok(None);
                }
                let prelude = &self.buffer[..12];
                let total = u32::from_be_bytes([prelude[0], prelude[1], prelude[2], prelude[3]]);
                let headers = u32::from_be_bytes([prelude[4], prelude[5], prelude[6], prelude[7]]);
                let expected = u32::from_be_bytes([prelude[8], prelude[9], prelude[10], prelude[11]]);
                let computed = crc32fast::hash(&prelude[..8]);
                if expected != computed {
                    return Err(EventStreamError::PreludeCrc { expected, computed });
                }
                let (t, h) = (total as usize, headers as usize);
                if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&t)
                    || h > MAX_HEADERS_LEN
                    || h > t - MIN_MESSAGE_LEN
                {
                    return Err(EventStreamError::Length { total, headers });
                }
                self.pending_total = Some(t);
                t
            }
        };
        if self.buffer.len() < total {
            return Ok(None);
        }
        self.pending_total = None;
        let message = self.buffer.split_to(total).freeze();
        let body_end = total - 4;
        let expected = u32::from_be_bytes([
            message[body_end],
            message[body_end + 1],
            message[body_end + 2],
            message[body_end + 3],
        ]);
        let computed = crc32fast::hash(&message[..body_end]);
        if expected != computed {
            return Err(EventStreamError::MessageCrc { expected, computed });
        }
        let headers_len = u32::from_be_bytes([message[4], message[5], message[6], message[7]]) as usize;
        let headers = parse_headers(message.slice(12..12 + headers_len))?;
        let payload = message.slice(12 + headers_len..body_end);
        Ok(Some(Frame { headers, payload }))
    }
}

fn take(buf: &mut Bytes, n: usize) -> Result<Bytes, EventStreamError> {
    if buf.remaining() < n {
        return Err(EventStreamError::Header("value runs past the headers section"));
    }
    Ok(buf.split_to(n))
}

fn parse_headers(mut buf: Bytes) -> Result<Vec<(String, HeaderValue)>, EventStreamError> {
    let mut headers = Vec::new();
    while buf.has_remaining() {
        let name_len = take(&mut buf, 1)?[0] as usize;
        let name = take(&mut buf, name_len)?;
        let name =
            String::from_utf8(name.to_vec()).map_err(|_| EventStreamError::Header("name is not UTF-8"))?;
        let kind = take(&mut buf, 1)?[0];
        let value = match kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(take(&mut buf, 1)?.get_i8()),
            3 => HeaderValue::Short(take(&mut buf, 2)?.get_i16()),
            4 => HeaderValue::Int(take(&mut buf, 4)?.get_i32()),
            5 => HeaderValue::Long(take(&mut buf, 8)?.get_i64()),
            6 | 7 => {
                let len = take(&mut buf, 2)?.get_u16() as usize;
                let bytes = take(&mut buf, len)?;
                if kind == 6 {
                    HeaderValue::Bytes(bytes)
                } else {
                    HeaderValue::String(
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| EventStreamError::Header("string value is not UTF-8"))?,
                    )
                }
            }
            8 => HeaderValue::Timestamp(take(&mut buf, 8)?.get_i64()),
            9 => {
                let b = take(&mut buf, 16)?;
                let mut u = [0u8; 16];
                u.copy_from_slice(&b);
                HeaderValue::Uuid(u)
            }
            _ => return Err(EventStreamError::Header("unknown value type")),
        };
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Frame {
        Frame {
            headers: vec![
                ("t".into(), HeaderValue::Bool(true)),
                ("f".into(), HeaderValue::Bool(false)),
                ("b".into(), HeaderValue::Byte(-3)),
                ("s".into(), HeaderValue::Short(-300)),
                ("i".into(), HeaderValue::Int(70_000)),
                ("l".into(), HeaderValue::Long(-5_000_000_000)),
                ("y".into(), HeaderValue::Bytes(Bytes::from_static(b"\x00\x01"))),
                ("str".into(), HeaderValue::String("héllo".into())),
                ("ts".into(), HeaderValue::Timestamp(1_440_938_160_000)),
                ("u".into(), HeaderValue::Uuid([7; 16])),
            ],
            payload: Bytes::from_static(b"{}"),
        }
    }

    #[test]
    fn every_header_type_round_trips() {
        let frame = all_kinds();
        let mut d = EventStreamDecoder::new();
        d.push(&frame.encode());
        assert_eq!(d.next_frame().unwrap(), Some(frame));
        assert_eq!(d.next_frame().unwrap(), None);
        d.finish().unwrap();
    }

    #[test]
    fn a_flipped_payload_byte_fails_the_message_crc() {
        let mut bytes =
            Frame::event("messageStop", b"{\"stopReason\":\"end_turn\"}".to_vec()).encode().to_vec();
        let n = bytes.len();
        bytes[n - 6] ^= 0x01;
        let mut d = EventStreamDecoder::new();
        d.push(&bytes);
        assert!(matches!(d.next_frame(), Err(EventStreamError::MessageCrc { .. })));
        // The decoder stays failed.
        assert!(d.next_frame().is_err());
        assert!(d.finish().is_err());
    }

    #[test]
    fn a_flipped_length_byte_fails_the_prelude_crc() {
        let mut bytes = Frame::event("x", b"{}".to_vec()).encode().to_vec();
        bytes[3] ^= 0x40;
        let mut d = EventStreamDecoder::new();
        d.push(&bytes);
        assert!(matches!(d.next_frame(), Err(EventStreamError::PreludeCrc { .. })));
    }

    #[test]
    fn absurd_lengths_are_rejected_before_buffering() {
        for (total, headers) in [(u32::MAX, 0u32), (8, 0), (100, 90), (64, 200_000)] {
            let mut prelude = Vec::new();
            prelude.extend_from_slice(&total.to_be_bytes());
            prelude.extend_from_slice(&headers.to_be_bytes());
            let crc = crc32fast::hash(&prelude);
            prelude.extend_from_slice(&crc.to_be_bytes());
            let mut d = EventStreamDecoder::new();
            d.push(&prelude);
            assert!(
                matches!(d.next_frame(), Err(EventStreamError::Length { .. })),
                "total {total} headers {headers}"
            );
        }
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        // A string header whose length runs past the section, and an unknown type.
        for headers in [vec![1u8, b'a', 7, 0, 50, b'x'], vec![1u8, b'a', 42]] {
            let total = MIN_MESSAGE_LEN + headers.len();
            let mut m = Vec::new();
            m.extend_from_slice(&(total as u32).to_be_bytes());
            m.extend_from_slice(&(headers.len() as u32).to_be_bytes());
            let crc = crc32fast::hash(&m);
            m.extend_from_slice(&crc.to_be_bytes());
            m.extend_from_slice(&headers);
            let crc = crc32fast::hash(&m);
            m.extend_from_slice(&crc.to_be_bytes());
            let mut d = EventStreamDecoder::new();
            d.push(&m);
            assert!(matches!(d.next_frame(), Err(EventStreamError::Header(_))));
        }
    }

    #[test]
    fn leftover_bytes_at_the_end_are_a_truncation() {
        let bytes = Frame::event("x", b"{}".to_vec()).encode();
        let mut d = EventStreamDecoder::new();
        d.push(&bytes[..bytes.len() - 1]);
        assert_eq!(d.next_frame().unwrap(), None);
        assert_eq!(d.finish(), Err(EventStreamError::Truncated(bytes.len() - 1)));
        let err: LlmError = d.finish().unwrap_err().into();
        assert_eq!(*err.kind(), llm_core::ErrorKind::Decode);
    }
}
