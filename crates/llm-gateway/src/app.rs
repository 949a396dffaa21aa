//! The gateway: the service stack built from the configuration, and the HTTP application.

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router as HttpRouter;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use llm_core::{
    BoxLlmService, Caller, ChatRequest, ChatStream, EmbeddingRequest, ErrorKind, LlmError, LlmRequest,
    OpenAiError, OpenAiErrorBody, RequestContext, ResponseBody, ResponseMetadata, sse,
};
use llm_cost::{BudgetLayer, CostLayer, LookupHints, ModelPrice, PriceTable, SpendRecord, SpendSink};
use llm_router::{Deployment, Router};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

use crate::config::GatewayConfig;
use crate::keys::limits::Admission;
use crate::keys::{Access, KeyRecord, KeyStore, Refusal};
use crate::metrics::Metrics;
use crate::providers;
use crate::spend::{SpendError, SpendFilter, SpendStore};

/// Why a gateway could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A deployment could not be built.
    #[error("field `{field}`: {message}")]
    Deployment {
        /// The offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The router rejected the deployments or settings.
    #[error("router: {0}")]
    Router(#[from] llm_router::RouterError),
    /// The spend store could not be opened.
    #[error(transparent)]
    Spend(#[from] SpendError),
    /// The key store could not be opened.
    #[error("key store: {0}")]
    Keys(String),
}

/// Run-time options that are not in `config.yaml`.
#[derive(Clone)]
pub struct GatewayOptions {
    /// The spend database, overriding `general_settings.database_url` (`:memory:` in tests).
    pub spend_db: Option<String>,
    /// Environment lookup for providers' default keys (e.g. `OPENAI_API_KEY`).
    pub env: SharedEnv,
}

/// A shared environment lookup.
pub type SharedEnv = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl std::fmt::Debug for GatewayOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayOptions").field("spend_db", &self.spend_db).finish_non_exhaustive()
    }
}

impl Default for GatewayOptions {
    /// The process environment, the database from the configuration.
    fn default() -> Self {
        Self { spend_db: None, env: Arc::new(|name| std::env::var(name).ok()) }
    }
}

/// The default spend database file.
pub const DEFAULT_SPEND_DB: &str = "llm-gateway.db";

struct AppState {
    service: BoxLlmService,
    router: Router,
    models: Vec<String>,
    hints: HashMap<String, LookupHints>,
    master_key_hash: Option<[u8; 32]>,
    store: SpendStore,
    access: Arc<Access>,
    metrics: Arc<Metrics>,
    max_body: usize,
    keepalive: Duration,
    /// `general_settings.global_max_parallel_requests`: the slots and their number.
    global_limit: Option<(Arc<tokio::sync::Semaphore>, u32)>,
}

