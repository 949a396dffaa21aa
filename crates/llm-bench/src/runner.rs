//! The scenario runner behind `cargo xtask bench`: starts the mocks and the gateway, runs every
//! scenario direct-to-mock and through the gateway (interleaved), and writes the results.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cpu_latency::CpuLatencyHold;
use crate::load::{self, LoadReport, LoadSpec, Pacing};
use crate::procstat;

/// The master key the benchmark gateway is configured with.
pub const MASTER_KEY: &str = "sk-bench-master";

/// Options of one benchmark run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Tiny scale, about a second per scenario (CI).
    pub smoke: bool,
    /// Output directory for `results.json`, `results.md` and `latency.svg`.
    pub out: PathBuf,
    /// The release-built `llm-gateway` binary.
    pub gateway_bin: PathBuf,
    /// The release-built `llm-bench-mock` binary.
    pub mock_bin: PathBuf,
    /// The release-built `llm-bench-relay` binary: when given, concurrency 1, the spaced requests
    /// and one stream are also measured through a byte relay on the gateway's CPU (the floor of
    /// what an extra hop adds on this machine).
    pub relay_bin: Option<PathBuf>,
    /// Pin the gateway to CPU 1 and the mocks to CPU 0 with `taskset`.
    pub pin: bool,
    /// Hold this maximum CPU wake-up latency (µs) on `/dev/cpu_dma_latency` during the run
    /// (see [`crate::cpu_latency`]); `None` leaves the machine's idle states alone.
    pub cpu_dma_latency_us: Option<i32>,
}

/// Errors that stop the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A child process could not be started or did not come up.
    #[error("{0}")]
    Process(String),
    /// Writing results failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A load run was misconfigured.
    #[error(transparent)]
    Load(#[from] load::LoadError),
    /// The CPU wake-up latency request could not be made.
    #[error("holding {} at {max_us} µs: {source} (needs root)", crate::cpu_latency::DEVICE)]
    CpuLatency {
        /// The latency asked for.
        max_us: i32,
        /// The cause.
        source: std::io::Error,
    },
}

/// One measurement taken direct-to-mock and through the gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Scenario label, e.g. `rate 1000/s`.
    pub label: String,
    /// Direct to the mock.
    pub direct: LoadReport,
    /// Through the gateway.
    pub gateway: LoadReport,
    /// Through the byte relay on the gateway's CPU, when measured: the floor of the added
    /// latency (see [`crate::relay`]).
    #[serde(default)]
    pub relay: Option<LoadReport>,
    /// Gateway CPU use during its run, in percent of one core.
    pub gateway_cpu_pct: f64,
    /// Gateway peak RSS during its run (KiB).
    pub gateway_rss_kib: u64,
}

impl Pair {
    /// Gateway latency minus direct latency at p50 (µs, may be negative under noise).
    pub fn added_p50(&self) -> i64 {
        self.gateway.latency.p50 as i64 - self.direct.latency.p50 as i64
    }
    /// Gateway latency minus direct latency at p99 (µs).
    pub fn added_p99(&self) -> i64 {
        self.gateway.latency.p99 as i64 - self.direct.latency.p99 as i64
    }
    /// Relay latency minus direct latency at p50 and p99 (µs), when the relay was measured.
    pub fn relay_added(&self) -> Option<(i64, i64)> {
        self.relay.as_ref().map(|r| {
            (
                r.latency.p50 as i64 - self.direct.latency.p50 as i64,
                r.latency.p99 as i64 - self.direct.latency.p99 as i64,
            )
        })
    }
    /// Relay time to first byte minus direct at p50 and p99 (µs), when the relay was measured.
    pub fn relay_added_ttfb(&self) -> Option<(i64, i64)> {
        self.relay.as_ref().map(|r| {
            (r.ttfb.p50 as i64 - self.direct.ttfb.p50 as i64, r.ttfb.p99 as i64 - self.direct.ttfb.p99 as i64)
        })
    }
}

