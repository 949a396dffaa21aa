//! The `async_trait` [`Provider`] trait for third-party provider crates, and the adapter that turns
//! any provider into a tower [`Service`].

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use tower::Service;

use crate::{
    BoxLlmService, ChatRequest, ChatResponse, ChatStream, EmbeddingRequest, EmbeddingResponse, LlmError,
    LlmRequest, LlmResponse, Operation, RequestContext, ResponseBody,
};

/// A provider adapter written as plain async methods.
///
/// Implement this in a third-party crate and wrap it with [`ProviderService`] to get a tower
/// service that composes with every `llm` layer:
///
/// ```
/// use llm_core::*;
/// struct Echo;
/// #[async_trait::async_trait]
/// impl Provider for Echo {
///     fn name(&self) -> &str { "echo" }
///     async fn chat(&self, req: ChatRequest, _: &RequestContext) -> Result<ChatResponse, LlmError> {
///         let text = req.messages.last().and_then(|m| m.text()).unwrap_or_default().into_owned();
///         Ok(ChatResponse { id: "1".into(), object: "chat.completion".into(), created: 0,
///             model: req.model, choices: vec![Choice { index: 0, message: ChatMessage::assistant(text),
///             logprobs: None, finish_reason: Some(FinishReason::Stop), extra: Extra::new() }],
///             usage: None, system_fingerprint: None, service_tier: None, extra: Extra::new() })
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use tower::ServiceExt;
/// let svc = ProviderService::new(Echo).boxed();
/// let res = svc.oneshot(LlmRequest::chat(ChatRequest::new("m", vec![ChatMessage::user("hi")]))).await.unwrap();
/// assert_eq!(res.into_chat().unwrap().text().unwrap(), "hi");
/// # });
/// ```
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The provider's name, e.g. `"anthropic"`; recorded in response metadata and errors.
    fn name(&self) -> &str;

    /// A complete chat response.
    async fn chat(&self, request: ChatRequest, context: &RequestContext) -> Result<ChatResponse, LlmError>;

    /// A streamed chat response. The default answers that streaming is not supported.
    async fn chat_stream(
        &self,
        request: ChatRequest,
        context: &RequestContext,
    ) -> Result<ChatStream, LlmError> {
        let _ = (request, context);
        Err(LlmError::bad_request(format!("provider `{}` does not support streaming", self.name()))
            .with_param("stream"))
    }

    /// Embeddings. The default answers that embeddings are not supported.
    async fn embed(
        &self,
        request: EmbeddingRequest,
        context: &RequestContext,
    ) -> Result<EmbeddingResponse, LlmError> {
        let _ = (request, context);
        Err(LlmError::bad_request(format!("provider `{}` does not support embeddings", self.name())))
    }
}

/// A tower [`Service`] over any [`Provider`]: streamed chat when `stream: true`, else complete.
#[derive(Debug)]
pub struct ProviderService<P> {
    provider: Arc<P>,
}

impl<P> Clone for ProviderService<P> {
    fn clone(&self) -> Self {
        Self { provider: Arc::clone(&self.provider) }
    }
}

impl<P: Provider> ProviderService<P> {
    /// Wraps `provider`.
    pub fn new(provider: P) -> Self {
        Self { provider: Arc::new(provider) }
    }

    /// Wraps a shared provider.
    pub fn from_arc(provider: Arc<P>) -> Self {
        Self { provider }
    }

    /// The type-erased service.
    pub fn boxed(self) -> BoxLlmService {
        BoxLlmService::new(self)
    }
}

impl<P: Provider> Service<LlmRequest> for ProviderService<P> {
    type Response = LlmResponse;
    type Error = LlmError;
    type Future = BoxFuture<'static, Result<LlmResponse, LlmError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), LlmError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let provider = Arc::clone(&self.provider);
        Box::pin(async move {
            let LlmRequest { operation, context } = request;
            let started = tokio::time::Instant::now();
            let result = match operation {
                Operation::Chat(chat) if chat.is_stream() => {
                    provider.chat_stream(*chat, &context).await.map(ResponseBody::ChatStream)
                }
                Operation::Chat(chat) => {
                    provider.chat(*chat, &context).await.map(|r| ResponseBody::Chat(Box::new(r)))
                }
                Operation::Embedding(e) => {
                    provider.embed(*e, &context).await.map(|r| ResponseBody::Embedding(Box::new(r)))
                }
            };
            let body = result.map_err(|e| match e.provider() {
                Some(_) => e,
                None => e.with_provider(provider.name().to_owned()),
            })?;
            let mut response = LlmResponse { body, metadata: Default::default() };
            response.metadata.provider = Some(provider.name().to_owned());
            response.metadata.latency = Some(started.elapsed());
            Ok(response)
        })
    }
}

/// Idle connections an adapter's HTTP client keeps per upstream host. Each request in flight
/// holds a connection (HTTP/1.1); one the pool cannot keep when its request ends is closed, and
/// the next burst opens it again, with a TCP and a TLS handshake. The conformance suite checks it
/// ([`burst_connections_are_reused`](crate::conformance::burst_connections_are_reused)).
pub const POOL_MAX_IDLE_PER_HOST: usize = 512;

/// How long an adapter's HTTP client keeps an idle upstream connection: long enough to reuse it
/// between requests, short enough that a burst's connections do not linger for minutes.
pub const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
