//! [`Client`]: one object that answers for every `provider/model`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;
use llm_core::{
    BoxLlmService, ChatMessage, ChatRequest, ChatResponse, ChatStream, EmbeddingInput, EmbeddingRequest,
    EmbeddingResponse, LlmError, LlmRequest, LlmResponse, Operation, collect_stream,
};
use tower::{Service, ServiceExt};

use crate::alias::Aliases;
use crate::builder::{ClientBuilder, LayerFn};
use crate::resolve::{Backend, resolve};
use crate::settings::Settings;
use crate::{Params, adapters};

/// A client for every provider compiled in, addressed by `provider/model` strings.
///
/// Each provider's adapter is built on first use (from code settings, then the environment)
/// and kept, so its connection pool is reused; clones share everything. The client is also a
/// tower [`Service`] over [`LlmRequest`], so it can sit under routers and layers itself.
///
/// How a model string is resolved:
/// 1. an alias ([`ClientBuilder::aliases_from_file`]) is replaced by its model, and its
///    parameters become defaults of the request;
/// 2. the prefix before the first `/` picks the provider: `openai`, `azure`, `anthropic`,
///    `gemini` (alias `google`), or any vendor of the OpenAI vendor table (`groq`, `mistral`,
///    `deepseek`, `together_ai`, `fireworks_ai`, `openrouter`, `xai`, `perplexity`,
///    `deepinfra`, `cerebras`, `vllm`, `hosted_vllm`, `lm_studio`, `ollama`);
/// 3. a bare name is resolved by family: `gpt-*`, `chatgpt-*`, `o1*`, `o3*`, `o4*`,
///    `text-embedding-3*`/`-ada*` → `openai`; `claude-*` → `anthropic`; `gemini-*`,
///    `text-embedding-004` → `gemini`; any other bare name is an error asking for
///    `provider/model`.
///
/// Request parameters: the request's own values win over the alias's, which win over the
/// client's [`default_params`](ClientBuilder::default_params) (chat only).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    aliases: Aliases,
    default_params: Params,
    layers: Vec<LayerFn>,
    services: Mutex<HashMap<&'static str, BoxLlmService>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut built: Vec<&str> = self.lock_services().keys().copied().collect();
        built.sort_unstable();
        f.debug_struct("Client")
            .field("settings", &self.inner.settings)
            .field("aliases", &self.inner.aliases.len())
            .field("default_params", &self.inner.default_params)
            .field("layers", &self.inner.layers.len())
            .field("built_providers", &built)
            .finish()
    }
}

impl Client {
    /// A builder for keys, base URLs, timeouts, aliases, default parameters and layers.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client that takes every key and base URL from the environment.
    pub fn from_env() -> Self {
        ClientBuilder::new().into_client()
    }

    pub(crate) fn from_parts(
        settings: Settings,
        aliases: Aliases,
        default_params: Params,
        layers: Vec<LayerFn>,
    ) -> Self {
        let inner = Inner { settings, aliases, default_params, layers, services: Mutex::new(HashMap::new()) };
        Self { inner: Arc::new(inner) }
    }

    /// A complete chat answer from `model` (`provider/model`, a bare family name, or an alias).
    pub async fn chat(
        &self,
        model: impl Into<String>,
        messages: Vec<ChatMessage>,
    ) -> Result<ChatResponse, LlmError> {
        self.chat_request(ChatRequest::new(model, messages)).await
    }

    /// A complete chat answer to `request`; a request with `stream: true` is streamed and
    /// collected.
    pub async fn chat_request(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let streamed = request.is_stream();
        let response = self.send(LlmRequest::chat(request)).await?;
        if streamed { collect_stream(response.into_chat_stream()?).await } else { response.into_chat() }
    }

    /// A streamed chat answer from `model`.
    pub async fn chat_stream(
        &self,
        model: impl Into<String>,
        messages: Vec<ChatMessage>,
    ) -> Result<ChatStream, LlmError> {
        self.chat_stream_request(ChatRequest::new(model, messages)).await
    }

