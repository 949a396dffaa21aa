//! `llm-provider-bedrock`: AWS Bedrock for the `llm` workspace.
//!
//! - Chat through the **Converse** and **ConverseStream** APIs
//!   (`POST {endpoint}/model/{modelId}/converse` and `/converse-stream`, the model id
//!   percent-encoded), translated from and to the OpenAI shape by pure functions:
//!   [`to_converse`], [`parse_converse`], [`StreamParser`].
//! - Streams in the AWS **event-stream** binary framing ([`eventstream`]), decoded incrementally
//!   with both CRC32 checks, and an encoder for tests and mock upstreams.
//! - **SigV4** request signing ([`sigv4::sign`], checked against AWS's published test vectors)
//!   or a Bedrock **API key** (`Authorization: Bearer`), configured from code or the environment
//!   ([`BedrockConfig`]; code wins). Region-prefixed inference profiles (`us.anthropic.claude-…`)
//!   and ARNs pass through unchanged.
//! - **Embeddings** through InvokeModel for Amazon Titan and Cohere models ([`EmbeddingFamily`]).
//! - [`Bedrock`] implements [`llm_core::Provider`]; [`Bedrock::into_service`] gives the tower
//!   service. It sends requests with [`llm_core::transport`] (pooled hyper clients with
//!   rustls; reqwest when the environment names a proxy or [`Bedrock::with_client`] hands one
//!   in), signing exactly the host, path, headers and body sent; a request context's deadline
//!   bounds the whole call, every read of a stream included.
//!
//! Usage is reported in OpenAI's meaning: `prompt_tokens` includes cache reads and writes, which
//! Bedrock reports beside `inputTokens` ([`usage_from_bedrock`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), llm_core::LlmError> {
//! use llm_core::{ChatMessage, ChatRequest, LlmRequest};
//! use tower::ServiceExt;
//! let service = llm_provider_bedrock::Bedrock::from_env()?.into_service();
//! let request = ChatRequest::new("us.anthropic.claude-3-5-haiku-20241022-v1:0", vec![ChatMessage::user("Hi")]);
//! let answer = service.oneshot(LlmRequest::chat(request)).await?.into_chat()?;
//! println!("{}", answer.text().unwrap_or_default());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod client;
mod config;
mod embed;
mod error;
pub mod eventstream;
mod request;
mod response;
pub mod sigv4;
mod stream;

pub use client::Bedrock;
pub use config::{BedrockAuth, BedrockConfig};
pub use embed::{EmbeddingFamily, cohere_body, parse_cohere, parse_titan, titan_body};
pub use error::{error_from_exception, error_from_response, error_kind};
pub use request::{model_id, model_path, thinking_budget, to_converse};
pub use response::{finish_reason, parse_converse, usage_from_bedrock};
pub use sigv4::AwsCredentials;
pub use stream::{StreamParser, chunk_stream};
