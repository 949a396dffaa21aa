//! The HTTP shell: signing, sending through [`llm_core::transport`], and the
//! `llm_core::Provider` implementation.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderValue;
use http::uri::{Authority, Scheme};
use llm_core::transport::{BodyReadError, Transport, TransportError, UpstreamBody, within};
use llm_core::{
    BoxLlmService, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse,
    EmbeddingUsage, ErrorKind, Extra, LlmError, Provider, ProviderService, RequestContext,
    retry_after_from_headers,
};
use serde_json::Value;
use tokio::time::Instant;

use crate::config::{BedrockAuth, BedrockConfig};
use crate::embed::{self, EmbeddingFamily};
use crate::error::{PROVIDER, error_from_response};
use crate::request::{model_path, to_converse};
use crate::response::parse_converse;
use crate::sigv4::{SigningRequest, sign};
use crate::stream::{StreamParser, chunk_stream};

/// The AWS Bedrock provider: Converse, ConverseStream and InvokeModel embeddings.
///
/// Requests go out on [`llm_core::transport`]: pooled hyper clients with rustls, or
/// reqwest when `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set (in the environment
/// [`BedrockConfig::from_lookup`] read, else the process's) or [`with_client`](Self::with_client)
/// hands one in. The SigV4 signature covers exactly the host, path, query, headers and body
/// that are sent. The client sets no time limit of its own; a request context's deadline bounds
/// the whole call: the answer's head, its whole body and every read of a stream, and a passed
/// one is [`ErrorKind::Timeout`].
///
/// ```
/// use llm_provider_bedrock::{Bedrock, BedrockConfig, AwsCredentials};
/// let bedrock = Bedrock::new(
///     BedrockConfig::new().with_region("us-east-1").with_credentials(AwsCredentials::new("AKID", "wJalrXUtnFEMI")),
/// ).unwrap();
/// assert_eq!(bedrock.endpoint(), "https://bedrock-runtime.us-east-1.amazonaws.com");
/// assert!(!format!("{bedrock:?}").contains("wJalrXUtnFEMI"));
/// let service = bedrock.into_service(); // a tower service for llm-core's stack
/// # let _ = service;
/// ```
pub struct Bedrock {
    transport: Transport,
    endpoint: String,
    /// The endpoint's scheme and authority, parsed once; the authority is normalised (host in
    /// lower case, no default port) so that the `Host` every transport sends is the one signed.
    scheme: Scheme,
    authority: Authority,
    /// The endpoint's own path (e.g. behind a proxy), signed before each request path.
    path_prefix: String,
    region: String,
    auth: BedrockAuth,
    clock: fn() -> SystemTime,
    sequence: AtomicU64,
}

