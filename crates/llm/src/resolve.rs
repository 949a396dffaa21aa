//! From a model string to the provider that serves it.

use llm_core::{LlmError, ModelId};

/// Which adapter serves a provider prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Backend {
    /// OpenAI itself or a row of the OpenAI vendor table (the name is the row's).
    OpenAiCompatible(&'static str),
    /// Azure OpenAI.
    Azure,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google Gemini.
    Gemini,
    /// AWS Bedrock.
    Bedrock,
    /// Vertex AI.
    Vertex,
}

impl Backend {
    /// The canonical provider name (the cache key and the prefix providers strip).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::OpenAiCompatible(name) => name,
            Backend::Azure => "azure",
            Backend::Anthropic => "anthropic",
            Backend::Gemini => "gemini",
            Backend::Bedrock => "bedrock",
            Backend::Vertex => "vertex_ai",
        }
    }

    /// The cargo feature of this crate that compiles the backend in.
    #[cfg_attr(
        all(
            feature = "openai",
            feature = "anthropic",
            feature = "gemini",
            feature = "bedrock",
            feature = "vertex"
        ),
        allow(dead_code)
    )]
    pub(crate) fn feature(self) -> &'static str {
        match self {
            Backend::OpenAiCompatible(_) | Backend::Azure => "openai",
            Backend::Anthropic => "anthropic",
            Backend::Gemini => "gemini",
            Backend::Bedrock => "bedrock",
            Backend::Vertex => "vertex",
        }
    }
}

/// The vendors of `llm_provider_openai::VENDORS`, known here even when the `openai` feature is
/// off so that `groq/...` can say which feature it needs (a test keeps the lists equal).
pub(crate) const OPENAI_VENDOR_NAMES: &[&str] = &[
    "openai",
    "groq",
    "mistral",
    "deepseek",
    "together_ai",
    "fireworks_ai",
    "openrouter",
    "xai",
    "perplexity",
    "deepinfra",
    "cerebras",
    "vllm",
    "hosted_vllm",
    "lm_studio",
    "ollama",
];

/// The backend for a provider prefix (`google` is an alias of `gemini`, `vertex` of `vertex_ai`).
pub(crate) fn backend_for(provider: &str) -> Option<Backend> {
    match provider {
        "azure" => Some(Backend::Azure),
        "anthropic" => Some(Backend::Anthropic),
        "gemini" | "google" => Some(Backend::Gemini),
        "bedrock" => Some(Backend::Bedrock),
        "vertex_ai" | "vertex" => Some(Backend::Vertex),
        other => OPENAI_VENDOR_NAMES.iter().find(|n| **n == other).map(|n| Backend::OpenAiCompatible(n)),
    }
}

/// Every provider prefix the client understands, for error messages and docs.
pub fn known_providers() -> Vec<&'static str> {
    let mut names = vec!["azure", "anthropic", "gemini", "google", "bedrock", "vertex_ai", "vertex"];
    names.extend_from_slice(OPENAI_VENDOR_NAMES);
    names.sort_unstable();
    names
}

/// The provider a bare model name belongs to, by its well-known family prefix.
pub(crate) fn infer_backend(model: &str) -> Option<Backend> {
    let openai = ["gpt-", "chatgpt-", "o1", "o3", "o4", "text-embedding-3", "text-embedding-ada"];
    if openai.iter().any(|p| model.starts_with(p)) {
        Some(Backend::OpenAiCompatible("openai"))
    } else if model.starts_with("claude-") {
        Some(Backend::Anthropic)
    } else if model.starts_with("gemini-") || model.starts_with("text-embedding-004") {
        Some(Backend::Gemini)
    } else {
        None
    }
}

/// A model string resolved to its backend and the id sent on (`provider/model`, canonical).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) backend: Backend,
    pub(crate) model: String,
}

/// Resolves `model` (already alias-expanded).
pub(crate) fn resolve(model: &str) -> Result<Target, LlmError> {
    let id = ModelId::parse(model).map_err(|e| LlmError::bad_request(e.to_string()).with_param("model"))?;
    let backend = match id.provider() {
        Some(provider) => backend_for(provider),
        None => infer_backend(id.model()),
    };
    let Some(backend) = backend else {
        return Err(match id.provider() {
            Some(provider) => unknown_provider(provider, model),
            None => LlmError::bad_request(format!(
                "model `{model}` names no provider: write it as `provider/model` (e.g. `openai/{model}`); \
                 bare names are only resolved for gpt-*, o1/o3/o4*, claude-* and gemini-* models"
            ))
            .with_param("model")
            .with_code("unknown_provider"),
        });
    };
    Ok(Target { backend, model: format!("{}/{}", backend.name(), id.model()) })
}

fn unknown_provider(provider: &str, model: &str) -> LlmError {
    LlmError::bad_request(format!(
        "unknown provider `{provider}` in model `{model}`: known providers are {}",
        known_providers().join(", ")
    ))
    .with_param("model")
    .with_code("unknown_provider")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_bare_names() {
        let t = resolve("google/gemini-2.5-flash").unwrap();
        assert_eq!((t.backend, t.model.as_str()), (Backend::Gemini, "gemini/gemini-2.5-flash"));
        let t = resolve("openrouter/meta-llama/llama-3-70b").unwrap();
        assert_eq!(t.model, "openrouter/meta-llama/llama-3-70b");
        assert_eq!(resolve("claude-sonnet-4-5").unwrap().backend, Backend::Anthropic);
        assert_eq!(resolve("gpt-4o").unwrap().model, "openai/gpt-4o");
        assert_eq!(resolve("o3-mini").unwrap().backend, Backend::OpenAiCompatible("openai"));
        assert_eq!(resolve("gemini-2.0-flash").unwrap().backend, Backend::Gemini);
        let err = resolve("llama-3").unwrap_err();
        assert!(err.message().contains("`provider/model`"), "{err}");
        let err = resolve("nope/x").unwrap_err();
        assert!(err.message().contains("unknown provider `nope`") && err.message().contains("groq"), "{err}");
        assert!(resolve("").is_err() && resolve("a b").is_err());
        let t = resolve("bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0").unwrap();
        assert_eq!(
            (t.backend, t.model.as_str()),
            (Backend::Bedrock, "bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0")
        );
        let t = resolve("vertex/gemini-2.5-pro").unwrap();
        assert_eq!((t.backend, t.model.as_str()), (Backend::Vertex, "vertex_ai/gemini-2.5-pro"));
    }

    #[cfg(feature = "openai")]
    #[test]
    fn vendor_names_match_the_openai_table() {
        let table: Vec<&str> = llm_provider_openai::VENDORS.iter().map(|v| v.name).collect();
        assert_eq!(table, OPENAI_VENDOR_NAMES);
    }
}
