//! Model routing (which publisher serves a model) and Vertex AI endpoint URLs.

use llm_core::LlmError;

/// The prefix naming Vertex AI in a model string, e.g. `vertex_ai/gemini-2.5-flash`.
pub const MODEL_PREFIX: &str = "vertex_ai/";

/// The location used when none is configured.
pub const DEFAULT_LOCATION: &str = "us-central1";

/// The API version path segment used by default.
pub const DEFAULT_API_VERSION: &str = "v1";

/// Which publisher's API serves a model on Vertex AI. Each speaks its own wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Publisher {
    /// Google's models (Gemini, text embeddings): `generateContent`, `streamGenerateContent`,
    /// `predict`.
    Google,
    /// Anthropic's Claude models: `rawPredict` / `streamRawPredict` with a Messages API body.
    Anthropic,
}

impl Publisher {
    /// The publisher's path segment, e.g. `google`.
    pub fn as_str(self) -> &'static str {
        match self {
            Publisher::Google => "google",
            Publisher::Anthropic => "anthropic",
        }
    }

    /// The publisher a bare model id routes to: ids starting with `claude` go to
    /// [`Publisher::Anthropic`], every other id to [`Publisher::Google`].
    ///
    /// ```
    /// use llm_provider_vertex::Publisher;
    /// assert_eq!(Publisher::for_model("claude-sonnet-4-5@20250929"), Publisher::Anthropic);
    /// assert_eq!(Publisher::for_model("gemini-2.5-flash"), Publisher::Google);
    /// ```
    pub fn for_model(model_id: &str) -> Publisher {
        if model_id.to_ascii_lowercase().starts_with("claude") {
            Publisher::Anthropic
        } else {
            Publisher::Google
        }
    }
}

/// Splits a requested model into its publisher and bare Vertex model id.
///
/// The `vertex_ai/` prefix is optional. The publisher is `publisher` when given (an override set
/// in code), else [`Publisher::for_model`]. The id may hold ASCII letters, digits, `.`, `-`,
/// `_` and `@` (Claude versions are spelled `claude-sonnet-4@20250514`); anything else (a `/`,
/// `:` or `?` that would change the URL) is [`ErrorKind::BadRequest`](llm_core::ErrorKind).
///
/// ```
/// use llm_provider_vertex::{Publisher, resolve_model};
/// let (publisher, id) = resolve_model("vertex_ai/claude-opus-4@20250514", None).unwrap();
/// assert_eq!((publisher, id), (Publisher::Anthropic, "claude-opus-4@20250514"));
/// assert!(resolve_model("vertex_ai/../x", None).is_err());
/// ```
pub fn resolve_model(model: &str, publisher: Option<Publisher>) -> Result<(Publisher, &str), LlmError> {
    let id = model.strip_prefix(MODEL_PREFIX).unwrap_or(model);
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@');
    if id.is_empty() || id.starts_with('.') || !id.chars().all(valid) {
        return Err(
            LlmError::bad_request(format!("invalid Vertex AI model name {model:?}")).with_param("model")
        );
    }
    Ok((publisher.unwrap_or_else(|| Publisher::for_model(id)), id))
}

/// The regional base URL for `location`: `https://{location}-aiplatform.googleapis.com`, or
/// `https://aiplatform.googleapis.com` for the `global` location.
///
/// ```
/// assert_eq!(llm_provider_vertex::base_url_for_location("europe-west4"),
///            "https://europe-west4-aiplatform.googleapis.com");
/// assert_eq!(llm_provider_vertex::base_url_for_location("global"), "https://aiplatform.googleapis.com");
/// ```
pub fn base_url_for_location(location: &str) -> String {
    if location == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    }
}

/// Checks a project id or location before it goes into a URL path.
pub(crate) fn check_path_segment(what: &'static str, value: &str) -> Result<(), LlmError> {
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if value.is_empty() || value.starts_with('.') || !value.chars().all(valid) {
        return Err(LlmError::bad_request(format!("invalid Vertex AI {what} {value:?}")));
    }
    Ok(())
}

/// Everything that decides a model's URL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Endpoint<'a> {
    /// Scheme and host (and an optional path prefix), without the API version.
    pub(crate) base_url: &'a str,
    pub(crate) api_version: &'a str,
    pub(crate) project: &'a str,
    pub(crate) location: &'a str,
}

impl Endpoint<'_> {
    /// `{base}/{version}/projects/{p}/locations/{l}/publishers/{publisher}/models/{id}:{method}`.
    pub(crate) fn model_url(&self, publisher: Publisher, model_id: &str, method: &str) -> String {
        format!(
            "{}/{}/projects/{}/locations/{}/publishers/{}/models/{model_id}:{method}",
            self.base_url,
            self.api_version,
            self.project,
            self.location,
            publisher.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_by_prefix_and_override() {
        assert_eq!(
            resolve_model("vertex_ai/gemini-2.5-pro", None).unwrap(),
            (Publisher::Google, "gemini-2.5-pro")
        );
        assert_eq!(resolve_model("Claude-3-haiku@20240307", None).unwrap().0, Publisher::Anthropic);
        assert_eq!(resolve_model("text-embedding-005", None).unwrap().0, Publisher::Google);
        assert_eq!(
            resolve_model("my-tuned", Some(Publisher::Anthropic)).unwrap(),
            (Publisher::Anthropic, "my-tuned")
        );
        for bad in ["", "vertex_ai/", "a/b", "m:generateContent", "m?alt=sse", "..", "a b", "é"] {
            assert!(resolve_model(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_segments_are_checked() {
        assert!(check_path_segment("project", "my-proj-123").is_ok());
        assert!(check_path_segment("project", "google.com:proj").is_ok());
        for bad in ["", "a/b", "x?y", "a#b", "..", "a b"] {
            assert!(check_path_segment("project", bad).is_err(), "{bad}");
        }
    }
}