    /// A streamed answer to `request` (`stream` is set to `true`).
    pub async fn chat_stream_request(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let request = request.with_stream(true);
        self.send(LlmRequest::chat(request)).await?.into_chat_stream()
    }

    /// Embeddings of `input` from `model`.
    pub async fn embed(
        &self,
        model: impl Into<String>,
        input: impl Into<EmbeddingInput>,
    ) -> Result<EmbeddingResponse, LlmError> {
        self.embed_request(EmbeddingRequest::new(model, input)).await
    }

    /// Embeddings for `request`.
    pub async fn embed_request(&self, request: EmbeddingRequest) -> Result<EmbeddingResponse, LlmError> {
        self.send(LlmRequest::embedding(request)).await?.into_embedding()
    }

    /// Sends any request and returns the response with its metadata (provider, latency, ...).
    pub async fn send(&self, mut request: LlmRequest) -> Result<LlmResponse, LlmError> {
        let service = self.prepare(&mut request)?;
        service.oneshot(request).await
    }

    /// The provider (`openai`, `groq`, `gemini`, ...) and upstream model id `model` resolves to,
    /// without building anything.
    ///
    /// ```
    /// let client = llm::Client::builder().aliases_from_str(r#"fast = "groq/llama-3.1-8b-instant""#).build().unwrap();
    /// assert_eq!(client.resolve("fast").unwrap(), ("groq", "groq/llama-3.1-8b-instant".to_owned()));
    /// assert_eq!(client.resolve("google/gemini-2.5-flash").unwrap().0, "gemini");
    /// assert!(client.resolve("mystery/model").is_err());
    /// ```
    pub fn resolve(&self, model: &str) -> Result<(&'static str, String), LlmError> {
        let alias = self.inner.aliases.get(model);
        let target = resolve(alias.map_or(model, |a| a.model.as_str()))?;
        Ok((target.backend.name(), target.model))
    }

    /// The provider service (with the client's layers) that serves `model`, built if needed.
    /// Requests sent to it directly skip alias expansion and default parameters.
    pub fn provider_service(&self, model: &str) -> Result<BoxLlmService, LlmError> {
        let alias = self.inner.aliases.get(model);
        let target = resolve(alias.map_or(model, |a| a.model.as_str()))?;
        self.service_for(target.backend)
    }

    /// Expands the alias, resolves the provider, rewrites the model to `provider/model` and
    /// applies default parameters.
    fn prepare(&self, request: &mut LlmRequest) -> Result<BoxLlmService, LlmError> {
        let requested = request.operation.model();
        let alias = self.inner.aliases.get_shared(requested);
        let target = resolve(alias.as_ref().map_or(requested, |a| a.model.as_str()))?;
        let service = self.service_for(target.backend)?;
        request.operation.set_model(target.model);
        if let Operation::Chat(chat) = &mut request.operation {
            if let Some(alias) = &alias {
                alias.params.apply(chat)?;
            }
            self.inner.default_params.apply(chat)?;
        }
        Ok(service)
    }

    fn service_for(&self, backend: Backend) -> Result<BoxLlmService, LlmError> {
        let mut services = self.lock_services();
        if let Some(service) = services.get(backend.name()) {
            return Ok(service.clone());
        }
        let mut service = adapters::build(backend, &self.inner.settings)?;
        for layer in self.inner.layers.iter().rev() {
            service = layer(service);
        }
        services.insert(backend.name(), service.clone());
        Ok(service)
    }

    fn lock_services(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, BoxLlmService>> {
        self.inner.services.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Service<LlmRequest> for Client {
    type Response = LlmResponse;
    type Error = LlmError;
    type Future = BoxFuture<'static, Result<LlmResponse, LlmError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), LlmError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: LlmRequest) -> Self::Future {
        let client = self.clone();
        Box::pin(async move { client.send(request).await })
    }
}
