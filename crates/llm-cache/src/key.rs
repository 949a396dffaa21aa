//! Cache keys: a stable hash of the parts of a request that change the answer.

use std::fmt;
use std::io::Write;

use llm_core::{LlmRequest, Operation};
use serde_json::Value;

/// The key a response is stored under (before the namespace is added).
///
/// The default keys are 64 lowercase hex digits (a BLAKE3 hash); a custom [`KeyMaker`] may use any
/// string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// A key from any string (used as is).
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The BLAKE3 hash of `bytes`, in hex.
    pub fn hash_bytes(bytes: &[u8]) -> Self {
        Self(blake3::hash(bytes).to_hex().to_string())
    }

    /// The BLAKE3 hash of the canonical form of `value` (object keys sorted at every depth).
    ///
    /// ```
    /// use llm_cache::CacheKey;
    /// let a = CacheKey::hash_json(&serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}}));
    /// let b = CacheKey::hash_json(&serde_json::json!({"b": {"d": 3, "c": 2}, "a": 1}));
    /// assert_eq!(a, b);
    /// ```
    pub fn hash_json(value: &Value) -> Self {
        // One hasher update over a buffer is much cheaper than one per JSON token.
        let mut canonical = Vec::with_capacity(1024);
        write_canonical(&mut canonical, value);
        Self::hash_bytes(&canonical)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes `value` as JSON with object keys sorted at every depth (a canonical form: two values
/// that differ only in key order give the same bytes).
pub fn write_canonical<W: Write>(out: &mut W, value: &Value) {
    // Writing into a hasher or a Vec cannot fail; ignoring the result keeps the API infallible.
    let _ = write_value(out, value);
}

/// The canonical JSON text of `value` (see [`write_canonical`]).
///
/// ```
/// let v = serde_json::json!({"b": [ {"y": 1, "x": 2} ], "a": null});
/// assert_eq!(llm_cache::canonical_json(&v), r#"{"a":null,"b":[{"x":2,"y":1}]}"#);
/// ```
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(&mut out, value);
    String::from_utf8(out).unwrap_or_default()
}

fn write_value<W: Write>(out: &mut W, value: &Value) -> std::io::Result<()> {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.write_all(b"{")?;
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut *out, k)?;
                out.write_all(b":")?;
                write_value(out, v)?;
            }
            out.write_all(b"}")
        }
        Value::Array(items) => {
            out.write_all(b"[")?;
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_value(out, v)?;
            }
            out.write_all(b"]")
        }
        scalar => serde_json::to_writer(&mut *out, scalar).map_err(std::io::Error::from),
    }
}

/// Derives the cache key of a request; `None` means "do not cache this request".
///
/// Implemented for closures, so a custom key is one line:
///
/// ```
/// use llm_cache::{CacheKey, KeyMaker};
/// use llm_core::{ChatMessage, ChatRequest, LlmRequest};
/// let by_model = |req: &LlmRequest| Some(CacheKey::new(req.operation.model()));
/// let req = LlmRequest::chat(ChatRequest::new("gpt-4o", vec![ChatMessage::user("Hi")]));
/// assert_eq!(by_model.make_key(&req).unwrap().as_str(), "gpt-4o");
/// ```
pub trait KeyMaker: Send + Sync + 'static {
    /// The key for `request`, or `None` to pass it through uncached.
    fn make_key(&self, request: &LlmRequest) -> Option<CacheKey>;
}

impl<F> KeyMaker for F
where
    F: Fn(&LlmRequest) -> Option<CacheKey> + Send + Sync + 'static,
{
    fn make_key(&self, request: &LlmRequest) -> Option<CacheKey> {
        self(request)
    }
}

/// Fields of a chat request that never change the answer and are left out of the default key.
pub const DEFAULT_IGNORED_CHAT_FIELDS: &[&str] = &["user", "metadata", "stream", "stream_options"];

/// Fields of an embedding request left out of the default key.
pub const DEFAULT_IGNORED_EMBEDDING_FIELDS: &[&str] = &["user"];

