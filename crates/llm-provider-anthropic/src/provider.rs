//! The HTTP shell: [`Anthropic`], a thin client over [`llm_core::transport`] implementing
//! [`Provider`].

use std::fmt;
use std::sync::OnceLock;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use llm_core::transport::{BodyReadError, Transport, TransportError, UpstreamBody, is_http_url, within};
use llm_core::{
    BoxLlmService, ChatRequest, ChatResponse, ChatStream, ErrorKind, LlmError, Provider, ProviderService,
    RequestContext, retry_after_from_headers,
};
use tokio::time::Instant;

use crate::error::{ConfigError, error_from_response};
use crate::request::{MessagesRequest, TranslateOptions, to_messages_request};
use crate::response::from_messages_response;
use crate::stream::chunk_stream;

/// The provider name in errors and response metadata.
const NAME: &str = "anthropic";

/// An Anthropic Messages API client.
///
/// Settings made in code win over the environment. The API key never appears in `Debug` output,
/// logs or errors. Clones share one connection pool.
///
/// Requests go out on [`llm_core::transport`]: pooled hyper clients with rustls, or
/// reqwest when `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set or
/// [`with_http_client`](Self::with_http_client) hands one in. The client sets no time limit of
/// its own; a request context's deadline bounds the whole call: connecting, the answer's head and
/// its whole body (for a stream, every event up to the last).
///
/// ```
/// use llm_provider_anthropic::Anthropic;
/// let client = Anthropic::new("sk-ant-secret")
///     .with_base_url("http://127.0.0.1:8080")
///     .with_beta("prompt-caching-2024-07-31")
///     .with_drop_params(true);
/// assert_eq!(client.messages_url(), "http://127.0.0.1:8080/v1/messages");
/// assert!(!format!("{client:?}").contains("sk-ant-secret"));
/// let service = client.into_service(); // a tower service: LlmRequest -> LlmResponse
/// # drop(service);
/// ```
#[derive(Clone)]
pub struct Anthropic {
    api_key: String,
    base_url: String,
    api_version: String,
    betas: Vec<String>,
    drop_params: bool,
    default_max_tokens: Option<u32>,
    transport: Transport,
    /// The parsed Messages URL, made on first use so requests do not parse it again; cleared
    /// when the base URL changes.
    messages_uri: OnceLock<http::Uri>,
}

