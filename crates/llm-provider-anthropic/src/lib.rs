//! `llm-provider-anthropic`: the Anthropic Messages API behind the common `llm` types.
//!
//! - [`to_messages_request`]: a [`ChatRequest`](llm_core::ChatRequest) (OpenAI shape) → a
//!   `POST /v1/messages` body (pure; see its docs for the full mapping);
//! - [`from_messages_response`]: a complete answer → a [`ChatResponse`](llm_core::ChatResponse);
//! - [`StreamParser`] / [`chunk_stream`]: the event stream → OpenAI-shaped
//!   [`ChatChunk`](llm_core::ChatChunk)s, failing loudly on `error` events and cut streams;
//! - [`error_from_response`] / [`error_from_event`]: Anthropic errors → [`ErrorKind`](llm_core::ErrorKind);
//! - [`Anthropic`]: the HTTP shell implementing [`Provider`](llm_core::Provider), with
//!   [`Anthropic::into_service`] for a tower service. It sends requests with
//!   [`llm_core::transport`] (pooled hyper clients with rustls; reqwest when the environment
//!   names a proxy or [`Anthropic::with_http_client`] hands one in), and a request context's
//!   deadline bounds the whole call, body and stream included.
//!
//! # Conventions beyond the OpenAI shape
//!
//! - Thinking text is `reasoning_content`; the signed `thinking` / `redacted_thinking` blocks are
//!   kept in the assistant message's (or delta's) `thinking_blocks` extra, LiteLLM's field name,
//!   and sent back first when that message is part of a later request.
//! - Usage follows OpenAI's meaning: `prompt_tokens` includes cache reads and writes
//!   ([`AnthropicUsage::to_usage`]).
//! - A refusal's `stop_details` are kept in the choice's extra fields.
//! - Parameters Anthropic cannot honour fail with `unsupported_parameter` unless
//!   [`Anthropic::with_drop_params`] is set; defaults for `max_tokens` and thinking budgets are in
//!   [`default_max_tokens`] and [`thinking_budget`].
//!
//! ```no_run
//! use llm_core::{ChatMessage, ChatRequest, LlmRequest};
//! use llm_provider_anthropic::Anthropic;
//! use tower::ServiceExt;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let service = Anthropic::from_env()?.into_service();
//! let request = ChatRequest::new("claude-sonnet-4-5", vec![ChatMessage::user("Hello!")]);
//! let response = service.oneshot(LlmRequest::chat(request)).await?.into_chat()?;
//! println!("{}", response.text().unwrap_or_default());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod defaults;
mod error;
mod provider;
mod request;
mod response;
mod stream;

pub use defaults::{default_max_tokens, thinking_budget};
pub use error::{ConfigError, error_from_event, error_from_response, error_kind};
pub use provider::Anthropic;
pub use request::{MessagesRequest, TranslateOptions, to_messages_request};
pub use response::{AnthropicUsage, finish_reason, from_messages_response};
pub use stream::{StreamParser, chunk_stream};
