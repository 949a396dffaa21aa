//! Router cooldowns shared by every replica through Redis.
//!
//! The router asks its cooldown store on every pick, so [`SharedCooldowns`] answers from memory:
//! its own [`InMemoryCooldownStore`] (this replica's failures) and a view of the cooldowns every
//! replica started, refreshed by a background task. A failure is also counted in Redis (fire and
//! forget): one Lua script counts failures per deployment within the policy's window and, past
//! `allowed_fails` (or at once for `immediate` failures), puts the deployment in a sorted set of
//! cooldowns scored by their end (Redis server time). The background task reads that set in one
//! round trip every [`POLL`]. Redis errors never fail a request: they are counted (metric
//! `llm_gateway_redis_errors_total`) and logged once per outage, and the local view goes on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use llm_router::{CooldownPolicy, CooldownStore, InMemoryCooldownStore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::shared::{LuaScript, RedisLink, SharedError, unavailable};

/// How often the cooldowns started by other replicas are read.
pub(crate) const POLL: Duration = Duration::from_millis(250);
const TIMEOUT: Duration = Duration::from_secs(1);
/// The key (after the link's prefix) of the sorted set of cooldowns.
const COOLDOWNS: &str = "cooldowns";

/// KEYS: the deployment's failure counter, the set of cooldowns. ARGV: deployment id, window (ms),
/// allowed fails, immediate (0/1), cooldown (ms). Returns 1 when the deployment cools down.
static RECORD: LuaScript = LuaScript::new(
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fails = redis.call('INCR', KEYS[1])
if fails == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if ARGV[4] == '1' or fails > tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  local ends = now + tonumber(ARGV[5])
  local current = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or '0')
  if ends > current then redis.call('ZADD', KEYS[2], ends, ARGV[1]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  return 1
end
return 0
",
);

/// KEYS: the set of cooldowns. Drops ended ones; returns `{id, remaining ms, ...}`.
static READ: LuaScript = LuaScript::new(
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #all, 2 do
  out[#out + 1] = all[i]
  out[#out + 1] = tonumber(all[i + 1]) - now
end
return out
",
);

/// A [`CooldownStore`] shared through Redis; the background sync stops when it is dropped.
pub(crate) struct SharedCooldowns {
    inner: Arc<Inner>,
    sync: JoinHandle<()>,
}

struct Inner {
    local: InMemoryCooldownStore,
    link: RedisLink,
    /// When each cooldown started anywhere ends.
    remote: RwLock<HashMap<String, Instant>>,
    epoch: Instant,
    /// When the last remote cooldown ends, in nanoseconds after `epoch` (0: none).
    horizon: AtomicU64,
}

impl std::fmt::Debug for SharedCooldowns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCooldowns").field("local", &self.inner.local).finish_non_exhaustive()
    }
}

impl Drop for SharedCooldowns {
    fn drop(&mut self) {
        self.sync.abort();
    }
}

impl SharedCooldowns {
    /// Cooldowns through `link` (which may connect later); starts the background sync on the
    /// current tokio runtime.
    pub(crate) fn start(link: RedisLink) -> Self {
        let inner = Arc::new(Inner {
            local: InMemoryCooldownStore::new(),
            link,
            remote: RwLock::default(),
            epoch: Instant::now(),
            horizon: AtomicU64::new(0),
        });
        let sync = tokio::spawn(sync(Arc::clone(&inner)));
        Self { inner, sync }
    }
}

impl Inner {
    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn remote_remaining(&self, deployment: &str) -> Option<Duration> {
        let now = Instant::now();
        if self.nanos(now) >= self.horizon.load(Ordering::Acquire) {
            return None;
        }
        let remote = self.remote.read().unwrap_or_else(|p| p.into_inner());
        let left = remote.get(deployment)?.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// Reads every running cooldown from Redis into the remote view.
    async fn refresh(&self) -> Result<(), SharedError> {
        let Some(mut c) = self.link.probe_connection() else { return Ok(()) };
        let mut call = READ.prepare();
        call.key(self.link.key(COOLDOWNS));
        let reply: Vec<redis::Value> = tokio::time::timeout(TIMEOUT, call.invoke(&mut c))
            .await
            .map_err(|_| SharedError("timed out".into()))?
            .map_err(|e| unavailable(&e))?;
        let now = Instant::now();
        let mut view = HashMap::with_capacity(reply.len() / 2);
        let mut last = now;
        for pair in reply.chunks_exact(2) {
            let (redis::Value::BulkString(id), redis::Value::Int(ms)) = (&pair[0], &pair[1]) else {
                continue;
            };
            let (Ok(id), Ok(ms)) = (std::str::from_utf8(id), u64::try_from(*ms)) else { continue };
            let ends = now + Duration::from_millis(ms);
            last = last.max(ends);
            view.insert(id.to_owned(), ends);
        }
        let horizon = if view.is_empty() { 0 } else { self.nanos(last) };
        *self.remote.write().unwrap_or_else(|p| p.into_inner()) = view;
        self.horizon.store(horizon, Ordering::Release);
        Ok(())
    }
}

async fn sync(inner: Arc<Inner>) {
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match inner.refresh().await {
            Ok(()) => inner.link.succeeded(),
            Err(e) => inner.link.failed("cooldowns", &e),
        }
    }
}

