//! Default request parameters: a JSON object merged into a chat request's unset fields.

use llm_core::{ChatRequest, LlmError};
use serde_json::{Map, Value};

/// Parameters a chat request gets when it does not set them itself, e.g.
/// `{"max_tokens": 1024, "temperature": 0.2}`.
///
/// Keys are [`ChatRequest`] field names (or provider extras such as `top_k`). A request's own
/// value always wins; `model`, `messages` and `stream` cannot be defaulted.
///
/// ```
/// use llm::{ChatMessage, ChatRequest, Params};
/// let params = Params::from_json(serde_json::json!({"max_tokens": 64, "temperature": 0.5})).unwrap();
/// let mut request = ChatRequest::new("m", vec![ChatMessage::user("hi")]).with_temperature(0.9);
/// params.apply(&mut request).unwrap();
/// assert_eq!(request.max_tokens, Some(64));
/// assert_eq!(request.temperature, Some(0.9));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Map<String, Value>);

/// Fields that name what is asked rather than how: never taken from defaults.
const RESERVED: [&str; 3] = ["model", "messages", "stream"];

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parameters from a JSON object; fails on another JSON type, a reserved key (`model`,
    /// `messages`, `stream`) or a value of the wrong type for its field.
    pub fn from_json(value: Value) -> Result<Self, LlmError> {
        match value {
            Value::Object(map) => Self::from_map(map),
            other => {
                Err(LlmError::bad_request(format!("default parameters must be a JSON object, got {other}")))
            }
        }
    }

    /// Parameters from a JSON map (checked like [`from_json`](Self::from_json)).
    pub fn from_map(map: Map<String, Value>) -> Result<Self, LlmError> {
        if let Some(key) = map.keys().find(|k| RESERVED.contains(&k.as_str())) {
            return Err(
                LlmError::bad_request(format!("`{key}` cannot be a default parameter")).with_param(key)
            );
        }
        for (key, value) in &map {
            let single = Self(Map::from_iter([(key.clone(), value.clone())]));
            single.apply(&mut ChatRequest::new("check", Vec::new())).map_err(|e| {
                LlmError::bad_request(format!("parameter `{key}`: {}", e.message())).with_param(key)
            })?;
        }
        Ok(Self(map))
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameters as a JSON map.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Fills the fields `request` leaves unset (absent or `null`) with these parameters.
    ///
    /// Fails with [`ErrorKind::BadRequest`](llm_core::ErrorKind::BadRequest) when a value does
    /// not fit its field (e.g. `max_tokens = "many"`).
    pub fn apply(&self, request: &mut ChatRequest) -> Result<(), LlmError> {
        if self.0.is_empty() {
            return Ok(());
        }
        // The messages can be large (images): leave them out of the round trip.
        let messages = std::mem::take(&mut request.messages);
        let merged = self.merged(request);
        match merged {
            Ok(Some(mut merged)) => {
                merged.messages = messages;
                *request = merged;
                Ok(())
            }
            Ok(None) => {
                request.messages = messages;
                Ok(())
            }
            Err(e) => {
                request.messages = messages;
                Err(e)
            }
        }
    }

    /// `request` with the unset fields filled, or `None` when every key is already set.
    fn merged(&self, request: &ChatRequest) -> Result<Option<ChatRequest>, LlmError> {
        let mut fields = match serde_json::to_value(request) {
            Ok(Value::Object(map)) => map,
            Ok(_) => return Err(LlmError::internal("a chat request did not serialize to an object")),
            Err(e) => return Err(LlmError::internal(format!("serializing a chat request: {e}"))),
        };
        let mut changed = false;
        for (k, v) in &self.0 {
            if fields.get(k).is_none_or(Value::is_null) {
                fields.insert(k.clone(), v.clone());
                changed = true;
            }
        }
        if !changed {
            return Ok(None);
        }
        serde_json::from_value::<ChatRequest>(Value::Object(fields))
            .map(Some)
            .map_err(|e| LlmError::bad_request(format!("invalid default parameter: {e}")))
    }
}

impl From<Params> for Map<String, Value> {
    fn from(p: Params) -> Self {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_core::ChatMessage;
    use serde_json::json;

    #[test]
    fn fills_only_unset_fields_and_keeps_messages() {
        let params = Params::from_json(json!({"max_tokens": 10, "top_k": 3, "seed": 7})).unwrap();
        let mut req = ChatRequest::new("m", vec![ChatMessage::user("hi")]);
        req.seed = Some(1);
        params.apply(&mut req).unwrap();
        assert_eq!(req.max_tokens, Some(10));
        assert_eq!(req.seed, Some(1));
        assert_eq!(req.extra.get("top_k"), Some(&json!(3)));
        assert_eq!(req.messages.len(), 1);
        assert_eq!(req.model, "m");
    }

    #[test]
    fn rejects_reserved_keys_wrong_types_and_non_objects() {
        assert_eq!(Params::from_json(json!({"model": "x"})).unwrap_err().param(), Some("model"));
        let err = Params::from_json(json!({"max_tokens": "many"})).unwrap_err();
        assert!(err.message().contains("max_tokens"), "{err}");
        assert!(Params::from_json(json!([1])).is_err());
    }
}
