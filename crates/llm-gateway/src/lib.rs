//! `llm-gateway`: an OpenAI-compatible proxy that holds provider keys centrally, routes and falls
//! back between deployments, prices every call and logs the spend.
//!
//! It reads LiteLLM proxy's `config.yaml` as is ([`config`]), builds one
//! [`llm_router::Router`] over the `model_list` (group = `model_name`), wraps it in
//! `llm-cache`'s cache when `litellm_settings.cache` is on and in `llm-cost`'s `CostLayer`,
//! whose spend records go to a SQLite log ([`spend`]) and to Prometheus counters.
//!
//! | endpoint (also under `/v1`) | what |
//! |---|---|
//! | `POST /chat/completions` | chat, streamed as server-sent events when `stream: true` |
//! | `POST /embeddings` | embeddings |
//! | `POST /messages` | Anthropic's Messages API (streamed or not), routed to any model group |
//! | `GET /models` | the model groups, OpenAI's list shape |
//! | `GET /spend/logs`, `GET /spend/report` | spend rows; totals by day × model/key/team/tag |
//! | `GET /health/liveliness`, `GET /health/readiness` | health (no auth) |
//! | `GET /metrics` | Prometheus counters (no auth) |
//!
//! Responses carry `x-request-id`, `x-llm-deployment` (`x-litellm-model-id`), `x-llm-cost-usd`
//! (`x-litellm-response-cost`) and `x-llm-overhead-ms`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use llm_gateway::{Gateway, GatewayOptions, config::GatewayConfig};
//! let config = GatewayConfig::load("config.yaml".as_ref(), &|k| std::env::var(k).ok())?;
//! let gateway = Gateway::new(&config, GatewayOptions::default()).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! gateway.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod app;
pub mod config;
mod messages;
mod metrics;
mod providers;
pub mod spend;

pub use app::{DEFAULT_SPEND_DB, Gateway, GatewayError, GatewayOptions, SharedEnv};
