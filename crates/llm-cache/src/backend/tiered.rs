//! Two levels: process memory in front of a shared backend.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{BackendError, CacheBackend, MemoryBackend};
use crate::{CacheEntry, Clock, SystemClock};

/// Memory in front of a shared backend (typically Redis): reads try memory first and fill it
/// from the remote on a remote hit (for the entry's remaining lifetime); writes go to both.
///
/// A remote failure on a read that missed memory, or on a write, is reported as the error (the
/// memory level is still written).
///
/// ```
/// use llm_cache::{MemoryBackend, TieredBackend};
/// let shared = MemoryBackend::default(); // stands in for a `RedisBackend`
/// let tiered = TieredBackend::new(MemoryBackend::new(8 << 20), shared);
/// # let _ = tiered;
/// ```
#[derive(Debug, Clone)]
pub struct TieredBackend<R> {
    memory: MemoryBackend,
    remote: R,
    clock: Arc<dyn Clock>,
}

impl<R: CacheBackend> TieredBackend<R> {
    /// `memory` in front of `remote`.
    pub fn new(memory: MemoryBackend, remote: R) -> Self {
        Self { memory, remote, clock: Arc::new(SystemClock) }
    }

    /// The clock used to compute an entry's remaining lifetime when memory is filled from the
    /// remote (the system clock by default).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The memory level.
    pub fn memory(&self) -> &MemoryBackend {
        &self.memory
    }

    /// The remote level.
    pub fn remote(&self) -> &R {
        &self.remote
    }
}

#[async_trait]
impl<R: CacheBackend> CacheBackend for TieredBackend<R> {
    async fn get(&self, key: &str) -> Result<Option<Arc<CacheEntry>>, BackendError> {
        if let Some(entry) = self.memory.get(key).await? {
            return Ok(Some(entry));
        }
        let Some(entry) = self.remote.get(key).await? else { return Ok(None) };
        let remaining = entry.remaining_ttl(self.clock.now_ms());
        self.memory.put(key, entry.clone(), remaining).await?;
        Ok(Some(entry))
    }

    async fn put(&self, key: &str, entry: Arc<CacheEntry>, ttl: Duration) -> Result<(), BackendError> {
        self.memory.put(key, entry.clone(), ttl).await?;
        self.remote.put(key, entry, ttl).await
    }

    async fn remove(&self, key: &str) -> Result<(), BackendError> {
        self.memory.remove(key).await?;
        self.remote.remove(key).await
    }
}