/// What a call holds until its response is done: its key's parallel-request slot and the
/// gateway's.
#[derive(Default)]
struct Held {
    _key: Option<Admission>,
    _gateway: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Held {
    fn is_empty(&self) -> bool {
        self._key.is_none() && self._gateway.is_none()
    }
}

/// The gateway: the routed, priced, cached service stack and its HTTP endpoints.
#[derive(Clone)]
pub struct Gateway {
    state: Arc<AppState>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("models", &self.state.models).finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds the gateway from `config`: opens the spend store (SQLite file, `:memory:`, or a
    /// `postgres://` URL) and starts its writer.
    pub async fn new(config: &GatewayConfig, options: GatewayOptions) -> Result<Self, GatewayError> {
        let db = options
            .spend_db
            .clone()
            .or_else(|| config.general_settings.database_url.clone())
            .unwrap_or_else(|| DEFAULT_SPEND_DB.to_owned());
        let store = SpendStore::open_url(&db).await?;
        let keys = KeyStore::open_url(&db).await.map_err(|e| GatewayError::Keys(e.to_string()))?;
        let mut access = Access::new(keys);
        // Rate limits, budgets and router cooldowns shared by replicas; while Redis is
        // unreachable (at start: until it connects) each falls back to this gateway's own.
        let mut cooldowns = None;
        if let Some(url) = &config.redis_url {
            let prefix = config.general_settings.redis_key_prefix.as_deref();
            let link = crate::keys::shared::RedisLink::open(url)
                .await
                .with_key_prefix(prefix.unwrap_or(crate::keys::shared::DEFAULT_KEY_PREFIX));
            let fallbacks = Arc::clone(&access.redis_fallbacks);
            access.budgets =
                Arc::new(crate::keys::shared_budget::SharedBudgets::new(link.clone(), fallbacks));
            cooldowns = Some(Arc::new(crate::keys::shared_cooldowns::SharedCooldowns::start(link.clone())));
            access.shared = Some(crate::keys::shared::SharedRpm::new(link));
        }
        let access = Arc::new(access);
        access.load_budgets().await.map_err(GatewayError::Keys)?;
        let table = PriceTable::builtin();
        let mut builder = Router::builder().settings(config.router_settings.clone());
        if let Some(store) = cooldowns {
            builder = builder.cooldown_store(store);
        }
        let mut per_group: HashMap<&str, usize> = HashMap::new();
        let mut base_models: HashMap<String, BTreeSet<Option<String>>> = HashMap::new();
        let drop_params = config.litellm_settings.drop_params;
        for (i, entry) in config.model_list.iter().enumerate() {
            let p = &entry.litellm_params;
            let up = providers::build(p, drop_params, &*options.env).map_err(|message| {
                GatewayError::Deployment { field: format!("model_list[{i}].litellm_params.model"), message }
            })?;
            let index = per_group.entry(&entry.model_name).or_default();
            let id = entry.model_info.id.clone().unwrap_or_else(|| format!("{}-{index}", entry.model_name));
            *index += 1;
            let mut d = Deployment::new(id, up.model, up.service);
            if let Some(v) = p.rpm {
                d = d.with_rpm(v);
            }
            if let Some(v) = p.tpm {
                d = d.with_tpm(v);
            }
            if let Some(v) = p.weight {
                d = d.with_weight(v);
            }
            if let Some(v) = p.order {
                d = d.with_order(v);
            }
            if let Some(v) = p.max_parallel_requests {
                d = d.with_max_parallel_requests(v);
            }
            if let Some(t) = p.timeout.filter(|t| t.is_finite() && *t > 0.0) {
                d = d.with_timeout(Duration::from_secs_f64(t));
            }
            if let Some(t) = p.stream_timeout.filter(|t| t.is_finite() && *t > 0.0) {
                d = d.with_stream_timeout(Duration::from_secs_f64(t));
            }
            for tag in &p.tags {
                d = d.with_tag(tag.clone());
            }
            if p.input_cost_per_token.is_some() || p.output_cost_per_token.is_some() {
                let (input, output) =
                    (p.input_cost_per_token.unwrap_or(0.0), p.output_cost_per_token.unwrap_or(0.0));
                d = d.with_cost_per_token(input, output);
                // Requests are priced by model group: the group's custom price wins over the table.
                table.set(
                    entry.model_name.clone(),
                    ModelPrice::new(up.provider.clone())
                        .with_rate("input_cost_per_token", input)
                        .with_rate("output_cost_per_token", output),
                );
            }
            base_models
                .entry(entry.model_name.clone())
                .or_default()
                .insert(entry.model_info.base_model.clone());
            builder = builder.deployment(entry.model_name.clone(), d);
        }
        let router = builder.build()?;
        // A group whose deployments all name one base model is priced as that model.
        let hints = base_models
            .into_iter()
            .filter_map(|(group, set)| match set.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(base)] => Some((group, LookupHints::base_model(base.clone()))),
                _ => None,
            })
            .collect();
        let inner = if config.litellm_settings.cache {
            let params = &config.litellm_settings.cache_params;
            let mut layer = cache_layer(params, config.redis_url.as_deref()).await;
            if let Some(ttl) = params.ttl.filter(|t| t.is_finite() && *t > 0.0) {
                layer = layer.with_ttl(Duration::from_secs_f64(ttl));
            }
            if let Some(ns) = &params.namespace {
                layer = layer.with_namespace(ns.clone());
            }
            BoxLlmService::new(layer.layer(router.clone()))
        } else {
            BoxLlmService::new(router.clone())
        };
        // Budgets of key, user and team are reserved before the call and settled after it.
        let budgets: Arc<dyn llm_cost::BudgetStore> = access.budgets.clone();
        let inner = BoxLlmService::new(BudgetLayer::with_shared_store(budgets, table.clone()).layer(inner));
        let metrics = Arc::new(Metrics::default());
        let sink = {
            let log = store.sink();
            let metrics = Arc::clone(&metrics);
            let access = Arc::clone(&access);
            move |r: SpendRecord| {
                metrics.observe(&r);
                if let Some(u) = &r.usage {
                    access.record_tokens(&r.caller, u.prompt_tokens.saturating_add(u.completion_tokens));
                }
                log.record(r);
            }
        };
        let service = BoxLlmService::new(CostLayer::new(table).with_sink(sink).layer(inner));
        let master_key_hash = config.general_settings.master_key.as_deref().map(sha256);
        if master_key_hash.is_none() {
            tracing::warn!("no general_settings.master_key: every caller is let in");
        }
        let models = router.model_names().into_iter().map(str::to_owned).collect();
        let state = AppState {
            service,
            router,
            models,
            hints,
            master_key_hash,
            store,
            access,
            metrics,
            max_body: config.max_request_bytes(),
            keepalive: config.stream_keepalive(),
            global_limit: config
                .general_settings
                .global_max_parallel_requests
                .filter(|n| *n > 0)
                .map(|n| (Arc::new(tokio::sync::Semaphore::new(n as usize)), n)),
        };
        Ok(Self { state: Arc::new(state) })
    }