impl fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anthropic")
            .field("api_key", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("betas", &self.betas)
            .field("drop_params", &self.drop_params)
            .field("default_max_tokens", &self.default_max_tokens)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Anthropic {
    /// The public API's base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";
    /// The `anthropic-version` header sent by default.
    pub const API_VERSION: &'static str = "2023-06-01";

    /// A client with `api_key` and the default base URL (the process environment only chooses
    /// the transport: a proxy variable keeps reqwest).
    pub fn new(api_key: impl Into<String>) -> Self {
        Self::with_transport(api_key.into(), Transport::from_env())
    }

    fn with_transport(api_key: String, transport: Transport) -> Self {
        Self {
            api_key,
            base_url: Self::DEFAULT_BASE_URL.to_owned(),
            api_version: Self::API_VERSION.to_owned(),
            betas: Vec::new(),
            drop_params: false,
            default_max_tokens: None,
            transport,
            messages_uri: OnceLock::new(),
        }
    }

    /// A client from the environment: `ANTHROPIC_API_KEY` (required), and the base URL from
    /// `ANTHROPIC_API_BASE` or `ANTHROPIC_BASE_URL` when set (an unusable one is
    /// [`ConfigError::InvalidBaseUrl`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let key =
            lookup("ANTHROPIC_API_KEY").filter(|k| !k.trim().is_empty()).ok_or(ConfigError::MissingApiKey)?;
        let mut client = Self::with_transport(key.trim().to_owned(), Transport::default_with_env(&lookup));
        let base = lookup("ANTHROPIC_API_BASE").or_else(|| lookup("ANTHROPIC_BASE_URL"));
        if let Some(base) = base.filter(|b| !b.trim().is_empty()) {
            client = client.with_base_url(base.trim());
            client.messages_uri()?;
        }
        Ok(client)
    }

    /// Replaces the API key.
    pub fn with_api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = api_key.into();
        self
    }

    /// Sets the base URL: `https://host`, `https://host/v1` or the full `…/v1/messages`. A URL
    /// that is not absolute `http://` or `https://` with a host makes every request fail with
    /// [`ErrorKind::BadRequest`] caused by [`ConfigError::InvalidBaseUrl`].
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self.messages_uri = OnceLock::new();
        self
    }

    /// Sets the `anthropic-version` header.
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Adds an `anthropic-beta` value sent with every request (beside a request's own
    /// `anthropic_beta` extra).
    pub fn with_beta(mut self, beta: impl Into<String>) -> Self {
        let beta = beta.into();
        if !self.betas.contains(&beta) {
            self.betas.push(beta);
        }
        self
    }

    /// Drops parameters Anthropic does not support instead of rejecting the request.
    pub fn with_drop_params(mut self, drop_params: bool) -> Self {
        self.drop_params = drop_params;
        self
    }

    /// Sets the `max_tokens` used when a request gives none (default: per model family, see
    /// [`default_max_tokens`](crate::default_max_tokens)).
    pub fn with_default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = Some(max_tokens);
        self
    }

    /// Sends requests with `client` (to share a connection pool, or for a proxy or timeouts of
    /// its own) instead of the default transport: pooled hyper clients with rustls, or
    /// reqwest when `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set (the default transport
    /// follows no redirects and knows no proxies).
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.transport = Transport::reqwest(client);
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The Messages endpoint derived from the base URL.
    pub fn messages_url(&self) -> String {
        let base = &self.base_url;
        if base.ends_with("/v1/messages") {
            base.clone()
        } else if base.ends_with("/v1") {
            format!("{base}/messages")
        } else {
            format!("{base}/v1/messages")
        }
    }

    /// The parsed Messages URL, parsed once per client.
    fn messages_uri(&self) -> Result<http::Uri, ConfigError> {
        if let Some(uri) = self.messages_uri.get() {
            return Ok(uri.clone());
        }
        let uri: http::Uri = self.messages_url().parse().map_err(|_| ConfigError::InvalidBaseUrl)?;
        if !is_http_url(&uri) {
            return Err(ConfigError::InvalidBaseUrl);
        }
        let _ = self.messages_uri.set(uri.clone());
        Ok(uri)
    }

    /// The type-erased tower service over this client.
    pub fn into_service(self) -> BoxLlmService {
        ProviderService::new(self).boxed()
    }

    /// Translates `request` with this client's options.
    pub fn translate(&self, request: &ChatRequest, stream: bool) -> Result<MessagesRequest, LlmError> {
        let mut options = TranslateOptions::new().with_drop_params(self.drop_params).with_stream(stream);
        options.default_max_tokens = self.default_max_tokens;
        to_messages_request(request, &options)
    }

    fn headers(&self, request_betas: &[String], stream: bool) -> Result<HeaderMap, LlmError> {
        let mut headers = HeaderMap::new();
        let mut key = HeaderValue::from_str(&self.api_key).map_err(|_| {
            LlmError::new(ErrorKind::Authentication, "the Anthropic API key is not a valid header value")
        })?;
        key.set_sensitive(true);
        headers.insert("x-api-key", key);
        let version = HeaderValue::from_str(&self.api_version)
            .map_err(|_| LlmError::bad_request("the anthropic-version is not a valid header value"))?;
        headers.insert("anthropic-version", version);
        let mut betas: Vec<&str> = self.betas.iter().map(String::as_str).collect();
        for b in request_betas {
            if !betas.contains(&b.as_str()) {
                betas.push(b);
            }
        }
        if !betas.is_empty() {
            let value = HeaderValue::from_str(&betas.join(",")).map_err(|_| {
                LlmError::bad_request("an anthropic-beta value is not a valid header value")
                    .with_param("anthropic_beta")
            })?;
            headers.insert("anthropic-beta", value);
        }
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let accept = if stream { "text/event-stream" } else { "application/json" };
        headers.insert(http::header::ACCEPT, HeaderValue::from_static(accept));
        Ok(headers)
    }

    /// Sends `request` and returns a successful answer's head, its body unread; an error status
    /// is read whole and mapped. Everything happens before `deadline`.
    async fn send(
        &self,
        request: MessagesRequest,
        deadline: Option<Instant>,
        stream: bool,
    ) -> Result<http::Response<UpstreamBody>, LlmError> {
        let headers = self.headers(&request.betas, stream)?;
        let body = llm_core::json::to_vec(&request.body)
            .map_err(|e| LlmError::internal("could not serialize the request").with_source(e))?;
        let uri = self.messages_uri().map_err(invalid_base_url)?;
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(LlmError::new(ErrorKind::Timeout, "the request deadline passed before sending"));
        }
        let mut http_request = http::Request::new(Bytes::from(body));
        *http_request.method_mut() = http::Method::POST;
        *http_request.uri_mut() = uri;
        *http_request.headers_mut() = headers;
        let response = match within(deadline, self.transport.send(http_request)).await {
            Err(_) => return Err(timeout_error("waiting for the answer")),
            Ok(Err(e)) => return Err(transport_error(e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after_from_headers(response.headers());
        let body = response.into_body().bytes_before(deadline).await.map_err(body_error)?;
        Err(error_from_response(status.as_u16(), retry_after, &body))
    }

    /// `err` as this provider's: the key redacted (in case an upstream echoes it) and the
    /// provider named.
    fn finish(&self, err: LlmError) -> LlmError {
        err.redact_secret(&self.api_key).with_provider(NAME)
    }
}

/// A failed or late read of the answer's body (whole, or as a stream: the stream's last item).
fn body_error(e: BodyReadError) -> LlmError {
    match e {
        BodyReadError::DeadlinePassed => timeout_error("reading the answer"),
        BodyReadError::Transport(e) => transport_error(e),
    }
}

fn timeout_error(what: &str) -> LlmError {
    LlmError::new(ErrorKind::Timeout, format!("the request deadline passed while {what} from Anthropic"))
}

fn invalid_base_url(e: ConfigError) -> LlmError {
    LlmError::bad_request(e.to_string()).with_code("invalid_base_url").with_source(e)
}

fn transport_error(e: TransportError) -> LlmError {
    if e.is_builder() {
        return invalid_base_url(ConfigError::InvalidBaseUrl);
    }
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
    let what =
        if e.is_connect() { "could not connect to Anthropic" } else { "the request to Anthropic failed" };
    // The transport's errors name no URL and no header: no key can leak here.
    LlmError::new(kind, format!("{what}: {e}")).with_source(e)
}

#[async_trait::async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        NAME
    }

    async fn chat(&self, request: ChatRequest, context: &RequestContext) -> Result<ChatResponse, LlmError> {
        let translated = self.translate(&request, false).map_err(|e| e.with_provider(NAME))?;
        let deadline = context.deadline;
        let response = self.send(translated, deadline, false).await.map_err(|e| self.finish(e))?;
        let body =
            response.into_body().bytes_before(deadline).await.map_err(|e| self.finish(body_error(e)))?;
        from_messages_response(&body).map_err(|e| e.with_provider(NAME))
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatStream, LlmError> {
        let translated = self.translate(&request, true).map_err(|e| e.with_provider(NAME))?;
        let deadline = context.deadline;
        let response = self.send(translated, deadline, true).await.map_err(|e| self.finish(e))?;
        Ok(chunk_stream(response.into_body().into_stream(deadline, body_error)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_lookup_reads_key_and_base() {
        let env = |name: &str| match name {
            "ANTHROPIC_API_KEY" => Some("sk-ant-env".to_owned()),
            "ANTHROPIC_API_BASE" => Some("https://proxy.example/v1/".to_owned()),
            _ => None,
        };
        let c = Anthropic::from_lookup(env).unwrap();
        assert_eq!(c.messages_url(), "https://proxy.example/v1/messages");
        assert_eq!(c.api_key, "sk-ant-env");
        assert_eq!(Anthropic::from_lookup(|_| None).unwrap_err(), ConfigError::MissingApiKey);
        let blank = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "  ".to_owned());
        assert_eq!(Anthropic::from_lookup(blank).unwrap_err(), ConfigError::MissingApiKey);
    }

    #[test]
    fn a_proxy_in_the_environment_keeps_reqwest() {
        let direct = |name: &str| (name == "ANTHROPIC_API_KEY").then(|| "sk-ant-env".to_owned());
        assert!(!Anthropic::from_lookup(direct).unwrap().transport.is_reqwest());
        for proxy in ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"] {
            let env = |name: &str| match name {
                "ANTHROPIC_API_KEY" => Some("sk-ant-env".to_owned()),
                n if n == proxy => Some("http://proxy.internal:3128".to_owned()),
                _ => None,
            };
            assert!(Anthropic::from_lookup(env).unwrap().transport.is_reqwest(), "{proxy}");
        }
        let own = Anthropic::new("k").with_http_client(reqwest::Client::new());
        assert!(own.transport.is_reqwest());
    }

    #[test]
    fn the_messages_url_is_parsed_once_and_again_after_a_new_base() {
        let c = Anthropic::new("k").with_base_url("http://127.0.0.1:9/v1");
        assert_eq!(c.messages_uri().unwrap(), "http://127.0.0.1:9/v1/messages");
        assert!(c.messages_uri.get().is_some());
        let c = c.with_base_url("https://h.example");
        assert!(c.messages_uri.get().is_none());
        assert_eq!(c.messages_uri().unwrap(), "https://h.example/v1/messages");
    }

    #[tokio::test]
    async fn an_invalid_base_url_is_a_typed_error_before_any_request() {
        for base in ["not a url", "ftp://h.example", "/v1", "http://", "https://user:sk-ant-SECRET@ho st"] {
            let c = Anthropic::new("sk-ant-SECRET").with_base_url(base);
            assert_eq!(c.messages_uri(), Err(ConfigError::InvalidBaseUrl), "{base}");
            let request = ChatRequest::new("claude-sonnet-4-5", vec![llm_core::ChatMessage::user("Hi")]);
            let err = c.chat(request, &RequestContext::new()).await.unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::BadRequest, "{base}");
            assert_eq!(err.code(), Some("invalid_base_url"));
            let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<ConfigError>());
            assert_eq!(source, Some(&ConfigError::InvalidBaseUrl));
            assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
        }
        let env = |name: &str| match name {
            "ANTHROPIC_API_KEY" => Some("k".to_owned()),
            "ANTHROPIC_BASE_URL" => Some("api.anthropic.com".to_owned()),
            _ => None,
        };
        assert_eq!(Anthropic::from_lookup(env).unwrap_err(), ConfigError::InvalidBaseUrl);
    }

    #[test]
    fn messages_url_forms() {
        for (base, want) in [
            ("https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
            ("https://h/v1", "https://h/v1/messages"),
            ("https://h/v1/messages/", "https://h/v1/messages"),
            ("https://h/proxy/anthropic", "https://h/proxy/anthropic/v1/messages"),
        ] {
            assert_eq!(Anthropic::new("k").with_base_url(base).messages_url(), want);
        }
    }

    #[test]
    fn a_key_with_a_newline_is_an_error_without_the_key() {
        let err = Anthropic::new("sk-ant-bad\nkey").headers(&[], false).unwrap_err();
        assert_eq!(*err.kind(), ErrorKind::Authentication);
        assert!(!err.to_string().contains("sk-ant-bad"));
        assert!(!format!("{err:?}").contains("sk-ant-bad"));
    }

    #[test]
    fn beta_headers_are_merged_once() {
        let c = Anthropic::new("k").with_beta("a").with_beta("a").with_beta("b");
        let h = c.headers(&["b".to_owned(), "c".to_owned()], true).unwrap();
        assert_eq!(h["anthropic-beta"], "a,b,c");
        assert_eq!(h["anthropic-version"], "2023-06-01");
        assert_eq!(h["accept"], "text/event-stream");
        assert!(h["x-api-key"].is_sensitive());
    }
}