/// The default key: a BLAKE3 hash of the operation's canonical JSON (model, messages, tools,
/// tool_choice, response_format, sampling parameters, seed, n, stop, token limits,
/// reasoning_effort and every provider-specific `extra` field), without the fields that do not
/// change the answer (`user`, `metadata`, `stream`, `stream_options`; see
/// [`DEFAULT_IGNORED_CHAT_FIELDS`]). The model is the one the request names when it reaches the
/// cache: a model group when the cache sits in front of a router.
///
/// ```
/// use llm_cache::{DefaultKeyMaker, KeyMaker};
/// use llm_core::{ChatMessage, ChatRequest, LlmRequest};
/// let keys = DefaultKeyMaker::new();
/// let mut a = ChatRequest::new("gpt-4o", vec![ChatMessage::user("Hi")]);
/// let b = a.clone();
/// a.user = Some("alice".into());
/// assert_eq!(keys.make_key(&LlmRequest::chat(a)), keys.make_key(&LlmRequest::chat(b)));
/// ```
#[derive(Debug, Clone)]
pub struct DefaultKeyMaker {
    ignored_chat: Vec<String>,
    ignored_embedding: Vec<String>,
}

impl Default for DefaultKeyMaker {
    fn default() -> Self {
        Self {
            ignored_chat: DEFAULT_IGNORED_CHAT_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
            ignored_embedding: DEFAULT_IGNORED_EMBEDDING_FIELDS.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

impl DefaultKeyMaker {
    /// The default key maker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also leaves the top-level request field `name` (e.g. an `extra` parameter such as
    /// `"store"`) out of the key, for chat and embedding requests.
    pub fn ignore_field(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.ignored_embedding.push(name.clone());
        self.ignored_chat.push(name);
        self
    }

    /// The JSON that is hashed for `operation` (useful to debug why two keys differ).
    pub fn key_material(&self, operation: &Operation) -> Option<Value> {
        let (kind, value, ignored) = match operation {
            Operation::Chat(r) => ("chat", serde_json::to_value(r).ok()?, &self.ignored_chat),
            Operation::Embedding(r) => ("embedding", serde_json::to_value(r).ok()?, &self.ignored_embedding),
            _ => return None,
        };
        let Value::Object(mut map) = value else { return None };
        for field in ignored {
            map.remove(field);
        }
        // An explicit `null` at the top level means "not set", like an absent field.
        map.retain(|_, v| !v.is_null());
        let mut material = serde_json::Map::new();
        material.insert("v".to_owned(), Value::from(1));
        material.insert("op".to_owned(), Value::from(kind));
        material.insert("request".to_owned(), Value::Object(map));
        Some(Value::Object(material))
    }
}

impl KeyMaker for DefaultKeyMaker {
    fn make_key(&self, request: &LlmRequest) -> Option<CacheKey> {
        self.key_material(&request.operation).map(|m| CacheKey::hash_json(&m))
    }
}

/// The full storage key: the namespace (with `%` and `:` escaped so it never contains a colon),
/// a colon, then the key. Without a namespace the prefix is `_`.
pub(crate) fn storage_key(namespace: Option<&str>, key: &CacheKey) -> String {
    let mut out = String::with_capacity(key.0.len() + 16);
    match namespace {
        None => out.push('_'),
        Some(ns) => {
            out.push_str("ns.");
            for ch in ns.chars() {
                match ch {
                    '%' => out.push_str("%25"),
                    ':' => out.push_str("%3A"),
                    c => out.push(c),
                }
            }
        }
    }
    out.push(':');
    out.push_str(&key.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_escaped_so_they_never_collide() {
        let key = CacheKey::new("abc");
        assert_eq!(storage_key(None, &key), "_:abc");
        assert_eq!(storage_key(Some("team"), &key), "ns.team:abc");
        assert_eq!(storage_key(Some("a:b"), &key), "ns.a%3Ab:abc");
        assert_eq!(storage_key(Some("a%3Ab"), &key), "ns.a%253Ab:abc");
        // "a" + key "b:c" must differ from "a:b" + key "c".
        assert_ne!(
            storage_key(Some("a"), &CacheKey::new("b:c")),
            storage_key(Some("a:b"), &CacheKey::new("c"))
        );
        // The namespace `_` is not the same as no namespace.
        assert_ne!(storage_key(Some("_"), &key), storage_key(None, &key));
    }

    #[test]
    fn canonical_json_escapes_and_sorts() {
        let v = serde_json::json!({"z": "quote\"d", "a": [1.5, true, {"é": null, "b": "x"}]});
        assert_eq!(canonical_json(&v), r#"{"a":[1.5,true,{"b":"x","é":null}],"z":"quote\"d"}"#);
    }
}