    /// The model groups served.
    pub fn model_names(&self) -> &[String] {
        &self.state.models
    }

    /// The spend store.
    pub fn spend_store(&self) -> &SpendStore {
        &self.state.store
    }

    /// The HTTP application (every route, with and without `/v1`).
    pub fn http_router(&self) -> HttpRouter {
        let state = Arc::clone(&self.state);
        // Each API route is registered twice, with and without `/v1`, rather than nested under
        // `/v1`: a nested router rebuilds every request's URI without its prefix.
        let mut api = HttpRouter::new();
        for prefix in ["", "/v1"] {
            api = api
                .route(&format!("{prefix}/chat/completions"), post(chat))
                .route(&format!("{prefix}/embeddings"), post(embeddings))
                .route(&format!("{prefix}/models"), get(models))
                .route(&format!("{prefix}/messages"), post(messages));
        }
        let api = api.route_layer(middleware::from_fn_with_state(Arc::clone(&state), auth));
        let admin = crate::keys::admin::routes(Arc::clone(&state.access))
            .route("/spend/logs", get(spend_logs))
            .route("/spend/report", get(spend_report))
            .route_layer(middleware::from_fn(admin_only))
            .route_layer(middleware::from_fn_with_state(Arc::clone(&state), auth));
        HttpRouter::new()
            .merge(api)
            .merge(admin)
            .route("/health/liveliness", get(|| async { "I'm alive!" }))
            .route("/health/readiness", get(readiness))
            .route("/metrics", get(metrics))
            .fallback(|| async { ApiError::status(StatusCode::NOT_FOUND, "no such route", "not_found") })
            .layer(middleware::from_fn(request_id))
            .layer(DefaultBodyLimit::max(state.max_body))
            .with_state(state)
    }

    /// Serves on `listener` (with `TCP_NODELAY`) until `shutdown` completes, then lets in-flight
    /// requests finish and flushes the spend log.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // `into_make_service` hands each connection a clone of one shared router; serving the
        // `Router` itself would rebuild every route for each new connection (axum's
        // `with_state(())` per connection: ~10 KB and the CPU to build it).
        axum::serve(listener, self.http_router().into_make_service())
            .with_graceful_shutdown(shutdown)
            .await?;
        self.state.store.flush().await;
        Ok(())
    }
}

/// Budget checks count prompt tokens with OpenAI's tokenizers, whose vocabularies take ~70 MB and
/// load on first use (seconds in a debug build). The first budget the gateway sees loads them on a
/// blocking thread, so no request stalls a worker (and the keep-alive timer) on it, and a gateway
/// without budgets never holds them.
pub(crate) fn load_tokenizers_in_background() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn_blocking(|| {
                llm_cost::tokens::count_text_tokens("gpt-4o", "warm up");
                llm_cost::tokens::count_text_tokens("gpt-4", "warm up");
            });
        }
    });
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Lower-case hex, one allocation.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The request id of this request.
#[derive(Clone)]
struct RequestId(String);

