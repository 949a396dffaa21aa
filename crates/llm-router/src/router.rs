//! The [`Router`] service and its builder.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use llm_core::{
    Attempt, ChatStream, ErrorKind, LlmError, LlmRequest, LlmResponse, MessageContent, Operation,
    ResponseBody, ResponseMetadata,
};
use smallvec::SmallVec;
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use crate::clock::TokioClock;
use crate::config::{RouterSettings, secs};
use crate::cooldown::{CooldownPolicy, CooldownStore, InMemoryCooldownStore};
use crate::deployment::Deployment;
use crate::error::RouterError;
use crate::fallback::Fallbacks;
use crate::hedge::{HedgePlan, LatencySamples};
use crate::retry::{RetryBudget, RetryRules};
use crate::rng::SharedRng;
use crate::state::{DeploymentState, Lease};
use crate::strategy::{self, CostSource, PickInput, RoutingStrategy};
use crate::stream::{FailureSink, Head, RoutedStream, peek};

/// The future returned by [`Router`].
pub type RouterFuture = Pin<Box<dyn Future<Output = Result<LlmResponse, LlmError>> + Send + 'static>>;

/// A tower service that sends each request to a deployment of the requested model group, with
/// load balancing, rate limits, retries, fallbacks, cooldowns and optional hedging.
///
/// Cloning is cheap: clones share deployments, counters and cooldowns.
///
/// ```
/// use llm_core::{BoxLlmService, ChatMessage, ChatRequest, ChatResponse, LlmRequest, LlmResponse};
/// use llm_router::{Deployment, Router};
/// use tower::ServiceExt;
///
/// # fn answer(model: &str) -> ChatResponse {
/// #     serde_json::from_value(serde_json::json!({"id": "1", "model": model, "choices": []})).unwrap()
/// # }
/// let echo_model = BoxLlmService::new(tower::service_fn(|req: LlmRequest| async move {
///     Ok::<_, llm_core::LlmError>(LlmResponse::chat(answer(req.operation.model())))
/// }));
/// let router = Router::builder()
///     .deployment("fast", Deployment::new("mini-1", "openai/gpt-4o-mini", echo_model))
///     .build()
///     .unwrap();
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let req = LlmRequest::chat(ChatRequest::new("fast", vec![ChatMessage::user("Hi")]));
/// let resp = router.oneshot(req).await.unwrap();
/// assert_eq!(resp.metadata.deployment_id.as_deref(), Some("mini-1"));
/// assert_eq!(resp.into_chat().unwrap().model, "openai/gpt-4o-mini");
/// # });
/// ```
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

/// Live figures of one deployment, for metrics and health pages.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentStatus {
    /// The deployment id.
    pub id: Arc<str>,
    /// Requests in flight (streams count until they end).
    pub in_flight: u32,
    /// Time left in cooldown, when cooling down.
    pub cooldown_remaining: Option<Duration>,
    /// Smoothed latency of complete calls, once measured.
    pub latency: Option<Duration>,
    /// Smoothed time to first chunk of streams, once measured.
    pub time_to_first_token: Option<Duration>,
    /// Requests and tokens counted in the current minute.
    pub minute_usage: (u64, u64),
}

struct Group {
    name: Arc<str>,
    deployments: Vec<Deployment>,
    states: Vec<Arc<DeploymentState>>,
    tiers: Vec<Range<usize>>,
    strategy: RoutingStrategy,
    has_tpm: bool,
    any_tags: bool,
    samples: LatencySamples,
}

struct Inner {
    groups: HashMap<Arc<str>, Group>,
    known_models: String,
    fallbacks: Fallbacks,
    retry: RetryRules,
    cooldown_policy: CooldownPolicy,
    cooldowns: Option<Arc<dyn CooldownStore>>,
    timeout: Option<Duration>,
    stream_timeout: Option<Duration>,
    hedge: Option<HedgePlan>,
    rng: SharedRng,
    cost: Option<Arc<dyn CostSource>>,
    latency_buffer: f64,
    ewma_alpha: f64,
    clock: TokioClock,
}

