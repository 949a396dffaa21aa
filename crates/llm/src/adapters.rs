//! Building one provider adapter from the client's settings, or saying which feature or
//! variable is missing.

// Which helpers are used depends on the provider features compiled in.
#![allow(dead_code)]

use llm_core::{BoxLlmService, ErrorKind, LlmError};

use crate::resolve::Backend;
use crate::settings::Settings;

/// The adapter for `backend`, configured from code settings first, then the environment.
pub(crate) fn build(backend: Backend, settings: &Settings) -> Result<BoxLlmService, LlmError> {
    match backend {
        Backend::OpenAiCompatible(name) => openai_compatible(name, settings),
        Backend::Azure => azure(settings),
        Backend::Anthropic => anthropic(settings),
        Backend::Gemini => gemini(settings),
        Backend::Bedrock => bedrock(settings),
        Backend::Vertex => vertex(settings),
    }
}

/// The error for a provider whose cargo feature is off.
pub(crate) fn not_compiled(backend: Backend) -> LlmError {
    let (name, feature) = (backend.name(), backend.feature());
    LlmError::bad_request(format!(
        "provider `{name}` needs the `{feature}` feature of the `llm` crate: \
         `llm = {{ version = \"0.1\", features = [\"{feature}\"] }}`"
    ))
    .with_param("model")
    .with_code("provider_not_compiled")
}

/// The error for a provider without credentials.
pub(crate) fn missing_key(provider: &str, vars: &[&str]) -> LlmError {
    LlmError::new(
        ErrorKind::Authentication,
        format!(
            "no API key for provider `{provider}`: set the {} environment variable, \
             or call Client::builder().api_key(\"{provider}\", key)",
            vars.join(" or ")
        ),
    )
    .with_provider(provider.to_owned())
}

/// The error for a provider without a base URL.
pub(crate) fn missing_base_url(provider: &str, vars: &[&str]) -> LlmError {
    LlmError::bad_request(format!(
        "no base URL for provider `{provider}`: set the {} environment variable, \
         or call Client::builder().base_url(\"{provider}\", url)",
        vars.join(" or ")
    ))
    .with_provider(provider.to_owned())
}

#[cfg(feature = "openai")]
fn openai_compatible(name: &str, settings: &Settings) -> Result<BoxLlmService, LlmError> {
    use llm_provider_openai::{OpenAi, Vendor};
    let vendor = Vendor::get(name)
        .ok_or_else(|| LlmError::internal(format!("`{name}` is missing from the OpenAI vendor table")))?;
    let env = |n: &str| (settings.env)(n);
    let mut provider = OpenAi::for_vendor_with_env(vendor, &env);
    match settings.api_key(name) {
        Some(key) => provider = provider.with_api_key(key),
        None if vendor.key_required && settings.first_env(vendor.api_key_env).is_none() => {
            return Err(missing_key(name, vendor.api_key_env));
        }
        None => {}
    }
    if let Some(url) = settings.base_url(name) {
        provider = provider.with_base_url(url);
    }
    if provider.base_url().is_none() {
        return Err(missing_base_url(name, vendor.api_base_env));
    }
    if let Some(timeout) = settings.timeout {
        provider = provider.with_timeout(timeout);
    }
    Ok(provider.with_drop_params(settings.drop_params).into_service())
}

#[cfg(not(feature = "openai"))]
fn openai_compatible(name: &'static str, _: &Settings) -> Result<BoxLlmService, LlmError> {
    Err(not_compiled(Backend::OpenAiCompatible(name)))
}

/// Where Azure OpenAI's key and resource URL come from.
const AZURE_KEY_VARS: &[&str] = &["AZURE_API_KEY", "AZURE_OPENAI_API_KEY", "AZURE_AD_TOKEN"];
const AZURE_BASE_VARS: &[&str] = &["AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"];

#[cfg(feature = "openai")]
fn azure(settings: &Settings) -> Result<BoxLlmService, LlmError> {
    use llm_provider_openai::OpenAi;
    let env = |n: &str| (settings.env)(n);
    let mut provider = OpenAi::azure_with_env(&env);
    match settings.api_key("azure") {
        Some(key) => provider = provider.with_api_key(key),
        None if settings.first_env(AZURE_KEY_VARS).is_none() => {
            return Err(missing_key("azure", AZURE_KEY_VARS));
        }
        None => {}
    }
    if let Some(url) = settings.base_url("azure") {
        provider = provider.with_base_url(url);
    }
    if provider.base_url().is_none() {
        return Err(missing_base_url("azure", AZURE_BASE_VARS));
    }
    if let Some(timeout) = settings.timeout {
        provider = provider.with_timeout(timeout);
    }
    Ok(provider.with_drop_params(settings.drop_params).into_service())
}

#[cfg(not(feature = "openai"))]
fn azure(_: &Settings) -> Result<BoxLlmService, LlmError> {
    Err(not_compiled(Backend::Azure))
}

const ANTHROPIC_KEY_VARS: &[&str] = &["ANTHROPIC_API_KEY"];
const ANTHROPIC_BASE_VARS: &[&str] = &["ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL"];

#[cfg(feature = "anthropic")]
fn anthropic(settings: &Settings) -> Result<BoxLlmService, LlmError> {
    use llm_provider_anthropic::Anthropic;
    let key = match settings.api_key("anthropic") {
        Some(key) => key.to_owned(),
        None => settings
            .first_env(ANTHROPIC_KEY_VARS)
            .ok_or_else(|| missing_key("anthropic", ANTHROPIC_KEY_VARS))?,
    };
    let mut provider = Anthropic::new(key).with_drop_params(settings.drop_params);
    let base =
        settings.base_url("anthropic").map(str::to_owned).or_else(|| settings.first_env(ANTHROPIC_BASE_VARS));
    if let Some(base) = base {
        provider = provider.with_base_url(base);
    }
    if let Some(timeout) = settings.timeout {
        // The adapter has no timeout of its own: limit connecting and every read.
        provider = provider.with_http_client(http_client_with_timeout(timeout)?);
    }
    Ok(provider.into_service())
}

