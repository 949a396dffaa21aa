//! The tower service contract: [`LlmRequest`] in, [`LlmResponse`] out, [`LlmError`] on failure.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use tower::util::BoxCloneSyncService;

use crate::{
    ChatChunk, ChatRequest, ChatResponse, EmbeddingRequest, EmbeddingResponse, ErrorKind, LlmError,
    RequestContext,
};

/// A stream of chat chunks; a failure mid-stream is an `Err` item, never a silent end.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<ChatChunk, LlmError>> + Send + 'static>>;

/// The type-erased service every layer, router and provider can be turned into.
pub type BoxLlmService = BoxCloneSyncService<LlmRequest, LlmResponse, LlmError>;

/// What to do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Operation {
    /// A chat completion; streamed when `stream` is `true`.
    ///
    /// Boxed, like [`Embedding`](Self::Embedding): a request is moved through every layer's
    /// future, and 16 bytes move faster than 720 (one allocation per request buys ~10k fewer
    /// instructions of copying in the gateway, measured with callgrind).
    Chat(Box<ChatRequest>),
    /// Embeddings.
    Embedding(Box<EmbeddingRequest>),
}

impl Operation {
    /// The requested model.
    pub fn model(&self) -> &str {
        match self {
            Operation::Chat(r) => &r.model,
            Operation::Embedding(r) => &r.model,
        }
    }

    /// Replaces the requested model (routers do this to address a deployment).
    pub fn set_model(&mut self, model: impl Into<String>) {
        let model = model.into();
        match self {
            Operation::Chat(r) => r.model = model,
            Operation::Embedding(r) => r.model = model,
        }
    }

    /// Whether a stream is asked for.
    pub fn is_stream(&self) -> bool {
        matches!(self, Operation::Chat(r) if r.is_stream())
    }
}

/// A request to an `llm` service: the operation plus its context.
///
/// ```
/// use llm_core::{ChatMessage, ChatRequest, LlmRequest};
/// let req = LlmRequest::chat(ChatRequest::new("gpt-4o", vec![ChatMessage::user("Hi")]));
/// assert_eq!(req.operation.model(), "gpt-4o");
/// ```
#[derive(Debug, Clone)]
pub struct LlmRequest {
    /// What to do.
    pub operation: Operation,
    /// Who asks, deadline, tags, cache controls, extensions.
    pub context: RequestContext,
}

impl LlmRequest {
    /// A chat request with an empty context.
    pub fn chat(request: ChatRequest) -> Self {
        Self { operation: Operation::Chat(Box::new(request)), context: RequestContext::default() }
    }

    /// An embedding request with an empty context.
    pub fn embedding(request: EmbeddingRequest) -> Self {
        Self { operation: Operation::Embedding(Box::new(request)), context: RequestContext::default() }
    }

    /// Replaces the context.
    pub fn with_context(mut self, context: RequestContext) -> Self {
        self.context = context;
        self
    }
}

/// The result of an operation.
#[non_exhaustive]
pub enum ResponseBody {
    /// A complete chat response (boxed, like the requests: see [`Operation::Chat`]).
    Chat(Box<ChatResponse>),
    /// A chat response as it is generated.
    ChatStream(ChatStream),
    /// Embeddings.
    Embedding(Box<EmbeddingResponse>),
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseBody::Chat(r) => f.debug_tuple("Chat").field(r).finish(),
            ResponseBody::ChatStream(_) => f.write_str("ChatStream(..)"),
            ResponseBody::Embedding(r) => f.debug_tuple("Embedding").field(r).finish(),
        }
    }
}

/// One attempt the router made on the way to this response.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The deployment tried.
    pub deployment: String,
    /// Why it failed; `None` for the attempt that succeeded.
    pub error: Option<ErrorKind>,
    /// How long it took.
    pub latency: Duration,
}

/// Facts about how a response was produced, filled in by the layers it passed through.
#[derive(Debug, Clone, Default)]
pub struct ResponseMetadata {
    /// The provider that answered (e.g. `anthropic`).
    pub provider: Option<String>,
    /// The deployment that answered.
    pub deployment_id: Option<String>,
    /// Every attempt, in order, when a router was involved.
    pub attempts: Vec<Attempt>,
    /// Time until the complete response (or the stream's head) was available.
    pub latency: Option<Duration>,
    /// Time to the first streamed chunk.
    pub time_to_first_token: Option<Duration>,
    /// Whether the response came from a cache.
    pub cache_hit: bool,
    /// Cost in US dollars, when priced.
    pub cost_usd: Option<f64>,
    /// Typed values layers hand each other or the caller.
    pub extensions: http::Extensions,
}

/// A response: the body and its metadata.
#[derive(Debug)]
pub struct LlmResponse {
    /// The result.
    pub body: ResponseBody,
    /// How it was produced.
    pub metadata: ResponseMetadata,
}

impl LlmResponse {
    /// A complete chat response with empty metadata.
    pub fn chat(response: ChatResponse) -> Self {
        Self { body: ResponseBody::Chat(Box::new(response)), metadata: ResponseMetadata::default() }
    }

    /// A chat stream with empty metadata.
    pub fn chat_stream(stream: ChatStream) -> Self {
        Self { body: ResponseBody::ChatStream(stream), metadata: ResponseMetadata::default() }
    }

    /// Embeddings with empty metadata.
    pub fn embedding(response: EmbeddingResponse) -> Self {
        Self { body: ResponseBody::Embedding(Box::new(response)), metadata: ResponseMetadata::default() }
    }

    /// The complete chat response, or a [`ErrorKind::Internal`] error for another body.
    pub fn into_chat(self) -> Result<ChatResponse, LlmError> {
        match self.body {
            ResponseBody::Chat(r) => Ok(*r),
            other => Err(LlmError::internal(format!("expected a chat response, got {other:?}"))),
        }
    }

    /// The chat stream, or a [`ErrorKind::Internal`] error for another body.
    pub fn into_chat_stream(self) -> Result<ChatStream, LlmError> {
        match self.body {
            ResponseBody::ChatStream(s) => Ok(s),
            other => Err(LlmError::internal(format!("expected a chat stream, got {other:?}"))),
        }
    }

    /// The embeddings, or a [`ErrorKind::Internal`] error for another body.
    pub fn into_embedding(self) -> Result<EmbeddingResponse, LlmError> {
        match self.body {
            ResponseBody::Embedding(r) => Ok(*r),
            other => Err(LlmError::internal(format!("expected an embedding response, got {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_stay_small_to_move() {
        // Every layer's future holds one; they were 928 and 712 bytes before the bodies were boxed.
        assert!(std::mem::size_of::<LlmRequest>() <= 256, "{}", std::mem::size_of::<LlmRequest>());
        assert!(std::mem::size_of::<LlmResponse>() <= 192, "{}", std::mem::size_of::<LlmResponse>());
    }
}
