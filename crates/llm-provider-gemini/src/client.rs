//! The HTTP shell: configuration, authentication and the [`Provider`] implementation, sending
//! through [`llm_core::transport`].

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use llm_core::transport::{BodyReadError, Transport, TransportError, UpstreamBody, is_http_url};
use llm_core::{
    ChatRequest, ChatResponse, ChatStream, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, ErrorKind,
    LlmError, Provider, RequestContext,
};
use serde_json::Value;
use tokio::time::Instant;

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
    /// The header carrying the secret, marked sensitive; `None` when the secret cannot be a
    /// header value.
    fn header(&self) -> Option<(HeaderName, HeaderValue)> {
        let (name, value) = match self {
            Auth::ApiKey(key) => (HeaderName::from_static("x-goog-api-key"), HeaderValue::from_str(key)),
            Auth::BearerToken(token) => {
                (http::header::AUTHORIZATION, HeaderValue::try_from(format!("Bearer {token}")))
            }
        };
        let mut value = value.ok()?;
        value.set_sensitive(true);
        Some((name, value))
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
/// `GOOGLE_API_KEY`, and `GEMINI_API_BASE`; the `with_*` setters override them. Clones share one
/// connection pool.
///
/// Requests go out on [`llm_core::transport`]: pooled hyper clients with rustls, or
/// reqwest when `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set or
/// [`with_client`](Self::with_client) hands one in. [`with_timeout`](Self::with_timeout) bounds a
/// non-streamed call whole and a stream's head; a request context's deadline bounds the whole
/// call, every read of a stream included. A passed deadline is [`ErrorKind::Timeout`].
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
    transport: Transport,
}

impl fmt::Debug for Gemini {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gemini")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Default for Gemini {
    fn default() -> Self {
        Self::new()
    }
}

impl Gemini {
    /// A provider for the public endpoint, without credentials (the process environment only
    /// chooses the transport: a proxy variable keeps reqwest).
    pub fn new() -> Self {
        Self::with_transport(Transport::from_env())
    }

