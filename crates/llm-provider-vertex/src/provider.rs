//! The HTTP shell: configuration, authentication and the [`Provider`] implementation, sending
//! through [`llm_core::transport`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use llm_core::transport::{BodyReadError, Transport, TransportError, UpstreamBody, is_http_url};
use llm_core::{
    BoxLlmService, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse, ErrorKind,
    LlmError, Provider, ProviderService, RequestContext, retry_after_from_headers,
};
use llm_provider_anthropic::TranslateOptions;
use tokio::time::Instant;

use crate::anthropic::to_vertex_anthropic_request;
use crate::credentials::{CredentialsError, GoogleCredentials, ServiceAccountKey};
use crate::embed::{
    build_predict_request, embedding_response, max_instances_per_call, parse_predict_response, texts,
};
use crate::endpoint::{
    DEFAULT_API_VERSION, DEFAULT_LOCATION, Endpoint, Publisher, base_url_for_location, check_path_segment,
    resolve_model,
};
use crate::token::{RefreshingTokens, TokenSource};

/// The provider name in errors and response metadata.
const NAME: &str = "vertex_ai";

/// The default limit for a whole non-streamed call, and for the head of a streamed one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Secrets shorter than this are not searched for in error messages.
const MIN_REDACTED_LEN: usize = 8;

/// The Google Vertex AI provider: Gemini and Claude models in a Google Cloud project.
///
/// Settings made in code win over the environment. Clones share the service-account token
/// cache and one connection pool. `Debug` never shows a private key or token.
///
/// Requests and token exchanges go out on [`llm_core::transport`]: hyper-util's pooled client
/// with rustls, or reqwest when `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set or
/// [`with_client`](Self::with_client) hands one in. [`with_timeout`](Self::with_timeout) bounds
/// a non-streamed call whole (token exchange included) and a stream's head; a request context's
/// deadline bounds the whole call, every read of a stream included. A passed deadline is
/// [`ErrorKind::Timeout`].
///
/// ```
/// use llm_provider_vertex::Vertex;
/// let vertex = Vertex::new().with_project("my-project").with_location("global").with_access_token("ya29.secret");
/// assert_eq!(
///     vertex.model_url("vertex_ai/gemini-2.5-flash", false).unwrap(),
///     "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global/publishers/google/models/gemini-2.5-flash:generateContent"
/// );
/// assert!(!format!("{vertex:?}").contains("ya29.secret"));
/// let service = vertex.into_service();
/// # drop(service);
/// ```
#[derive(Clone)]
pub struct Vertex {
    project: Option<String>,
    location: String,
    base_url: Option<String>,
    api_version: String,
    publisher: Option<Publisher>,
    auth: Option<TokenSource>,
    token_url: Option<String>,
    timeout: Duration,
    drop_params: bool,
    default_max_tokens: Option<u32>,
    transport: Transport,
}

impl fmt::Debug for Vertex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vertex")
            .field("project", &self.project)
            .field("location", &self.location)
            .field("base_url", &self.base_url)
            .field("api_version", &self.api_version)
            .field("publisher", &self.publisher)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("drop_params", &self.drop_params)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Default for Vertex {
    fn default() -> Self {
        Self::new()
    }
}

impl Vertex {
    /// A provider for location `us-central1`, without project or credentials (the process
    /// environment only chooses the transport: a proxy variable keeps reqwest).
    pub fn new() -> Self {
        Self::with_transport(Transport::from_env())
    }

    fn with_transport(transport: Transport) -> Self {
        Self {
            project: None,
            location: DEFAULT_LOCATION.to_owned(),
            base_url: None,
            api_version: DEFAULT_API_VERSION.to_owned(),
            publisher: None,
            auth: None,
            token_url: None,
            timeout: DEFAULT_TIMEOUT,
            drop_params: false,
            default_max_tokens: None,
            transport,
        }
    }

