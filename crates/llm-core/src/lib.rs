//! `llm-core`: the stable types every `llm` crate shares.
//!
//! - OpenAI-shaped [`ChatRequest`], [`ChatResponse`], [`ChatChunk`], [`EmbeddingRequest`] and
//!   [`EmbeddingResponse`] that keep every unknown field in an [`Extra`] map;
//! - [`Usage`] with cached, cache-creation, reasoning and audio tokens;
//! - [`ModelId`] (`provider/model`);
//! - the error taxonomy [`LlmError`] / [`ErrorKind`] and its OpenAI error body;
//! - the tower contract: [`LlmRequest`] → [`LlmResponse`] or [`LlmError`], [`BoxLlmService`];
//! - the [`Provider`] trait for third-party crates and its [`ProviderService`] adapter;
//! - an incremental server-sent-events decoder and encoder ([`sse`]);
//! - [`StreamAccumulator`] to rebuild a response from chunks;
//! - with the `transport` feature, the HTTP client provider crates share ([`transport`]).
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `testkit` | [`testkit::MockServer`], a programmable HTTP upstream on 127.0.0.1 for tests |
//! | `conformance` | [`conformance`], the suite every provider adapter runs (implies `testkit`) |
//! | `transport` | [`transport::Transport`], the HTTP client provider crates send requests with: pooled hyper clients with rustls, or reqwest behind a proxy or when the caller hands one in |
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod accumulate;
mod chat;
mod chunk;
mod context;
mod embedding;
mod error;
pub mod json;
mod message;
mod model_id;
mod provider;
mod response;
mod service;
pub mod sse;
mod time;
mod usage;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "testkit")]
pub mod testkit;
#[cfg(feature = "transport")]
pub mod transport;

pub use accumulate::{StreamAccumulator, collect_stream};
pub use chat::{
    ChatRequest, FunctionDefinition, JsonSchemaFormat, NamedFunction, NamedToolChoice, ReasoningEffort,
    ResponseFormat, Stop, StreamOptions, Tool, ToolChoice, ToolChoiceMode,
};
pub use chunk::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};
pub use context::{CacheControl, Caller, RequestContext};
pub use embedding::{
    Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage, EmbeddingVector,
    EncodingFormat,
};
pub use error::{
    BoxError, ErrorKind, LlmError, OpenAiError, OpenAiErrorBody, retry_after_from_headers,
    retry_after_from_headers_at,
};
pub use message::{
    ChatMessage, ContentPart, FileData, FilePart, FunctionCall, ImageUrl, ImageUrlPart, InputAudio,
    InputAudioPart, MessageContent, RefusalPart, Role, TextPart, ToolCall, parse_base64_data_url,
};
pub use model_id::{ModelId, ModelIdError};
pub use provider::{POOL_IDLE_TIMEOUT, POOL_MAX_IDLE_PER_HOST, Provider, ProviderService};
pub use response::{ChatResponse, Choice, FinishReason};
pub use service::{
    Attempt, BoxLlmService, ChatStream, LlmRequest, LlmResponse, Operation, ResponseBody, ResponseMetadata,
};
pub use time::civil_from_days;
pub use usage::{CompletionTokensDetails, PromptTokensDetails, Usage};

/// Fields a type does not model, kept in arrival order and serialized back unchanged.
pub type Extra = serde_json::Map<String, serde_json::Value>;
