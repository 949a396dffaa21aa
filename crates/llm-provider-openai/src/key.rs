//! An API key that never shows itself in `Debug`, `Display` or error messages.

use std::fmt;

/// A secret API key. `Debug` prints `ApiKey(***)`; the value is only read when a request
/// header is built.
///
/// ```
/// use llm_provider_openai::ApiKey;
/// let key = ApiKey::new("sk-secret");
/// assert_eq!(format!("{key:?}"), "ApiKey(***)");
/// assert_eq!(key.expose(), "sk-secret");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps `key`, trimming surrounding whitespace (a common copy-paste accident).
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        let trimmed = key.trim();
        if trimmed.len() == key.len() { Self(key) } else { Self(trimmed.to_owned()) }
    }

    /// The key itself, for building the authentication header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key)
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_echoed_key() {
        let key = ApiKey::new(" sk-abcdef\n");
        assert_eq!(key.expose(), "sk-abcdef");
        assert!(!format!("{key:?}").contains("abcdef"));
    }
}
