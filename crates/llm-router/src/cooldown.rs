//! Cooldowns: taking a failing deployment out of rotation for a while.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;

/// When a failing deployment is taken out, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CooldownPolicy {
    /// Failures tolerated within `window`; one more starts a cooldown.
    pub allowed_fails: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// How long a deployment stays out.
    pub cooldown_time: Duration,
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        Self { allowed_fails: 3, window: Duration::from_secs(60), cooldown_time: Duration::from_secs(5) }
    }
}

/// Where cooldown state lives. The router asks it on every pick, so implementations must answer
/// without I/O: a shared (e.g. Redis-backed) store keeps a local view and syncs it in the
/// background. Deployment ids are the keys.
///
/// ```
/// use std::time::Duration;
/// use llm_router::{CooldownPolicy, CooldownStore, InMemoryCooldownStore};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = InMemoryCooldownStore::new();
/// let policy = CooldownPolicy { allowed_fails: 0, ..CooldownPolicy::default() };
/// assert!(store.record_failure("a", false, &policy));
/// assert!(store.cooldown_remaining("a").is_some());
/// assert!(store.cooldown_remaining("b").is_none());
/// # }
/// ```
pub trait CooldownStore: Send + Sync + 'static {
    /// Records a failure of `deployment`; `immediate` failures (401, 404, 429) start a cooldown at
    /// once. Returns whether the deployment is cooling down now.
    fn record_failure(&self, deployment: &str, immediate: bool, policy: &CooldownPolicy) -> bool;

    /// How long `deployment` stays out, or `None` when it is in rotation.
    fn cooldown_remaining(&self, deployment: &str) -> Option<Duration>;

    /// Whether any deployment may be cooling down; `false` lets the router skip the per-deployment
    /// lookups. The default is the safe `true`.
    fn any_cooling_down(&self) -> bool {
        true
    }
}

impl<S: CooldownStore + ?Sized> CooldownStore for Arc<S> {
    fn record_failure(&self, deployment: &str, immediate: bool, policy: &CooldownPolicy) -> bool {
        (**self).record_failure(deployment, immediate, policy)
    }

    fn cooldown_remaining(&self, deployment: &str) -> Option<Duration> {
        (**self).cooldown_remaining(deployment)
    }

    fn any_cooling_down(&self) -> bool {
        (**self).any_cooling_down()
    }
}

#[derive(Debug, Default)]
struct Entry {
    window_start: Option<Instant>,
    fails: u32,
    until: Option<Instant>,
}

/// A process-local [`CooldownStore`] on tokio's clock.
pub struct InMemoryCooldownStore {
    entries: RwLock<HashMap<Arc<str>, Entry>>,
    epoch: Instant,
    /// When the last running cooldown ends, in nanoseconds after `epoch`: past it, no lookup is
    /// needed (the common case of a healthy fleet).
    horizon: AtomicU64,
}

impl Default for InMemoryCooldownStore {
    fn default() -> Self {
        Self { entries: RwLock::default(), epoch: Instant::now(), horizon: AtomicU64::new(0) }
    }
}

impl InMemoryCooldownStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn nanos_since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }
}

impl fmt::Debug for InMemoryCooldownStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.read().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("InMemoryCooldownStore").field("deployments", &n).finish()
    }
}

impl CooldownStore for InMemoryCooldownStore {
    fn record_failure(&self, deployment: &str, immediate: bool, policy: &CooldownPolicy) -> bool {
        let now = Instant::now();
        let mut entries = match self.entries.write() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = match entries.get_mut(deployment) {
            Some(e) => e,
            None => entries.entry(Arc::from(deployment)).or_default(),
        };
        if entry.until.is_some_and(|u| u > now) {
            return true;
        }
        if entry.window_start.is_none_or(|s| now.saturating_duration_since(s) >= policy.window) {
            entry.window_start = Some(now);
            entry.fails = 0;
        }
        entry.fails = entry.fails.saturating_add(1);
        if immediate || entry.fails > policy.allowed_fails {
            let until = now + policy.cooldown_time;
            entry.until = Some(until);
            self.horizon.fetch_max(self.nanos_since_epoch(until), Ordering::AcqRel);
            entry.fails = 0;
            entry.window_start = None;
            tracing::warn!(deployment, cooldown = ?policy.cooldown_time, "deployment cooling down");
            return true;
        }
        false
    }

    fn cooldown_remaining(&self, deployment: &str) -> Option<Duration> {
        let now = Instant::now();
        if self.nanos_since_epoch(now) >= self.horizon.load(Ordering::Acquire) {
            return None;
        }
        let entries = match self.entries.read() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        let until = entries.get(deployment)?.until?;
        let left = until.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    fn any_cooling_down(&self) -> bool {
        self.nanos_since_epoch(Instant::now()) < self.horizon.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failures_within_the_window_start_a_cooldown_that_ends() {
        let store = InMemoryCooldownStore::new();
        let policy = CooldownPolicy {
            allowed_fails: 2,
            window: Duration::from_secs(10),
            cooldown_time: Duration::from_secs(5),
        };
        assert!(!store.record_failure("a", false, &policy));
        assert!(!store.record_failure("a", false, &policy));
        assert!(store.cooldown_remaining("a").is_none());
        assert!(store.record_failure("a", false, &policy));
        assert_eq!(store.cooldown_remaining("a"), Some(Duration::from_secs(5)));
        assert!(store.any_cooling_down());
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(store.cooldown_remaining("a").is_none());
        assert!(!store.any_cooling_down());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_spread_over_windows_do_not_add_up() {
        let store = InMemoryCooldownStore::new();
        let policy = CooldownPolicy { allowed_fails: 1, ..CooldownPolicy::default() };
        for _ in 0..5 {
            assert!(!store.record_failure("a", false, &policy));
            tokio::time::advance(Duration::from_secs(61)).await;
        }
        assert!(store.record_failure("b", true, &policy), "immediate failures cool down at once");
    }
}
