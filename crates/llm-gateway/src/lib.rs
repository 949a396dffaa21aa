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
//! | `POST /key/generate`, `/key/update`, `/key/delete`, `/key/regenerate`, `/key/block`, `/key/unblock`; `GET /key/info`, `/key/list` | virtual keys (master key only) |
//! | `POST /team/new`, `/team/update`, `/team/delete`; `GET /team/info`, `/team/list`; `POST /user/new`; `GET /user/info` | teams and users (master key only) |
//! | `GET /health/liveliness`, `GET /health/readiness` | health (no auth) |
//! | `GET /metrics` | Prometheus counters (no auth) |
//!
//! Access control: with `general_settings.master_key` set, callers present the master key or a
//! virtual key. Keys are stored only as SHA-256 hashes (with teams and users, in the spend
//! database: SQLite or PostgreSQL). Every LLM call checks the key (401), its and its team's
//! models (403), key/user/team budgets reserved before the call with `llm-cost`'s `BudgetLayer`
//! (400 `budget_exceeded`) and rpm/tpm/parallel limits per key and team (429 + `retry-after`);
//! refusals are counted in `llm_gateway_refusals_total{reason}`, as are calls past
//! `general_settings.global_max_parallel_requests` (429 `global_parallel_limit`, at once). With `general_settings.redis_url`
//! (or LiteLLM's `router_settings.redis_host`/`redis_port`/`redis_password`), requests per minute,
//! budgets and router cooldowns are shared by every replica through atomic Redis scripts. When
//! Redis cannot be reached each gateway falls back to its own state
//! (`llm_gateway_redis_fallback_total`, `llm_gateway_redis_errors_total`,
//! `llm_gateway_shared_limits 0`) and requests stop calling Redis until a background probe sees
//! it answer again; a Redis that is down at start is retried in the background. Scripts are sent
//! by SHA, and every Redis key starts with `general_settings.redis_key_prefix` (default
//! `llm-gateway:`), so separate fleets can share one Redis.
//! Budgets of keys, teams and users made or changed on another replica apply here within the
//! key cache's 5 s; spend is read back from the spend log at start and when a budget is first
//! seen, so a restart forgets none. `budget_duration` windows (`30d`) run from the record's
//! creation; `expires` takes Unix seconds, an ISO 8601 datetime, or `null`.
//! With `litellm_settings.cache: true` and `cache_params: {type: redis, host, port, password}`
//! (or the gateway's Redis URL), cached answers sit in memory in front of Redis, shared by every
//! replica; `type: local` (the default) keeps them in memory only.
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
mod idle_thread;
mod keys;
mod messages;
mod metrics;
mod providers;
pub mod spend;

pub use app::{DEFAULT_SPEND_DB, Gateway, GatewayError, GatewayOptions, SharedEnv};
