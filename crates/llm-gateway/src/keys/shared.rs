//! Requests-per-minute counters shared by every replica through Redis: one Lua script checks and
//! books every scope of a request atomically (sliding one-minute windows kept as sorted sets,
//! timed by the Redis server's clock). When Redis cannot be reached the caller falls back to the
//! in-process limiter, logs it and counts it.
//!
//! Scripts go by their SHA-1 (`EVALSHA`) and in full only when Redis lacks them ([`LuaScript`]).
//! Every key the gateway writes starts with the link's prefix (`llm-gateway:` by default).
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

/// What every Redis key the gateway writes starts with, unless set otherwise.
pub(crate) const DEFAULT_KEY_PREFIX: &str = "llm-gateway:";

/// The connection to the Redis shared by replicas, possibly not (yet) made.
#[derive(Clone)]
pub(crate) struct RedisLink {
    inner: Arc<LinkInner>,
    /// What every key written through this link starts with.
    prefix: Arc<str>,
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
            prefix: Arc::from(DEFAULT_KEY_PREFIX),
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

    /// The link with every key it writes starting with `prefix` instead of
    /// [`DEFAULT_KEY_PREFIX`] (so that gateways of different deployments can share one Redis).
    pub(crate) fn with_key_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Arc::from(prefix);
        self
    }

    /// The Redis key `name`, with the link's prefix.
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
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

/// A Lua script sent by its SHA-1 (`EVALSHA`), and in full (`EVAL`) only when the server does not
/// have it cached (`NOSCRIPT`: its first use, or after a Redis restart or `SCRIPT FLUSH`) — the
/// behaviour of `redis::Script`, whose crate feature this build does not enable.
pub(crate) struct LuaScript {
    code: &'static str,
    sha: OnceLock<String>,
}

impl LuaScript {
    /// The script `code`.
    pub(crate) const fn new(code: &'static str) -> Self {
        Self { code, sha: OnceLock::new() }
    }

    /// The SHA-1 of the code, hex: the name Redis caches the script under.
    pub(crate) fn sha(&self) -> &str {
        self.sha.get_or_init(|| sha1_hex(self.code.as_bytes()))
    }

    /// A call of the script, to give keys and arguments to.
    pub(crate) fn prepare(&self) -> ScriptCall<'_> {
        ScriptCall { script: self, keys: Vec::new(), args: Vec::new() }
    }
}

/// One call of a [`LuaScript`]: its keys and arguments.
pub(crate) struct ScriptCall<'a> {
    script: &'a LuaScript,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl ScriptCall<'_> {
    /// Adds a key (`KEYS[n]`).
    pub(crate) fn key(&mut self, key: impl redis::ToRedisArgs) -> &mut Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    /// Adds an argument (`ARGV[n]`).
    pub(crate) fn arg(&mut self, arg: impl redis::ToRedisArgs) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    fn cmd(&self, verb: &str, script: &str) -> redis::Cmd {
        let mut cmd = redis::cmd(verb);
        cmd.arg(script).arg(self.keys.len()).arg(&self.keys).arg(&self.args);
        cmd
    }

    /// Runs the script by its SHA-1, sending it in full when Redis does not know it.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        connection: &mut impl redis::aio::ConnectionLike,
    ) -> redis::RedisResult<T> {
        match self.cmd("EVALSHA", self.script.sha()).query_async(connection).await {
            Err(e) if e.kind() == redis::ErrorKind::NoScriptError => {
                // `EVAL` also caches the script, under the same SHA-1, for the next calls.
                self.cmd("EVAL", self.script.code).query_async(connection).await
            }
            reply => reply,
        }
    }
}

/// SHA-1 (FIPS 180-4) of `data`, hex. Only names scripts for Redis; not used for security.
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().map(|x| format!("{x:08x}")).collect()
}

