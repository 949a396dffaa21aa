//! Router settings, read with LiteLLM's `router_settings` field names.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::strategy::RoutingStrategy;

/// Fallback lists in LiteLLM's shape: a list of one-key maps, `[{"gpt-4o": ["claude-sonnet"]}]`.
/// The key `*` matches every model group.
pub type FallbackList = Vec<BTreeMap<String, Vec<String>>>;

/// Everything the router is configured with. Field names follow LiteLLM's `router_settings`;
/// fields this router does not know are ignored, so a whole LiteLLM block can be read.
///
/// ```
/// use llm_router::{RouterSettings, RoutingStrategy};
/// let s: RouterSettings = serde_json::from_value(serde_json::json!({
///     "routing_strategy": "least-busy",
///     "num_retries": 3,
///     "retry_policy": {"RateLimitErrorRetries": 5},
///     "fallbacks": [{"gpt-4o-mini": ["gpt-4o"]}],
///     "allowed_fails": 2,
///     "cooldown_time": 30,
///     "timeout": 60,
///     "redis_host": "ignored"
/// })).unwrap();
/// assert_eq!(s.routing_strategy, RoutingStrategy::LeastBusy);
/// assert_eq!(s.cooldown_time, 30.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouterSettings {
    /// The strategy of every group without its own.
    pub routing_strategy: RoutingStrategy,
    /// Strategy tuning.
    pub routing_strategy_args: RoutingStrategyArgs,
    /// Retries per request and model group for any retryable error kind without its own count.
    pub num_retries: u32,
    /// Retries per error kind.
    pub retry_policy: Option<RetryPolicy>,
    /// Minimum wait in seconds before a retry.
    pub retry_after: f64,
    /// First backoff in seconds; doubles per retry (with jitter) up to `retry_backoff_max`.
    pub retry_backoff_base: f64,
    /// Longest backoff in seconds. A longer `retry_after` from upstream is still honoured, up to
    /// five minutes; beyond that the request is not retried.
    pub retry_backoff_max: f64,
    /// Model groups to try when a group fails.
    pub fallbacks: FallbackList,
    /// Model groups to try when the prompt does not fit the context window.
    pub context_window_fallbacks: FallbackList,
    /// Model groups to try when the content policy refuses the request.
    pub content_policy_fallbacks: FallbackList,
    /// Fallbacks of every model group without its own (same as a `*` key).
    pub default_fallbacks: Vec<String>,
    /// How many fallback hops away from the requested model may be tried.
    pub max_fallbacks: u32,
    /// Failures of a deployment tolerated within `allowed_fails_window` before its cooldown.
    pub allowed_fails: u32,
    /// The window, in seconds, failures are counted in.
    pub allowed_fails_window: f64,
    /// How long, in seconds, a failing deployment stays out.
    pub cooldown_time: f64,
    /// Turns cooldowns off.
    pub disable_cooldowns: bool,
    /// Time limit in seconds of one call to a deployment without its own.
    pub timeout: Option<f64>,
    /// Time limit in seconds until a stream's first chunk, for deployments without their own.
    pub stream_timeout: Option<f64>,
    /// Hedged requests; off when absent.
    pub hedging: Option<HedgeSettings>,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            routing_strategy: RoutingStrategy::default(),
            routing_strategy_args: RoutingStrategyArgs::default(),
            num_retries: 2,
            retry_policy: None,
            retry_after: 0.0,
            retry_backoff_base: 0.5,
            retry_backoff_max: 8.0,
            fallbacks: Vec::new(),
            context_window_fallbacks: Vec::new(),
            content_policy_fallbacks: Vec::new(),
            default_fallbacks: Vec::new(),
            max_fallbacks: 5,
            allowed_fails: 3,
            allowed_fails_window: 60.0,
            cooldown_time: 5.0,
            disable_cooldowns: false,
            timeout: None,
            stream_timeout: None,
            hedging: None,
        }
    }
}

/// Strategy tuning (`routing_strategy_args`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoutingStrategyArgs {
    /// `latency-based-routing` picks at random among deployments within this fraction of the
    /// fastest (0.1 = up to 10% slower).
    pub lowest_latency_buffer: f64,
    /// Weight of the newest sample in the latency averages, in `(0, 1]`.
    pub ewma_alpha: f64,
}

impl Default for RoutingStrategyArgs {
    fn default() -> Self {
        Self { lowest_latency_buffer: 0.1, ewma_alpha: 0.2 }
    }
}

/// Retries per error kind, with LiteLLM's field names. A missing count falls back to
/// `num_retries`. Authentication, bad-request, context-window and content-policy errors are
/// never retried, whatever is set here.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    /// Accepted for compatibility; bad requests are never retried.
    #[serde(rename = "BadRequestErrorRetries")]
    pub bad_request: Option<u32>,
    /// Accepted for compatibility; authentication errors are never retried.
    #[serde(rename = "AuthenticationErrorRetries")]
    pub authentication: Option<u32>,
    /// Accepted for compatibility; content-policy errors are never retried.
    #[serde(rename = "ContentPolicyViolationErrorRetries")]
    pub content_policy: Option<u32>,
    /// Timeouts.
    #[serde(rename = "TimeoutErrorRetries")]
    pub timeout: Option<u32>,
    /// 429s, from upstream or from the router's own limits.
    #[serde(rename = "RateLimitErrorRetries")]
    pub rate_limit: Option<u32>,
    /// 5xx and 503/529 overloads.
    #[serde(rename = "InternalServerErrorRetries")]
    pub internal_server: Option<u32>,
    /// Connection failures (refused, reset, DNS).
    #[serde(rename = "APIConnectionErrorRetries")]
    pub api_connection: Option<u32>,
}

/// Hedged requests: when the first deployment has not answered after a delay, the same request
/// goes to a second one and the first answer wins; the other call is dropped (cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HedgeSettings {
    /// Seconds to wait before hedging (also used by `adaptive` until enough samples exist).
    pub delay: f64,
    /// Wait for the group's observed 95th-percentile latency instead of `delay`.
    pub adaptive: bool,
}

impl Default for HedgeSettings {
    fn default() -> Self {
        Self { delay: 1.0, adaptive: false }
    }
}

/// Seconds from a config value; negative, NaN or huge values are clamped.
pub(crate) fn secs(value: f64) -> Duration {
    if value.is_finite() && value > 0.0 { Duration::from_secs_f64(value.min(1e9)) } else { Duration::ZERO }
}