/// Builds a [`Router`]: settings, deployments per model group, and the pluggable parts.
#[derive(Default)]
pub struct RouterBuilder {
    settings: RouterSettings,
    groups: BTreeMap<String, Vec<Deployment>>,
    strategies: HashMap<String, RoutingStrategy>,
    cooldowns: Option<Arc<dyn CooldownStore>>,
    cost: Option<Arc<dyn CostSource>>,
    seed: Option<u64>,
}

impl fmt::Debug for RouterBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("settings", &self.settings)
            .field("groups", &self.groups)
            .field("strategies", &self.strategies)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl RouterBuilder {
    /// Replaces the settings.
    pub fn settings(mut self, settings: RouterSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Adds `deployment` to the model group `model` (the public model name callers ask for).
    pub fn deployment(mut self, model: impl Into<String>, deployment: Deployment) -> Self {
        self.groups.entry(model.into()).or_default().push(deployment);
        self
    }

    /// Gives the group `model` its own strategy instead of `routing_strategy`.
    pub fn group_strategy(mut self, model: impl Into<String>, strategy: RoutingStrategy) -> Self {
        self.strategies.insert(model.into(), strategy);
        self
    }

    /// Where cooldowns are kept (default: an [`InMemoryCooldownStore`]).
    pub fn cooldown_store(mut self, store: Arc<dyn CooldownStore>) -> Self {
        self.cooldowns = Some(store);
        self
    }

    /// Where `cost-based-routing` finds prices.
    pub fn cost_source(mut self, source: Arc<dyn CostSource>) -> Self {
        self.cost = Some(source);
        self
    }

    /// Seeds the router's random choices (deployment picks, jitter) for reproducible runs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Builds the router. Fails when a group has two deployments with the same id.
    pub fn build(self) -> Result<Router, RouterError> {
        let s = self.settings;
        let clock = TokioClock::new(Instant::now());
        let mut groups = HashMap::with_capacity(self.groups.len());
        for (name, mut deployments) in self.groups {
            let mut ids = std::collections::HashSet::new();
            for d in &deployments {
                if !ids.insert(d.id.clone()) {
                    return Err(RouterError::DuplicateDeployment { group: name, id: d.id.to_string() });
                }
            }
            deployments.sort_by_key(|d| d.order);
            let mut tiers: Vec<Range<usize>> = Vec::new();
            for (i, d) in deployments.iter().enumerate() {
                match tiers.last_mut() {
                    Some(t) if deployments[t.start].order == d.order => t.end = i + 1,
                    _ => tiers.push(i..i + 1),
                }
            }
            let states = deployments.iter().map(|d| Arc::new(DeploymentState::new(d, clock))).collect();
            let strategy = self.strategies.get(&name).copied().unwrap_or(s.routing_strategy);
            let name: Arc<str> = Arc::from(name);
            let group = Group {
                name: name.clone(),
                has_tpm: deployments.iter().any(|d| d.tpm.is_some()),
                any_tags: deployments.iter().any(|d| !d.tags.is_empty()),
                deployments,
                states,
                tiers,
                strategy,
                samples: LatencySamples::default(),
            };
            groups.insert(name, group);
        }
        let mut names: Vec<&str> = groups.keys().map(|k| &**k).collect();
        names.sort_unstable();
        let known_models = names.join(", ");
        let fallbacks = Fallbacks::new(&s);
        let cooldowns = if s.disable_cooldowns {
            None
        } else {
            Some(self.cooldowns.unwrap_or_else(|| Arc::new(InMemoryCooldownStore::new())))
        };
        let args = s.routing_strategy_args;
        let inner = Inner {
            groups,
            known_models,
            fallbacks,
            retry: RetryRules::new(&s),
            cooldown_policy: CooldownPolicy {
                allowed_fails: s.allowed_fails,
                window: secs(s.allowed_fails_window),
                cooldown_time: secs(s.cooldown_time),
            },
            cooldowns,
            timeout: s.timeout.map(secs).filter(|d| !d.is_zero()),
            stream_timeout: s.stream_timeout.map(secs).filter(|d| !d.is_zero()),
            hedge: s.hedging.as_ref().map(HedgePlan::new),
            rng: SharedRng::new(self.seed.unwrap_or_else(SharedRng::random_seed)),
            cost: self.cost,
            latency_buffer: if args.lowest_latency_buffer.is_finite() {
                args.lowest_latency_buffer.max(0.0)
            } else {
                0.0
            },
            ewma_alpha: if args.ewma_alpha > 0.0 && args.ewma_alpha <= 1.0 { args.ewma_alpha } else { 0.2 },
            clock,
        };
        Ok(Router { inner: Arc::new(inner) })
    }
}

impl Router {
    /// A builder with default settings and no deployments.
    pub fn builder() -> RouterBuilder {
        RouterBuilder::default()
    }

    /// The public model names, sorted.
    pub fn model_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.inner.groups.keys().map(|k| &**k).collect();
        names.sort_unstable();
        names
    }

    /// Live figures of every deployment of `model`, in priority order; `None` for an unknown model.
    pub fn status(&self, model: &str) -> Option<Vec<DeploymentStatus>> {
        let group = self.inner.groups.get(model)?;
        let nanos = |n: f64| (n > 0.0).then(|| Duration::from_nanos(n as u64));
        Some(
            group
                .deployments
                .iter()
                .zip(&group.states)
                .map(|(d, s)| DeploymentStatus {
                    id: d.id.clone(),
                    in_flight: s.in_flight(),
                    cooldown_remaining: self
                        .inner
                        .cooldowns
                        .as_ref()
                        .and_then(|c| c.cooldown_remaining(&d.id)),
                    latency: nanos(s.latency_ewma()),
                    time_to_first_token: nanos(s.ttft_ewma()),
                    minute_usage: s.minute_usage(self.inner.clock.since_epoch()),
                })
                .collect(),
        )
    }

    /// Picks a deployment of `model` and releases it at once, as a request would without the
    /// call: the routing overhead the benchmark measures. Returns the chosen deployment's id.
    #[doc(hidden)]
    pub fn pick_for_bench(&self, model: &str) -> Result<Arc<str>, LlmError> {
        let group = self.inner.group(model)?;
        let lease = self.inner.select(group, &[], &[], &[], 0, false)?;
        let id = group.deployments[lease.index].id.clone();
        let mut lease = lease;
        lease.settle(0);
        group.states[lease.index].observe_latency(Duration::from_millis(1), self.inner.ewma_alpha);
        Ok(id)
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups: Vec<(&str, Vec<&str>)> = self
            .inner
            .groups
            .values()
            .map(|g| (&*g.name, g.deployments.iter().map(|d| &*d.id).collect()))
            .collect();
        groups.sort_unstable();
        f.debug_struct("Router").field("groups", &groups).finish_non_exhaustive()
    }
}

