//! `provider/model` identifiers.

use std::fmt;

/// A model name as users write it: `provider/model` or a bare `model`.
///
/// Only the first `/` separates the provider: in `openrouter/meta-llama/llama-3-70b` the provider
/// is `openrouter` and the model `meta-llama/llama-3-70b`.
///
/// ```
/// use llm_core::ModelId;
/// let id: ModelId = "openrouter/meta-llama/llama-3-70b".parse().unwrap();
/// assert_eq!(id.provider(), Some("openrouter"));
/// assert_eq!(id.model(), "meta-llama/llama-3-70b");
/// let bare: ModelId = "gpt-4o".parse().unwrap();
/// assert_eq!(bare.provider(), None);
/// assert!("openai/".parse::<ModelId>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId {
    full: String,
    /// Byte offset of the `/` after the provider, when there is one.
    slash: Option<usize>,
}

/// Why a model id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelIdError {
    /// The id is empty or only whitespace.
    #[error("model id is empty")]
    Empty,
    /// `provider/` with nothing after the slash, or `/model` with nothing before it.
    #[error("model id `{0}` has an empty provider or model part")]
    EmptyPart(String),
    /// Whitespace or control characters in the id.
    #[error("model id `{0}` contains whitespace or control characters")]
    InvalidCharacter(String),
}

impl ModelId {
    /// Parses `s`.
    pub fn parse(s: &str) -> Result<Self, ModelIdError> {
        if s.is_empty() {
            return Err(ModelIdError::Empty);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ModelIdError::InvalidCharacter(s.to_owned()));
        }
        let slash = s.find('/');
        if let Some(i) = slash {
            if i == 0 || i + 1 == s.len() {
                return Err(ModelIdError::EmptyPart(s.to_owned()));
            }
        }
        Ok(Self { full: s.to_owned(), slash })
    }

    /// The provider prefix, if the id has one.
    pub fn provider(&self) -> Option<&str> {
        self.slash.map(|i| &self.full[..i])
    }

    /// The model part: everything after the provider prefix, or the whole id.
    pub fn model(&self) -> &str {
        match self.slash {
            Some(i) => &self.full[i + 1..],
            None => &self.full,
        }
    }

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

impl std::str::FromStr for ModelId {
    type Err = ModelIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl fmt::Debug for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelId({:?})", self.full)
    }
}

impl serde::Serialize for ModelId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> serde::Deserialize<'de> for ModelId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}
