//! `llm-router`: a tower [`Router`] that serves public model names from groups of deployments.
//!
//! A *model group* is what callers ask for (`"gpt-4o"`); its *deployments* are the upstream
//! services that can answer (two Azure regions and OpenAI, say), each a
//! [`BoxLlmService`](llm_core::BoxLlmService) with its own model name, weight, priority tier,
//! limits and timeouts. For each request the router:
//!
//! 1. finds the group (unknown names get [`ErrorKind::NotFound`](llm_core::ErrorKind) listing the
//!    known ones);
//! 2. picks a deployment with the group's [`RoutingStrategy`] among the available ones of the
//!    best priority tier — available means not cooling down, under its rpm (enforced with
//!    `governor`), tpm (counted from reported usage) and parallel-request limits;
//! 3. sends a copy of the request with the deployment's model, under its timeout and the
//!    request's deadline; streams are held until their first chunk, so a stream that fails
//!    at once is still retried;
//! 4. on failure, retries (per-kind budgets, exponential backoff with jitter, `retry_after`
//!    honoured, never past the deadline), preferring deployments not yet tried, then falls back
//!    to other model groups (generic, context-window and content-policy lists, `*` catch-all);
//! 5. optionally hedges: after a delay, the same request goes to a second deployment and the
//!    first answer wins;
//! 6. records every attempt in [`ResponseMetadata::attempts`](llm_core::ResponseMetadata) and the
//!    deployment that answered in `deployment_id`.
//!
//! Deployments that keep failing are taken out for a while ([`CooldownStore`]); settings are read
//! from [`RouterSettings`], whose field names follow LiteLLM's `router_settings`.
//!
//! ```
//! use llm_core::{BoxLlmService, ChatMessage, ChatRequest, ErrorKind, LlmError, LlmRequest, LlmResponse};
//! use llm_router::{Deployment, Router, RouterSettings};
//! use tower::ServiceExt;
//!
//! # fn answer() -> llm_core::ChatResponse {
//! #     serde_json::from_value(serde_json::json!({"id": "1", "model": "m", "choices": []})).unwrap()
//! # }
//! // "First a fast, cheap model; on failure an accurate one" — in configuration.
//! let settings: RouterSettings = serde_json::from_value(serde_json::json!({
//!     "fallbacks": [{"fast": ["accurate"]}],
//!     "num_retries": 0
//! })).unwrap();
//! let down = BoxLlmService::new(tower::service_fn(|_req: LlmRequest| async {
//!     Err::<LlmResponse, _>(LlmError::new(ErrorKind::ServiceUnavailable, "overloaded"))
//! }));
//! let up = BoxLlmService::new(tower::service_fn(|_req: LlmRequest| async {
//!     Ok::<_, LlmError>(LlmResponse::chat(answer()))
//! }));
//! let router = Router::builder()
//!     .settings(settings)
//!     .deployment("fast", Deployment::new("mini", "openai/gpt-4o-mini", down))
//!     .deployment("accurate", Deployment::new("big", "openai/gpt-4o", up))
//!     .build()
//!     .unwrap();
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let req = LlmRequest::chat(ChatRequest::new("fast", vec![ChatMessage::user("Hi")]));
//! let resp = router.oneshot(req).await.unwrap();
//! assert_eq!(resp.metadata.deployment_id.as_deref(), Some("big"));
//! assert_eq!(resp.metadata.attempts.len(), 2);
//! # });
//! ```
#![deny(missing_docs)]

mod clock;
mod config;
mod cooldown;
mod deployment;
mod error;
mod fallback;
mod hedge;
mod retry;
mod rng;
mod router;
mod state;
mod strategy;
mod stream;

pub use config::{FallbackList, HedgeSettings, RetryPolicy, RouterSettings, RoutingStrategyArgs};
pub use cooldown::{CooldownPolicy, CooldownStore, InMemoryCooldownStore};
pub use deployment::Deployment;
pub use error::RouterError;
pub use router::{DeploymentStatus, Router, RouterBuilder, RouterFuture};
pub use strategy::{CostSource, RoutingStrategy, TokenPrice};
