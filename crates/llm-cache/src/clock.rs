//! Where the cache reads the time used for entry ages and expiry.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in Unix milliseconds.
///
/// Entry ages (`s-maxage`) and expiry are checked against this clock on every read, so the
/// cache does not depend on the backend's own expiry being exact.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock (the default; right for a cache shared by many replicas).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
}

/// Wall-clock time at creation, advanced by tokio's clock: follows `tokio::time::pause` and
/// `advance`, so expiry can be tested without sleeping.
///
/// ```
/// use llm_cache::{Clock, TokioClock};
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let clock = TokioClock::new();
/// let t0 = clock.now_ms();
/// tokio::time::advance(std::time::Duration::from_secs(5)).await;
/// assert_eq!(clock.now_ms() - t0, 5_000);
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base_ms: u64,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at the system's wall-clock time now.
    pub fn new() -> Self {
        Self { base_ms: SystemClock.now_ms(), start: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> u64 {
        self.base_ms.saturating_add(self.start.elapsed().as_millis() as u64)
    }
}
