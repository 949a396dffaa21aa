//! The load generator: fixed-rate (open loop, coordinated-omission corrected) or closed loop.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};

use crate::mock::find;

/// How requests are issued.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pacing {
    /// `concurrency` workers, each sending its next request when the previous one completes.
    Closed {
        /// Number of workers.
        concurrency: usize,
    },
    /// Requests scheduled at a fixed rate; latency counts from the intended send time, so a
    /// stalled server is not hidden by the generator waiting for it (coordinated omission).
    FixedRate {
        /// Requests per second.
        rate: u64,
    },
    /// `streams` streaming requests started evenly over `ramp`, all held open concurrently.
    Streams {
        /// Number of concurrent streams.
        streams: usize,
        /// Time over which the streams are started.
        ramp: Duration,
    },
}

/// One load run.
#[derive(Clone)]
pub struct LoadSpec {
    /// Target, e.g. `http://127.0.0.1:4000/v1/chat/completions`.
    pub url: http::Uri,
    /// Bearer token sent in `Authorization` (never logged).
    pub bearer: Option<String>,
    /// The `model` field of the request.
    pub model: String,
    /// How requests are issued.
    pub pacing: Pacing,
    /// How long requests are issued (streams: ignored, each stream runs to its end).
    pub duration: Duration,
    /// Request a stream (`"stream":true`).
    pub stream: bool,
    /// Expected token chunks per stream (for lost-chunk counting).
    pub expected_chunks: usize,
    /// The chunk interval the upstream uses (a gap above 10x is a stall; zero: no stall check).
    pub chunk_interval: Duration,
    /// Maximum requests in flight in fixed-rate mode; beyond it the scheduler waits (still measured).
    pub max_in_flight: usize,
    /// A request not complete this long after its intended send time is an error (and one whose
    /// send is already this late is not sent at all), so an overloaded server cannot hang the run.
    pub timeout: Duration,
}

impl std::fmt::Debug for LoadSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadSpec")
            .field("url", &self.url)
            .field("bearer", &self.bearer.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("pacing", &self.pacing)
            .field("duration", &self.duration)
            .field("stream", &self.stream)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The request body the generator sends.
pub fn request_body(model: &str, stream: bool) -> Bytes {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say something about foxes."}],
        "stream": stream,
    });
    Bytes::from(body.to_string())
}

/// Percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
}

impl Percentiles {
    /// Summarises `hist` (values in microseconds).
    pub fn of(hist: &Histogram<u64>) -> Self {
        if hist.is_empty() {
            return Self::default();
        }
        Self {
            count: hist.len(),
            p50: hist.value_at_quantile(0.50),
            p90: hist.value_at_quantile(0.90),
            p99: hist.value_at_quantile(0.99),
            p999: hist.value_at_quantile(0.999),
            max: hist.max(),
        }
    }
}

/// What one load run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Completed requests (any status).
    pub requests: u64,
    /// Requests that failed: connection error, non-2xx status or truncated body.
    pub errors: u64,
    /// Achieved completions per second over the run.
    pub throughput: f64,
    /// End-to-end latency (µs), from the intended send time.
    pub latency: Percentiles,
    /// Time to first body byte (µs).
    pub ttfb: Percentiles,
    /// Gap between consecutive token chunks (µs).
    pub chunk_gap: Percentiles,
    /// How late the generator sent each request after its intended time (µs); large values mean
    /// the generator, not the server, was the bottleneck.
    pub send_lag: Percentiles,
    /// Token chunks expected but not received.
    pub lost_chunks: u64,
    /// Gaps above 10x the chunk interval.
    pub stalls: u64,
    /// Wall time of the run (s).
    pub elapsed_s: f64,
}

struct Recorder {
    latency: Histogram<u64>,
    ttfb: Histogram<u64>,
    gaps: Histogram<u64>,
    send_lag: Histogram<u64>,
    requests: u64,
    errors: u64,
    lost_chunks: u64,
    stalls: u64,
}

