//! What is stored: a complete response and when it was stored.

use std::time::Duration;

use llm_core::{ChatResponse, EmbeddingResponse, LlmError};
use serde::{Deserialize, Serialize};

/// A stored response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "response", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)] // chat is the common case; boxing would cost an allocation per hit
pub enum CachedBody {
    /// A complete chat response (also what a finished stream is stored as).
    Chat(ChatResponse),
    /// Embeddings.
    Embedding(EmbeddingResponse),
}

/// A stored response with its insertion time and expiry, in Unix milliseconds.
///
/// Serialized with `serde_json` for remote backends:
/// `{"stored_at_ms":…,"expires_at_ms":…,"body":{"type":"chat","response":{…}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// When the entry was stored.
    pub stored_at_ms: u64,
    /// When the entry stops being served.
    pub expires_at_ms: u64,
    /// The response.
    pub body: CachedBody,
}

impl CacheEntry {
    /// An entry stored at `now_ms` that lives for `ttl`.
    pub fn new(body: CachedBody, now_ms: u64, ttl: Duration) -> Self {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        Self { stored_at_ms: now_ms, expires_at_ms: now_ms.saturating_add(ttl_ms), body }
    }

    /// How old the entry is at `now_ms`.
    pub fn age(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.stored_at_ms))
    }

    /// How long the entry has left to live at `now_ms` (zero once expired).
    pub fn remaining_ttl(&self, now_ms: u64) -> Duration {
        Duration::from_millis(self.expires_at_ms.saturating_sub(now_ms))
    }

    /// Whether the entry has expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_at_ms
    }

    /// The entry as JSON bytes.
    pub fn to_json(&self) -> Result<Vec<u8>, LlmError> {
        serde_json::to_vec(self).map_err(LlmError::from)
    }

    /// An entry from JSON bytes; a [`llm_core::ErrorKind::Decode`] error when they are not one.
    pub fn from_json(bytes: &[u8]) -> Result<Self, LlmError> {
        serde_json::from_slice(bytes).map_err(LlmError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CacheEntry {
        let body: EmbeddingResponse = serde_json::from_value(serde_json::json!({
            "object": "list", "model": "m", "data": [{"object": "embedding", "index": 0, "embedding": [0.25]}],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}
        }))
        .expect("valid");
        CacheEntry::new(CachedBody::Embedding(body), 10_000, Duration::from_secs(5))
    }

    #[test]
    fn age_and_expiry() {
        let e = entry();
        assert_eq!(e.expires_at_ms, 15_000);
        assert_eq!(e.age(12_000), Duration::from_secs(2));
        assert_eq!(e.age(9_000), Duration::ZERO, "a clock behind the writer's gives age zero");
        assert_eq!(e.remaining_ttl(14_000), Duration::from_secs(1));
        assert!(!e.is_expired(14_999));
        assert!(e.is_expired(15_000));
        let forever = CacheEntry::new(e.body.clone(), u64::MAX - 1, Duration::MAX);
        assert_eq!(forever.expires_at_ms, u64::MAX);
    }

    #[test]
    fn json_round_trip_and_garbage() {
        let e = entry();
        assert_eq!(CacheEntry::from_json(&e.to_json().expect("json")).expect("parsed"), e);
        let err = CacheEntry::from_json(b"{\"stored_at_ms\": 1}").expect_err("incomplete");
        assert_eq!(err.kind(), &llm_core::ErrorKind::Decode);
        assert!(CacheEntry::from_json(b"\xff\xfe").is_err());
    }
}
