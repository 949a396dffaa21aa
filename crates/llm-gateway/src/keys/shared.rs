//! Requests-per-minute counters shared by every replica through Redis: one Lua script checks and
//! books every scope of a request atomically (sliding one-minute windows kept as sorted sets,
//! timed by the Redis server's clock). When Redis cannot be reached the caller falls back to the
//! in-process limiter, logs it and counts it.
//!
//! [`RedisLink`] is the connection every shared piece (limits, budgets, cooldowns) uses: when
//! Redis is unreachable at start it keeps retrying in the background, and the shared pieces
//! switch on as soon as it connects.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one Redis call may take before the local limiter is used instead.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// The first and the longest wait between connection attempts after a failed start.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// After a failed call, requests leave Redis alone this long (the background cooldown sync keeps
/// probing, and ends the pause as soon as Redis answers again), so an outage costs requests no
/// time-outs beyond the first.
const PAUSE: Duration = Duration::from_secs(2);

const KEY_PREFIX: &str = "llm-gateway:rpm:";

/// The connection to the Redis shared by replicas, possibly not (yet) made.
#[derive(Clone)]
pub(crate) struct RedisLink {
    inner: Arc<LinkInner>,
}

struct LinkInner {
    connection: OnceLock<ConnectionManager>,
    /// Failed background calls (cooldown sync).
    errors: AtomicU64,
    /// Whether the last call failed (so an outage is logged once).
    down: AtomicBool,
    /// Until when (ms after `epoch`) requests do not call Redis; 0: they do.
    paused_until: AtomicU64,
    epoch: std::time::Instant,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink").field("connected", &self.is_connected()).finish_non_exhaustive()
    }
}

async fn connect(client: &redis::Client) -> Result<ConnectionManager, SharedError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(REDIS_TIMEOUT * 4)
        .set_response_timeout(REDIS_TIMEOUT)
        .set_number_of_retries(1);
    tokio::time::timeout(REDIS_TIMEOUT * 8, client.get_connection_manager_with_config(config))
        .await
        .map_err(|_| SharedError("connection timed out".into()))?
        .map_err(|e| unavailable(&e))
}

impl RedisLink {
    /// Connects to `url` (`redis://host:port/db`). When Redis cannot be reached, the link starts
    /// unconnected and a background task retries (backing off to one attempt every 5 s) until it
    /// connects or the link is dropped.
    pub(crate) async fn open(url: &str) -> Self {
        let link = Self {
            inner: Arc::new(LinkInner {
                connection: OnceLock::new(),
                errors: AtomicU64::new(0),
                down: AtomicBool::new(false),
                paused_until: AtomicU64::new(0),
                epoch: std::time::Instant::now(),
            }),
        };
        let client = match redis::Client::open(url) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %unavailable(&e), "invalid redis_url: rate limits are this gateway's own");
                return link;
            }
        };
        match connect(&client).await {
            Ok(c) => {
                let _ = link.inner.connection.set(c);
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "redis unreachable: limits, budgets and cooldowns are this gateway's own until it connects"
                );
                tokio::spawn(retry(client, Arc::downgrade(&link.inner)));
            }
        }
        link
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn paused(&self) -> bool {
        let until = self.inner.paused_until.load(Ordering::Relaxed);
        until != 0 && self.now_ms() < until
    }

    /// The connection for a request: `None` until it is made, and for a while after a failed
    /// call.
    pub(crate) fn connection(&self) -> Option<ConnectionManager> {
        if self.paused() {
            return None;
        }
        self.inner.connection.get().cloned()
    }

    /// The connection even while requests leave Redis alone (for the background probe).
    pub(crate) fn probe_connection(&self) -> Option<ConnectionManager> {
        self.inner.connection.get().cloned()
    }

    /// Whether state is shared now: connected, and the last call did not fail.
    pub(crate) fn is_connected(&self) -> bool {
        self.inner.connection.get().is_some() && !self.paused()
    }

    /// Failed background calls so far.
    pub(crate) fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    /// Counts a failed background call of `what` and logs it if it is the first of an outage.
    pub(crate) fn failed(&self, what: &str, e: &SharedError) {
        self.inner.errors.fetch_add(1, Ordering::Relaxed);
        self.down(what, e);
    }

    /// Pauses requests' Redis calls, and logs a failed call of `what` if it is the first of an
    /// outage.
    pub(crate) fn down(&self, what: &str, e: &SharedError) {
        let until = self.now_ms().saturating_add(PAUSE.as_millis() as u64);
        self.inner.paused_until.store(until, Ordering::Relaxed);
        if !self.inner.down.load(Ordering::Relaxed) && !self.inner.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, what, "redis unavailable: using this gateway's own state");
        }
    }

    /// Notes a successful background call (logs the end of an outage).
    pub(crate) fn succeeded(&self) {
        if self.inner.paused_until.load(Ordering::Relaxed) != 0 {
            self.inner.paused_until.store(0, Ordering::Relaxed);
        }
        if self.inner.down.load(Ordering::Relaxed) && self.inner.down.swap(false, Ordering::Relaxed) {
            tracing::info!("redis reachable again: state is shared");
        }
    }
}