/// Counts a failure of `deployment` in Redis.
async fn record(link: RedisLink, deployment: String, immediate: bool, policy: CooldownPolicy) {
    let Some(mut c) = link.connection() else { return };
    let mut call = RECORD.prepare();
    call.key(link.key(&format!("cooldown-fails:{deployment}")))
        .key(link.key(COOLDOWNS))
        .arg(&deployment)
        .arg(policy.window.as_millis().max(1) as u64)
        .arg(policy.allowed_fails)
        .arg(u8::from(immediate))
        .arg(policy.cooldown_time.as_millis() as u64);
    let done = tokio::time::timeout(TIMEOUT, call.invoke::<i64>(&mut c)).await;
    match done {
        Ok(Ok(_)) => link.succeeded(),
        Ok(Err(e)) => link.failed("cooldowns", &unavailable(&e)),
        Err(_) => link.failed("cooldowns", &SharedError("timed out".into())),
    }
}

impl CooldownStore for SharedCooldowns {
    fn record_failure(&self, deployment: &str, immediate: bool, policy: &CooldownPolicy) -> bool {
        let local = self.inner.local.record_failure(deployment, immediate, policy);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            if self.inner.link.is_connected() {
                let link = self.inner.link.clone();
                runtime.spawn(record(link, deployment.to_owned(), immediate, *policy));
            }
        }
        local || self.inner.remote_remaining(deployment).is_some()
    }

    fn cooldown_remaining(&self, deployment: &str) -> Option<Duration> {
        match (self.inner.local.cooldown_remaining(deployment), self.inner.remote_remaining(deployment)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn any_cooling_down(&self) -> bool {
        self.inner.local.any_cooling_down()
            || self.inner.nanos(Instant::now()) < self.inner.horizon.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS: &str = "redis://127.0.0.1:6379";

    /// A link to the local Redis with keys of its own: other tests' cooldowns in the shared set
    /// would otherwise show here.
    async fn link() -> Option<RedisLink> {
        let prefix = format!("llm-gateway-test-{}:", uuid::Uuid::new_v4());
        let link = RedisLink::open(REDIS).await.with_key_prefix(&prefix);
        if link.is_connected() {
            return Some(link);
        }
        assert!(
            std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "Redis at {REDIS} is required"
        );
        println!("skipping: Redis at {REDIS} is unreachable");
        None
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(3);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failures_on_two_replicas_add_up_to_one_shared_cooldown() {
        let Some(link) = link().await else { return };
        let (one, two) = (SharedCooldowns::start(link.clone()), SharedCooldowns::start(link.clone()));
        let id = format!("unit-{}", uuid::Uuid::new_v4());
        let policy = CooldownPolicy {
            allowed_fails: 1,
            window: Duration::from_secs(10),
            cooldown_time: Duration::from_secs(2),
        };
        assert!(!one.any_cooling_down());
        // One failure on each: each replica alone tolerates it, together they are one too many.
        assert!(!one.record_failure(&id, false, &policy));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!two.record_failure(&id, false, &policy));
        until("both replicas see the cooldown", || {
            one.cooldown_remaining(&id).is_some() && two.cooldown_remaining(&id).is_some()
        })
        .await;
        assert!(one.any_cooling_down() && two.any_cooling_down());
        assert!(one.cooldown_remaining(&id).unwrap() <= Duration::from_secs(2));
        assert!(one.cooldown_remaining("some-other-deployment").is_none());
        // It ends everywhere at the same time (timed by Redis).
        until("the cooldown ends", || one.cooldown_remaining(&id).is_none()).await;
        until("the cooldown ends on two", || two.cooldown_remaining(&id).is_none()).await;
        until("nothing cools down", || !one.any_cooling_down() && !two.any_cooling_down()).await;
        assert_eq!(link.errors(), 0);

        // Dropping a store stops its sync task.
        let inner = Arc::clone(&one.inner);
        drop(one);
        until("the sync task is gone", || Arc::strong_count(&inner) == 1).await;
    }

    #[tokio::test]
    async fn an_unreachable_redis_leaves_local_cooldowns() {
        // Nothing listens on port 1: the link never connects, the store works alone.
        let store = SharedCooldowns::start(RedisLink::open("redis://127.0.0.1:1").await);
        let policy = CooldownPolicy { allowed_fails: 0, ..CooldownPolicy::default() };
        assert!(store.record_failure("a", false, &policy));
        assert!(store.cooldown_remaining("a").is_some());
        assert!(store.cooldown_remaining("b").is_none());
    }
}