impl Recorder {
    fn new() -> Self {
        let hist = || Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant bounds are valid");
        Self {
            latency: hist(),
            ttfb: hist(),
            gaps: hist(),
            send_lag: hist(),
            requests: 0,
            errors: 0,
            lost_chunks: 0,
            stalls: 0,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Outcome of one request.
struct Sample {
    ok: bool,
    send_lag: Duration,
    latency: Duration,
    ttfb: Option<Duration>,
    gaps: Vec<Duration>,
    lost: u64,
    stalls: u64,
}

/// Errors that stop a load run before it starts.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The spec is unusable.
    #[error("invalid load spec: {0}")]
    InvalidSpec(String),
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(usize::MAX)
        .build(connector)
}

/// Counts token chunks in an SSE byte buffer: `"content":"` followed by a non-empty string.
pub fn count_token_chunks(buf: &[u8]) -> usize {
    const MARK: &[u8] = b"\"content\":\"";
    let mut count = 0;
    let mut rest = buf;
    while let Some(pos) = find(rest, MARK) {
        let after = &rest[pos + MARK.len()..];
        if after.first().is_some_and(|b| *b != b'"') {
            count += 1;
        }
        rest = after;
    }
    count
}

async fn one_request(client: &HttpClient, spec: &LoadSpec, body: &Bytes, intended: Instant) -> Sample {
    let failed = |lag| Sample {
        ok: false,
        send_lag: lag,
        latency: intended.elapsed(),
        ttfb: None,
        gaps: Vec::new(),
        lost: spec.stream as u64 * spec.expected_chunks as u64,
        stalls: 0,
    };
    let lag = Instant::now().saturating_duration_since(intended);
    if lag >= spec.timeout {
        return failed(lag);
    }
    let deadline = tokio::time::Instant::from_std(intended + spec.timeout);
    match tokio::time::timeout_at(deadline, send_and_read(client, spec, body, intended)).await {
        Ok(sample) => sample,
        Err(_) => failed(lag),
    }
}

async fn send_and_read(client: &HttpClient, spec: &LoadSpec, body: &Bytes, intended: Instant) -> Sample {
    let mut sample = Sample {
        ok: false,
        send_lag: Instant::now().saturating_duration_since(intended),
        latency: Duration::ZERO,
        ttfb: None,
        gaps: Vec::new(),
        lost: 0,
        stalls: 0,
    };
    let mut builder =
        http::Request::post(spec.url.clone()).header(http::header::CONTENT_TYPE, "application/json");
    if let Some(token) = &spec.bearer {
        builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let Ok(request) = builder.body(Full::new(body.clone())) else {
        sample.latency = intended.elapsed();
        return sample;
    };
    let response = client.request(request).await;
    let Ok(response) = response else {
        sample.latency = intended.elapsed();
        return sample;
    };
    let status_ok = response.status().is_success();
    let mut body = response.into_body();
    let mut chunks = 0usize;
    let mut last_chunk: Option<Instant> = None;
    let stall = spec.chunk_interval * 10;
    let mut tail = Vec::new();
    let mut body_ok = true;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            body_ok = false;
            break;
        };
        let Ok(data) = frame.into_data() else { continue };
        let now = Instant::now();
        if sample.ttfb.is_none() {
            sample.ttfb = Some(now - intended);
        }
        if spec.stream {
            // Keep a short tail so a marker split across frames is still seen.
            tail.extend_from_slice(&data);
            let complete = tail.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            let found = count_token_chunks(&tail[..complete]);
            tail.drain(..complete);
            for _ in 0..found {
                if let Some(prev) = last_chunk {
                    let gap = now - prev;
                    if !stall.is_zero() && gap > stall {
                        sample.stalls += 1;
                    }
                    sample.gaps.push(gap);
                }
                last_chunk = Some(now);
            }
            chunks += found;
        }
    }
    sample.latency = intended.elapsed();
    if spec.stream {
        sample.lost = spec.expected_chunks.saturating_sub(chunks) as u64;
    }
    sample.ok = status_ok && body_ok && sample.lost == 0;
    sample
}

fn record(recorder: &Mutex<Recorder>, sample: Sample) {
    let mut r = recorder.lock().unwrap_or_else(|e| e.into_inner());
    r.requests += 1;
    if !sample.ok {
        r.errors += 1;
    }
    r.lost_chunks += sample.lost;
    r.stalls += sample.stalls;
    let _ = r.latency.record(micros(sample.latency));
    let _ = r.send_lag.record(micros(sample.send_lag));
    if let Some(t) = sample.ttfb {
        let _ = r.ttfb.record(micros(t));
    }
    for gap in sample.gaps {
        let _ = r.gaps.record(micros(gap));
    }
}

/// Runs one load run on the current tokio runtime.
pub async fn run(spec: &LoadSpec) -> Result<LoadReport, LoadError> {
    if spec.url.host().is_none() {
        return Err(LoadError::InvalidSpec(format!("no host in `{}`", spec.url)));
    }
    let recorder = Arc::new(Mutex::new(Recorder::new()));
    let client = client();
    let body = request_body(&spec.model, spec.stream);
    let spec_arc = Arc::new(spec.clone());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    match spec.pacing {
        Pacing::Closed { concurrency } => {
            if concurrency == 0 {
                return Err(LoadError::InvalidSpec("concurrency must be at least 1".into()));
            }
            let deadline = started + spec.duration;
            for _ in 0..concurrency {
                let (client, spec, body, recorder) =
                    (client.clone(), spec_arc.clone(), body.clone(), recorder.clone());
                tasks.spawn(async move {
                    while Instant::now() < deadline {
                        let sample = one_request(&client, &spec, &body, Instant::now()).await;
                        record(&recorder, sample);
                    }
                });
            }
        }
        Pacing::FixedRate { rate } => {
            if rate == 0 {
                return Err(LoadError::InvalidSpec("rate must be at least 1".into()));
            }
            let period = Duration::from_secs_f64(1.0 / rate as f64);
            let total = (spec.duration.as_secs_f64() * rate as f64).round() as u64;
            // A plain thread keeps the schedule: tokio's timer wheel has a 1 ms granularity, which
            // would add up to 1 ms of generator lag to every latency measured from the intended time.
            let (tx, mut due) = tokio::sync::mpsc::unbounded_channel::<Instant>();
            let base = Instant::now() + Duration::from_millis(2);
            let scheduler = std::thread::spawn(move || {
                for i in 0..total {
                    let intended = base + period.mul_f64(i as f64);
                    let now = Instant::now();
                    if intended > now {
                        std::thread::sleep(intended - now);
                    }
                    if tx.send(intended).is_err() {
                        break;
                    }
                }
            });
            let semaphore = Arc::new(tokio::sync::Semaphore::new(spec.max_in_flight.max(1)));
            while let Some(intended) = due.recv().await {
                let Ok(permit) = semaphore.clone().acquire_owned().await else { break };
                let (client, spec, body, recorder) =
                    (client.clone(), spec_arc.clone(), body.clone(), recorder.clone());
                tasks.spawn(async move {
                    let sample = one_request(&client, &spec, &body, intended).await;
                    record(&recorder, sample);
                    drop(permit);
                });
                // Reap finished tasks so the set does not grow without bound.
                while tasks.try_join_next().is_some() {}
            }
            let _ = scheduler.join();
        }
        Pacing::Streams { streams, ramp } => {
            let base = tokio::time::Instant::now();
            let step = if streams > 0 { ramp / streams as u32 } else { Duration::ZERO };
            for i in 0..streams {
                tokio::time::sleep_until(base + step * i as u32).await;
                let intended = Instant::now();
                let (client, spec, body, recorder) =
                    (client.clone(), spec_arc.clone(), body.clone(), recorder.clone());
                tasks.spawn(async move {
                    let sample = one_request(&client, &spec, &body, intended).await;
                    record(&recorder, sample);
                });
            }
        }
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let r = recorder.lock().unwrap_or_else(|e| e.into_inner());
    Ok(LoadReport {
        requests: r.requests,
        errors: r.errors,
        throughput: r.requests as f64 / elapsed.as_secs_f64().max(1e-9),
        latency: Percentiles::of(&r.latency),
        ttfb: Percentiles::of(&r.ttfb),
        chunk_gap: Percentiles::of(&r.gaps),
        send_lag: Percentiles::of(&r.send_lag),
        lost_chunks: r.lost_chunks,
        stalls: r.stalls,
        elapsed_s: elapsed.as_secs_f64(),
    })
}
