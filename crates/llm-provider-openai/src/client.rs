//! [`OpenAi`]: the configured client and its HTTP shell.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue};
use llm_core::transport::{Transport, TransportError, UpstreamBody, is_http_url};
use llm_core::{
    BoxLlmService, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse, ErrorKind,
    LlmError, Provider, ProviderService, RequestContext,
};
use tokio::time::Instant;

use crate::endpoint::{Endpoint, azure_url, openai_url};
use crate::wire::{self, ModelList, WireOptions};
use crate::{ApiKey, ConfigError, Quirk, VENDORS, Vendor, error_from_response};

/// The Azure OpenAI API version used when none is configured.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// The default time limit of a request (a stream: for its head, then between two events).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Flavor {
    /// OpenAI and compatible vendors: `{base}/chat/completions`, `Authorization: Bearer`.
    OpenAi,
    /// Azure OpenAI: deployment URLs with `api-version`, `api-key` header (or
    /// `Authorization: Bearer` with a Microsoft Entra ID token).
    Azure { api_version: String, entra_token: bool },
}

/// A client for OpenAI's API, Azure OpenAI, or any OpenAI-compatible vendor.
///
/// Build it from the environment or in code (code settings win: they are applied after the
/// environment is read), then use it as a [`Provider`] or turn it into a tower service with
/// [`into_service`](Self::into_service). Clones share one connection pool.
///
/// ```
/// use std::time::Duration;
/// use llm_provider_openai::OpenAi;
/// let groq = OpenAi::vendor("groq").unwrap().with_api_key("gsk-test").with_timeout(Duration::from_secs(30));
/// assert_eq!(groq.base_url(), Some("https://api.groq.com/openai/v1"));
/// assert!(!format!("{groq:?}").contains("gsk-test"));
/// let local = OpenAi::new().with_base_url("http://localhost:8080/v1"); // `openai/<model>` + api_base
/// assert_eq!(local.name(), "openai");
/// ```
#[derive(Clone)]
pub struct OpenAi {
    name: Cow<'static, str>,
    flavor: Flavor,
    api_key: Option<ApiKey>,
    key_required: bool,
    key_env: &'static [&'static str],
    base_url: Option<String>,
    quirks: &'static [Quirk],
    drop_params: bool,
    timeout: Duration,
    headers: HeaderMap,
    client: Transport,
    /// The parsed chat URL, made on first use (OpenAI flavor only: Azure's names the model), so
    /// requests do not parse it again. Cleared when the base URL changes.
    chat_url: std::sync::OnceLock<http::Uri>,
    /// The authentication header, made on first use (marked sensitive) so requests do not
    /// format it again. Cleared when the key changes.
    auth: std::sync::OnceLock<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for OpenAi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAi")
            .field("name", &self.name)
            .field("flavor", &self.flavor)
            .field("api_key", &self.api_key)
            .field("base_url", &self.base_url)
            .field("quirks", &self.quirks)
            .field("drop_params", &self.drop_params)
            .field("timeout", &self.timeout)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn first_env(lookup: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names.iter().filter_map(|n| lookup(n)).map(|v| v.trim().to_owned()).find(|v| !v.is_empty())
}

fn std_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

const OPENAI: &Vendor = &VENDORS[0];

impl Default for OpenAi {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenAi {
    /// OpenAI at `https://api.openai.com/v1`, without reading the environment.
    pub fn new() -> Self {
        Self::for_vendor(OPENAI)
    }

    /// OpenAI with `OPENAI_API_KEY` and `OPENAI_BASE_URL` / `OPENAI_API_BASE` from the environment.
    pub fn from_env() -> Self {
        Self::for_vendor_with_env(OPENAI, &std_env)
    }

    /// The vendor named `name` in [`VENDORS`], without reading the environment.
    pub fn vendor(name: &str) -> Result<Self, ConfigError> {
        Vendor::get(name).map(Self::for_vendor).ok_or_else(|| ConfigError::UnknownVendor(name.to_owned()))
    }

    /// The vendor named `name`, with its key and base URL from the environment variables its
    /// row names.
    pub fn vendor_from_env(name: &str) -> Result<Self, ConfigError> {
        let vendor = Vendor::get(name).ok_or_else(|| ConfigError::UnknownVendor(name.to_owned()))?;
        Ok(Self::for_vendor_with_env(vendor, &std_env))
    }

