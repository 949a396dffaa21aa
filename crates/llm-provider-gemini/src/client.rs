//! The HTTP shell: configuration, authentication and the [`Provider`] implementation.

use std::fmt;
use std::time::Duration;

use llm_core::{
    ChatRequest, ChatResponse, ChatStream, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, ErrorKind,
    LlmError, Provider, RequestContext,
};
use serde_json::Value;

use crate::embed::{build_embed_request, parse_embed_response};
use crate::error::error_from_response;
use crate::request::{build_generate_content_request, model_path};
use crate::response::parse_generate_content_response;
use crate::stream::chat_stream_from_sse;

/// The Google AI Studio endpoint.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// The API version path segment used by default.
pub const DEFAULT_API_VERSION: &str = "v1beta";
/// The most inputs Gemini embeds in one `batchEmbedContents` call.
pub const MAX_EMBED_BATCH: usize = 100;
/// The default limit for a whole non-streamed call, and for the head of a streamed one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Secrets shorter than this are not searched for in error messages (a one-letter test key
/// would otherwise mangle every message).
const MIN_REDACTED_LEN: usize = 8;

/// How requests authenticate. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// An AI Studio API key, sent as `x-goog-api-key`.
    ApiKey(String),
    /// An OAuth access token, sent as `Authorization: Bearer …` (e.g. behind a proxy).
    BearerToken(String),
}

impl Auth {
    fn header(&self) -> (&'static str, String) {
        match self {
            Auth::ApiKey(key) => ("x-goog-api-key", key.clone()),
            Auth::BearerToken(token) => ("authorization", format!("Bearer {token}")),
        }
    }

    fn secret(&self) -> &str {
        match self {
            Auth::ApiKey(s) | Auth::BearerToken(s) => s,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::ApiKey(_) => f.write_str("ApiKey([REDACTED])"),
            Auth::BearerToken(_) => f.write_str("BearerToken([REDACTED])"),
        }
    }
}

/// The Gemini provider (Google AI Studio `generativelanguage` API).
///
/// Settings in code win over the environment: `from_env()` reads `GEMINI_API_KEY`, then
/// `GOOGLE_API_KEY`, and `GEMINI_API_BASE`; the `with_*` setters override them.
///
/// ```
/// use llm_provider_gemini::Gemini;
/// let gemini = Gemini::from_env().with_api_key("my-key").with_timeout(std::time::Duration::from_secs(30));
/// assert!(!format!("{gemini:?}").contains("my-key"));
/// let service = llm_core::ProviderService::new(gemini).boxed();
/// # drop(service);
/// ```
#[derive(Clone)]
pub struct Gemini {
    base_url: String,
    api_version: String,
    auth: Option<Auth>,
    timeout: Duration,
    client: reqwest::Client,
}

impl fmt::Debug for Gemini {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gemini")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Gemini {
    fn default() -> Self {
        Self::new()
    }
}

impl Gemini {
    /// A provider for the public endpoint, without credentials.
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(llm_core::POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(llm_core::POOL_MAX_IDLE_PER_HOST)
            .build()
            .unwrap_or_default();
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            auth: None,
            timeout: DEFAULT_TIMEOUT,
            client,
        }
    }

    /// A provider configured from `GEMINI_API_KEY` (else `GOOGLE_API_KEY`) and `GEMINI_API_BASE`.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut gemini = Self::new();
        if let Some(key) = non_empty("GEMINI_API_KEY").or_else(|| non_empty("GOOGLE_API_KEY")) {
            gemini.auth = Some(Auth::ApiKey(key));
        }
        if let Some(base) = non_empty("GEMINI_API_BASE") {
            gemini = gemini.with_base_url(base);
        }
        gemini
    }

    /// Uses `key` as the `x-goog-api-key`.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.auth = Some(Auth::ApiKey(key.into()));
        self
    }

    /// Uses any [`Auth`].
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Sends to `base_url` (scheme, host and optional path prefix, without the API version).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// Uses API version `version` (default `v1beta`).
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Limits a whole non-streamed call, and the wait for a stream's head (default 600 s). A
    /// shorter deadline in the request context wins.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses a caller-built HTTP client (proxies, TLS roots, pools).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    fn url(&self, model_path: &str, method: &str) -> String {
        format!("{}/{}/{model_path}:{method}", self.base_url, self.api_version)
    }

    /// Removes the secret from an error message, should an upstream ever echo it.
    fn redact(&self, err: LlmError) -> LlmError {
        match self.auth.as_ref().map(Auth::secret).filter(|s| s.len() >= MIN_REDACTED_LEN) {
            Some(secret) => err.redact_secret(secret),
            None => err,
        }
    }

    /// Posts `body` and returns the successful response, or the mapped error.
    async fn post(
        &self,
        url: String,
        body: &Value,
        context: &RequestContext,
    ) -> Result<(reqwest::Response, Duration), LlmError> {
        let auth = self.auth.as_ref().ok_or_else(|| {
            LlmError::new(
                ErrorKind::Authentication,
                "no Gemini API key: set GEMINI_API_KEY or GOOGLE_API_KEY, or call Gemini::with_api_key",
            )
        })?;
        let budget = context.remaining().map_or(self.timeout, |r| r.min(self.timeout));
        let (name, value) = auth.header();
        let send = self.client.post(url).header(name, value).json(body).send();
        let started = tokio::time::Instant::now();
        let response = match tokio::time::timeout(budget, send).await {
            Err(_) => return Err(LlmError::new(ErrorKind::Timeout, "Gemini did not answer in time")),
            Ok(Err(e)) => return Err(transport_error(e)),
            Ok(Ok(r)) => r,
        };
        let left = budget.saturating_sub(started.elapsed());
        let status = response.status();
        if status.is_success() {
            return Ok((response, left));
        }
        let headers = response.headers().clone();
        let bytes = match tokio::time::timeout(left, response.bytes()).await {
            Ok(Ok(b)) => b,
            _ => bytes::Bytes::new(),
        };
        Err(self.redact(error_from_response(status.as_u16(), &headers, &bytes)))
    }

    async fn post_for_body(
        &self,
        url: String,
        body: &Value,
        context: &RequestContext,
    ) -> Result<bytes::Bytes, LlmError> {
        let (response, left) = self.post(url, body, context).await?;
        match tokio::time::timeout(left, response.bytes()).await {
            Err(_) => Err(LlmError::new(ErrorKind::Timeout, "Gemini did not finish its answer in time")),
            Ok(Err(e)) => Err(transport_error(e)),
            Ok(Ok(b)) => Ok(b),
        }
    }
}