/// Who is calling.
#[derive(Clone)]
enum Principal {
    /// No master key is configured: everyone is let in (hash of the presented key, if any).
    Open(Option<String>),
    /// The master key (its hash).
    Master(String),
    /// A valid virtual key.
    Key(Arc<KeyRecord>),
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    resp
}

async fn auth(State(s): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).unwrap_or(v).trim())
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim))
        .filter(|k| !k.is_empty());
    let hash = presented.map(sha256);
    let principal = match (&s.master_key_hash, hash) {
        (None, hash) => Principal::Open(hash.map(|h| hex(&h))),
        (Some(_), None) => {
            s.metrics.refuse("missing_key");
            return ApiError::auth("missing API key: send `Authorization: Bearer <key>`").into_response();
        }
        (Some(expected), Some(h)) if constant_time_eq(&h, expected) => Principal::Master(hex(&h)),
        (Some(_), Some(h)) => match s.access.authenticate(&hex(&h)).await {
            Ok(key) => Principal::Key(key),
            Err(refusal) => return s.refuse(refusal).into_response(),
        },
    };
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Lets only the master key (or anyone, without a master key) through.
async fn admin_only(req: Request, next: Next) -> Response {
    match req.extensions().get::<Principal>() {
        Some(Principal::Master(_) | Principal::Open(_)) => next.run(req).await,
        _ => ApiError::llm(&LlmError::new(ErrorKind::PermissionDenied, "this route needs the master key"))
            .into_response(),
    }
}

impl AppState {
    /// Counts a refusal and turns it into a response.
    fn refuse(&self, refusal: Refusal) -> ApiError {
        self.metrics.refuse(refusal.reason);
        ApiError::llm(&refusal.error)
    }

    /// Admits a call of `model`: the caller for spend rows and budgets, and (for virtual keys)
    /// the slots to hold until the response is done.
    async fn admit(
        &self,
        principal: &Principal,
        model: &str,
        user: Option<String>,
    ) -> Result<(Caller, Held), LlmError> {
        let gateway = match &self.global_limit {
            None => None,
            Some((slots, max)) => match Arc::clone(slots).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    self.metrics.refuse("global_parallel_limit");
                    let after = Duration::from_secs(1);
                    return Err(LlmError::new(
                        ErrorKind::RateLimited { retry_after: Some(after) },
                        format!("the gateway is serving its limit of {max} requests at once; retry after 1s"),
                    )
                    .with_code("global_parallel_limit"));
                }
            },
        };
        match principal {
            Principal::Open(hash) => Ok((
                Caller { key_id: hash.clone(), user_id: user, team_id: None },
                Held { _key: None, _gateway: gateway },
            )),
            Principal::Master(hash) => Ok((
                Caller { key_id: Some(hash.clone()), user_id: user, team_id: None },
                Held { _key: None, _gateway: gateway },
            )),
            // A virtual key's user is the key's own: the request's `user` field is the caller's
            // word and must not pick whose budget is charged.
            Principal::Key(key) => match self.access.admit(key, model).await {
                Ok((caller, admission)) => Ok((caller, Held { _key: Some(admission), _gateway: gateway })),
                Err(refusal) => {
                    self.metrics.refuse(refusal.reason);
                    Err(refusal.error)
                }
            },
        }
    }

    /// An error from the service stack, counted when it is a budget refusal.
    fn failed(&self, e: &LlmError) {
        if e.kind() == &ErrorKind::BudgetExceeded {
            self.metrics.refuse("budget");
        }
    }
}

/// The response cache: memory, or memory in front of Redis for `type: redis` (the URL from
/// `cache_params.host`/`port`/`password`, else the gateway's `redis_url`). An unreachable Redis
/// falls back to memory with a warning; requests never fail because of the cache.
async fn cache_layer(params: &crate::config::CacheParams, redis_url: Option<&str>) -> llm_cache::CacheLayer {
    let memory = llm_cache::CacheLayer::new;
    match params.kind.as_deref() {
        None | Some("local") => return memory(),
        Some("redis") => {}
        Some(other) => {
            tracing::warn!(kind = other, "unknown cache type; using memory");
            return memory();
        }
    }
    let url = match (&params.host, redis_url) {
        (Some(host), _) => {
            let port = params.port.unwrap_or(6379);
            match &params.password {
                Some(password) => format!("redis://:{password}@{host}:{port}"),
                None => format!("redis://{host}:{port}"),
            }
        }
        (None, Some(url)) => url.to_owned(),
        (None, None) => {
            tracing::warn!("cache type redis without cache_params.host or redis_url; using memory");
            return memory();
        }
    };
    match llm_cache::RedisBackend::connect(&url).await {
        Ok(redis) => llm_cache::CacheLayer::with_backend(llm_cache::TieredBackend::new(
            llm_cache::MemoryBackend::default(),
            redis,
        )),
        Err(e) => {
            tracing::warn!(error = %e, "redis cache unreachable; using memory");
            memory()
        }
    }
}