impl fmt::Debug for Bedrock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bedrock")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("auth", &self.auth)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// The scheme, the normalised authority (`host[:port]`, the host in lower case, a default port
/// dropped) and the path prefix (without a trailing `/`) of an endpoint URL. The URL is not
/// repeated in the error: it may hold credentials.
fn endpoint_parts(endpoint: &str) -> Result<(Scheme, Authority, String), LlmError> {
    let invalid = || {
        LlmError::bad_request(
            "invalid Bedrock endpoint: it must be an absolute http:// or https:// URL with a host, \
             without user info or query",
        )
        .with_param("api_base")
        .with_code("invalid_base_url")
    };
    let uri: http::Uri = endpoint.parse().map_err(|_| invalid())?;
    let scheme = uri.scheme().filter(|s| matches!(s.as_str(), "http" | "https")).ok_or_else(invalid)?.clone();
    let authority = uri.authority().ok_or_else(invalid)?;
    if authority.as_str().contains('@') || authority.host().is_empty() || uri.query().is_some() {
        return Err(invalid());
    }
    let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
    let host = authority.host().to_ascii_lowercase();
    let normalised = match authority.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host,
    };
    let authority = Authority::try_from(normalised).map_err(|_| invalid())?;
    Ok((scheme, authority, uri.path().trim_end_matches('/').to_owned()))
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Bedrock {
    /// A provider from `config`; needs a region (or an endpoint) and credentials or an API key.
    /// An endpoint that is not an absolute `http://` or `https://` URL with a host is
    /// [`ErrorKind::BadRequest`] with code `invalid_base_url`.
    pub fn new(config: BedrockConfig) -> Result<Self, LlmError> {
        let endpoint = config.endpoint()?;
        let (scheme, authority, path_prefix) = endpoint_parts(&endpoint)?;
        let auth = config.auth().cloned().ok_or_else(|| {
            LlmError::new(
                ErrorKind::Authentication,
                "no AWS credentials: set AWS_BEARER_TOKEN_BEDROCK or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or configure them in code",
            )
            .with_provider(PROVIDER)
        })?;
        let transport = config.transport().cloned().unwrap_or_else(Transport::from_env);
        Ok(Self {
            transport,
            endpoint,
            scheme,
            authority,
            path_prefix,
            region: config.region().unwrap_or("us-east-1").to_owned(),
            auth,
            clock: SystemTime::now,
            sequence: AtomicU64::new(0),
        })
    }

    /// A provider configured from the process environment.
    pub fn from_env() -> Result<Self, LlmError> {
        Self::new(BedrockConfig::from_env())
    }

    /// Sends requests with a caller-built reqwest client (proxies, timeouts, pools) instead of
    /// the default transport: pooled hyper clients with rustls, or reqwest when
    /// `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` is set (the default transport follows no
    /// redirects and knows no proxies).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.transport = Transport::reqwest(client);
        self
    }

    /// Replaces the clock used for SigV4 timestamps (tests).
    pub fn with_clock(mut self, clock: fn() -> SystemTime) -> Self {
        self.clock = clock;
        self
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The provider as a type-erased tower service.
    pub fn into_service(self) -> BoxLlmService {
        ProviderService::new(self).boxed()
    }

    fn next_id(&self) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        format!("chatcmpl-bedrock-{}-{nanos:08x}-{n}", now_secs())
    }

    /// Signs and sends a JSON POST to `path` (below the endpoint's path prefix) and returns a
    /// successful answer's head, its body unread; an error status is read (before `deadline`)
    /// and mapped.
    async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        accept: &'static str,
        deadline: Option<Instant>,
    ) -> Result<http::Response<UpstreamBody>, LlmError> {
        const CONTENT_TYPE: &str = "application/json";
        let mut full_path = String::with_capacity(self.path_prefix.len() + path.len());
        full_path.push_str(&self.path_prefix);
        full_path.push_str(path);
        let uri = http::Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(full_path)
            .build()
            .map_err(|_| {
                LlmError::bad_request("the model id does not make a valid request path")
                    .with_param("model")
                    .with_provider(PROVIDER)
            })?;
        let mut request = http::Request::new(Bytes::from(body));
        *request.method_mut() = http::Method::POST;
        let headers = request.headers_mut();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        headers.insert(http::header::ACCEPT, HeaderValue::from_static(accept));
        match &self.auth {
            BedrockAuth::Bearer(token) => {
                headers.insert(http::header::AUTHORIZATION, sensitive(format!("Bearer {token}"))?);
            }
            BedrockAuth::SigV4(credentials) => {
                // The host, path, query and body signed are the ones sent: both transports send
                // the URI's authority (already normalised) as `Host` / `:authority`.
                let signing = SigningRequest {
                    method: "POST",
                    host: self.authority.as_str(),
                    path: uri.path(),
                    query: uri.query().unwrap_or(""),
                    headers: &[("content-type", CONTENT_TYPE)],
                    body: request.body(),
                };
                let signed = sign(&signing, credentials, &self.region, "bedrock", (self.clock)());
                let headers = request.headers_mut();
                headers.insert("x-amz-date", plain(signed.x_amz_date)?);
                headers.insert(http::header::AUTHORIZATION, sensitive(signed.authorization)?);
                if let Some(token) = signed.x_amz_security_token {
                    headers.insert("x-amz-security-token", sensitive(token)?);
                }
            }
        }
        *request.uri_mut() = uri;
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return Err(
                LlmError::new(ErrorKind::Timeout, "the request deadline has passed").with_provider(PROVIDER)
            );
        }
        let response = match within(deadline, self.transport.send(request)).await {
            Err(_) => return Err(timeout_error("waiting for the answer")),
            Ok(Err(e)) => return Err(transport_error(e)),
            Ok(Ok(response)) => response,
        };
        if response.status().is_success() {
            return Ok(response);
        }
        let (head, body) = response.into_parts();
        let status = head.status.as_u16();
        let retry_after = retry_after_from_headers(&head.headers);
        let error_type = head.headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok());
        let body = match within(deadline, body.bytes()).await {
            Ok(Ok(bytes)) => bytes,
            _ => Bytes::new(),
        };
        Err(self.redact(error_from_response(status, error_type, retry_after, &body)))
    }

    /// Removes a secret sent on the wire (an API key, a session token) from an upstream error,
    /// should it ever be echoed. The SigV4 secret key is never sent.
    fn redact(&self, err: LlmError) -> LlmError {
        match &self.auth {
            BedrockAuth::Bearer(token) => err.redact_secret(token),
            BedrockAuth::SigV4(credentials) => match credentials.session_token() {
                Some(token) => err.redact_secret(token),
                None => err,
            },
        }
    }

    async fn invoke_json(
        &self,
        model: &str,
        body: &Value,
        context: &RequestContext,
    ) -> Result<(Bytes, Option<u64>), LlmError> {
        let deadline = context.deadline;
        let response = self
            .post(&model_path(model, "invoke"), body.to_string().into_bytes(), "application/json", deadline)
            .await?;
        let tokens = response
            .headers()
            .get("x-amzn-bedrock-input-token-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = response.into_body().bytes_before(deadline).await.map_err(body_error)?;
        Ok((bytes, tokens))
    }
}

