//! The shared backend: Redis, for a cache seen by many replicas.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{BackendError, CacheBackend};
use crate::CacheEntry;

/// The key prefix used unless [`RedisBackend::with_prefix`] sets another.
pub const DEFAULT_REDIS_PREFIX: &str = "llm-cache:";

/// How long one Redis command may take unless [`RedisBackend::with_timeout`] sets another.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(500);

/// Entries in Redis, as JSON (`SET key value PX ttl`), under a key prefix. Built on the `redis`
/// crate's [`ConnectionManager`], which reconnects by itself after a failure; every command is
/// bounded by a timeout so a stalled server never stalls a request.
///
/// `Debug` shows the prefix and timeout only, never the connection URL (it may hold a password).
///
/// Two levels, memory in front of Redis:
///
/// ```no_run
/// use llm_cache::{CacheLayer, MemoryBackend, RedisBackend, TieredBackend};
/// # async fn demo() -> Result<(), llm_cache::BackendError> {
/// let redis = RedisBackend::connect("redis://127.0.0.1:6379/0").await?.with_prefix("myapp:cache:");
/// let cache = CacheLayer::with_backend(TieredBackend::new(MemoryBackend::new(32 << 20), redis));
/// # let _ = cache;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    connection: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> BackendError {
    // The error's text names the failure (refused, reset, protocol), not the URL.
    BackendError::Unavailable(format!("{:?}: {}", e.kind(), e.detail().unwrap_or("")))
}

impl RedisBackend {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379/0`).
    pub async fn connect(url: &str) -> Result<Self, BackendError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(DEFAULT_REDIS_TIMEOUT)
            .set_response_timeout(DEFAULT_REDIS_TIMEOUT)
            .set_number_of_retries(1);
        let connection = tokio::time::timeout(
            DEFAULT_REDIS_TIMEOUT * 4,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| BackendError::Timeout(DEFAULT_REDIS_TIMEOUT * 4))?
        .map_err(unavailable)?;
        Ok(Self::from_connection(connection))
    }

    /// Uses an existing connection manager.
    pub fn from_connection(connection: ConnectionManager) -> Self {
        Self { connection, prefix: Arc::from(DEFAULT_REDIS_PREFIX), timeout: DEFAULT_REDIS_TIMEOUT }
    }

    /// Puts every key under `prefix` (default [`DEFAULT_REDIS_PREFIX`]).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// Bounds every command by `timeout` (default [`DEFAULT_REDIS_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn full_key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.prefix.len() + key.len());
        full.push_str(&self.prefix);
        full.push_str(key);
        full
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, BackendError> {
        let mut connection = self.connection.clone();
        match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut connection)).await {
            Err(_) => Err(BackendError::Timeout(self.timeout)),
            Ok(result) => result.map_err(unavailable),
        }
    }
}

#[async_trait]
impl CacheBackend for RedisBackend {
    async fn get(&self, key: &str) -> Result<Option<Arc<CacheEntry>>, BackendError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.full_key(key));
        let bytes: Option<Vec<u8>> = self.run(cmd).await?;
        match bytes {
            None => Ok(None),
            Some(bytes) => CacheEntry::from_json(&bytes)
                .map(|e| Some(Arc::new(e)))
                .map_err(|e| BackendError::Corrupt(e.message().to_owned())),
        }
    }

    async fn put(&self, key: &str, entry: Arc<CacheEntry>, ttl: Duration) -> Result<(), BackendError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            return Ok(());
        }
        let json = entry.to_json().map_err(|e| BackendError::Corrupt(e.message().to_owned()))?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.full_key(key)).arg(json).arg("PX").arg(ttl_ms);
        self.run::<()>(cmd).await
    }

    async fn remove(&self, key: &str) -> Result<(), BackendError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.full_key(key));
        self.run::<()>(cmd).await
    }
}
