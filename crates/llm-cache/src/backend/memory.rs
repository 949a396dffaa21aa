//! The in-process backend: a moka cache bounded by bytes, with a time-to-live per entry.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::future::Cache;

use super::{BackendError, CacheBackend};
use crate::CacheEntry;

/// The default memory bound: 64 MiB of serialized entries.
pub const DEFAULT_MEMORY_CAPACITY_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Item {
    entry: Arc<CacheEntry>,
    ttl: Duration,
    weight: u32,
}

struct PerEntryTtl;

impl Expiry<String, Item> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Item, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &Item,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Counts bytes without storing them.
struct ByteCounter(usize);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Entries in process memory (the default backend): a [moka] future cache whose size is the
/// sum of the entries' serialized JSON lengths, bounded by `capacity_bytes`, with each entry
/// evicted after its own time-to-live. Entries are kept decoded, so a hit costs one clone.
///
/// ```
/// use llm_cache::MemoryBackend;
/// let memory = MemoryBackend::new(16 * 1024 * 1024);
/// assert_eq!(memory.entry_count(), 0);
/// ```
#[derive(Clone)]
pub struct MemoryBackend {
    cache: Cache<String, Item>,
    capacity_bytes: u64,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("weighted_size", &self.cache.weighted_size())
            .field("entry_count", &self.cache.entry_count())
            .finish()
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY_CAPACITY_BYTES)
    }
}

impl MemoryBackend {
    /// A cache holding at most `capacity_bytes` of serialized entries.
    pub fn new(capacity_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &String, item: &Item| item.weight.saturating_add(key.len() as u32))
            .expire_after(PerEntryTtl)
            .build();
        Self { cache, capacity_bytes }
    }

    /// The number of entries (approximate until pending maintenance has run).
    pub fn entry_count(&self) -> u64 {
        self.cache.entry_count()
    }

    /// The bytes in use (approximate until pending maintenance has run).
    pub fn weighted_size(&self) -> u64 {
        self.cache.weighted_size()
    }

    /// Runs pending evictions and expirations now, so the counts above are exact.
    pub async fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks().await;
    }
}

fn serialized_len(entry: &CacheEntry) -> u32 {
    let mut counter = ByteCounter(0);
    // Serializing to a counter cannot fail for these types; an error would only undercount.
    let _ = serde_json::to_writer(&mut counter, entry);
    u32::try_from(counter.0).unwrap_or(u32::MAX)
}

#[async_trait]
impl CacheBackend for MemoryBackend {
    async fn get(&self, key: &str) -> Result<Option<Arc<CacheEntry>>, BackendError> {
        Ok(self.cache.get(key).await.map(|item| item.entry))
    }

    async fn put(&self, key: &str, entry: Arc<CacheEntry>, ttl: Duration) -> Result<(), BackendError> {
        if ttl.is_zero() {
            return Ok(());
        }
        let weight = serialized_len(&entry);
        self.cache.insert(key.to_owned(), Item { entry, ttl, weight }).await;
        Ok(())
    }

    async fn remove(&self, key: &str) -> Result<(), BackendError> {
        self.cache.invalidate(key).await;
        Ok(())
    }
}