    /// A client for `vendor`'s row, without reading the environment.
    pub fn for_vendor(vendor: &'static Vendor) -> Self {
        Self {
            name: Cow::Borrowed(vendor.name),
            flavor: Flavor::OpenAi,
            api_key: None,
            key_required: vendor.key_required,
            key_env: vendor.api_key_env,
            base_url: vendor.base_url.map(str::to_owned),
            quirks: vendor.quirks,
            drop_params: false,
            timeout: DEFAULT_TIMEOUT,
            headers: HeaderMap::new(),
            client: Transport::default_with_env(&std_env),
            chat_url: std::sync::OnceLock::new(),
            auth: std::sync::OnceLock::new(),
        }
    }

    /// A client for `vendor`'s row, reading its variables through `lookup` (tests pass a map;
    /// [`vendor_from_env`](Self::vendor_from_env) passes the process environment).
    pub fn for_vendor_with_env(vendor: &'static Vendor, lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut this = Self::for_vendor(vendor);
        this.api_key = first_env(lookup, vendor.api_key_env).map(ApiKey::new);
        if let Some(mut base) = first_env(lookup, vendor.api_base_env) {
            if let Some(path) = vendor.env_base_path {
                let trimmed = base.trim_end_matches('/');
                if !trimmed.ends_with(path) {
                    base = format!("{trimmed}{path}");
                }
            }
            this.base_url = Some(base);
        }
        this
    }

    /// Azure OpenAI, without reading the environment: set the resource URL with
    /// [`with_base_url`](Self::with_base_url). The model names the deployment (`azure/<deployment>`).
    pub fn azure() -> Self {
        Self {
            name: Cow::Borrowed("azure"),
            flavor: Flavor::Azure { api_version: DEFAULT_AZURE_API_VERSION.to_owned(), entra_token: false },
            key_env: &["AZURE_API_KEY", "AZURE_OPENAI_API_KEY"],
            base_url: None,
            quirks: &[Quirk::ReasoningModelTokenLimit],
            ..Self::new()
        }
    }

    /// Azure OpenAI from `AZURE_API_KEY`, `AZURE_API_BASE` and `AZURE_API_VERSION` (also
    /// `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_ENDPOINT`, `OPENAI_API_VERSION`; without a key,
    /// an Entra ID token from `AZURE_AD_TOKEN`).
    pub fn azure_from_env() -> Self {
        Self::azure_with_env(&std_env)
    }

    /// [`azure_from_env`](Self::azure_from_env) reading variables through `lookup`.
    pub fn azure_with_env(lookup: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut this = Self::azure();
        this.api_key = first_env(lookup, this.key_env).map(ApiKey::new);
        this.base_url = first_env(lookup, &["AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"]);
        if let Some(v) = first_env(lookup, &["AZURE_API_VERSION", "OPENAI_API_VERSION"]) {
            this = this.with_api_version(v);
        }
        match (&this.api_key, first_env(lookup, &["AZURE_AD_TOKEN"])) {
            (None, Some(token)) => this.with_azure_ad_token(token),
            _ => this,
        }
    }

    /// Sets the API key.
    pub fn with_api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self.auth = std::sync::OnceLock::new();
        if let Flavor::Azure { entra_token, .. } = &mut self.flavor {
            *entra_token = false;
        }
        self
    }

