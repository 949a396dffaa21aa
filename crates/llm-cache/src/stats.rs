//! Counters of what the cache did.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters, shared by every clone of a cache layer and its services.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) stores: AtomicU64,
    pub(crate) bypassed: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
    pub(crate) streams_not_stored: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            stores: self.stores.load(Ordering::Relaxed),
            bypassed: self.bypassed.load(Ordering::Relaxed),
            backend_errors: self.backend_errors.load(Ordering::Relaxed),
            streams_not_stored: self.streams_not_stored.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Requests answered from the cache.
    pub hits: u64,
    /// Requests that looked and found nothing usable (or were told not to look).
    pub misses: u64,
    /// Requests that waited for an identical in-flight request instead of going upstream.
    pub coalesced: u64,
    /// Responses written to the backend.
    pub stores: u64,
    /// Requests the key maker declined to key (passed through untouched).
    pub bypassed: u64,
    /// Backend failures (each logged and otherwise ignored).
    pub backend_errors: u64,
    /// Streams that ended in an error, were cut off or dropped early, and so were not stored.
    pub streams_not_stored: u64,
}