/// Keeps `admission` (parallel-request slots) until the response body is done.
fn hold(resp: Response, held: Held) -> Response {
    if held.is_empty() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let stream = body.into_data_stream().map(move |chunk| {
        let _held = &held;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error response in OpenAI's shape.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    body: OpenAiErrorBody,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn llm(e: &LlmError) -> Self {
        let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
        Self { status, body: e.to_openai_body(), retry_after: e.retry_after() }
    }

    fn status(status: StatusCode, message: impl Into<String>, code: &str) -> Self {
        let kind = if status.is_server_error() { "api_error" } else { "invalid_request_error" };
        let error = OpenAiError {
            message: message.into(),
            kind: kind.to_owned(),
            param: None,
            code: Some(code.to_owned()),
        };
        Self { status, body: OpenAiErrorBody { error }, retry_after: None }
    }

    fn auth(message: &str) -> Self {
        Self::llm(&LlmError::new(ErrorKind::Authentication, message.to_owned()))
    }

    fn rejection(r: BytesRejection) -> Self {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Self::status(status, "request body too large", "request_too_large")
        } else {
            Self::status(status, format!("cannot read the request body: {}", r.body_text()), "invalid_body")
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Parses a JSON body; the error names the offending field.
fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(ApiError::rejection)?;
    // Tracking the path costs every field a wrapper; only a bad body, parsed again, needs it.
    if let Ok(value) = serde_json::from_slice(&bytes) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut err = if inner.is_syntax() || inner.is_eof() {
            LlmError::bad_request(format!("malformed JSON body: {inner}"))
        } else if path == "." {
            LlmError::bad_request(format!("invalid request body: {inner}"))
        } else {
            LlmError::bad_request(format!("invalid field `{path}`: {inner}")).with_param(path.clone())
        };
        if inner.is_syntax() || inner.is_eof() {
            err = err.with_code("invalid_json");
        }
        ApiError::llm(&err)
    })?;
    Ok(value)
}

fn context(s: &AppState, model: &str, rid: &RequestId, caller: Caller, tags: Vec<String>) -> RequestContext {
    let mut ctx = RequestContext::new().with_request_id(rid.0.clone());
    ctx.caller = caller;
    ctx.tags = tags;
    if let Some(hints) = s.hints.get(model) {
        ctx.extensions.insert(hints.clone());
    }
    ctx
}

/// LiteLLM's `metadata.tags`.
fn metadata_tags(metadata: Option<&serde_json::Map<String, serde_json::Value>>) -> Vec<String> {
    metadata
        .and_then(|m| m.get("tags"))
        .and_then(|t| t.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

const X_LLM_DEPLOYMENT: HeaderName = HeaderName::from_static("x-llm-deployment");
const X_LITELLM_MODEL_ID: HeaderName = HeaderName::from_static("x-litellm-model-id");
const X_LLM_COST_USD: HeaderName = HeaderName::from_static("x-llm-cost-usd");
const X_LITELLM_RESPONSE_COST: HeaderName = HeaderName::from_static("x-litellm-response-cost");
const X_LITELLM_CACHE_HIT: HeaderName = HeaderName::from_static("x-litellm-cache-hit");
const X_LLM_OVERHEAD_MS: HeaderName = HeaderName::from_static("x-llm-overhead-ms");

/// The response headers, added to `h`; also records the gateway's own overhead (total time minus
/// the time the router spent in upstream attempts) in the metrics.
fn add_response_headers(h: &mut HeaderMap, s: &AppState, meta: &ResponseMetadata, started: Instant) {
    let upstream: Duration = meta.attempts.iter().map(|a| a.latency).sum();
    let overhead = started.elapsed().saturating_sub(upstream);
    s.metrics.observe_overhead(meta.deployment_id.as_deref().unwrap_or(""), overhead);
    // Each value is built once and shared by its LiteLLM-named twin.
    let mut put = |names: [HeaderName; 2], value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            let [first, second] = names;
            h.insert(first, v.clone());
            h.insert(second, v);
        }
    };
    if let Some(d) = &meta.deployment_id {
        put([X_LLM_DEPLOYMENT, X_LITELLM_MODEL_ID], d);
    }
    if let Some(cost) = meta.cost_usd {
        put([X_LLM_COST_USD, X_LITELLM_RESPONSE_COST], &cost.to_string());
    }
    if meta.cache_hit {
        h.insert(X_LITELLM_CACHE_HIT, HeaderValue::from_static("True"));
    }
    if let Ok(v) = HeaderValue::from_str(&millis_text(overhead)) {
        h.insert(X_LLM_OVERHEAD_MS, v);
    }
}