/// Retries connecting until it works or the link is gone.
async fn retry(client: redis::Client, link: Weak<LinkInner>) {
    let mut wait = RETRY_FIRST;
    loop {
        tokio::time::sleep(wait).await;
        let Some(inner) = link.upgrade() else { return };
        match connect(&client).await {
            Ok(c) => {
                let _ = inner.connection.set(c);
                tracing::info!("redis connected: limits, budgets and cooldowns are shared");
                return;
            }
            Err(e) => tracing::debug!(error = %e, "redis still unreachable"),
        }
        wait = (wait * 2).min(RETRY_MAX);
    }
}

/// KEYS: one sorted set per scope. ARGV: window (ms), a unique member, then one limit per key.
/// Returns `{0, 0}` when admitted (and booked everywhere), else `{index, retry_after_ms}`.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return {i, tonumber(oldest[2]) + window - now}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window)
end
return {0, 0}
";

/// A Redis-backed requests-per-minute limiter.
#[derive(Clone)]
pub(crate) struct SharedRpm {
    link: RedisLink,
}

impl std::fmt::Debug for SharedRpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRpm").finish_non_exhaustive()
    }
}

/// The outcome of a shared check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SharedVerdict {
    /// Admitted and booked in every scope.
    Admitted,
    /// Refused by the scope at this index.
    Refused { index: usize, retry_after: Duration },
}

/// Why Redis could not answer (the text never holds the URL).
#[derive(Debug, thiserror::Error)]
#[error("redis unavailable: {0}")]
pub(crate) struct SharedError(pub(crate) String);

pub(crate) fn unavailable(e: &redis::RedisError) -> SharedError {
    SharedError(format!("{:?}", e.kind()))
}

impl SharedRpm {
    /// Limits through `link`.
    pub(crate) fn new(link: RedisLink) -> Self {
        Self { link }
    }

    /// The connection, for metrics.
    pub(crate) fn link(&self) -> &RedisLink {
        &self.link
    }

    /// Checks and books one request against `(scope, rpm)` pairs, atomically across replicas.
    pub(crate) async fn admit(&self, scopes: &[(String, u64)]) -> Result<SharedVerdict, SharedError> {
        if scopes.is_empty() {
            return Ok(SharedVerdict::Admitted);
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT).arg(scopes.len());
        for (scope, _) in scopes {
            cmd.arg(format!("{KEY_PREFIX}{scope}"));
        }
        cmd.arg(60_000u64).arg(uuid::Uuid::new_v4().to_string());
        for (_, limit) in scopes {
            cmd.arg(*limit);
        }
        let Some(mut connection) = self.link.connection() else {
            return Err(SharedError("not connected, or paused after an error".into()));
        };
        let reply: (i64, i64) = tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async(&mut connection))
            .await
            .map_err(|_| SharedError("timed out".into()))
            .and_then(|r| r.map_err(|e| unavailable(&e)))
            .inspect_err(|e| self.link.down("rate limits", e))?;
        self.link.succeeded();
        Ok(match reply {
            (0, _) => SharedVerdict::Admitted,
            (i, ms) => SharedVerdict::Refused {
                index: usize::try_from(i - 1).unwrap_or(0),
                retry_after: Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            },
        })
    }
}