/// KEYS: one sorted set per scope. ARGV: window (ms), a unique member, then one limit per key.
/// Returns `{0, 0}` when admitted (and booked everywhere), else `{index, retry_after_ms}`.
static SCRIPT: LuaScript = LuaScript::new(
    r"
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
",
);

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
        let mut call = SCRIPT.prepare();
        for (scope, _) in scopes {
            call.key(self.link.key(&format!("rpm:{scope}")));
        }
        call.arg(60_000u64).arg(uuid::Uuid::new_v4().to_string());
        for (_, limit) in scopes {
            call.arg(*limit);
        }
        let Some(mut connection) = self.link.connection() else {
            return Err(SharedError("not connected, or paused after an error".into()));
        };
        let reply: (i64, i64) = tokio::time::timeout(REDIS_TIMEOUT, call.invoke(&mut connection))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            sha1_hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(sha1_hex(&[b'a'; 1000]), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
        // A script, named as Redis names it.
        assert_eq!(sha1_hex(b"return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
    }

    /// A connection that records the commands it gets and answers from a list.
    struct Recorder {
        sent: Vec<Vec<String>>,
        replies: std::collections::VecDeque<redis::RedisResult<redis::Value>>,
    }

    impl redis::aio::ConnectionLike for Recorder {
        fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
            let args = cmd
                .args_iter()
                .map(|a| match a {
                    redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                    redis::Arg::Cursor => "<cursor>".into(),
                })
                .collect();
            self.sent.push(args);
            let reply = self.replies.pop_front().unwrap_or(Ok(redis::Value::Nil));
            Box::pin(async move { reply })
        }

        fn req_packed_commands<'a>(
            &'a mut self,
            _: &'a redis::Pipeline,
            _: usize,
            _: usize,
        ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
            Box::pin(async { Ok(Vec::new()) })
        }

        fn get_db(&self) -> i64 {
            0
        }
    }

    #[tokio::test]
    async fn scripts_go_by_sha_and_in_full_only_when_redis_lacks_them() {
        static ONE: LuaScript = LuaScript::new("return ARGV[1] + 0");
        let noscript = || Err(redis::RedisError::from((redis::ErrorKind::NoScriptError, "NOSCRIPT")));
        let mut c = Recorder {
            sent: Vec::new(),
            replies: [noscript(), Ok(redis::Value::Int(7)), Ok(redis::Value::Int(8))].into(),
        };
        let mut call = ONE.prepare();
        call.key("k1").key("k2").arg(7u64);
        // Unknown to Redis: `EVALSHA` fails, `EVAL` sends it.
        assert_eq!(call.invoke::<i64>(&mut c).await.unwrap(), 7);
        // Known: `EVALSHA` alone.
        assert_eq!(call.invoke::<i64>(&mut c).await.unwrap(), 8);
        let sha = sha1_hex(b"return ARGV[1] + 0");
        let expect = |verb: &str, script: &str| -> Vec<String> {
            [verb, script, "2", "k1", "k2", "7"].map(str::to_owned).to_vec()
        };
        assert_eq!(
            c.sent,
            vec![expect("EVALSHA", &sha), expect("EVAL", "return ARGV[1] + 0"), expect("EVALSHA", &sha)]
        );
        // Other errors are not retried.
        let mut c = Recorder {
            sent: Vec::new(),
            replies: [Err(redis::RedisError::from((redis::ErrorKind::IoError, "gone")))].into(),
        };
        assert!(call.invoke::<i64>(&mut c).await.is_err());
        assert_eq!(c.sent.len(), 1);
    }

    #[tokio::test]
    async fn key_prefixes_keep_deployments_apart() {
        let link = RedisLink::open("redis://127.0.0.1:6379").await;
        let Some(mut c) = link.connection() else {
            assert!(
                std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "Redis at 127.0.0.1:6379 is required"
            );
            println!("skipping: Redis at 127.0.0.1:6379 is unreachable");
            return;
        };
        let scope = format!("key:unit-{}", uuid::Uuid::new_v4());
        let limit = [(scope.clone(), 1u64)];
        let (default, same) = (SharedRpm::new(link.clone()), SharedRpm::new(link.clone()));
        let other = SharedRpm::new(link.clone().with_key_prefix("other-gateway:"));
        assert_eq!(default.admit(&limit).await.unwrap(), SharedVerdict::Admitted);
        assert!(matches!(same.admit(&limit).await.unwrap(), SharedVerdict::Refused { index: 0, .. }));
        assert_eq!(other.admit(&limit).await.unwrap(), SharedVerdict::Admitted);
        for key in [format!("llm-gateway:rpm:{scope}"), format!("other-gateway:rpm:{scope}")] {
            let exists: bool = redis::cmd("EXISTS").arg(&key).query_async(&mut c).await.unwrap();
            assert!(exists, "{key}");
            let _: () = redis::cmd("DEL").arg(&key).query_async(&mut c).await.unwrap();
        }
    }

    #[tokio::test]
    async fn redis_names_scripts_by_the_same_sha() {
        let link = RedisLink::open("redis://127.0.0.1:6379").await;
        let Some(mut c) = link.connection() else {
            assert!(
                std::env::var("LLM_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "Redis at 127.0.0.1:6379 is required"
            );
            println!("skipping: Redis at 127.0.0.1:6379 is unreachable");
            return;
        };
        static CHECK: LuaScript = LuaScript::new("return 'llm-gateway sha check ' .. ARGV[1]");
        let mut call = CHECK.prepare();
        call.arg(uuid::Uuid::new_v4().to_string());
        let first: String = call.invoke(&mut c).await.unwrap();
        assert!(first.starts_with("llm-gateway sha check "), "{first}");
        let loaded: String =
            redis::cmd("SCRIPT").arg("LOAD").arg(CHECK.code).query_async(&mut c).await.unwrap();
        assert_eq!(loaded, CHECK.sha());
        let again: String = call.invoke(&mut c).await.unwrap();
        assert_eq!(again, first);
    }
}
