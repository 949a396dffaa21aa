//! OpenAI-compatible vendors, declared as data: one [`Vendor`] row per vendor in [`VENDORS`].
//!
//! Adding a vendor is adding a row: its name (the `provider/` prefix users write), default base
//! URL, the environment variables holding its key and base URL, and the [`Quirk`]s in which it
//! departs from OpenAI's request format.

/// A way in which a vendor's chat API departs from OpenAI's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Quirk {
    /// The vendor rejects this request parameter: a request that sets it fails with
    /// `unsupported_parameter`, or has it removed when `drop_params` is on.
    Unsupported(&'static str),
    /// The vendor spells parameter `from` as `to`; the value is moved.
    Rename {
        /// OpenAI's name.
        from: &'static str,
        /// The vendor's name.
        to: &'static str,
    },
    /// The vendor rejects `stream_options` (it reports usage in the last chunk by itself).
    NoStreamOptions,
    /// OpenAI reasoning models (o-series, gpt-5) take `max_completion_tokens`, not `max_tokens`:
    /// the value is moved for them.
    ReasoningModelTokenLimit,
}

/// One OpenAI-compatible vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vendor {
    /// The provider name and model prefix, e.g. `groq` in `groq/llama-3.3-70b-versatile`.
    pub name: &'static str,
    /// The base URL (including the API version path) requests go to, `None` when the user
    /// must give one.
    pub base_url: Option<&'static str>,
    /// Environment variables holding the API key, tried in order.
    pub api_key_env: &'static [&'static str],
    /// Environment variables holding a base URL that replaces the default, tried in order.
    pub api_base_env: &'static [&'static str],
    /// A path appended to a base URL read from the environment when it does not already end
    /// with it (Ollama's variable names the server root, its OpenAI API lives under `/v1`).
    pub env_base_path: Option<&'static str>,
    /// Whether requests need a key (local servers accept none).
    pub key_required: bool,
    /// How the vendor departs from OpenAI's request format.
    pub quirks: &'static [Quirk],
}

impl Vendor {
    /// The row for `name` in [`VENDORS`].
    ///
    /// ```
    /// let groq = llm_provider_openai::Vendor::get("groq").unwrap();
    /// assert_eq!(groq.base_url, Some("https://api.groq.com/openai/v1"));
    /// assert_eq!(groq.api_key_env, ["GROQ_API_KEY"]);
    /// ```
    pub fn get(name: &str) -> Option<&'static Vendor> {
        VENDORS.iter().find(|v| v.name == name)
    }
}

const fn row(
    name: &'static str,
    base_url: &'static str,
    api_key_env: &'static [&'static str],
    api_base_env: &'static [&'static str],
    quirks: &'static [Quirk],
) -> Vendor {
    Vendor {
        name,
        base_url: Some(base_url),
        api_key_env,
        api_base_env,
        env_base_path: None,
        key_required: true,
        quirks,
    }
}

const fn local(
    name: &'static str,
    base_url: Option<&'static str>,
    api_key_env: &'static [&'static str],
    api_base_env: &'static [&'static str],
) -> Vendor {
    Vendor {
        name,
        base_url,
        api_key_env,
        api_base_env,
        env_base_path: None,
        key_required: false,
        quirks: &[],
    }
}

/// `max_completion_tokens` spelled the older way.
const MAX_TOKENS_ONLY: Quirk = Quirk::Rename { from: "max_completion_tokens", to: "max_tokens" };

/// Every vendor this crate knows. The first row is OpenAI itself.
pub static VENDORS: &[Vendor] = &[
    row(
        "openai",
        "https://api.openai.com/v1",
        &["OPENAI_API_KEY"],
        &["OPENAI_BASE_URL", "OPENAI_API_BASE"],
        &[Quirk::ReasoningModelTokenLimit],
    ),
    row(
        "groq",
        "https://api.groq.com/openai/v1",
        &["GROQ_API_KEY"],
        &["GROQ_API_BASE"],
        &[
            Quirk::Unsupported("logprobs"),
            Quirk::Unsupported("top_logprobs"),
            Quirk::Unsupported("logit_bias"),
        ],
    ),
    row(
        "mistral",
        "https://api.mistral.ai/v1",
        &["MISTRAL_API_KEY"],
        &["MISTRAL_API_BASE"],
        &[Quirk::Rename { from: "seed", to: "random_seed" }, MAX_TOKENS_ONLY, Quirk::NoStreamOptions],
    ),
    row(
        "deepseek",
        "https://api.deepseek.com/v1",
        &["DEEPSEEK_API_KEY"],
        &["DEEPSEEK_API_BASE"],
        &[MAX_TOKENS_ONLY],
    ),
    row(
        "together_ai",
        "https://api.together.xyz/v1",
        &["TOGETHERAI_API_KEY", "TOGETHER_API_KEY"],
        &["TOGETHERAI_API_BASE"],
        &[],
    ),
    row(
        "fireworks_ai",
        "https://api.fireworks.ai/inference/v1",
        &["FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"],
        &["FIREWORKS_AI_API_BASE"],
        &[],
    ),
    row("openrouter", "https://openrouter.ai/api/v1", &["OPENROUTER_API_KEY"], &["OPENROUTER_API_BASE"], &[]),
    row("xai", "https://api.x.ai/v1", &["XAI_API_KEY"], &["XAI_API_BASE"], &[]),
    row(
        "perplexity",
        "https://api.perplexity.ai",
        &["PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"],
        &["PERPLEXITY_API_BASE"],
        &[],
    ),
    row(
        "deepinfra",
        "https://api.deepinfra.com/v1/openai",
        &["DEEPINFRA_API_KEY"],
        &["DEEPINFRA_API_BASE"],
        &[],
    ),
    row(
        "cerebras",
        "https://api.cerebras.ai/v1",
        &["CEREBRAS_API_KEY"],
        &["CEREBRAS_API_BASE"],
        &[
            Quirk::Unsupported("frequency_penalty"),
            Quirk::Unsupported("presence_penalty"),
            Quirk::Unsupported("logit_bias"),
        ],
    ),
    local("vllm", Some("http://localhost:8000/v1"), &["VLLM_API_KEY"], &["VLLM_API_BASE"]),
    local("hosted_vllm", None, &["HOSTED_VLLM_API_KEY"], &["HOSTED_VLLM_API_BASE"]),
    local("lm_studio", Some("http://localhost:1234/v1"), &["LM_STUDIO_API_KEY"], &["LM_STUDIO_API_BASE"]),
    Vendor {
        env_base_path: Some("/v1"),
        ..local("ollama", Some("http://localhost:11434/v1"), &["OLLAMA_API_KEY"], &["OLLAMA_API_BASE"])
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_urls_are_https_unless_local() {
        for (i, v) in VENDORS.iter().enumerate() {
            assert!(VENDORS[..i].iter().all(|w| w.name != v.name), "duplicate {}", v.name);
            assert!(!v.api_key_env.is_empty() && !v.api_base_env.is_empty(), "{}", v.name);
            if let Some(url) = v.base_url {
                assert!(!url.ends_with('/'), "{url}");
                assert!(url.starts_with("https://") || !v.key_required, "{url}");
            }
        }
    }
}
