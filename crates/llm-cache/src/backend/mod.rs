//! Where entries live: the [`CacheBackend`] trait and its implementations.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::CacheEntry;

mod memory;
#[cfg(feature = "redis")]
mod redis;
mod tiered;

pub use memory::{DEFAULT_MEMORY_CAPACITY_BYTES, MemoryBackend};
#[cfg(feature = "redis")]
pub use redis::{DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT, RedisBackend};
pub use tiered::TieredBackend;

/// A failure of the cache store itself. The cache layer never fails a request because of one: it
/// logs it, counts it in [`CacheStats::backend_errors`](crate::CacheStats) and goes upstream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The store did not answer in time.
    #[error("cache backend timed out after {0:?}")]
    Timeout(Duration),
    /// The store could not be reached or refused the command.
    #[error("cache backend unavailable: {0}")]
    Unavailable(String),
    /// A stored value is not a valid entry.
    #[error("stored cache entry is invalid: {0}")]
    Corrupt(String),
}

/// A key-value store for [`CacheEntry`]s.
///
/// Keys arrive complete (namespace included); a backend may add its own prefix. Expiry is
/// checked again by the cache layer on every read, so a backend's own expiry only has to reclaim
/// space.
#[async_trait]
pub trait CacheBackend: Send + Sync + fmt::Debug + 'static {
    /// The entry stored under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Arc<CacheEntry>>, BackendError>;

    /// Stores `entry` under `key` for `ttl`.
    async fn put(&self, key: &str, entry: Arc<CacheEntry>, ttl: Duration) -> Result<(), BackendError>;

    /// Removes the entry stored under `key`, if any.
    async fn remove(&self, key: &str) -> Result<(), BackendError>;
}

#[async_trait]
impl<B: CacheBackend + ?Sized> CacheBackend for Arc<B> {
    async fn get(&self, key: &str) -> Result<Option<Arc<CacheEntry>>, BackendError> {
        (**self).get(key).await
    }

    async fn put(&self, key: &str, entry: Arc<CacheEntry>, ttl: Duration) -> Result<(), BackendError> {
        (**self).put(key, entry, ttl).await
    }

    async fn remove(&self, key: &str) -> Result<(), BackendError> {
        (**self).remove(key).await
    }
}
