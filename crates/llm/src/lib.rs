//! `llm`: one interface for every LLM provider.
//!
//! This facade re-exports [`llm_core`] (request, response, error and service types) and, behind
//! one feature each, the provider crates. Its [`Client`] turns `provider/model` strings into
//! calls on the right provider, with keys from the environment or from code:
//!
//! ```no_run
//! # async fn run() -> Result<(), llm::LlmError> {
//! let client = llm::Client::from_env();
//! let answer = client.chat("anthropic/claude-sonnet-4-5", vec![llm::ChatMessage::user("Hello!")]).await?;
//! println!("{}", answer.text().unwrap_or_default());
//! # Ok(()) }
//! ```
//!
//! The same three lines against a local mock upstream (what the examples do without a key):
//!
//! ```
//! # #[cfg(feature = "openai")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # use llm_core::testkit::{MockResponse, MockServer};
//! # let mock = MockServer::start().await;
//! # mock.push(MockResponse::json(200, serde_json::json!({"id": "c1", "model": "gpt-4o-mini",
//! #     "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there!"}, "finish_reason": "stop"}]})));
//! let client = llm::Client::builder().api_key("openai", "sk-test").base_url("openai", mock.url()).build().unwrap();
//! let answer = client.chat("openai/gpt-4o-mini", vec![llm::ChatMessage::user("Hello!")]).await.unwrap();
//! assert_eq!(answer.text().unwrap(), "Hi there!");
//! # });
//! ```
//!
//! Swapping a model is changing a string — or, with [aliases](Aliases), a line in a file:
//! `client.chat("smart", ...)` asks whatever `smart` names in the alias file.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `openai` | yes | [`openai`] (`llm-provider-openai`): `openai/`, `azure/` and every OpenAI-compatible vendor (`groq/`, `mistral/`, `deepseek/`, `together_ai/`, `fireworks_ai/`, `openrouter/`, `xai/`, `perplexity/`, `deepinfra/`, `cerebras/`, `vllm/`, `hosted_vllm/`, `lm_studio/`, `ollama/`) |
//! | `anthropic` | no | [`anthropic`] (`llm-provider-anthropic`): `anthropic/` |
//! | `gemini` | no | [`gemini`] (`llm-provider-gemini`): `gemini/`, alias `google/` |
//! | `bedrock` | no | [`bedrock`] (`llm-provider-bedrock`): `bedrock/` (Converse API) |
//! | `vertex` | no | [`vertex`] (`llm-provider-vertex`): `vertex_ai/`, alias `vertex/` (Gemini and Claude on Vertex) |
//! | `router` | no | [`router`] (`llm-router`): deployments, load balancing, retries, cooldowns and fallbacks; a [`Client`] is a service a deployment can use |
//! | `cost` | no | [`cost`] (`llm-cost`): the price table, per-call cost (`CostLayer`), spend records and budgets |
//! | `tiktoken` | no | exact OpenAI token counts in [`cost`] (implies `cost`; embeds BPE vocabularies) |
//! | `cache` | no | [`cache`] (`llm-cache`): the response cache layer (memory; Redis through `llm-cache`'s own `redis` feature) |
//! | `testkit` | no | `llm::testkit`, the mock upstream of `llm_core::testkit` (for tests and offline examples) |
//! | `full` | no | every feature above except `tiktoken` and `testkit` |
//!
//! The default is `openai` only: one provider's dependencies, and the OpenAI wire format that
//! most vendors and local servers speak. A model whose provider is not compiled in fails with
//! an error naming the feature to enable. The middleware crates compose with a [`Client`]:
//! cost and cache layers go in [`ClientBuilder::layer`], and the client (a tower service over
//! [`LlmRequest`]) can be a router deployment.
//!
//! # Keys and base URLs
//!
//! | provider | key | base URL |
//! |---|---|---|
//! | `openai` | `OPENAI_API_KEY` | `OPENAI_BASE_URL`, `OPENAI_API_BASE` |
//! | `azure` | `AZURE_API_KEY`, `AZURE_OPENAI_API_KEY` (or `AZURE_AD_TOKEN`) | `AZURE_API_BASE`, `AZURE_OPENAI_ENDPOINT` (+ `AZURE_API_VERSION`) |
//! | `anthropic` | `ANTHROPIC_API_KEY` | `ANTHROPIC_API_BASE`, `ANTHROPIC_BASE_URL` |
//! | `gemini` / `google` | `GEMINI_API_KEY`, `GOOGLE_API_KEY` | `GEMINI_API_BASE` |
//! | `bedrock` | `AWS_BEARER_TOKEN_BEDROCK`, or `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`); region `AWS_REGION` | the regional endpoint |
//! | `vertex_ai` | an access token in code, or the key file named by `GOOGLE_APPLICATION_CREDENTIALS`; project `VERTEXAI_PROJECT`, location `VERTEXAI_LOCATION` | the regional endpoint |
//! | vendors | the vendor table's variables, e.g. `GROQ_API_KEY`, `MISTRAL_API_KEY` | e.g. `GROQ_API_BASE` |
//!
//! [`ClientBuilder::api_key`] and [`ClientBuilder::base_url`] win over the environment. A
//! missing key is an [`ErrorKind::Authentication`] error naming the variable to set.
//!
//! # Aliases
//!
//! A TOML file maps the names application code uses to models and default parameters
//! ([`Aliases`] documents the format):
//!
//! ```toml
//! fast = "groq/llama-3.1-8b-instant"
//! smart = { model = "anthropic/claude-sonnet-4-5", max_tokens = 1024, temperature = 0.2 }
//! ```
//!
//! `Client::builder().aliases_from_file("models.toml").build()?` reports a bad file with its path
//! and the problem; then `client.chat("smart", messages)` asks Claude with those parameters, and
//! editing the file swaps the model with no code change.
//!
//! # Examples
//!
//! `examples/` holds small crates, each runnable offline against a mock upstream when its key is
//! not set (`cargo xtask examples` runs them all): `basic-chat`, `streaming`, `tool-calling`,
//! `json-schema`, `router-fallback`, `cost-logging`, `custom-layer` and `custom-provider`.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod adapters;
mod alias;
mod builder;
mod client;
mod error;
mod params;
mod resolve;
mod settings;

pub use alias::{Alias, Aliases};
pub use builder::ClientBuilder;
pub use client::Client;
pub use error::ConfigError;
pub use params::Params;
pub use resolve::known_providers;

pub use llm_core;
pub use llm_core::*;

#[cfg(feature = "cache")]
pub use llm_cache as cache;
#[cfg(feature = "cost")]
pub use llm_cost as cost;
#[cfg(feature = "router")]
pub use llm_router as router;

#[cfg(feature = "anthropic")]
pub use llm_provider_anthropic as anthropic;
#[cfg(feature = "bedrock")]
pub use llm_provider_bedrock as bedrock;
#[cfg(feature = "gemini")]
pub use llm_provider_gemini as gemini;
#[cfg(feature = "openai")]
pub use llm_provider_openai as openai;
#[cfg(feature = "vertex")]
pub use llm_provider_vertex as vertex;
