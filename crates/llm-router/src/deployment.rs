//! A deployment: one upstream service that can serve a model group.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use llm_core::BoxLlmService;

/// One upstream that serves a public model name: a service plus the knobs the router balances
/// and limits it with.
///
/// ```
/// use std::time::Duration;
/// use llm_core::{BoxLlmService, ChatResponse, LlmError, LlmRequest, LlmResponse};
/// use llm_router::Deployment;
///
/// let svc = BoxLlmService::new(tower::service_fn(|_req: LlmRequest| async {
///     Err::<LlmResponse, _>(LlmError::internal("not wired"))
/// }));
/// let d = Deployment::new("azure-eu", "azure/gpt-4o", svc)
///     .with_weight(2.0)
///     .with_rpm(600)
///     .with_timeout(Duration::from_secs(30));
/// assert_eq!(d.id(), "azure-eu");
/// assert_eq!(d.model(), "azure/gpt-4o");
/// ```
#[derive(Clone)]
pub struct Deployment {
    pub(crate) id: Arc<str>,
    pub(crate) model: Arc<str>,
    pub(crate) service: BoxLlmService,
    pub(crate) weight: Option<f64>,
    pub(crate) order: u32,
    pub(crate) rpm: Option<u32>,
    pub(crate) rpm_burst: Option<u32>,
    pub(crate) tpm: Option<u64>,
    pub(crate) max_parallel_requests: Option<u32>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stream_timeout: Option<Duration>,
    pub(crate) tags: Vec<String>,
    pub(crate) input_cost_per_token: Option<f64>,
    pub(crate) output_cost_per_token: Option<f64>,
}

impl Deployment {
    /// A deployment named `id` that sends requests to `service` with the model set to `model`.
    pub fn new(id: impl Into<Arc<str>>, model: impl Into<Arc<str>>, service: BoxLlmService) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            service,
            weight: None,
            order: 1,
            rpm: None,
            rpm_burst: None,
            tpm: None,
            max_parallel_requests: None,
            timeout: None,
            stream_timeout: None,
            tags: Vec::new(),
            input_cost_per_token: None,
            output_cost_per_token: None,
        }
    }

    /// Relative share of traffic for the `simple-shuffle` strategy (negative or NaN counts as 0).
    pub fn with_weight(mut self, weight: f64) -> Self {
        self.weight = Some(if weight.is_finite() && weight > 0.0 { weight } else { 0.0 });
        self
    }

    /// Priority tier: lower tiers are tried first; a higher number is used only when every
    /// deployment of every lower number is unavailable. Defaults to 1, like LiteLLM's `order`.
    pub fn with_order(mut self, order: u32) -> Self {
        self.order = order;
        self
    }

    /// Requests per minute this deployment may receive. No 60-second window ever holds more.
    pub fn with_rpm(mut self, rpm: u32) -> Self {
        self.rpm = (rpm > 0).then_some(rpm);
        self
    }

    /// How many of the minute's requests may go out back to back (default: a tenth of the rpm,
    /// at least 1). The sustained rate is lowered by the burst so that the rpm bound still
    /// holds over every 60-second window.
    pub fn with_rpm_burst(mut self, burst: u32) -> Self {
        self.rpm_burst = Some(burst.max(1));
        self
    }

    /// Tokens per minute, counted from the usage responses report.
    pub fn with_tpm(mut self, tpm: u64) -> Self {
        self.tpm = (tpm > 0).then_some(tpm);
        self
    }

    /// Requests this deployment may have in flight at once.
    pub fn with_max_parallel_requests(mut self, max: u32) -> Self {
        self.max_parallel_requests = Some(max.max(1));
        self
    }

    /// Time limit of one complete (non-streamed) call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Time limit until a stream's first chunk.
    pub fn with_stream_timeout(mut self, timeout: Duration) -> Self {
        self.stream_timeout = Some(timeout);
        self
    }

    /// Adds a tag. A request carrying tags prefers the deployments sharing one of them.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Prices per input and output token in US dollars (used by `cost-based-routing`; wins over
    /// the router's [`CostSource`](crate::CostSource)).
    pub fn with_cost_per_token(mut self, input: f64, output: f64) -> Self {
        self.input_cost_per_token = Some(input);
        self.output_cost_per_token = Some(output);
        self
    }

    /// The deployment id, reported in [`ResponseMetadata`](llm_core::ResponseMetadata).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The upstream model name put into each request.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// The priority tier.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// The configured weight, if any.
    pub fn weight(&self) -> Option<f64> {
        self.weight
    }

    /// The requests-per-minute limit, if any.
    pub fn rpm(&self) -> Option<u32> {
        self.rpm
    }

    /// The tokens-per-minute limit, if any.
    pub fn tpm(&self) -> Option<u64> {
        self.tpm
    }
}

impl fmt::Debug for Deployment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployment")
            .field("id", &self.id)
            .field("model", &self.model)
            .field("weight", &self.weight)
            .field("order", &self.order)
            .field("rpm", &self.rpm)
            .field("tpm", &self.tpm)
            .field("max_parallel_requests", &self.max_parallel_requests)
            .field("timeout", &self.timeout)
            .field("stream_timeout", &self.stream_timeout)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}
