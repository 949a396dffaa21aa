//! Requests-per-minute counters shared by every replica through Redis: one Lua script checks and
//! books every scope of a request atomically (sliding one-minute windows kept as sorted sets,
//! timed by the Redis server's clock). When Redis cannot be reached the caller falls back to the
//! in-process limiter, logs it and counts it.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one Redis call may take before the local limiter is used instead.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

const KEY_PREFIX: &str = "llm-gateway:rpm:";

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
    connection: ConnectionManager,
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
pub(crate) struct SharedError(String);

fn unavailable(e: &redis::RedisError) -> SharedError {
    SharedError(format!("{:?}", e.kind()))
}

impl SharedRpm {
    /// Connects to `url` (`redis://host:port/db`).
    pub(crate) async fn connect(url: &str) -> Result<Self, SharedError> {
        let client = redis::Client::open(url).map_err(|e| unavailable(&e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(REDIS_TIMEOUT * 4)
            .set_response_timeout(REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let connection =
            tokio::time::timeout(REDIS_TIMEOUT * 8, client.get_connection_manager_with_config(config))
                .await
                .map_err(|_| SharedError("connection timed out".into()))?
                .map_err(|e| unavailable(&e))?;
        Ok(Self { connection })
    }

    /// The connection, for other shared state.
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.connection.clone()
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
        let mut connection = self.connection.clone();
        let reply: (i64, i64) = tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async(&mut connection))
            .await
            .map_err(|_| SharedError("timed out".into()))?
            .map_err(|e| unavailable(&e))?;
        Ok(match reply {
            (0, _) => SharedVerdict::Admitted,
            (i, ms) => SharedVerdict::Refused {
                index: usize::try_from(i - 1).unwrap_or(0),
                retry_after: Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            },
        })
    }
}