/// A header value holding a secret, kept out of `Debug` output.
fn sensitive(value: String) -> Result<HeaderValue, LlmError> {
    let mut value = HeaderValue::try_from(value).map_err(|_| {
        LlmError::new(ErrorKind::Authentication, "the AWS credentials are not valid header values")
            .with_provider(PROVIDER)
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A header value without a secret.
fn plain(value: String) -> Result<HeaderValue, LlmError> {
    HeaderValue::try_from(value).map_err(|_| {
        LlmError::internal("a signed header is not a valid header value").with_provider(PROVIDER)
    })
}

/// A failed or late read of the answer's body (whole, or as a stream: the stream's last item).
fn body_error(e: BodyReadError) -> LlmError {
    match e {
        BodyReadError::DeadlinePassed => timeout_error("reading the answer"),
        BodyReadError::Transport(e) => transport_error(e),
    }
}

fn timeout_error(what: &str) -> LlmError {
    LlmError::new(ErrorKind::Timeout, format!("the request deadline passed while {what} from Bedrock"))
        .with_provider(PROVIDER)
}

fn transport_error(e: TransportError) -> LlmError {
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
    let what = if e.is_connect() { "could not connect to Bedrock" } else { "the request to Bedrock failed" };
    // The transport's errors name no URL and no header: no credential can leak here.
    LlmError::new(kind, format!("{what}: {e}")).with_provider(PROVIDER).with_source(e)
}

#[async_trait::async_trait]
impl Provider for Bedrock {
    fn name(&self) -> &str {
        PROVIDER
    }

    async fn chat(&self, request: ChatRequest, context: &RequestContext) -> Result<ChatResponse, LlmError> {
        let body = to_converse(&request)?;
        let deadline = context.deadline;
        let response = self
            .post(
                &model_path(&request.model, "converse"),
                body.to_string().into_bytes(),
                "application/json",
                deadline,
            )
            .await?;
        let id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(|r| format!("chatcmpl-{r}"))
            .unwrap_or_else(|| self.next_id());
        let bytes = response.into_body().bytes_before(deadline).await.map_err(body_error)?;
        parse_converse(&bytes, &request.model, &id, now_secs()).map_err(|e| e.with_provider(PROVIDER))
    }

    async fn chat_stream(
        &self,
        request: ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatStream, LlmError> {
        let body = to_converse(&request)?;
        let response = self
            .post(
                &model_path(&request.model, "converse-stream"),
                body.to_string().into_bytes(),
                "application/vnd.amazon.eventstream",
                context.deadline,
            )
            .await?;
        let id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(|r| format!("chatcmpl-{r}"))
            .unwrap_or_else(|| self.next_id());
        let parser = StreamParser::new(id, request.model.clone(), now_secs());
        Ok(chunk_stream(response.into_body().into_stream(context.deadline, body_error), parser))
    }

    async fn embed(
        &self,
        request: EmbeddingRequest,
        context: &RequestContext,
    ) -> Result<EmbeddingResponse, LlmError> {
        let family = EmbeddingFamily::of(&request.model).ok_or_else(|| {
            LlmError::bad_request(format!(
                "`{}` is not a Bedrock embedding model this adapter knows (amazon.titan-embed-*, cohere.embed-*)",
                request.model
            ))
            .with_param("model")
        })?;
        let texts = embed::texts(&request.input)?;
        let mut data = Vec::with_capacity(texts.len());
        let mut prompt_tokens = 0u64;
        match family {
            EmbeddingFamily::Titan => {
                for (i, text) in texts.iter().enumerate() {
                    let (body, _) = self
                        .invoke_json(&request.model, &embed::titan_body(&request, text)?, context)
                        .await?;
                    let (vector, tokens) =
                        embed::parse_titan(&body).map_err(|e| e.with_provider(PROVIDER))?;
                    prompt_tokens = prompt_tokens.saturating_add(tokens);
                    data.push(embed::embedding(i, vector, request.encoding_format));
                }
            }
            EmbeddingFamily::Cohere => {
                if !texts.is_empty() {
                    let (body, tokens) = self
                        .invoke_json(&request.model, &embed::cohere_body(&request, &texts), context)
                        .await?;
                    let vectors =
                        embed::parse_cohere(&body, texts.len()).map_err(|e| e.with_provider(PROVIDER))?;
                    prompt_tokens = tokens.unwrap_or(0);
                    data.extend(
                        vectors
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| embed::embedding(i, v, request.encoding_format)),
                    );
                }
            }
        }
        Ok(EmbeddingResponse {
            object: "list".into(),
            data,
            model: request.model,
            usage: EmbeddingUsage { prompt_tokens, total_tokens: prompt_tokens, extra: Extra::new() },
            extra: Extra::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: Vec<(&'static str, &'static str)>) -> impl Fn(&str) -> Option<String> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn a_proxy_in_the_environment_keeps_reqwest() {
        let base = vec![("AWS_REGION", "us-east-1"), ("AWS_BEARER_TOKEN_BEDROCK", "ABSKkey")];
        let direct = Bedrock::new(BedrockConfig::from_lookup(env(base.clone()))).unwrap();
        assert!(!direct.transport.is_reqwest());
        for proxy in ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"] {
            let mut vars = base.clone();
            vars.push((proxy, "http://proxy.internal:3128"));
            let bedrock = Bedrock::new(BedrockConfig::from_lookup(env(vars))).unwrap();
            assert!(bedrock.transport.is_reqwest(), "{proxy}");
        }
        assert!(direct.with_client(reqwest::Client::new()).transport.is_reqwest());
    }

    #[test]
    fn the_endpoint_is_parsed_once_and_normalised() {
        let (scheme, authority, prefix) =
            endpoint_parts("https://Bedrock-Runtime.US-East-1.amazonaws.com:443/").unwrap();
        assert_eq!(
            (scheme.as_str(), authority.as_str(), prefix.as_str()),
            ("https", "bedrock-runtime.us-east-1.amazonaws.com", "")
        );
        let (_, authority, prefix) = endpoint_parts("http://127.0.0.1:8080/proxy/bedrock").unwrap();
        assert_eq!((authority.as_str(), prefix.as_str()), ("127.0.0.1:8080", "/proxy/bedrock"));
        let (_, authority, _) = endpoint_parts("http://h.example:80").unwrap();
        assert_eq!(authority.as_str(), "h.example");
        let (_, authority, _) = endpoint_parts("https://h.example:80").unwrap();
        assert_eq!(authority.as_str(), "h.example:80");
    }

    #[test]
    fn an_invalid_endpoint_is_a_typed_error_without_secrets() {
        for endpoint in [
            "not a url",
            "ftp://h.example",
            "/v1",
            "http://",
            "https://user:ABSKSECRET@h.example",
            "https://h.example/?ABSKSECRET",
            "https://ho st/ABSKSECRET",
        ] {
            let config = BedrockConfig::new().with_endpoint(endpoint).with_api_key("ABSKSECRET");
            let err = Bedrock::new(config).unwrap_err();
            assert_eq!(*err.kind(), ErrorKind::BadRequest, "{endpoint}");
            assert_eq!(err.code(), Some("invalid_base_url"), "{endpoint}");
            assert_eq!(err.param(), Some("api_base"), "{endpoint}");
            assert!(!format!("{err} {err:?}").contains("SECRET"), "{err:?}");
        }
    }
}