/// Everything one benchmark run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchResults {
    /// Smoke scale (figures meaningless).
    pub smoke: bool,
    /// `/proc/loadavg` at the start and at the end.
    pub load_average: Vec<String>,
    /// Whether `taskset` pinning was applied.
    pub pinned: bool,
    /// The CPU wake-up latency held during the run (µs), if any.
    #[serde(default)]
    pub cpu_dma_latency_us: Option<i32>,
    /// The CPU idle driver and governor (e.g. `haltpoll / haltpoll`).
    #[serde(default)]
    pub cpuidle: String,
    /// The CPU model and count (e.g. `AMD EPYC × 2`): runs on different machines differ.
    #[serde(default)]
    pub cpu: String,
    /// Scenario 1: concurrency 1, mock delay 0.
    pub concurrency1: Pair,
    /// Scenario 2: fixed rates.
    pub fixed_rates: Vec<Pair>,
    /// Scenario 3: the rate steps tried.
    pub max_throughput_steps: Vec<Pair>,
    /// Scenario 3: highest rate the gateway sustained with p99 < 5 ms and no error.
    pub max_gateway_rate: u64,
    /// Scenario 3: same for direct-to-mock (the harness ceiling).
    pub max_direct_rate: u64,
    /// Scenario 3, closed loop: the concurrency steps tried (each client sends its next request
    /// as soon as its previous answer is in), which load the gateway's core without the
    /// fixed-rate generator's own ceiling.
    #[serde(default)]
    pub saturation_steps: Vec<Pair>,
    /// Scenario 3, closed loop: highest gateway throughput (req/s) at a step with p99 < 5 ms and
    /// no error.
    #[serde(default)]
    pub max_gateway_closed_throughput: f64,
    /// Scenario 3, closed loop: the same direct-to-mock.
    #[serde(default)]
    pub max_direct_closed_throughput: f64,
    /// Requests spaced out (a low fixed rate, concurrency 1): the cost of a request on a cold
    /// cache and an idle CPU, to compare with a stream's time to first token, which also comes
    /// once per stream.
    #[serde(default)]
    pub spaced: Pair,
    /// Scenario 4: one stream at a time.
    pub single_stream: Pair,
    /// Scenario 4: paced concurrent streams.
    pub concurrent_streams: Vec<Pair>,
    /// Chunk interval of the paced streams (ms).
    pub paced_interval_ms: u64,
    /// Scenario 5: gateway RSS before any load (KiB).
    pub rss_idle_kib: u64,
    /// Scenario 5: peak gateway RSS at 1,000 concurrent streams (KiB).
    pub rss_1k_streams_kib: u64,
    /// Scenario 5: gateway RSS some time after the load stopped (KiB).
    pub rss_after_kib: u64,
    /// Seconds waited before `rss_after_kib`.
    pub rss_after_wait_s: u64,
}

/// A child process killed on drop.
#[derive(Debug)]
struct Guard(Child);

impl Guard {
    /// Sends SIGTERM (via `kill`) and waits up to `timeout` for a clean exit: an instrumented
    /// gateway writes its profile only when it exits normally.
    fn terminate(mut self, what: &str, timeout: Duration) -> Result<(), RunError> {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        if !sent.is_ok_and(|s| s.success()) {
            return Err(RunError::Process(format!("{what}: cannot send SIGTERM")));
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.0.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(RunError::Process(format!("{what} exited with {status}"))),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => {
                    return Err(RunError::Process(format!("{what} did not stop within {timeout:?}")));
                }
                Err(e) => return Err(RunError::Process(format!("{what}: {e}"))),
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, RunError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| RunError::Process(format!("no free port: {e}")))
}

fn spawn_listening(mut cmd: Command, what: &str, pin: Option<&str>) -> Result<Guard, RunError> {
    let mut cmd = match pin {
        Some(cpu) => {
            let mut pinned = Command::new("taskset");
            pinned.arg("-c").arg(cpu).arg(cmd.get_program()).args(cmd.get_args());
            for (k, v) in cmd.get_envs() {
                if let Some(v) = v {
                    pinned.env(k, v);
                }
            }
            pinned
        }
        None => std::mem::replace(&mut cmd, Command::new("true")),
    };
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| RunError::Process(format!("cannot start {what}: {e}")))?;
    let stdout = child.stdout.take();
    let guard = Guard(child);
    let Some(stdout) = stdout else { return Err(RunError::Process(format!("{what}: no stdout"))) };
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("listening on") => break,
            Some(Ok(_)) => continue,
            _ => return Err(RunError::Process(format!("{what} exited before listening"))),
        }
    }
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(guard)
}

