//! Token usage, with the cached, cache-creation, reasoning and audio breakdowns.

use serde::{Deserialize, Serialize};

use crate::Extra;

/// Token counts of one response, in OpenAI's shape and meaning.
///
/// `prompt_tokens` counts *all* input tokens, including those read from or written to a prompt
/// cache; `completion_tokens` counts all output tokens, including reasoning tokens. Providers that
/// count differently (Anthropic reports cache reads apart) normalise to this.
///
/// ```
/// use llm_core::Usage;
/// let u = Usage::new(100, 20).with_cached_tokens(60).with_reasoning_tokens(5);
/// assert_eq!(u.total_tokens, 120);
/// assert_eq!(u.cached_tokens(), 60);
/// assert_eq!(u.reasoning_tokens(), 5);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// All input tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// All output tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Input plus output.
    #[serde(default)]
    pub total_tokens: u64,
    /// Breakdown of the input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    /// Breakdown of the output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
    /// Other fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Breakdown of input tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    /// Tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Tokens written to the prompt cache (Anthropic's `cache_creation_input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_tokens: Option<u64>,
    /// Audio input tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Other fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Breakdown of output tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    /// Hidden reasoning tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Audio output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_tokens: Option<u64>,
    /// Predicted-output tokens that were used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_prediction_tokens: Option<u64>,
    /// Predicted-output tokens that were not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_prediction_tokens: Option<u64>,
    /// Other fields, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Usage {
    /// Usage with `prompt` input and `completion` output tokens; the total is their sum.
    pub fn new(prompt: u64, completion: u64) -> Self {
        Self {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt.saturating_add(completion),
            ..Self::default()
        }
    }

    /// Sets the cache-read tokens.
    pub fn with_cached_tokens(mut self, n: u64) -> Self {
        self.prompt_details_mut().cached_tokens = Some(n);
        self
    }

    /// Sets the cache-creation tokens.
    pub fn with_cache_creation_tokens(mut self, n: u64) -> Self {
        self.prompt_details_mut().cache_creation_tokens = Some(n);
        self
    }

    /// Sets the reasoning tokens.
    pub fn with_reasoning_tokens(mut self, n: u64) -> Self {
        self.completion_details_mut().reasoning_tokens = Some(n);
        self
    }

    /// Input tokens read from a prompt cache (0 when unknown).
    pub fn cached_tokens(&self) -> u64 {
        self.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0)
    }

    /// Input tokens written to a prompt cache (0 when unknown).
    pub fn cache_creation_tokens(&self) -> u64 {
        self.prompt_tokens_details.as_ref().and_then(|d| d.cache_creation_tokens).unwrap_or(0)
    }

    /// Audio input tokens (0 when unknown).
    pub fn prompt_audio_tokens(&self) -> u64 {
        self.prompt_tokens_details.as_ref().and_then(|d| d.audio_tokens).unwrap_or(0)
    }

    /// Reasoning output tokens (0 when unknown).
    pub fn reasoning_tokens(&self) -> u64 {
        self.completion_tokens_details.as_ref().and_then(|d| d.reasoning_tokens).unwrap_or(0)
    }

    /// Audio output tokens (0 when unknown).
    pub fn completion_audio_tokens(&self) -> u64 {
        self.completion_tokens_details.as_ref().and_then(|d| d.audio_tokens).unwrap_or(0)
    }

    /// Adds `other` into `self` (used to sum the usage of several calls).
    pub fn accumulate(&mut self, other: &Usage) {
        self.prompt_tokens = self.prompt_tokens.saturating_add(other.prompt_tokens);
        self.completion_tokens = self.completion_tokens.saturating_add(other.completion_tokens);
        self.total_tokens = self.total_tokens.saturating_add(other.total_tokens);
        let add = |a: &mut Option<u64>, b: Option<u64>| {
            if let Some(b) = b {
                *a = Some(a.unwrap_or(0).saturating_add(b));
            }
        };
        if let Some(p) = &other.prompt_tokens_details {
            let d = self.prompt_details_mut();
            add(&mut d.cached_tokens, p.cached_tokens);
            add(&mut d.cache_creation_tokens, p.cache_creation_tokens);
            add(&mut d.audio_tokens, p.audio_tokens);
        }
        if let Some(c) = &other.completion_tokens_details {
            let d = self.completion_details_mut();
            add(&mut d.reasoning_tokens, c.reasoning_tokens);
            add(&mut d.audio_tokens, c.audio_tokens);
            add(&mut d.accepted_prediction_tokens, c.accepted_prediction_tokens);
            add(&mut d.rejected_prediction_tokens, c.rejected_prediction_tokens);
        }
    }

    fn prompt_details_mut(&mut self) -> &mut PromptTokensDetails {
        self.prompt_tokens_details.get_or_insert_with(Default::default)
    }

    fn completion_details_mut(&mut self) -> &mut CompletionTokensDetails {
        self.completion_tokens_details.get_or_insert_with(Default::default)
    }
}
