//! `llm-provider-openai`: OpenAI, Azure OpenAI and every OpenAI-compatible vendor as an
//! [`llm_core::Provider`] (and so as a tower service).
//!
//! - Chat completions, complete and streamed (`stream_options.include_usage` on by default, so
//!   the last chunk carries usage incl. cached and reasoning tokens); tools and parallel tool
//!   calls, JSON-schema output, vision parts, reasoning models (`max_tokens` becomes
//!   `max_completion_tokens` for o-series and gpt-5 models, `reasoning_effort` passed through).
//! - Embeddings (float, base64, `dimensions`) and the model list ([`OpenAi::list_models`]).
//! - Azure OpenAI ([`OpenAi::azure_from_env`]): deployment URLs with `api-version` and the
//!   `api-key` header.
//! - OpenAI-compatible vendors declared as data in [`VENDORS`] (Groq, Mistral, DeepSeek,
//!   Together, Fireworks, OpenRouter, xAI, Perplexity, DeepInfra, Cerebras, vLLM, LM Studio,
//!   Ollama), and any base URL (`openai/<model>` + [`OpenAi::with_base_url`]).
//!
//! The common types already are OpenAI's wire shape: a request is the caller's
//! [`ChatRequest`](llm_core::ChatRequest) with its model rewritten and the vendor's [`Quirk`]s
//! applied, serialized once; answers and chunks deserialize straight into the common types, with
//! unknown fields kept. Translation and parsing are pure functions in [`wire`], [`endpoint`] and
//! [`error_from_response`]. The HTTP shell is [`llm_core::transport`]: hyper-util's pooled client
//! (rustls with webpki roots, HTTP/1.1 and HTTP/2, `TCP_NODELAY`); reqwest carries the requests
//! instead when the environment names a proxy or [`OpenAi::with_http_client`] hands one in.
//!
//! ```no_run
//! use llm_core::{ChatMessage, ChatRequest, LlmRequest};
//! use tower::ServiceExt;
//! # async fn run() -> Result<(), llm_core::LlmError> {
//! let openai = llm_provider_openai::OpenAi::from_env().into_service();
//! let request = ChatRequest::new("openai/gpt-4o-mini", vec![ChatMessage::user("Hello!")]);
//! let answer = openai.oneshot(LlmRequest::chat(request)).await?.into_chat()?;
//! println!("{}", answer.text().unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! Errors: statuses map through [`ErrorKind::from_status`](llm_core::ErrorKind::from_status)
//! (429 with `retry-after`), context-length and content-policy errors are recognised from the
//! body, a stream that breaks or ends before `data: [DONE]` ends with an error item, and API keys
//! never appear in `Debug` output or error messages.
#![deny(missing_docs)]

mod client;
pub mod endpoint;
mod error;
mod key;
mod stream;
mod vendor;
pub mod wire;

pub use client::{DEFAULT_AZURE_API_VERSION, DEFAULT_TIMEOUT, OpenAi};
pub use error::{ConfigError, error_from_response};
pub use key::ApiKey;
pub use vendor::{Quirk, VENDORS, Vendor};
