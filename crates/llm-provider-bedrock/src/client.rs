//! The HTTP shell: signing, sending, and the `llm_core::Provider` implementation.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use llm_core::{
    BoxLlmService, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse,
    EmbeddingUsage, ErrorKind, Extra, LlmError, Provider, ProviderService, RequestContext,
    retry_after_from_headers,
};
use serde_json::Value;

use crate::config::{BedrockAuth, BedrockConfig};
use crate::embed::{self, EmbeddingFamily};
use crate::error::{PROVIDER, error_from_response};
use crate::request::{model_path, to_converse};
use crate::response::parse_converse;
use crate::sigv4::{SigningRequest, sign};
use crate::stream::{StreamParser, chunk_stream};

/// The AWS Bedrock provider: Converse, ConverseStream and InvokeModel embeddings.
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
    client: reqwest::Client,
    endpoint: String,
    host: String,
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
            .finish_non_exhaustive()
    }
}

/// `host[:port]` and the path prefix (without a trailing `/`) of an endpoint URL.
fn host_and_prefix(endpoint: &str) -> Result<(String, String), LlmError> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| {
        LlmError::bad_request(format!("invalid Bedrock endpoint: {e}")).with_param("api_base")
    })?;
    let host = url.host_str().ok_or_else(|| LlmError::bad_request("the Bedrock endpoint has no host"))?;
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    Ok((host, url.path().trim_end_matches('/').to_owned()))
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Bedrock {
    /// A provider from `config`; needs a region (or an endpoint) and credentials or an API key.
    pub fn new(config: BedrockConfig) -> Result<Self, LlmError> {
        let endpoint = config.endpoint()?;
        let (host, path_prefix) = host_and_prefix(&endpoint)?;
        let auth = config.auth().cloned().ok_or_else(|| {
            LlmError::new(
                ErrorKind::Authentication,
                "no AWS credentials: set AWS_BEARER_TOKEN_BEDROCK or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or configure them in code",
            )
            .with_provider(PROVIDER)
        })?;
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_idle_timeout(llm_core::POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(llm_core::POOL_MAX_IDLE_PER_HOST)
            .build()
            .map_err(|e| LlmError::internal("could not build the HTTP client").with_source(e))?;
        Ok(Self {
            client,
            endpoint,
            host,
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

    /// Uses another reqwest client (proxies, timeouts, pools).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
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

    /// Sends a signed JSON POST to `path`; non-2xx answers become errors.
    async fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        accept: &str,
        context: &RequestContext,
    ) -> Result<reqwest::Response, LlmError> {
        let url = format!("{}{path}", self.endpoint);
        let mut request = self
            .client
            .post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, accept);
        match &self.auth {
            BedrockAuth::Bearer(token) => {
                request = request.bearer_auth(token);
            }
            BedrockAuth::SigV4(credentials) => {
                let full_path = format!("{}{path}", self.path_prefix);
                let signing = SigningRequest {
                    method: "POST",
                    host: &self.host,
                    path: &full_path,
                    query: "",
                    headers: &[("content-type", "application/json")],
                    body: &body,
                };
                let signed = sign(&signing, credentials, &self.region, "bedrock", (self.clock)());
                for (name, value) in signed.pairs() {
                    request = request.header(name, value);
                }
            }
        }
        if let Some(remaining) = context.remaining() {
            if remaining.is_zero() {
                return Err(LlmError::new(ErrorKind::Timeout, "the request deadline has passed")
                    .with_provider(PROVIDER));
            }
            request = request.timeout(remaining);
        }
        let response = request.body(body).send().await.map_err(transport_error)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let retry_after = retry_after_from_headers(response.headers());
        let error_type =
            response.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.bytes().await.unwrap_or_default();
        Err(error_from_response(status, error_type.as_deref(), retry_after, &body))
    }

    async fn invoke_json(
        &self,
        model: &str,
        body: &Value,
        context: &RequestContext,
    ) -> Result<(Vec<u8>, Option<u64>), LlmError> {
        let response = self
            .post(&model_path(model, "invoke"), body.to_string().into_bytes(), "application/json", context)
            .await?;
        let tokens = response
            .headers()
            .get("x-amzn-bedrock-input-token-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let bytes = response.bytes().await.map_err(transport_error)?;
        Ok((bytes.to_vec(), tokens))
    }
}

fn transport_error(e: reqwest::Error) -> LlmError {
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Transport };
    // reqwest's message names the URL, never headers, so no credential can leak here.
    LlmError::new(kind, format!("request to Bedrock failed: {e}")).with_provider(PROVIDER).with_source(e)
}

#[async_trait::async_trait]
impl Provider for Bedrock {
    fn name(&self) -> &str {
        PROVIDER
    }

    async fn chat(&self, request: ChatRequest, context: &RequestContext) -> Result<ChatResponse, LlmError> {
        let body = to_converse(&request)?;
        let response = self
            .post(
                &model_path(&request.model, "converse"),
                body.to_string().into_bytes(),
                "application/json",
                context,
            )
            .await?;
        let id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(|r| format!("chatcmpl-{r}"))
            .unwrap_or_else(|| self.next_id());
        let bytes = response.bytes().await.map_err(transport_error)?;
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
                context,
            )
            .await?;
        let id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(|r| format!("chatcmpl-{r}"))
            .unwrap_or_else(|| self.next_id());
        let parser = StreamParser::new(id, request.model.clone(), now_secs());
        Ok(chunk_stream(Box::pin(response.bytes_stream()), parser))
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