fn gateway_config(fast_port: u16, paced_port: u16, spend_db: &Path) -> String {
    format!(
        "model_list:\n\
         \x20 - model_name: bench-fast\n\
         \x20   litellm_params:\n\
         \x20     model: openai/gpt-4o-mini\n\
         \x20     api_key: sk-x\n\
         \x20     api_base: http://127.0.0.1:{fast_port}/v1\n\
         \x20 - model_name: bench-paced\n\
         \x20   litellm_params:\n\
         \x20     model: openai/gpt-4o-mini\n\
         \x20     api_key: sk-x\n\
         \x20     api_base: http://127.0.0.1:{paced_port}/v1\n\
         general_settings:\n\
         \x20 master_key: {MASTER_KEY}\n\
         \x20 database_url: \"{}\"\n",
        spend_db.display()
    )
}

struct Targets {
    fast: String,
    paced: String,
    gateway: String,
    /// The byte relay to the fast mock, when measured.
    relay: Option<String>,
    gateway_pid: u32,
    paced_interval: Duration,
    chunks: usize,
}

/// Where a load run sends its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Direct,
    /// Through the byte relay (to the fast mock only).
    Relay,
    Gateway,
}

fn spec(
    targets: &Targets,
    route: Route,
    paced: bool,
    pacing: Pacing,
    duration: Duration,
    stream: bool,
) -> LoadSpec {
    let base = match (route, paced) {
        (Route::Gateway, _) => &targets.gateway,
        (Route::Relay, false) => targets.relay.as_ref().unwrap_or(&targets.fast),
        (_, true) => &targets.paced,
        (_, false) => &targets.fast,
    };
    let url = format!("{base}/v1/chat/completions").parse().unwrap_or_default();
    LoadSpec {
        url,
        bearer: (route == Route::Gateway).then(|| MASTER_KEY.to_owned()),
        model: if paced { "bench-paced" } else { "bench-fast" }.to_owned(),
        pacing,
        duration,
        stream,
        expected_chunks: targets.chunks,
        chunk_interval: if paced { targets.paced_interval } else { FAST_INTERVAL },
        max_in_flight: if matches!(pacing, Pacing::Streams { .. }) { 100_000 } else { 1_024 },
        timeout: if stream { Duration::from_secs(30) } else { Duration::from_secs(5) },
    }
}

/// Whether a throughput step counts: no error and p99 under 5 ms (scenario 3's bound).
fn within_bound(r: &LoadReport) -> bool {
    r.errors == 0 && r.latency.p99 < 5_000
}

/// Rate of the spaced-requests scenario: about one request per single-stream duration (64
/// chunks at [`FAST_INTERVAL`]), so its added latency compares with the stream's added TTFT.
const SPACED_RATE: u64 = 15;

/// Chunk interval of the fast mock (single-stream TTFT and gap measurement).
const FAST_INTERVAL: Duration = Duration::from_millis(1);

/// Runs `pacing` direct then through the gateway, sampling the gateway's CPU and RSS.
async fn pair(
    targets: &Targets,
    label: String,
    pacing: Pacing,
    duration: Duration,
    stream: bool,
    paced: bool,
) -> Result<Pair, RunError> {
    eprintln!("  {label}: direct");
    let direct = load::run(&spec(targets, Route::Direct, paced, pacing, duration, stream)).await?;
    eprintln!("  {label}: gateway");
    let pid = targets.gateway_pid;
    let cpu_before = procstat::cpu_ticks(pid);
    let wall = std::time::Instant::now();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = tokio::spawn(async move {
        let mut peak = procstat::rss_kib(pid).unwrap_or(0);
        loop {
            tokio::select! {
                _ = &mut stop_rx => break peak,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    peak = peak.max(procstat::rss_kib(pid).unwrap_or(0));
                }
            }
        }
    });
    let gateway = load::run(&spec(targets, Route::Gateway, paced, pacing, duration, stream)).await?;
    let _ = stop_tx.send(());
    let rss = sampler.await.unwrap_or(0);
    let cpu = match (cpu_before, procstat::cpu_ticks(pid)) {
        (Some(a), Some(b)) => {
            (b.saturating_sub(a)) as f64 / procstat::ticks_per_second() / wall.elapsed().as_secs_f64() * 100.0
        }
        _ => 0.0,
    };
    Ok(Pair { label, direct, gateway, relay: None, gateway_cpu_pct: cpu, gateway_rss_kib: rss })
}