impl Service<LlmRequest> for Router {
    type Response = LlmResponse;
    type Error = LlmError;
    type Future = RouterFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), LlmError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: LlmRequest) -> RouterFuture {
        let inner = self.inner.clone();
        Box::pin(async move { inner.route(req).await })
    }
}

/// What one call to a deployment produced.
struct Outcome {
    index: usize,
    result: Result<LlmResponse, LlmError>,
    latency: Duration,
    /// The call was cut short by the request's deadline, not by the deployment's own limit.
    deadline_bound: bool,
}

/// A deployment's answer before the router wraps it.
#[allow(clippy::large_enum_variant)] // a local of one call, never stored: boxing the head costs more
enum Answer {
    Complete(LlmResponse),
    Stream { head: Option<llm_core::ChatChunk>, rest: ChatStream, metadata: ResponseMetadata },
}

impl Inner {
    fn group(&self, model: &str) -> Result<&Group, LlmError> {
        self.groups.get(model).ok_or_else(|| {
            LlmError::new(
                ErrorKind::NotFound,
                format!("model `{model}` not found; known models: {}", self.known_models),
            )
        })
    }

    async fn route(&self, req: LlmRequest) -> Result<LlmResponse, LlmError> {
        let started = Instant::now();
        let first = self.group(req.operation.model())?;
        let deadline = req.context.deadline;
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut queue: SmallVec<[(&Group, u32); 4]> = SmallVec::new();
        queue.push((first, 0));
        let mut next = 0;
        let mut last_error = None;
        while let Some(&(group, depth)) = queue.get(next) {
            next += 1;
            match self.run_group(group, &req, &mut attempts, deadline).await {
                Ok((mut resp, index)) => {
                    let m = &mut resp.metadata;
                    m.deployment_id = Some(group.deployments[index].id.to_string());
                    m.attempts = attempts;
                    m.latency.get_or_insert(started.elapsed());
                    return Ok(resp);
                }
                Err(e) => {
                    if depth < self.fallbacks.max_depth {
                        for name in self.fallbacks.for_failure(&group.name, e.kind()) {
                            match self.groups.get(name) {
                                Some(g) if !queue.iter().any(|(q, _)| std::ptr::eq(*q, g)) => {
                                    queue.push((g, depth + 1))
                                }
                                Some(_) => {}
                                None => {
                                    tracing::warn!(fallback = %name, "fallback names an unknown model group")
                                }
                            }
                        }
                    }
                    tracing::debug!(group = %group.name, error = %e, "model group failed");
                    last_error = Some(e);
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| LlmError::internal("router tried no model group")))
    }

    /// Tries `group` with retries; returns the response and the index of the deployment.
    async fn run_group(
        &self,
        group: &Group,
        req: &LlmRequest,
        attempts: &mut Vec<Attempt>,
        deadline: Option<Instant>,
    ) -> Result<(LlmResponse, usize), LlmError> {
        let estimate = if group.has_tpm { estimate_tokens(&req.operation) } else { 0 };
        let stream = req.operation.is_stream();
        let mut budget = RetryBudget::default();
        let mut tried: SmallVec<[usize; 4]> = SmallVec::new();
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(LlmError::new(ErrorKind::Timeout, "the request's deadline passed"));
            }
            let result = match self.select(group, &req.context.tags, &tried, &[], estimate, stream) {
                Ok(lease) => self.attempt(group, lease, req, attempts, &mut tried, deadline, estimate).await,
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(ok) => return Ok(ok),
                Err(e) => e,
            };
            match self.retry.next_wait(err.kind(), &mut budget, deadline, &self.rng) {
                Some(wait) => {
                    tracing::debug!(group = %group.name, error = %err, ?wait, "retrying");
                    tokio::time::sleep(wait).await;
                }
                None => return Err(err),
            }
        }
    }

    /// One attempt on `lease`'s deployment, hedged when configured.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        group: &Group,
        lease: Lease,
        req: &LlmRequest,
        attempts: &mut Vec<Attempt>,
        tried: &mut SmallVec<[usize; 4]>,
        deadline: Option<Instant>,
        estimate: u64,
    ) -> Result<(LlmResponse, usize), LlmError> {
        let first = lease.index;
        tried.push(first);
        let plan = match self.hedge {
            Some(plan) if group.deployments.len() > 1 => plan,
            _ => return self.conclude(group, self.dispatch(group, lease, req, deadline).await, attempts),
        };
        // Hedging holds two calls at once: boxed, so requests that do not hedge keep a small future.
        Box::pin(self.hedged(group, lease, plan, req, attempts, tried, deadline, estimate)).await
    }

    /// An attempt hedged by `plan`: a second deployment is tried when the first is slow.
    #[allow(clippy::too_many_arguments)]
    async fn hedged(
        &self,
        group: &Group,
        lease: Lease,
        plan: HedgePlan,
        req: &LlmRequest,
        attempts: &mut Vec<Attempt>,
        tried: &mut SmallVec<[usize; 4]>,
        deadline: Option<Instant>,
        estimate: u64,
    ) -> Result<(LlmResponse, usize), LlmError> {
        let first = lease.index;
        let primary_started = Instant::now();
        let primary = self.dispatch(group, lease, req, deadline);
        tokio::pin!(primary);
        tokio::select! {
            biased;
            out = &mut primary => return self.conclude(group, out, attempts),
            () = tokio::time::sleep(plan.delay(&group.samples)) => {}
        }
        let stream = req.operation.is_stream();
        let Ok(hedge_lease) = self.select(group, &req.context.tags, tried, &[first], estimate, stream) else {
            return self.conclude(group, primary.await, attempts);
        };
        let second = hedge_lease.index;
        tried.push(second);
        let hedge_started = Instant::now();
        let secondary = self.dispatch(group, hedge_lease, req, deadline);
        tokio::pin!(secondary);
        tracing::debug!(group = %group.name, "hedging");
        tokio::select! {
            biased;
            out = &mut primary => {
                if out.result.is_ok() {
                    let won = self.conclude(group, out, attempts);
                    self.record_cancelled(group, second, hedge_started, attempts);
                    return won;
                }
                let _ = self.conclude(group, out, attempts);
                self.conclude(group, secondary.await, attempts)
            }
            out = &mut secondary => {
                if out.result.is_ok() {
                    self.record_cancelled(group, first, primary_started, attempts);
                    return self.conclude(group, out, attempts);
                }
                let _ = self.conclude(group, out, attempts);
                self.conclude(group, primary.await, attempts)
            }
        }
    }

    fn record_cancelled(&self, group: &Group, index: usize, started: Instant, attempts: &mut Vec<Attempt>) {
        attempts.push(Attempt {
            deployment: group.deployments[index].id.to_string(),
            error: Some(ErrorKind::Cancelled),
            latency: started.elapsed(),
        });
    }

    /// Records an outcome in the attempts and cooldowns, and returns its result.
    fn conclude(
        &self,
        group: &Group,
        out: Outcome,
        attempts: &mut Vec<Attempt>,
    ) -> Result<(LlmResponse, usize), LlmError> {
        let d = &group.deployments[out.index];
        attempts.push(Attempt {
            deployment: d.id.to_string(),
            error: out.result.as_ref().err().map(|e| e.kind().clone()),
            latency: out.latency,
        });
        match out.result {
            Ok(resp) => Ok((resp, out.index)),
            Err(e) => {
                if !out.deadline_bound {
                    self.count_failure(group, d, e.kind());
                }
                Err(e)
            }
        }
    }

    fn count_failure(&self, group: &Group, d: &Deployment, kind: &ErrorKind) {
        let Some(store) = &self.cooldowns else { return };
        if group.deployments.len() < 2 {
            return;
        }
        let immediate =
            matches!(kind, ErrorKind::Authentication | ErrorKind::NotFound | ErrorKind::RateLimited { .. });
        let counts = immediate
            || kind.is_retryable()
            || matches!(kind, ErrorKind::Decode | ErrorKind::Internal | ErrorKind::PermissionDenied);
        if counts {
            store.record_failure(&d.id, immediate, &self.cooldown_policy);
        }
    }

    /// Calls the deployment of `lease` with a copy of the request addressed to it.
    async fn dispatch(
        &self,
        group: &Group,
        mut lease: Lease,
        req: &LlmRequest,
        deadline: Option<Instant>,
    ) -> Outcome {
        let index = lease.index;
        let d = &group.deployments[index];
        let started = Instant::now();
        let mut request = req.clone();
        request.operation.set_model(&*d.model);
        let stream = request.operation.is_stream();
        let own_limit = if stream {
            d.stream_timeout.or(self.stream_timeout).or(d.timeout).or(self.timeout)
        } else {
            d.timeout.or(self.timeout)
        };
        let remaining = deadline.map(|dl| dl.saturating_duration_since(started));
        let (limit, deadline_bound) = match (own_limit, remaining) {
            (Some(own), Some(left)) if left < own => (Some(left), true),
            (None, Some(left)) => (Some(left), true),
            (own, _) => (own, false),
        };
        let call = async {
            let LlmResponse { body, metadata } = d.service.clone().oneshot(request).await?;
            match body {
                ResponseBody::ChatStream(mut rest) => match peek(&mut rest).await {
                    Head::Chunk(chunk) => Ok(Answer::Stream { head: Some(chunk), rest, metadata }),
                    Head::Empty => Ok(Answer::Stream { head: None, rest, metadata }),
                    Head::Failed(e) => Err(e),
                },
                body => Ok(Answer::Complete(LlmResponse { body, metadata })),
            }
        };
        // One pinned call awaited on either path keeps this future (boxed per request) small.
        tokio::pin!(call);
        let answer = match limit {
            Some(limit) => tokio::select! {
                biased;
                answer = &mut call => answer,
                () = tokio::time::sleep(limit) => Err(LlmError::new(
                    ErrorKind::Timeout,
                    format!("deployment `{}` did not answer within {limit:?}", d.id),
                )),
            },
            None => call.await,
        };
        let latency = started.elapsed();
        let state = &group.states[index];
        let result = match answer {
            Ok(Answer::Complete(resp)) => {
                let used = match &resp.body {
                    ResponseBody::Chat(r) => r.usage.as_ref().map(|u| u.total_tokens),
                    ResponseBody::Embedding(r) => Some(r.usage.total_tokens),
                    _ => None,
                };
                if let Some(used) = used {
                    lease.settle(used);
                }
                state.observe_latency(latency, self.ewma_alpha);
                if self.hedge.is_some_and(|h| h.adaptive()) {
                    group.samples.record(latency);
                }
                Ok(resp)
            }
            Ok(Answer::Stream { head, rest, mut metadata }) => {
                state.observe_ttft(latency, self.ewma_alpha);
                if self.hedge.is_some_and(|h| h.adaptive()) {
                    group.samples.record(latency);
                }
                metadata.time_to_first_token.get_or_insert(latency);
                let idle = d.stream_timeout.or(self.stream_timeout);
                let failures = self.cooldowns.as_ref().filter(|_| group.deployments.len() > 1).map(|store| {
                    FailureSink {
                        store: store.clone(),
                        deployment: d.id.clone(),
                        policy: self.cooldown_policy,
                    }
                });
                let stream = RoutedStream::new(head, rest, lease, idle, failures);
                let body = ResponseBody::ChatStream(Box::pin(stream));
                Ok(LlmResponse { body, metadata })
            }
            Err(e) => {
                if matches!(e.kind(), ErrorKind::Timeout) {
                    // A timeout is the slowest answer there is: let latency routing see it.
                    if stream {
                        state.observe_ttft(latency, self.ewma_alpha);
                    } else {
                        state.observe_latency(latency, self.ewma_alpha);
                    }
                }
                Err(e)
            }
        };
        Outcome {
            index,
            result,
            latency,
            deadline_bound: deadline_bound && latency >= limit.unwrap_or_default(),
        }
    }

    /// Picks and claims a deployment of `group`: the best tier with an available deployment,
    /// then the group's strategy among that tier's available deployments. Deployments in `soft`
    /// (already tried by this request) are avoided while others are available; those in `hard`
    /// are never chosen.
    fn select(
        &self,
        group: &Group,
        tags: &[String],
        soft: &[usize],
        hard: &[usize],
        estimate: u64,
        stream: bool,
    ) -> Result<Lease, LlmError> {
        let now = self.clock.since_epoch();
        let cooldowns =
            self.cooldowns.as_deref().filter(|c| group.deployments.len() > 1 && c.any_cooling_down());
        let tag_filter =
            !tags.is_empty() && group.any_tags && group.deployments.iter().any(|d| shares_tag(d, tags));
        let mut denied: SmallVec<[usize; 8]> = hard.iter().copied().collect();
        let mut wait: Option<Duration> = None;
        let mut note = |w: Duration| wait = Some(wait.map_or(w, |old| old.min(w)));
        for tier in &group.tiers {
            loop {
                let mut candidates: SmallVec<[usize; 16]> = SmallVec::new();
                for i in tier.clone() {
                    if denied.contains(&i) {
                        continue;
                    }
                    let d = &group.deployments[i];
                    if tag_filter && !shares_tag(d, tags) {
                        continue;
                    }
                    if let Some(left) = cooldowns.and_then(|c| c.cooldown_remaining(&d.id)) {
                        note(left);
                        continue;
                    }
                    let s = &group.states[i];
                    if d.max_parallel_requests.is_some_and(|m| s.in_flight() >= m) {
                        continue;
                    }
                    if let Some(tpm) = d.tpm {
                        let (_, used) = s.minute_usage(now);
                        if used > 0 && used.saturating_add(estimate) > tpm {
                            note(DeploymentState::until_next_minute(now));
                            continue;
                        }
                    }
                    candidates.push(i);
                }
                if candidates.is_empty() {
                    break;
                }
                if candidates.iter().any(|c| !soft.contains(c)) {
                    candidates.retain(|c| !soft.contains(c));
                }
                let input = PickInput {
                    deployments: &group.deployments,
                    states: &group.states,
                    candidates: &candidates,
                    rng: &self.rng,
                    stream,
                    cost: self.cost.as_deref(),
                    latency_buffer: self.latency_buffer,
                    now,
                };
                let i = strategy::pick(group.strategy, &input);
                let s = &group.states[i];
                if !s.try_acquire_slot(group.deployments[i].max_parallel_requests) {
                    denied.push(i);
                    continue;
                }
                if let Err(after) = s.take_rpm() {
                    s.in_flight.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
                    note(after);
                    denied.push(i);
                    continue;
                }
                return Ok(Lease::new(i, s.clone(), estimate, now));
            }
        }
        Err(LlmError::new(
            ErrorKind::RateLimited { retry_after: wait },
            format!(
                "no deployment of model group `{}` is available: all are cooling down or at their limits",
                group.name
            ),
        ))
    }
}

