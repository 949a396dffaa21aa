//! Provider services from `litellm_params`, chosen by the `model` prefix.

use std::time::Duration;

use llm_core::{BoxLlmService, ProviderService};
use llm_provider_anthropic::Anthropic;
use llm_provider_gemini::Gemini;
use llm_provider_openai::{OpenAi, Vendor};

use crate::config::{EnvLookup, LitellmParams};

/// A deployment's service, its provider name and the model it sends upstream.
pub(crate) struct Upstream {
    pub(crate) service: BoxLlmService,
    pub(crate) provider: String,
    pub(crate) model: String,
}

/// Splits `provider/model`; a name without a known prefix is an OpenAI model (LiteLLM does the
/// same).
pub(crate) fn split_model(model: &str) -> (&str, &str) {
    match model.split_once('/') {
        Some((prefix, rest)) if is_known_provider(prefix) => (prefix, rest),
        _ => ("openai", model),
    }
}

fn is_known_provider(prefix: &str) -> bool {
    matches!(prefix, "openai" | "azure" | "anthropic" | "gemini") || Vendor::get(prefix).is_some()
}

/// Builds the service for one deployment. Errors are messages about `litellm_params.model`.
pub(crate) fn build(
    params: &LitellmParams,
    drop_params: bool,
    env: EnvLookup<'_>,
) -> Result<Upstream, String> {
    let (provider, model) = split_model(&params.model);
    if model.is_empty() {
        return Err(format!("`{}` names no model after the provider", params.model));
    }
    let drop_params = params.drop_params.unwrap_or(drop_params);
    let timeout = params.timeout.filter(|t| t.is_finite() && *t > 0.0).map(Duration::from_secs_f64);
    let service = match provider {
        "anthropic" => {
            let key = params.api_key.clone().or_else(|| env("ANTHROPIC_API_KEY")).unwrap_or_else(|| {
                tracing::warn!(model = %params.model, "no api_key for an anthropic deployment");
                String::new()
            });
            let mut client = Anthropic::new(key).with_drop_params(drop_params);
            if let Some(base) = &params.api_base {
                client = client.with_base_url(base.clone());
            }
            if let Some(v) = &params.api_version {
                client = client.with_api_version(v.clone());
            }
            if let Some(n) = params.max_tokens {
                client = client.with_default_max_tokens(n);
            }
            client.into_service()
        }
        "gemini" => {
            let mut client = Gemini::new();
            if let Some(key) = params.api_key.clone().or_else(|| env("GEMINI_API_KEY")) {
                client = client.with_api_key(key);
            }
            if let Some(base) = &params.api_base {
                client = client.with_base_url(base.clone());
            }
            if let Some(t) = timeout {
                client = client.with_timeout(t);
            }
            ProviderService::new(client).boxed()
        }
        _ => {
            let mut client = if provider == "azure" {
                OpenAi::azure_with_env(env)
            } else {
                let vendor = Vendor::get(provider).ok_or_else(|| format!("unknown provider `{provider}`"))?;
                OpenAi::for_vendor_with_env(vendor, env)
            };
            if let Some(key) = &params.api_key {
                client = client.with_api_key(key.clone());
            }
            if let Some(base) = &params.api_base {
                client = client.with_base_url(base.clone());
            }
            if let Some(v) = &params.api_version {
                client = client.with_api_version(v.clone());
            }
            if let Some(t) = timeout {
                client = client.with_timeout(t);
            }
            client.with_drop_params(drop_params).into_service()
        }
    };
    Ok(Upstream { service, provider: provider.to_owned(), model: model.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_known_prefixes_only() {
        assert_eq!(split_model("anthropic/claude-x"), ("anthropic", "claude-x"));
        assert_eq!(split_model("groq/llama-3"), ("groq", "llama-3"));
        assert_eq!(split_model("gpt-4o"), ("openai", "gpt-4o"));
        assert_eq!(split_model("ft:org/custom"), ("openai", "ft:org/custom"));
    }

    #[test]
    fn builds_each_provider() {
        let env = |_: &str| None;
        for model in ["openai/gpt-4o", "azure/dep", "anthropic/claude", "gemini/gemini-2.0-flash", "groq/x"] {
            let params = LitellmParams {
                model: model.into(),
                api_base: Some("http://127.0.0.1:1".into()),
                api_key: Some("k".into()),
                ..Default::default()
            };
            let up = build(&params, false, &env).unwrap_or_else(|e| panic!("{model}: {e}"));
            assert_eq!(format!("{}/{}", up.provider, up.model), model);
        }
        let params = LitellmParams { model: "openai/".into(), ..Default::default() };
        assert!(build(&params, false, &env).is_err());
    }
}