    /// A provider configured from the process environment; see [`Vertex::from_lookup`].
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// A provider configured from `lookup` (the environment in [`Vertex::from_env`]):
    /// the project from `VERTEXAI_PROJECT`, `VERTEX_PROJECT` or `GOOGLE_CLOUD_PROJECT`; the
    /// location from `VERTEXAI_LOCATION` or `VERTEX_LOCATION` (default `us-central1`);
    /// credentials (a service-account key or authorized-user JSON) from the file named by
    /// `GOOGLE_APPLICATION_CREDENTIALS`; the transport from the proxy variables (`HTTPS_PROXY`,
    /// `HTTP_PROXY` or `ALL_PROXY` keep reqwest). Fails only when the credentials file cannot be
    /// read or used.
    ///
    /// ```
    /// let env = |name: &str| (name == "VERTEXAI_PROJECT").then(|| "p1".to_owned());
    /// let vertex = llm_provider_vertex::Vertex::from_lookup(env).unwrap();
    /// assert!(vertex.model_url("gemini-2.5-pro", true).unwrap().contains("/projects/p1/locations/us-central1/"));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut vertex = Self::with_transport(Transport::default_with_env(&lookup));
        vertex.project =
            get("VERTEXAI_PROJECT").or_else(|| get("VERTEX_PROJECT")).or_else(|| get("GOOGLE_CLOUD_PROJECT"));
        if let Some(location) = get("VERTEXAI_LOCATION").or_else(|| get("VERTEX_LOCATION")) {
            vertex.location = location;
        }
        if let Some(path) = get("GOOGLE_APPLICATION_CREDENTIALS") {
            vertex = vertex.with_credentials(GoogleCredentials::from_file(path)?);
        }
        Ok(vertex)
    }

    /// Sets the Google Cloud project (else the service-account key's `project_id` is used).
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// Sets the location, e.g. `europe-west4` or `global`.
    pub fn with_location(mut self, location: impl Into<String>) -> Self {
        self.location = location.into();
        self
    }

    /// Authenticates with a ready OAuth access token (e.g. from `gcloud auth print-access-token`),
    /// sent as `Authorization: Bearer …` and never refreshed.
    pub fn with_access_token(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(TokenSource::Fixed(token.into()));
        self
    }

    /// Authenticates as a service account: tokens are obtained with a signed JWT, cached and
    /// refreshed five minutes before they expire, one refresh at a time.
    pub fn with_service_account(self, key: ServiceAccountKey) -> Self {
        self.with_credentials(GoogleCredentials::ServiceAccount(key))
    }

    /// Authenticates with `credentials`; tokens are cached and refreshed as for
    /// [`Vertex::with_service_account`]. Authorized-user credentials trade their refresh token,
    /// and their `quota_project_id` is sent as `x-goog-user-project`.
    pub fn with_credentials(mut self, credentials: GoogleCredentials) -> Self {
        let tokens = RefreshingTokens::new(credentials, self.token_url.clone());
        self.auth = Some(TokenSource::Refreshing(Arc::new(tokens)));
        self
    }

    /// Authenticates with the service-account key in `json` (the key file's content).
    pub fn with_service_account_json(self, json: &str) -> Result<Self, CredentialsError> {
        Ok(self.with_service_account(ServiceAccountKey::from_json(json)?))
    }

    /// Sends token exchanges to `url` instead of the key's `token_uri` (the JWT audience stays
    /// the key's `token_uri`).
    pub fn with_token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = Some(url.into());
        if let Some(TokenSource::Refreshing(tokens)) = &self.auth {
            let credentials = tokens.credentials().clone();
            self.auth = Some(TokenSource::Refreshing(Arc::new(RefreshingTokens::new(
                credentials,
                self.token_url.clone(),
            ))));
        }
        self
    }

    /// Sends to `base_url` (scheme, host and optional path prefix, without the API version)
    /// instead of the location's host. A URL that is not absolute `http://` or `https://` with a
    /// host makes every request fail with [`ErrorKind::BadRequest`] (code `invalid_base_url`).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(base_url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Uses API version `version` (default `v1`; `v1beta1` for preview features).
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Routes every model to `publisher`, whatever its name (e.g. a tuned model's id).
    pub fn with_publisher(mut self, publisher: Publisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Limits a whole non-streamed call (token exchange included), and the wait for a stream's
    /// head (default 600 s). A shorter deadline in the request context wins; the context's
    /// deadline also bounds every read of a stream.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Claude requests: drops parameters Anthropic cannot honour instead of rejecting them.
    pub fn with_drop_params(mut self, drop_params: bool) -> Self {
        self.drop_params = drop_params;
        self
    }

    /// Claude requests: the `max_tokens` used when a request gives none.
    pub fn with_default_max_tokens(mut self, max_tokens: u32) -> Self {
        self.default_max_tokens = Some(max_tokens);
        self
    }

    /// Sends requests and token exchanges with a caller-built reqwest client (proxies, TLS
    /// roots, pools, timeouts of its own) instead of the default transport: pooled hyper
    /// clients with rustls, or reqwest when `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set (the
    /// default transport follows no redirects and knows no proxies).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.transport = Transport::reqwest(client);
        self
    }

    /// The type-erased tower service over this provider.
    pub fn into_service(self) -> BoxLlmService {
        ProviderService::new(self).boxed()
    }

    fn project(&self) -> Result<&str, LlmError> {
        let from_key = || match &self.auth {
            Some(TokenSource::Refreshing(tokens)) => match tokens.credentials() {
                GoogleCredentials::ServiceAccount(key) => key.project_id(),
                _ => None,
            },
            _ => None,
        };
        let project = self.project.as_deref().or_else(from_key).ok_or_else(|| {
            LlmError::bad_request("no Vertex AI project: set VERTEXAI_PROJECT or call Vertex::with_project")
        })?;
        check_path_segment("project", project)?;
        Ok(project)
    }

    fn url(&self, publisher: Publisher, model_id: &str, method: &str) -> Result<String, LlmError> {
        check_path_segment("location", &self.location)?;
        let default_base;
        let base_url = match &self.base_url {
            Some(base) => base.as_str(),
            None => {
                default_base = base_url_for_location(&self.location);
                &default_base
            }
        };
        let endpoint = Endpoint {
            base_url,
            api_version: &self.api_version,
            project: self.project()?,
            location: &self.location,
        };
        Ok(endpoint.model_url(publisher, model_id, method))
    }

    /// The URL a chat request for `model` goes to: `generateContent` /
    /// `streamGenerateContent?alt=sse` for Google models, `rawPredict` / `streamRawPredict` for
    /// Claude.
    pub fn model_url(&self, model: &str, stream: bool) -> Result<String, LlmError> {
        let (publisher, id) = resolve_model(model, self.publisher)?;
        match (publisher, stream) {
            (Publisher::Anthropic, false) => self.url(publisher, id, "rawPredict"),
            (Publisher::Anthropic, true) => self.url(publisher, id, "streamRawPredict"),
            (_, false) => self.url(publisher, id, "generateContent"),
            (_, true) => Ok(format!("{}?alt=sse", self.url(publisher, id, "streamGenerateContent")?)),
        }
    }

    /// The deadline of a non-streamed call and of a stream's head: the own timeout
    /// ([`Self::with_timeout`]) from now, or the context's deadline when that is sooner.
    fn call_deadline(&self, context: &RequestContext) -> Instant {
        let own = Instant::now() + self.timeout;
        context.deadline.map_or(own, |d| d.min(own))
    }

    /// Authenticates and posts `body` to `url`; returns a successful answer's head, its body
    /// unread. The token exchange and the head happen before `deadline`; an error status is
    /// read (before `deadline`) and mapped.
    async fn post(
        &self,
        url: String,
        body: Vec<u8>,
        headers: HeaderMap,
        publisher: Publisher,
        deadline: Instant,
    ) -> Result<http::Response<UpstreamBody>, LlmError> {
        let auth = self.auth.as_ref().ok_or_else(|| {
            LlmError::new(
                ErrorKind::Authentication,
                "no Vertex AI credentials: set GOOGLE_APPLICATION_CREDENTIALS, or call \
                 Vertex::with_service_account or Vertex::with_access_token",
            )
        })?;
        let uri = parse_url(url)?;
        if deadline <= Instant::now() {
            return Err(LlmError::new(ErrorKind::Timeout, "the request deadline passed before sending"));
        }
        let mut request = http::Request::new(Bytes::from(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        request
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(project) = auth.quota_project() {
            let value = HeaderValue::from_str(project).map_err(|_| {
                LlmError::bad_request("the credentials' quota_project_id is not a valid header value")
            })?;
            request.headers_mut().insert("x-goog-user-project", value);
        }
        let send = async {
            let token = auth.token(&self.transport).await?;
            let mut bearer = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                LlmError::new(ErrorKind::Authentication, "the access token is not a valid header value")
            })?;
            bearer.set_sensitive(true);
            request.headers_mut().insert(http::header::AUTHORIZATION, bearer);
            let response = self.transport.send(request).await.map_err(transport_error);
            Ok::<_, LlmError>((response, token))
        };
        let (response, token) = match tokio::time::timeout_at(deadline, send).await {
            Err(_) => return Err(LlmError::new(ErrorKind::Timeout, "Vertex AI did not answer in time")),
            Ok(result) => result.map_err(|e| redact(e, auth))?,
        };
        let response = response?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == http::StatusCode::UNAUTHORIZED {
            auth.rejected(&token).await;
        }
        let (head, body) = response.into_parts();
        let bytes = match tokio::time::timeout_at(deadline, body.bytes()).await {
            Ok(Ok(b)) => b,
            _ => Bytes::new(),
        };
        let err = upstream_error(publisher, status.as_u16(), &head.headers, &bytes);
        Err(redact_token(redact(err, auth), &token))
    }

    async fn post_for_body(
        &self,
        url: String,
        body: Vec<u8>,
        headers: HeaderMap,
        publisher: Publisher,
        context: &RequestContext,
    ) -> Result<Bytes, LlmError> {
        let deadline = self.call_deadline(context);
        let response = self.post(url, body, headers, publisher, deadline).await?;
        match tokio::time::timeout_at(deadline, response.into_body().bytes()).await {
            Err(_) => Err(LlmError::new(ErrorKind::Timeout, "Vertex AI did not finish its answer in time")),
            Ok(Err(e)) => Err(transport_error(e)),
            Ok(Ok(b)) => Ok(b),
        }
    }

    /// The body and headers of a Claude request.
    fn anthropic_request(
        &self,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<(Vec<u8>, HeaderMap), LlmError> {
        let mut options = TranslateOptions::new().with_drop_params(self.drop_params).with_stream(stream);
        options.default_max_tokens = self.default_max_tokens;
        let translated = to_vertex_anthropic_request(request, &options)?;
        let mut headers = HeaderMap::new();
        if !translated.betas.is_empty() {
            let value = HeaderValue::from_str(&translated.betas.join(",")).map_err(|_| {
                LlmError::bad_request("an anthropic-beta value is not a valid header value")
                    .with_param("anthropic_beta")
            })?;
            headers.insert("anthropic-beta", value);
        }
        let accept = if stream { "text/event-stream" } else { "application/json" };
        headers.insert(http::header::ACCEPT, HeaderValue::from_static(accept));
        Ok((serde_json::to_vec(&translated.body)?, headers))
    }

    async fn chat_inner(
        &self,
        mut request: ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatResponse, LlmError> {
        let url = self.model_url(&request.model, false)?;
        let (publisher, id) = resolve_model(&request.model, self.publisher)?;
        request.model = id.to_owned();
        match publisher {
            Publisher::Anthropic => {
                let (body, headers) = self.anthropic_request(&request, false)?;
                let bytes = self.post_for_body(url, body, headers, publisher, context).await?;
                llm_provider_anthropic::from_messages_response(&bytes)
            }
            _ => {
                let body =
                    serde_json::to_vec(&llm_provider_gemini::build_generate_content_request(&request)?)?;
                let bytes = self.post_for_body(url, body, HeaderMap::new(), publisher, context).await?;
                llm_provider_gemini::parse_generate_content_response(&bytes, &request.model)
            }
        }
    }

    async fn chat_stream_inner(
        &self,
        mut request: ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatStream, LlmError> {
        let url = self.model_url(&request.model, true)?;
        let (publisher, id) = resolve_model(&request.model, self.publisher)?;
        request.model = id.to_owned();
        match publisher {
            Publisher::Anthropic => {
                let (body, headers) = self.anthropic_request(&request, true)?;
                let response = self.post(url, body, headers, publisher, self.call_deadline(context)).await?;
                Ok(llm_provider_anthropic::chunk_stream(
                    response.into_body().into_stream(context.deadline, stream_error),
                ))
            }
            _ => {
                let body =
                    serde_json::to_vec(&llm_provider_gemini::build_generate_content_request(&request)?)?;
                let mut headers = HeaderMap::new();
                headers.insert(http::header::ACCEPT, HeaderValue::from_static("text/event-stream"));
                let response = self.post(url, body, headers, publisher, self.call_deadline(context)).await?;
                Ok(llm_provider_gemini::chat_stream_from_sse(
                    response.into_body().into_stream(context.deadline, stream_error),
                    request.model,
                ))
            }
        }
    }

    async fn embed_inner(
        &self,
        request: EmbeddingRequest,
        context: &RequestContext,
    ) -> Result<EmbeddingResponse, LlmError> {
        let (publisher, id) = resolve_model(&request.model, self.publisher)?;
        if publisher != Publisher::Google {
            return Err(LlmError::bad_request(format!(
                "{} models on Vertex AI have no embeddings",
                publisher.as_str()
            ))
            .with_param("model"));
        }
        let url = self.url(publisher, id, "predict")?;
        let texts = texts(&request)?;
        let mut vectors = Vec::with_capacity(texts.len());
        let mut tokens = 0;
        for batch in texts.chunks(max_instances_per_call(id)) {
            let body = serde_json::to_vec(&build_predict_request(&request, batch))?;
            let bytes = self.post_for_body(url.clone(), body, HeaderMap::new(), publisher, context).await?;
            let (batch_vectors, batch_tokens) = parse_predict_response(&bytes, request.encoding_format)?;
            if batch_vectors.len() != batch.len() {
                return Err(LlmError::new(
                    ErrorKind::Decode,
                    format!(
                        "Vertex AI returned {} embeddings for {} inputs",
                        batch_vectors.len(),
                        batch.len()
                    ),
                ));
            }
            vectors.extend(batch_vectors);
            tokens += batch_tokens;
        }
        Ok(embedding_response(id, vectors, tokens))
    }
}

/// Maps an error answer. Claude errors come in Anthropic's envelope
/// (`{"type":"error","error":{"type","message"}}`); everything else, including Google's own
/// rejections of Claude calls (quota, permissions), in Google's (`{"error":{"code","status"}}`).
fn upstream_error(publisher: Publisher, status: u16, headers: &HeaderMap, body: &[u8]) -> LlmError {
    let anthropic_envelope = publisher == Publisher::Anthropic
        && serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| v["type"] == "error");
    if anthropic_envelope {
        llm_provider_anthropic::error_from_response(status, retry_after_from_headers(headers), body)
    } else {
        llm_provider_gemini::error_from_response(status, headers, body)
    }
}

/// Removes a fixed access token from an error message, should an upstream ever echo it.
fn redact(err: LlmError, auth: &TokenSource) -> LlmError {
    match auth {
        TokenSource::Fixed(secret) if secret.len() >= MIN_REDACTED_LEN => err.redact_secret(secret),
        _ => err,
    }
}

/// Removes an access token obtained from credentials from an error message, should an
/// upstream ever echo it.
fn redact_token(err: LlmError, token: &str) -> LlmError {
    if token.len() >= MIN_REDACTED_LEN { err.redact_secret(token) } else { err }
}

/// A model URL parsed (it depends on the model, so each request parses its own); an unusable
/// base URL is a typed error that does not repeat the URL.
fn parse_url(url: String) -> Result<http::Uri, LlmError> {
    let uri = http::Uri::try_from(url).map_err(|_| invalid_base_url())?;
    if !is_http_url(&uri) {
        return Err(invalid_base_url());
    }
    Ok(uri)
}

fn invalid_base_url() -> LlmError {
    LlmError::bad_request(
        "invalid Vertex AI base URL: it must be an absolute http:// or https:// URL with a host \
         (and the API version a path segment)",
    )
    .with_code("invalid_base_url")
}

/// A failed or late read of a stream's body, as the stream's last item.
fn stream_error(e: BodyReadError) -> LlmError {
    match e {
        BodyReadError::DeadlinePassed => LlmError::new(
            ErrorKind::Timeout,
            "the request deadline passed while reading the Vertex AI stream",
        ),
        BodyReadError::Transport(e) => transport_error(e),
    }
}

fn transport_error(e: TransportError) -> LlmError {
    if e.is_builder() {
        return invalid_base_url();
    }
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
    let what =
        if e.is_connect() { "could not connect to Vertex AI" } else { "the request to Vertex AI failed" };
    // The transport's errors name no URL and no header: no token can leak here.
    LlmError::new(kind, what).with_source(e)
}

#[async_trait::async_trait]
impl Provider for Vertex {
    fn name(&self) -> &str {
        NAME
    }

    async fn chat(&self, request: ChatRequest, context: &RequestContext) -> Result<ChatResponse, LlmError> {
        self.chat_inner(request, context).await.map_err(|e| e.with_provider(NAME))
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatStream, LlmError> {
        self.chat_stream_inner(request, context).await.map_err(|e| e.with_provider(NAME))
    }

    async fn embed(
        &self,
        request: EmbeddingRequest,
        context: &RequestContext,
    ) -> Result<EmbeddingResponse, LlmError> {
        self.embed_inner(request, context).await.map_err(|e| e.with_provider(NAME))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_regional_global_and_overridden() {
        let v = Vertex::new().with_project("proj");
        assert_eq!(
            v.model_url("vertex_ai/claude-sonnet-4@20250514", true).unwrap(),
            "https://us-central1-aiplatform.googleapis.com/v1/projects/proj/locations/us-central1/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict"
        );
        let v = v.with_location("europe-west4");
        assert_eq!(
            v.model_url("gemini-2.5-flash", true).unwrap(),
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        let v = v.with_location("global").with_base_url("http://127.0.0.1:9/").with_api_version("v1beta1");
        assert_eq!(
            v.model_url("claude-haiku-4-5", false).unwrap(),
            "http://127.0.0.1:9/v1beta1/projects/proj/locations/global/publishers/anthropic/models/claude-haiku-4-5:rawPredict"
        );
        assert_eq!(
            v.with_publisher(Publisher::Google).model_url("claude-x", false).unwrap(),
            "http://127.0.0.1:9/v1beta1/projects/proj/locations/global/publishers/google/models/claude-x:generateContent"
        );
    }

    #[test]
    fn missing_or_bad_project_and_location_are_bad_requests() {
        assert_eq!(
            *Vertex::new().model_url("gemini-2.5-pro", false).unwrap_err().kind(),
            ErrorKind::BadRequest
        );
        let bad_location = Vertex::new().with_project("p").with_location("us/../x");
        assert_eq!(
            *bad_location.model_url("gemini-2.5-pro", false).unwrap_err().kind(),
            ErrorKind::BadRequest
        );
        let bad_project = Vertex::new().with_project("p?x=1");
        assert!(bad_project.model_url("gemini-2.5-pro", false).is_err());
    }

    #[test]
    fn env_lookup_and_code_wins() {
        let env = |name: &str| match name {
            "VERTEX_PROJECT" => Some("env-project".to_owned()),
            "GOOGLE_CLOUD_PROJECT" => Some("ignored".to_owned()),
            "VERTEXAI_LOCATION" => Some("asia-east1".to_owned()),
            _ => None,
        };
        let v = Vertex::from_lookup(env).unwrap();
        assert_eq!(v.project.as_deref(), Some("env-project"));
        assert_eq!(v.location, "asia-east1");
        assert!(v.auth.is_none());
        let v = v.with_project("code-project");
        assert!(
            v.model_url("gemini-2.5-pro", false)
                .unwrap()
                .contains("/projects/code-project/locations/asia-east1/")
        );
        let missing = |name: &str| {
            (name == "GOOGLE_APPLICATION_CREDENTIALS").then(|| "/nonexistent/sa.json".to_owned())
        };
        assert!(matches!(Vertex::from_lookup(missing), Err(CredentialsError::Read { .. })));
    }

    #[test]
    fn a_proxy_in_the_environment_keeps_reqwest() {
        let direct = |name: &str| (name == "VERTEXAI_PROJECT").then(|| "p".to_owned());
        assert!(!Vertex::from_lookup(direct).unwrap().transport.is_reqwest());
        for proxy in ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"] {
            let env = |name: &str| match name {
                "VERTEXAI_PROJECT" => Some("p".to_owned()),
                n if n == proxy => Some("http://proxy.internal:3128".to_owned()),
                _ => None,
            };
            assert!(Vertex::from_lookup(env).unwrap().transport.is_reqwest(), "{proxy}");
        }
        assert!(Vertex::new().with_client(reqwest::Client::new()).transport.is_reqwest());
    }

    #[tokio::test]
    async fn an_invalid_base_url_is_a_typed_error_before_any_request() {
        for base in ["not a url", "ftp://h.example", "/v1", "http://", "https://user:ya29.SECRET@ho st"] {
            let v = Vertex::new().with_project("p").with_access_token("ya29.SECRET").with_base_url(base);
            for model in ["gemini-2.5-flash", "claude-sonnet-4-5@20250929"] {
                let request = ChatRequest::new(model, vec![llm_core::ChatMessage::user("Hi")]);
                let err = v.chat(request.clone(), &RequestContext::new()).await.unwrap_err();
                assert_eq!(*err.kind(), ErrorKind::BadRequest, "{base}");
                assert_eq!(err.code(), Some("invalid_base_url"), "{base}");
                assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
                let err = v.chat_stream(request, &RequestContext::new()).await.err().unwrap();
                assert_eq!(err.code(), Some("invalid_base_url"), "{base}");
            }
            let embed = EmbeddingRequest::new("text-embedding-005", "hi");
            let err = v.embed(embed, &RequestContext::new()).await.unwrap_err();
            assert_eq!(err.code(), Some("invalid_base_url"), "{base}");
        }
    }

    #[test]
    fn google_and_anthropic_error_envelopes() {
        let h = HeaderMap::new();
        let google = br#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;
        assert!(matches!(
            upstream_error(Publisher::Anthropic, 429, &h, google).kind(),
            ErrorKind::RateLimited { .. }
        ));
        let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            *upstream_error(Publisher::Anthropic, 529, &h, anthropic).kind(),
            ErrorKind::ServiceUnavailable
        );
        assert_eq!(*upstream_error(Publisher::Google, 404, &h, b"").kind(), ErrorKind::NotFound);
    }
}