/// [`add_response_headers`] into a new map.
fn response_headers(s: &AppState, meta: &ResponseMetadata, started: Instant) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(8);
    add_response_headers(&mut h, s, meta, started);
    h
}

/// `d` in milliseconds with three decimals (`1.234`), without the formatting machinery.
fn millis_text(d: Duration) -> String {
    let micros = d.as_micros();
    let mut text = String::with_capacity(24);
    text.push_str(itoa::Buffer::new().format(micros / 1000));
    text.push('.');
    let frac = (micros % 1000) as u32;
    for digit in [frac / 100, frac / 10 % 10, frac % 10] {
        text.push(char::from(b'0' + digit as u8));
    }
    text
}

async fn chat(
    State(s): State<Arc<AppState>>,
    axum::Extension(rid): axum::Extension<RequestId>,
    axum::Extension(principal): axum::Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request: ChatRequest = parse(body)?;
    let tags = metadata_tags(request.metadata.as_ref());
    let stream = request.is_stream();
    let (caller, admission) =
        s.admit(&principal, &request.model, request.user.clone()).await.map_err(|e| ApiError::llm(&e))?;
    let ctx = context(&s, &request.model, &rid, caller, tags);
    let mut call: PendingCall =
        Box::pin(s.service.clone().oneshot(LlmRequest::chat(request).with_context(ctx)));
    let resp = if stream {
        // A stream whose first chunk is slow to come gets its headers now and keep-alive comments
        // until then (its deployment and errors then travel in the event stream).
        tokio::select! {
            resp = &mut call => resp,
            () = tokio::time::sleep(s.keepalive) => {
                return Ok(hold(sse_response(SseState::Waiting(call), s.keepalive), admission));
            }
        }
    } else {
        call.await
    };
    let resp = resp.map_err(|e| {
        s.failed(&e);
        ApiError::llm(&e)
    })?;
    // The headers go straight into the response's own map (no second map to merge).
    match resp.body {
        ResponseBody::Chat(chat) => {
            let mut response = json_response(&chat);
            add_response_headers(response.headers_mut(), &s, &resp.metadata, started);
            Ok(response)
        }
        ResponseBody::ChatStream(stream) => {
            let mut response =
                sse_response(SseState::Streaming(stream, sse::ChunkEncoder::new()), s.keepalive);
            add_response_headers(response.headers_mut(), &s, &resp.metadata, started);
            Ok(hold(response, admission))
        }
        other => Err(ApiError::llm(&LlmError::internal(format!("unexpected response {other:?}")))),
    }
}

type PendingCall = std::pin::Pin<Box<dyn Future<Output = Result<llm_core::LlmResponse, LlmError>> + Send>>;

enum SseState {
    Waiting(PendingCall),
    /// The chunks, and the encoder that writes the fields every chunk repeats only once.
    Streaming(ChatStream, sse::ChunkEncoder),
    Done,
}

const KEEPALIVE_FRAME: &[u8] = b": keep-alive\n\n";