#[cfg(not(feature = "anthropic"))]
fn anthropic(_: &Settings) -> Result<BoxLlmService, LlmError> {
    Err(not_compiled(Backend::Anthropic))
}

const GEMINI_KEY_VARS: &[&str] = &["GEMINI_API_KEY", "GOOGLE_API_KEY"];
const GEMINI_BASE_VARS: &[&str] = &["GEMINI_API_BASE"];

#[cfg(feature = "gemini")]
fn gemini(settings: &Settings) -> Result<BoxLlmService, LlmError> {
    use llm_provider_gemini::Gemini;
    let key = match settings.api_key("gemini") {
        Some(key) => key.to_owned(),
        None => settings.first_env(GEMINI_KEY_VARS).ok_or_else(|| missing_key("gemini", GEMINI_KEY_VARS))?,
    };
    let mut provider = Gemini::new().with_api_key(key);
    let base =
        settings.base_url("gemini").map(str::to_owned).or_else(|| settings.first_env(GEMINI_BASE_VARS));
    if let Some(base) = base {
        provider = provider.with_base_url(base);
    }
    if let Some(timeout) = settings.timeout {
        provider = provider.with_timeout(timeout);
    }
    Ok(llm_core::ProviderService::new(provider).boxed())
}

#[cfg(not(feature = "gemini"))]
fn gemini(_: &Settings) -> Result<BoxLlmService, LlmError> {
    Err(not_compiled(Backend::Gemini))
}

/// An HTTP client that bounds connecting and every read by `timeout`, for adapters without a
/// timeout setting of their own.
#[cfg(any(feature = "anthropic", feature = "bedrock"))]
fn http_client_with_timeout(timeout: std::time::Duration) -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(10)))
        .read_timeout(timeout)
        .build()
        .map_err(|e| LlmError::internal(format!("building the HTTP client: {e}")))
}

const BEDROCK_KEY_VARS: &[&str] = &["AWS_BEARER_TOKEN_BEDROCK", "AWS_ACCESS_KEY_ID"];

/// Bedrock: `api_key("bedrock", …)` is a Bedrock API key (bearer); else the AWS variables
/// (`AWS_BEARER_TOKEN_BEDROCK`, or `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
/// `AWS_REGION`); `base_url("bedrock", …)` replaces the regional endpoint.
#[cfg(feature = "bedrock")]
fn bedrock(settings: &Settings) -> Result<BoxLlmService, LlmError> {
    use llm_provider_bedrock::{Bedrock, BedrockConfig};
    let mut config = BedrockConfig::from_lookup(|n| (settings.env)(n));
    if let Some(key) = settings.api_key("bedrock") {
        config = config.with_api_key(key);
    }
    if config.auth().is_none() {
        return Err(missing_key("bedrock", BEDROCK_KEY_VARS));
    }
    if let Some(url) = settings.base_url("bedrock") {
        config = config.with_endpoint(url);
    }
    let mut provider = Bedrock::new(config)?;
    if let Some(timeout) = settings.timeout {
        provider = provider.with_client(http_client_with_timeout(timeout)?);
    }
    Ok(provider.into_service())
}

#[cfg(not(feature = "bedrock"))]
fn bedrock(_: &Settings) -> Result<BoxLlmService, LlmError> {
    Err(not_compiled(Backend::Bedrock))
}

/// Vertex AI: `api_key("vertex_ai", …)` is an OAuth access token; else the service-account key
/// named by `GOOGLE_APPLICATION_CREDENTIALS`; the project from `VERTEXAI_PROJECT`.
#[cfg(feature = "vertex")]
fn vertex(settings: &Settings) -> Result<BoxLlmService, LlmError> {
    use llm_provider_vertex::Vertex;
    let mut provider = Vertex::from_lookup(|n| (settings.env)(n))
        .map_err(|e| LlmError::new(ErrorKind::Authentication, e.to_string()).with_provider("vertex_ai"))?;
    if let Some(token) = settings.api_key("vertex_ai").or_else(|| settings.api_key("vertex")) {
        provider = provider.with_access_token(token);
    }
    if let Some(url) = settings.base_url("vertex_ai").or_else(|| settings.base_url("vertex")) {
        provider = provider.with_base_url(url);
    }
    if let Some(timeout) = settings.timeout {
        provider = provider.with_timeout(timeout);
    }
    Ok(provider.with_drop_params(settings.drop_params).into_service())
}

#[cfg(not(feature = "vertex"))]
fn vertex(_: &Settings) -> Result<BoxLlmService, LlmError> {
    Err(not_compiled(Backend::Vertex))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_name_the_feature_or_the_variable() {
        let err = not_compiled(Backend::Anthropic);
        assert!(
            err.message().contains("provider `anthropic` needs the `anthropic` feature of the `llm` crate")
        );
        let err = not_compiled(Backend::OpenAiCompatible("groq"));
        assert!(err.message().contains("provider `groq` needs the `openai` feature"), "{err}");
        let err = missing_key("gemini", GEMINI_KEY_VARS);
        assert_eq!(*err.kind(), ErrorKind::Authentication);
        assert!(
            err.message().contains("set the GEMINI_API_KEY or GOOGLE_API_KEY environment variable"),
            "{err}"
        );
        assert_eq!(err.provider(), Some("gemini"));
    }
}