fn shares_tag(d: &Deployment, tags: &[String]) -> bool {
    d.tags.iter().any(|t| tags.contains(t))
}

/// A rough token count of the input, for tpm reservations: about four bytes of text per token.
fn estimate_tokens(op: &Operation) -> u64 {
    let bytes: usize = match op {
        Operation::Chat(r) => r
            .messages
            .iter()
            .map(|m| {
                4 + match &m.content {
                    Some(MessageContent::Text(t)) => t.len(),
                    Some(MessageContent::Parts(parts)) => parts
                        .iter()
                        .map(|p| match p {
                            llm_core::ContentPart::Text(t) => t.text.len(),
                            _ => 256,
                        })
                        .sum(),
                    None => 0,
                }
            })
            .sum(),
        Operation::Embedding(r) => match &r.input {
            llm_core::EmbeddingInput::Text(t) => t.len(),
            llm_core::EmbeddingInput::Texts(v) => v.iter().map(String::len).sum(),
            llm_core::EmbeddingInput::Tokens(v) => v.len() * 4,
            llm_core::EmbeddingInput::TokenBatches(v) => v.iter().map(Vec::len).sum::<usize>() * 4,
        },
        _ => 0,
    };
    (bytes as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    /// The routing future is boxed (and so copied) once per request: it must stay small. Hedging
    /// holds two calls and is boxed apart; it once doubled this to 14 KB.
    #[test]
    fn the_routing_future_stays_small() {
        let router = super::Router::builder().build().unwrap();
        let req = llm_core::LlmRequest::chat(llm_core::ChatRequest::new("m", vec![]));
        let inner = router.inner.clone();
        let future = async move { inner.route(req).await };
        let size = std::mem::size_of_val(&future);
        assert!(size <= 8 * 1024, "the routing future is {size} bytes");
    }
}