/// [`pair`] against the fast mock, plus a run through the byte relay (between the direct and
/// the gateway runs) when one is configured.
async fn pair_with_relay(
    targets: &Targets,
    label: String,
    pacing: Pacing,
    duration: Duration,
    stream: bool,
) -> Result<Pair, RunError> {
    let mut p = pair(targets, label, pacing, duration, stream, false).await?;
    if targets.relay.is_some() {
        eprintln!("  {}: relay", p.label);
        p.relay = Some(load::run(&spec(targets, Route::Relay, false, pacing, duration, stream)).await?);
    }
    Ok(p)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// The processes of a run: the two mocks, the gateway and (when configured) the byte relay.
struct Started {
    _mocks: [Guard; 2],
    gateway: Guard,
    _relay: Option<Guard>,
    targets: Targets,
}

/// Starts the mocks (fast: 1 ms chunks; paced: `paced_interval`), the gateway configured for
/// both, and the relay when `opts.relay_bin` is set; the mocks on CPU 0, the rest on CPU 1.
fn start(opts: &RunOptions, paced_interval: Duration) -> Result<Started, RunError> {
    let chunks = 64usize;
    let pin = |cpu| if opts.pin { Some(cpu) } else { None };
    let (fast_port, paced_port, gateway_port) = (free_port()?, free_port()?, free_port()?);
    let mock = |port: u16, interval: Duration| {
        let mut cmd = Command::new(&opts.mock_bin);
        cmd.args(["--port", &port.to_string(), "--chunks", &chunks.to_string()]);
        cmd.args(["--chunk-interval-us", &interval.as_micros().to_string()]);
        cmd
    };
    let fast = spawn_listening(mock(fast_port, FAST_INTERVAL), "mock (fast)", pin("0"))?;
    let paced = spawn_listening(mock(paced_port, paced_interval), "mock (paced)", pin("0"))?;
    std::fs::create_dir_all(&opts.out).map_err(|source| RunError::Io { path: opts.out.clone(), source })?;
    let config_path = opts.out.join("gateway.yaml");
    // A file, not `:memory:`: an in-memory spend log grows with every request and would hide
    // whether the gateway's RSS returns to idle.
    let spend_db = opts.out.join("spend.db");
    let _ = std::fs::remove_file(&spend_db);
    std::fs::write(&config_path, gateway_config(fast_port, paced_port, &spend_db))
        .map_err(|source| RunError::Io { path: config_path.clone(), source })?;
    let mut gw = Command::new(&opts.gateway_bin);
    gw.arg("--config").arg(&config_path).args(["--host", "127.0.0.1", "--port", &gateway_port.to_string()]);
    gw.env("RUST_LOG", "warn");
    let gateway = spawn_listening(gw, "llm-gateway", pin("1"))?;
    let relay = match &opts.relay_bin {
        Some(bin) => {
            let port = free_port()?;
            let mut cmd = Command::new(bin);
            cmd.args(["--port", &port.to_string(), "--upstream-port", &fast_port.to_string()]);
            Some((spawn_listening(cmd, "llm-bench-relay", pin("1"))?, port))
        }
        None => None,
    };
    let targets = Targets {
        fast: format!("http://127.0.0.1:{fast_port}"),
        paced: format!("http://127.0.0.1:{paced_port}"),
        gateway: format!("http://127.0.0.1:{gateway_port}"),
        relay: relay.as_ref().map(|(_, port)| format!("http://127.0.0.1:{port}")),
        gateway_pid: gateway.0.id(),
        paced_interval,
        chunks,
    };
    Ok(Started { _mocks: [fast, paced], gateway, _relay: relay.map(|(guard, _)| guard), targets })
}

/// The training workload of a profile-guided build (`cargo xtask pgo`): plain requests one at a
/// time and concurrently, a fixed rate, spaced requests, one stream at a time and paced
/// concurrent streams, all through the gateway; then the gateway is stopped with SIGTERM so that
/// an instrumented build writes its profile. Fails when any request failed or the gateway did not
/// exit cleanly.
pub async fn train(opts: &RunOptions) -> Result<(), RunError> {
    let smoke = opts.smoke;
    let paced_interval = Duration::from_millis(10);
    let started = start(opts, paced_interval)?;
    let targets = &started.targets;
    let secs = |full: u64| if smoke { Duration::from_millis(300) } else { Duration::from_secs(full) };
    let streams = if smoke { 10 } else { 200 };
    let steps: [(&str, Pacing, Duration, bool, bool); 6] = [
        ("concurrency 1", Pacing::Closed { concurrency: 1 }, secs(5), false, false),
        ("closed loop, 4 clients", Pacing::Closed { concurrency: 4 }, secs(3), false, false),
        ("2,000 req/s", Pacing::FixedRate { rate: 2_000 }, secs(3), false, false),
        ("spaced", Pacing::FixedRate { rate: SPACED_RATE }, secs(2), false, false),
        ("one stream", Pacing::Closed { concurrency: 1 }, secs(5), true, false),
        ("paced streams", Pacing::Streams { streams, ramp: Duration::from_millis(200) }, secs(1), true, true),
    ];
    for (label, pacing, duration, stream, paced) in steps {
        eprintln!("  training: {label}");
        let report = load::run(&spec(targets, Route::Gateway, paced, pacing, duration, stream)).await?;
        if report.errors > 0 || report.requests == 0 {
            return Err(RunError::Process(format!(
                "training step `{label}`: {} of {} requests failed",
                report.errors, report.requests
            )));
        }
    }
    started.gateway.terminate("llm-gateway", Duration::from_secs(15))
}

/// Runs the whole benchmark and writes `results.json`, `results.md` and `latency.svg` into `opts.out`.
pub async fn run(opts: &RunOptions) -> Result<BenchResults, RunError> {
    let _latency_hold = opts
        .cpu_dma_latency_us
        .map(|max_us| {
            CpuLatencyHold::acquire(Path::new(crate::cpu_latency::DEVICE), max_us)
                .map_err(|source| RunError::CpuLatency { max_us, source })
        })
        .transpose()?;
    let smoke = opts.smoke;
    let paced_interval = if smoke { Duration::from_millis(10) } else { Duration::from_millis(50) };
    let started = start(opts, paced_interval)?;
    let (gateway, targets) = (started.gateway, started.targets);
    let mut results = BenchResults {
        smoke,
        pinned: opts.pin,
        cpu_dma_latency_us: opts.cpu_dma_latency_us,
        cpuidle: crate::cpu_latency::idle_driver(),
        cpu: crate::procstat::cpu_model(),
        load_average: vec![load_average()],
        paced_interval_ms: paced_interval.as_millis() as u64,
        ..BenchResults::default()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    results.rss_idle_kib = procstat::rss_kib(targets.gateway_pid).unwrap_or(0);

    let secs = |full: u64| if smoke { Duration::from_millis(1000) } else { Duration::from_secs(full) };
    eprintln!("==> warm-up");
    pair(
        &targets,
        "warm-up".into(),
        Pacing::Closed { concurrency: 4 },
        Duration::from_millis(500),
        false,
        false,
    )
    .await?;

    eprintln!("==> scenario 1: concurrency 1");
    results.concurrency1 =
        pair_with_relay(&targets, "concurrency 1".into(), Pacing::Closed { concurrency: 1 }, secs(10), false)
            .await?;

    eprintln!("==> scenario 2: fixed rates");
    let rates: &[u64] = if smoke { &[200] } else { &[1_000, 2_000, 5_000, 10_000] };
    for &rate in rates {
        results.fixed_rates.push(
            pair(&targets, format!("rate {rate}/s"), Pacing::FixedRate { rate }, secs(5), false, false)
                .await?,
        );
    }

    eprintln!("==> scenario 3: max throughput with p99 < 5 ms");
    let steps: Vec<u64> = if smoke { vec![300] } else { (1..=15).map(|i| i * 2_000).collect() };
    let passes = |r: &LoadReport, rate: u64| within_bound(r) && r.throughput >= rate as f64 * 0.95;
    for rate in steps {
        let p = pair(&targets, format!("step {rate}/s"), Pacing::FixedRate { rate }, secs(3), false, false)
            .await?;
        let (direct_ok, gateway_ok) = (passes(&p.direct, rate), passes(&p.gateway, rate));
        if direct_ok {
            results.max_direct_rate = rate;
        }
        if gateway_ok {
            results.max_gateway_rate = rate;
        }
        results.max_throughput_steps.push(p);
        if !gateway_ok {
            break;
        }
    }

    eprintln!("==> scenario 3, closed loop: concurrency steps with p99 < 5 ms");
    let concurrencies: &[usize] = if smoke { &[2] } else { &[1, 2, 4, 8, 16, 32] };
    for &concurrency in concurrencies {
        let p = pair(
            &targets,
            format!("closed loop, concurrency {concurrency}"),
            Pacing::Closed { concurrency },
            secs(3),
            false,
            false,
        )
        .await?;
        if within_bound(&p.direct) {
            results.max_direct_closed_throughput =
                results.max_direct_closed_throughput.max(p.direct.throughput);
        }
        let gateway_ok = within_bound(&p.gateway);
        if gateway_ok {
            results.max_gateway_closed_throughput =
                results.max_gateway_closed_throughput.max(p.gateway.throughput);
        }
        results.saturation_steps.push(p);
        if !gateway_ok {
            break;
        }
    }

    eprintln!("==> spaced requests: {SPACED_RATE}/s");
    results.spaced = pair_with_relay(
        &targets,
        format!("spaced, {SPACED_RATE} req/s"),
        Pacing::FixedRate { rate: SPACED_RATE },
        secs(5),
        false,
    )
    .await?;

    eprintln!("==> scenario 4: streaming");
    // A stream of 64 chunks 1 ms apart lasts about 65 ms: 20 s give about 300 first tokens, so
    // the p99 is not simply the slowest one.
    results.single_stream =
        pair_with_relay(&targets, "one stream".into(), Pacing::Closed { concurrency: 1 }, secs(20), true)
            .await?;
    let counts: &[usize] = if smoke { &[20] } else { &[500, 1_000, 2_000] };
    for &streams in counts {
        let ramp = if smoke { Duration::from_millis(200) } else { Duration::from_secs(1) };
        let p = pair(
            &targets,
            format!("{streams} streams"),
            Pacing::Streams { streams, ramp },
            secs(1),
            true,
            true,
        )
        .await?;
        if streams == 1_000 || smoke {
            results.rss_1k_streams_kib = p.gateway_rss_kib;
        }
        results.concurrent_streams.push(p);
    }

    eprintln!("==> scenario 5: RSS after the load");
    results.rss_after_wait_s = if smoke { 1 } else { 30 };
    tokio::time::sleep(Duration::from_secs(results.rss_after_wait_s)).await;
    results.rss_after_kib = procstat::rss_kib(targets.gateway_pid).unwrap_or(0);
    results.load_average.push(load_average());
    drop(gateway);

    write_outputs(&opts.out, &results)?;
    Ok(results)
}

fn write_outputs(out: &Path, results: &BenchResults) -> Result<(), RunError> {
    let io = |path: PathBuf| move |source| RunError::Io { path, source };
    let json = serde_json::to_string_pretty(results).unwrap_or_default();
    std::fs::write(out.join("results.json"), json).map_err(io(out.join("results.json")))?;
    let md = crate::report::markdown(results);
    std::fs::write(out.join("results.md"), &md).map_err(io(out.join("results.md")))?;
    crate::report::chart(results, &out.join("latency.svg")).map_err(io(out.join("latency.svg")))?;
    println!("{md}");
    Ok(())
}