    fn with_transport(transport: Transport) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            auth: None,
            timeout: DEFAULT_TIMEOUT,
            transport,
        }
    }

    /// A provider configured from `GEMINI_API_KEY` (else `GOOGLE_API_KEY`) and `GEMINI_API_BASE`
    /// (the proxy variables choose the transport).
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut gemini = Self::with_transport(Transport::default_with_env(&lookup));
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

    /// Sends to `base_url` (scheme, host and optional path prefix, without the API version). A
    /// URL that is not absolute `http://` or `https://` with a host makes every request fail
    /// with [`ErrorKind::BadRequest`] (code `invalid_base_url`).
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
    /// shorter deadline in the request context wins; the context's deadline also bounds every
    /// read of a stream.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends requests with a caller-built reqwest client (proxies, TLS roots, pools, timeouts of
    /// its own) instead of the default transport: pooled hyper clients with rustls, or
    /// reqwest when `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set (the default transport
    /// follows no redirects and knows no proxies).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.transport = Transport::reqwest(client);
        self
    }

    fn url(&self, model_path: &str, method: &str) -> String {
        format!("{}/{}/{model_path}:{method}", self.base_url, self.api_version)
    }

    /// `url` parsed (it depends on the model, so each request parses its own); an unusable base
    /// URL or API version is a typed error that does not repeat the URL.
    fn uri(url: String) -> Result<http::Uri, LlmError> {
        let uri = http::Uri::try_from(url).map_err(|_| invalid_base_url())?;
        if !is_http_url(&uri) {
            return Err(invalid_base_url());
        }
        Ok(uri)
    }

    /// Removes the secret from an error message, should an upstream ever echo it.
    fn redact(&self, err: LlmError) -> LlmError {
        match self.auth.as_ref().map(Auth::secret).filter(|s| s.len() >= MIN_REDACTED_LEN) {
            Some(secret) => err.redact_secret(secret),
            None => err,
        }
    }

    /// The deadline of a non-streamed call and of a stream's head: the own timeout
    /// ([`Self::with_timeout`]) from now, or the context's deadline when that is sooner.
    fn call_deadline(&self, context: &RequestContext) -> Instant {
        let own = Instant::now() + self.timeout;
        context.deadline.map_or(own, |d| d.min(own))
    }

    /// Posts `body` to `url` and returns a successful answer's head, its body unread; an error
    /// status is read (before `deadline`) and mapped.
    async fn post(
        &self,
        url: String,
        body: &Value,
        deadline: Instant,
    ) -> Result<http::Response<UpstreamBody>, LlmError> {
        let auth = self.auth.as_ref().ok_or_else(|| {
            LlmError::new(
                ErrorKind::Authentication,
                "no Gemini API key: set GEMINI_API_KEY or GOOGLE_API_KEY, or call Gemini::with_api_key",
            )
        })?;
        let (name, value) = auth.header().ok_or_else(|| {
            LlmError::new(ErrorKind::Authentication, "the Gemini credential is not a valid header value")
        })?;
        let uri = Self::uri(url)?;
        let body = llm_core::json::to_vec(body)
            .map_err(|e| LlmError::internal("could not serialize the request").with_source(e))?;
        if deadline <= Instant::now() {
            return Err(LlmError::new(ErrorKind::Timeout, "the request deadline passed before sending"));
        }
        let mut request = http::Request::new(Bytes::from(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(name, value);
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let response = match tokio::time::timeout_at(deadline, self.transport.send(request)).await {
            Err(_) => return Err(LlmError::new(ErrorKind::Timeout, "Gemini did not answer in time")),
            Ok(Err(e)) => return Err(transport_error(e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let (head, body) = response.into_parts();
        let bytes = match tokio::time::timeout_at(deadline, body.bytes()).await {
            Ok(Ok(b)) => b,
            _ => Bytes::new(),
        };
        Err(self.redact(error_from_response(status.as_u16(), &head.headers, &bytes)))
    }

    async fn post_for_body(
        &self,
        url: String,
        body: &Value,
        context: &RequestContext,
    ) -> Result<Bytes, LlmError> {
        let deadline = self.call_deadline(context);
        let response = self.post(url, body, deadline).await?;
        match tokio::time::timeout_at(deadline, response.into_body().bytes()).await {
            Err(_) => Err(LlmError::new(ErrorKind::Timeout, "Gemini did not finish its answer in time")),
            Ok(Err(e)) => Err(transport_error(e)),
            Ok(Ok(b)) => Ok(b),
        }
    }
}

fn invalid_base_url() -> LlmError {
    LlmError::bad_request(
        "invalid Gemini base URL: it must be an absolute http:// or https:// URL with a host \
         (and the API version a path segment)",
    )
    .with_code("invalid_base_url")
}

/// A failed or late read of a stream's body, as the stream's last item.
fn stream_error(e: BodyReadError) -> LlmError {
    match e {
        BodyReadError::DeadlinePassed => {
            LlmError::new(ErrorKind::Timeout, "the request deadline passed while reading the Gemini stream")
        }
        BodyReadError::Transport(e) => transport_error(e),
    }
}

fn transport_error(e: TransportError) -> LlmError {
    if e.is_builder() {
        return invalid_base_url();
    }
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
    let what = if e.is_connect() { "could not connect to Gemini" } else { "the request to Gemini failed" };
    // The transport's errors name no URL and no header: no key can leak here.
    LlmError::new(kind, what).with_source(e)
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
        let response = self.post(url, &body, self.call_deadline(context)).await?;
        Ok(chat_stream_from_sse(
            response.into_body().into_stream(context.deadline, stream_error),
            request.model,
        ))
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
    fn a_proxy_in_the_environment_keeps_reqwest() {
        let direct = |name: &str| (name == "GEMINI_API_KEY").then(|| "AIzaKEY".to_owned());
        assert!(!Gemini::from_lookup(direct).transport.is_reqwest());
        for proxy in ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"] {
            let env = |name: &str| match name {
                "GEMINI_API_KEY" => Some("AIzaKEY".to_owned()),
                n if n == proxy => Some("http://proxy.internal:3128".to_owned()),
                _ => None,
            };
            assert!(Gemini::from_lookup(env).transport.is_reqwest(), "{proxy}");
        }
        assert!(Gemini::new().with_client(reqwest::Client::new()).transport.is_reqwest());
    }

    #[tokio::test]
    async fn an_invalid_base_url_is_a_typed_error_before_any_request() {
        for base in ["not a url", "ftp://h.example", "/v1", "http://", "https://user:AIzaSECRET@ho st"] {
            let g = Gemini::new().with_api_key("AIzaSECRET").with_base_url(base);
            let request = ChatRequest::new("gemini-2.5-flash", vec![llm_core::ChatMessage::user("Hi")]);
            let err = g.chat(request.clone(), &RequestContext::new()).await.unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::BadRequest, "{base}");
            assert_eq!(err.code(), Some("invalid_base_url"), "{base}");
            assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
            let err = g.chat_stream(request, &RequestContext::new()).await.err().unwrap();
            assert_eq!(err.code(), Some("invalid_base_url"), "{base}");
            let embed = EmbeddingRequest::new("text-embedding-004", "hi");
            assert_eq!(
                g.embed(embed, &RequestContext::new()).await.unwrap_err().code(),
                Some("invalid_base_url")
            );
        }
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