async fn next_frame(state: SseState, keepalive: Duration) -> Option<(Result<Bytes, Infallible>, SseState)> {
    let (mut stream, mut encoder) = match state {
        SseState::Done => return None,
        SseState::Streaming(stream, encoder) => (stream, encoder),
        SseState::Waiting(mut call) => match tokio::time::timeout(keepalive, &mut call).await {
            Err(_) => return Some((Ok(Bytes::from_static(KEEPALIVE_FRAME)), SseState::Waiting(call))),
            Ok(Err(e)) => return Some((Ok(error_frame(&e)), SseState::Done)),
            Ok(Ok(resp)) => match resp.into_chat_stream() {
                Ok(stream) => (stream, sse::ChunkEncoder::new()),
                Err(e) => return Some((Ok(error_frame(&e)), SseState::Done)),
            },
        },
    };
    let frame = match stream.next().await {
        Some(Ok(chunk)) => match encoder.encode(&chunk) {
            Ok(bytes) => return Some((Ok(bytes), SseState::Streaming(stream, encoder))),
            Err(e) => error_frame(&LlmError::internal(format!("cannot encode a chunk: {e}"))),
        },
        Some(Err(e)) => error_frame(&e),
        None => Bytes::from_static(sse::DONE_FRAME),
    };
    Some((Ok(frame), SseState::Done))
}

fn sse_response(state: SseState, keepalive: Duration) -> Response {
    let frames = futures_util::stream::unfold(state, move |state| next_frame(state, keepalive));
    let mut resp = Response::new(Body::from_stream(frames));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    resp
}

/// `value` as an `application/json` response, written by [`llm_core::json`] (what `axum::Json`
/// answers, with strings escaped a word at a time). A value that cannot be JSON answers 500.
fn json_response<T: serde::Serialize + ?Sized>(value: &T) -> Response {
    match llm_core::json::to_vec(value) {
        Ok(body) => {
            let mut resp = Response::new(Body::from(body));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            resp
        }
        Err(e) => {
            ApiError::llm(&LlmError::internal(format!("cannot encode the response: {e}"))).into_response()
        }
    }
}

fn error_frame(e: &LlmError) -> Bytes {
    sse::encode_json(&e.to_openai_body()).unwrap_or_else(|_| Bytes::from_static(b"data: {\"error\":{}}\n\n"))
}

async fn embeddings(
    State(s): State<Arc<AppState>>,
    axum::Extension(rid): axum::Extension<RequestId>,
    axum::Extension(principal): axum::Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let request: EmbeddingRequest = parse(body)?;
    let (caller, _admission) =
        s.admit(&principal, &request.model, request.user.clone()).await.map_err(|e| ApiError::llm(&e))?;
    let ctx = context(&s, &request.model, &rid, caller, Vec::new());
    let resp = s.service.clone().oneshot(LlmRequest::embedding(request).with_context(ctx)).await;
    let resp = resp.map_err(|e| {
        s.failed(&e);
        ApiError::llm(&e)
    })?;
    let headers = response_headers(&s, &resp.metadata, started);
    let body = resp.into_embedding().map_err(|e| ApiError::llm(&e))?;
    let mut response = json_response(&body);
    response.headers_mut().extend(headers);
    Ok(response)
}

/// An Anthropic-shaped error response.
fn anthropic_error(e: &LlmError) -> Response {
    let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, axum::Json(crate::messages::error_body(e))).into_response()
}

async fn messages(
    State(s): State<Arc<AppState>>,
    axum::Extension(rid): axum::Extension<RequestId>,
    axum::Extension(principal): axum::Extension<Principal>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let value: serde_json::Value = match parse(body) {
        Ok(v) => v,
        Err(e) => {
            let err = LlmError::bad_request(e.body.error.message);
            let mut resp = anthropic_error(&err);
            *resp.status_mut() = e.status;
            return resp;
        }
    };
    let request = match crate::messages::to_chat_request(&value) {
        Ok(r) => r,
        Err(e) => return anthropic_error(&e),
    };
    let model = request.model.clone();
    let tags = metadata_tags(request.metadata.as_ref());
    let (caller, admission) = match s.admit(&principal, &request.model, request.user.clone()).await {
        Ok(a) => a,
        Err(e) => return anthropic_error(&e),
    };
    let ctx = context(&s, &request.model, &rid, caller, tags);
    let resp = match s.service.clone().oneshot(LlmRequest::chat(request).with_context(ctx)).await {
        Ok(r) => r,
        Err(e) => {
            s.failed(&e);
            return anthropic_error(&e);
        }
    };
    let headers = response_headers(&s, &resp.metadata, started);
    match resp.body {
        ResponseBody::Chat(chat) => {
            let chat = serde_json::to_value(&chat).unwrap_or_default();
            (headers, axum::Json(crate::messages::to_messages_response(&chat, &model))).into_response()
        }
        ResponseBody::ChatStream(stream) => {
            let mut resp = Response::new(Body::from_stream(crate::messages::event_stream(stream, model)));
            resp.headers_mut().extend(headers);
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            hold(resp, admission)
        }
        other => anthropic_error(&LlmError::internal(format!("unexpected response {other:?}"))),
    }
}