    /// Sets the base URL: for OpenAI-style APIs including the version path
    /// (`http://localhost:8000/v1`), for Azure the resource (`https://res.openai.azure.com`).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into().trim_end_matches('/').to_owned());
        self.chat_url = std::sync::OnceLock::new();
        self
    }

    /// Sets the time limit for a complete answer, for a stream's head, and between two events of
    /// a stream. A request context's deadline, when earlier, wins.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the Azure `api-version` (ignored by other flavors).
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        if let Flavor::Azure { api_version, .. } = &mut self.flavor {
            *api_version = version.into();
        }
        self
    }

    /// Azure: authenticates with a Microsoft Entra ID token (`Authorization: Bearer`) instead
    /// of an `api-key`. Other flavors take it as their API key.
    pub fn with_azure_ad_token(mut self, token: impl Into<ApiKey>) -> Self {
        self.api_key = Some(token.into());
        self.auth = std::sync::OnceLock::new();
        if let Flavor::Azure { entra_token, .. } = &mut self.flavor {
            *entra_token = true;
        }
        self
    }

    /// Removes parameters the vendor rejects instead of failing the request.
    pub fn with_drop_params(mut self, drop: bool) -> Self {
        self.drop_params = drop;
        self
    }

    /// Renames the provider (metadata, errors, and the model prefix that is stripped).
    pub fn with_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Adds a header to every request (e.g. `OpenAI-Organization`, OpenRouter's `HTTP-Referer`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sends requests with `client` (to share a connection pool or set proxies, say) instead of
    /// the default transport: pooled hyper clients with rustls, or reqwest when
    /// `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set (the default transport follows no
    /// redirects and knows no proxies).
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Transport::reqwest(client);
        self
    }

    /// The provider name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base URL, when one is configured.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url.as_deref()
    }

    /// The Azure `api-version`, for an Azure client.
    pub fn api_version(&self) -> Option<&str> {
        match &self.flavor {
            Flavor::Azure { api_version, .. } => Some(api_version),
            Flavor::OpenAi => None,
        }
    }

    /// The tower service over this client.
    pub fn into_service(self) -> BoxLlmService {
        ProviderService::new(self).boxed()
    }

    /// How requests are translated.
    pub fn wire_options(&self) -> WireOptions<'_> {
        WireOptions { quirks: self.quirks, drop_params: self.drop_params, provider: &self.name }
    }

    /// The URL for `endpoint` on `model` (the upstream model name; for Azure the deployment).
    pub fn url(&self, endpoint: Endpoint, model: &str) -> Result<String, LlmError> {
        let base = self.base_url.as_deref().ok_or_else(|| {
            LlmError::bad_request(format!(
                "no base URL configured for provider `{}`: set it with with_base_url",
                self.name
            ))
        })?;
        Ok(match &self.flavor {
            Flavor::OpenAi => openai_url(base, endpoint),
            Flavor::Azure { api_version, .. } => azure_url(base, model, api_version, endpoint),
        })
    }

    /// The parsed URL for `endpoint` on `model`; the chat URL of the OpenAI flavor is parsed
    /// once per client.
    fn request_url(&self, endpoint: Endpoint, model: &str) -> Result<http::Uri, LlmError> {
        let cacheable = matches!((&self.flavor, endpoint), (Flavor::OpenAi, Endpoint::ChatCompletions));
        if cacheable && let Some(url) = self.chat_url.get() {
            return Ok(url.clone());
        }
        let url: http::Uri =
            self.url(endpoint, model)?.parse().map_err(|e| self.invalid_url().with_source(e))?;
        if !is_http_url(&url) {
            return Err(self.invalid_url());
        }
        if cacheable {
            let _ = self.chat_url.set(url.clone());
        }
        Ok(url)
    }

    /// The authentication header: `Authorization: Bearer …`, or `api-key` for Azure. `None`
    /// when no key is set and the vendor needs none.
    pub fn auth_header(&self) -> Result<Option<(HeaderName, HeaderValue)>, LlmError> {
        if let Some(made) = self.auth.get() {
            return Ok(Some(made.clone()));
        }
        let Some(key) = &self.api_key else {
            if self.key_required {
                return Err(LlmError::new(
                    ErrorKind::Authentication,
                    format!(
                        "no API key for provider `{}`: set {} or call with_api_key",
                        self.name,
                        self.key_env.join(" or ")
                    ),
                ));
            }
            return Ok(None);
        };
        let (name, value) = match self.flavor {
            Flavor::Azure { entra_token: false, .. } => {
                (HeaderName::from_static("api-key"), key.expose().to_owned())
            }
            _ => (http::header::AUTHORIZATION, format!("Bearer {}", key.expose())),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            LlmError::new(
                ErrorKind::Authentication,
                "the API key contains characters not allowed in a header",
            )
        })?;
        value.set_sensitive(true);
        let _ = self.auth.set((name.clone(), value.clone()));
        Ok(Some((name, value)))
    }

    fn deadline(&self, context: &RequestContext) -> Instant {
        let own = Instant::now() + self.timeout;
        match context.deadline {
            Some(d) if d < own => d,
            _ => own,
        }
    }

    fn redact(&self, err: LlmError) -> LlmError {
        match &self.api_key {
            Some(key) => redact(key, err),
            None => err,
        }
    }

    fn timeout_error(&self, what: &str) -> LlmError {
        LlmError::new(ErrorKind::Timeout, format!("{what}: no answer from `{}` in time", self.name))
    }

    async fn send(
        &self,
        method: http::Method,
        url: http::Uri,
        body: Option<Vec<u8>>,
        deadline: Instant,
    ) -> Result<http::Response<UpstreamBody>, LlmError> {
        let auth = self.auth_header()?;
        tracing::debug!(provider = %self.name, %method, %url, "sending request upstream");
        let has_body = body.is_some();
        let mut request = http::Request::new(body.map(bytes::Bytes::from).unwrap_or_default());
        *request.method_mut() = method;
        *request.uri_mut() = url;
        let headers = request.headers_mut();
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        if let Some((name, value)) = auth {
            headers.insert(name, value);
        }
        if has_body {
            headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let response = match tokio::time::timeout_at(deadline, self.client.send(request)).await {
            Err(_) => return Err(self.timeout_error("sending the request")),
            Ok(Err(e)) => return Err(self.transport_error(e)),
            Ok(Ok(r)) => r,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let (head, body) = response.into_parts();
        let headers = head.headers;
        let body = match tokio::time::timeout_at(deadline, body.bytes()).await {
            Ok(Ok(b)) => b,
            _ => Default::default(),
        };
        let err = self.redact(error_from_response(status.as_u16(), &headers, &body));
        tracing::debug!(provider = %self.name, status = status.as_u16(), kind = %err.kind(), "upstream error");
        Err(err)
    }

    fn invalid_url(&self) -> LlmError {
        LlmError::bad_request(format!("invalid request URL for provider `{}`", self.name))
    }

    fn transport_error(&self, e: TransportError) -> LlmError {
        if e.is_builder() {
            return self.invalid_url().with_source(e);
        }
        let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
        let what = if e.is_connect() { "could not connect to" } else { "the request failed for" };
        LlmError::new(kind, format!("{what} `{}`", self.name)).with_source(e)
    }

    async fn read_body(
        &self,
        response: http::Response<UpstreamBody>,
        deadline: Instant,
    ) -> Result<bytes::Bytes, LlmError> {
        match tokio::time::timeout_at(deadline, response.into_body().bytes()).await {
            Err(_) => Err(self.timeout_error("reading the answer")),
            Ok(Err(e)) => Err(self.transport_error(e)),
            Ok(Ok(b)) => Ok(b),
        }
    }

    /// Lists the models the key may use (`GET {base}/models`).
    pub async fn list_models(&self) -> Result<ModelList, LlmError> {
        let deadline = Instant::now() + self.timeout;
        let url = self.request_url(Endpoint::Models, "")?;
        let response = self.send(http::Method::GET, url, None, deadline).await?;
        let body = self.read_body(response, deadline).await?;
        wire::parse_model_list(&body)
    }

    async fn post_chat(
        &self,
        mut request: ChatRequest,
        stream: bool,
        deadline: Instant,
    ) -> Result<http::Response<UpstreamBody>, LlmError> {
        request.stream = Some(stream);
        let opts = self.wire_options();
        let url =
            self.request_url(Endpoint::ChatCompletions, wire::upstream_model(&request.model, &self.name))?;
        let body = wire::chat_body(request, &opts)?;
        self.send(http::Method::POST, url, Some(body), deadline).await
    }
}

/// `err` with every occurrence of `key` in its message replaced by `[redacted]`.
pub(crate) fn redact(key: &ApiKey, err: LlmError) -> LlmError {
    err.redact_secret(key.expose())
}

fn is_json(response: &http::Response<UpstreamBody>) -> bool {
    response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

#[async_trait::async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &str {
        &self.name
    }

    async fn chat(&self, request: ChatRequest, context: &RequestContext) -> Result<ChatResponse, LlmError> {
        let deadline = self.deadline(context);
        let response = self.post_chat(request, false, deadline).await?;
        let body = self.read_body(response, deadline).await?;
        wire::parse_chat_response(&body).map_err(|e| self.redact(e))
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatStream, LlmError> {
        let deadline = self.deadline(context);
        let response = self.post_chat(request, true, deadline).await?;
        if is_json(&response) {
            // Not an event stream: an error in a 200 body, or a vendor that ignored `stream`.
            let body = self.read_body(response, deadline).await?;
            let chunk = wire::parse_chat_response(&body).map_err(|e| self.redact(e))?;
            let one = futures_util::stream::iter([Ok(wire::response_to_chunk(chunk))]);
            return Ok(Box::pin(one));
        }
        let body = http_body_util::BodyDataStream::new(response.into_body()).boxed();
        Ok(crate::stream::chunk_stream(
            body,
            self.timeout,
            context.deadline,
            self.name.clone(),
            self.api_key.clone(),
        ))
    }

    async fn embed(
        &self,
        request: EmbeddingRequest,
        context: &RequestContext,
    ) -> Result<EmbeddingResponse, LlmError> {
        let deadline = self.deadline(context);
        let opts = self.wire_options();
        let url = self.request_url(Endpoint::Embeddings, wire::upstream_model(&request.model, &self.name))?;
        let body = wire::embedding_body(request, &opts)?;
        let response = self.send(http::Method::POST, url, Some(body), deadline).await?;
        let body = self.read_body(response, deadline).await?;
        wire::parse_embedding_response(&body)
    }
}