fn transport_error(e: reqwest::Error) -> LlmError {
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
    LlmError::new(kind, "the request to Gemini failed").with_source(e.without_url())
}

#[async_trait::async_trait]
impl Provider for Gemini {
    fn name(&self) -> &str {
        "gemini"
    }

    async fn chat(&self, request: ChatRequest, context: &RequestContext) -> Result<ChatResponse, LlmError> {
        let path = model_path(&request.model)?;
        let body = build_generate_content_request(&request)?;
        let bytes = self.post_for_body(self.url(&path, "generateContent"), &body, context).await?;
        parse_generate_content_response(&bytes, &request.model).map_err(|e| self.redact(e))
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatStream, LlmError> {
        let path = model_path(&request.model)?;
        let body = build_generate_content_request(&request)?;
        let url = format!("{}?alt=sse", self.url(&path, "streamGenerateContent"));
        let (response, _) = self.post(url, &body, context).await?;
        Ok(chat_stream_from_sse(Box::pin(response.bytes_stream()), request.model))
    }

    async fn embed(
        &self,
        request: EmbeddingRequest,
        context: &RequestContext,
    ) -> Result<EmbeddingResponse, LlmError> {
        let path = model_path(&request.model)?;
        let EmbeddingInput::Texts(texts) = &request.input else {
            let (method, body) = build_embed_request(&request, &path)?;
            let bytes = self.post_for_body(self.url(&path, method.as_str()), &body, context).await?;
            return parse_embed_response(&bytes, method, &request.model, request.encoding_format);
        };
        // `batchEmbedContents` takes at most MAX_EMBED_BATCH inputs: larger lists are sent in
        // consecutive batches and joined in input order.
        let mut joined: Option<EmbeddingResponse> = None;
        for batch in texts.chunks(MAX_EMBED_BATCH) {
            let part = EmbeddingRequest { input: EmbeddingInput::Texts(batch.to_vec()), ..request.clone() };
            let (method, body) = build_embed_request(&part, &path)?;
            let bytes = self.post_for_body(self.url(&path, method.as_str()), &body, context).await?;
            let mut res = parse_embed_response(&bytes, method, &request.model, request.encoding_format)?;
            if res.data.len() != batch.len() {
                return Err(LlmError::new(
                    ErrorKind::Decode,
                    "Gemini returned a different number of embeddings",
                ));
            }
            match &mut joined {
                None => joined = Some(res),
                Some(all) => {
                    let offset = u32::try_from(all.data.len()).unwrap_or(u32::MAX);
                    for e in &mut res.data {
                        e.index = e.index.saturating_add(offset);
                    }
                    all.data.append(&mut res.data);
                    all.usage.prompt_tokens += res.usage.prompt_tokens;
                    all.usage.total_tokens += res.usage.total_tokens;
                }
            }
        }
        joined.ok_or_else(|| LlmError::bad_request("input must not be empty").with_param("input"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_lookup_order_and_code_wins() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let g = Gemini::from_lookup(env(&[("GOOGLE_API_KEY", "g"), ("GEMINI_API_KEY", "m")]));
        assert_eq!(g.auth, Some(Auth::ApiKey("m".into())));
        let g = Gemini::from_lookup(env(&[("GOOGLE_API_KEY", "g"), ("GEMINI_API_KEY", " ")]));
        assert_eq!(g.auth, Some(Auth::ApiKey("g".into())));
        let g = Gemini::from_lookup(env(&[("GEMINI_API_BASE", "http://proxy/")])).with_api_key("code");
        assert_eq!(g.auth, Some(Auth::ApiKey("code".into())));
        assert_eq!(g.url("models/x", "generateContent"), "http://proxy/v1beta/models/x:generateContent");
        assert!(Gemini::from_lookup(|_| None).auth.is_none());
    }

    #[test]
    fn debug_redacts_secrets() {
        for g in [
            Gemini::new().with_api_key("AIzaSECRET"),
            Gemini::new().with_auth(Auth::BearerToken("AIzaSECRET".into())),
        ] {
            let shown = format!("{g:?}");
            assert!(!shown.contains("AIzaSECRET"), "{shown}");
            assert!(shown.contains("REDACTED"));
        }
    }

    #[test]
    fn redacts_an_echoed_key() {
        let g = Gemini::new().with_api_key("AIzaSECRET");
        let err = g
            .redact(LlmError::new(ErrorKind::BadRequest, "bad key AIzaSECRET").with_code("INVALID_ARGUMENT"));
        assert_eq!(err.message(), "bad key [redacted]");
        assert_eq!(err.code(), Some("INVALID_ARGUMENT"));
    }
}