async fn models(State(s): State<Arc<AppState>>) -> Response {
    let data: Vec<_> = s
        .models
        .iter()
        .map(|m| serde_json::json!({"id": m, "object": "model", "created": 0, "owned_by": "llm-gateway"}))
        .collect();
    axum::Json(serde_json::json!({"object": "list", "data": data})).into_response()
}

async fn readiness(State(s): State<Arc<AppState>>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await;
    let (status, db) = match ping {
        Ok(Ok(())) => (StatusCode::OK, "connected".to_owned()),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timed out".to_owned()),
    };
    let healthy = if status == StatusCode::OK { "healthy" } else { "unhealthy" };
    let body = serde_json::json!({"status": healthy, "db": db, "models": s.models.len()});
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let mut text = s.metrics.render();
    let link = s.access.shared.as_ref().map(|r| r.link());
    let shared = u8::from(link.is_some_and(|l| l.is_connected()));
    let errors = link.map_or(0, |l| l.errors());
    let fallbacks = s.access.redis_fallbacks.load(std::sync::atomic::Ordering::Relaxed);
    text.push_str(&format!(
        "# HELP llm_gateway_shared_limits Whether limits, budgets and cooldowns are shared through Redis.\n\
         # TYPE llm_gateway_shared_limits gauge\nllm_gateway_shared_limits {shared}\n\
         # HELP llm_gateway_redis_fallback_total Requests limited locally because Redis was unreachable.\n\
         # TYPE llm_gateway_redis_fallback_total counter\nllm_gateway_redis_fallback_total {fallbacks}\n\
         # HELP llm_gateway_redis_errors_total Failed Redis calls sharing router cooldowns.\n\
         # TYPE llm_gateway_redis_errors_total counter\nllm_gateway_redis_errors_total {errors}\n"
    ));
    text.push_str("# HELP llm_deployment_cooldown Whether a deployment is cooling down.\n");
    text.push_str("# TYPE llm_deployment_cooldown gauge\n");
    for model in &s.models {
        for d in s.router.status(model).unwrap_or_default() {
            let cooling = u8::from(d.cooldown_remaining.is_some());
            text.push_str(&format!(
                "llm_deployment_cooldown{{model_group=\"{}\",deployment=\"{}\"}} {cooling}\n",
                model.replace('"', "\\\""),
                d.id.replace('"', "\\\"")
            ));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn spend_logs(
    State(s): State<Arc<AppState>>,
    Query(filter): Query<SpendFilter>,
) -> Result<Response, ApiError> {
    let rows = s.store.logs(filter).await.map_err(|e| ApiError::llm(&LlmError::internal(e.to_string())))?;
    Ok(axum::Json(rows).into_response())
}

async fn spend_report(
    State(s): State<Arc<AppState>>,
    Query(filter): Query<SpendFilter>,
) -> Result<Response, ApiError> {
    let rows = s.store.report(filter).await.map_err(|e| ApiError::llm(&LlmError::internal(e.to_string())))?;
    Ok(axum::Json(rows).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        let bytes = [0x00, 0x0f, 0xa5, 0xff];
        assert_eq!(super::hex(&bytes), "000fa5ff");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(super::hex(&all), expected);
    }

    #[test]
    fn millis_text_has_three_decimals_like_format() {
        use std::time::Duration;
        for micros in [0u64, 7, 45, 999, 1_000, 1_005, 12_345, 987_654_321] {
            let expected = format!("{}.{:03}", micros / 1000, micros % 1000);
            assert_eq!(super::millis_text(Duration::from_micros(micros)), expected);
        }
        assert_eq!(super::millis_text(Duration::from_nanos(1_999)), "0.001");
    }
}
