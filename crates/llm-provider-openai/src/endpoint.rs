//! Endpoint URLs for OpenAI-style and Azure OpenAI deployments (pure string building).

/// An API endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `chat/completions`.
    ChatCompletions,
    /// `embeddings`.
    Embeddings,
    /// `models`.
    Models,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Models => "models",
        }
    }
}

/// `{base}/{endpoint}` for OpenAI and compatible vendors, whose base URL includes the version
/// path (`https://api.openai.com/v1`).
///
/// ```
/// use llm_provider_openai::endpoint::{openai_url, Endpoint};
/// assert_eq!(openai_url("https://api.groq.com/openai/v1/", Endpoint::ChatCompletions),
///            "https://api.groq.com/openai/v1/chat/completions");
/// ```
pub fn openai_url(base: &str, endpoint: Endpoint) -> String {
    format!("{}/{}", base.trim_end_matches('/'), endpoint.path())
}

/// Azure OpenAI: `{base}/openai/deployments/{deployment}/{endpoint}?api-version={version}`, or
/// `{base}/openai/models?api-version={version}` for the model list. The deployment and version
/// are percent-encoded.
///
/// ```
/// use llm_provider_openai::endpoint::{azure_url, Endpoint};
/// assert_eq!(
///     azure_url("https://res.openai.azure.com", "gpt-4o-prod", "2024-10-21", Endpoint::ChatCompletions),
///     "https://res.openai.azure.com/openai/deployments/gpt-4o-prod/chat/completions?api-version=2024-10-21"
/// );
/// ```
pub fn azure_url(base: &str, deployment: &str, api_version: &str, endpoint: Endpoint) -> String {
    let base = base.trim_end_matches('/');
    let version = encode(api_version);
    match endpoint {
        Endpoint::Models => format!("{base}/openai/models?api-version={version}"),
        op => format!("{base}/openai/deployments/{}/{}?api-version={version}", encode(deployment), op.path()),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_urls() {
        assert_eq!(
            azure_url("https://r.openai.azure.com/", "emb", "2024-02-01", Endpoint::Embeddings),
            "https://r.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-02-01"
        );
        assert_eq!(
            azure_url("https://r.openai.azure.com", "x", "v1", Endpoint::Models),
            "https://r.openai.azure.com/openai/models?api-version=v1"
        );
        assert_eq!(
            azure_url("http://h", "a/../b?c", "1 2", Endpoint::ChatCompletions),
            "http://h/openai/deployments/a%2F..%2Fb%3Fc/chat/completions?api-version=1%202"
        );
    }
}
