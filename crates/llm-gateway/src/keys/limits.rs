//! In-process rate limits: requests and tokens per minute (sliding one-minute windows) and
//! requests in flight, per scope (`key:<hash>`, `team:<id>`). Checking and booking every scope of
//! a request happen under one lock, so concurrent requests cannot together pass a limit.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hashbrown::HashMap;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(60);

/// The limits of one scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScopeLimits {
    /// `key:<hash>` or `team:<id>`.
    pub(crate) scope: String,
    pub(crate) rpm: Option<u64>,
    pub(crate) tpm: Option<u64>,
    pub(crate) parallel: Option<u32>,
}

/// Which limit refused a request, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LimitRefusal {
    /// `rpm`, `tpm` or `parallel`.
    pub(crate) limit: &'static str,
    /// The refusing scope.
    pub(crate) scope: String,
    pub(crate) retry_after: Duration,
}

#[derive(Default)]
struct Usage {
    requests: VecDeque<Instant>,
    /// Whether the scope's last admission had a tokens-per-minute limit: only then are its
    /// tokens kept (a caller without one, the master key say, would otherwise keep a minute of
    /// every request's tokens).
    counts_tokens: bool,
    tokens: VecDeque<(Instant, u64)>,
    token_sum: u64,
    in_flight: u32,
}

impl Usage {
    fn expire(&mut self, now: Instant) {
        while self.requests.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            self.requests.pop_front();
        }
        while let Some((t, n)) = self.tokens.front().copied() {
            if now.duration_since(t) < WINDOW {
                break;
            }
            self.tokens.pop_front();
            self.token_sum = self.token_sum.saturating_sub(n);
        }
    }
}

/// Rate-limit state of every scope.
#[derive(Default)]
pub(crate) struct Limiter {
    scopes: Mutex<HashMap<String, Usage>>,
    /// Set once any scope has been admitted under a tokens-per-minute limit; until then
    /// [`record_tokens`](Self::record_tokens) returns without building scope names or locking.
    any_tpm: AtomicBool,
}

/// A request admitted: releases its parallel slots when dropped.
pub(crate) struct Admission {
    limiter: Arc<Limiter>,
    parallel: Vec<String>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut map = self.limiter.lock();
        for scope in &self.parallel {
            if let Some(u) = map.get_mut(scope) {
                u.in_flight = u.in_flight.saturating_sub(1);
            }
        }
    }
}

fn until_expiry(oldest: Instant, now: Instant) -> Duration {
    let left = WINDOW.saturating_sub(now.duration_since(oldest));
    // Whole seconds, at least one (for `retry-after`).
    Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(Duration::from_secs(1))
}

impl Limiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Usage>> {
        self.scopes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a request against every scope's limits, or refuses it without booking anything.
    pub(crate) fn admit(self: &Arc<Self>, limits: &[ScopeLimits]) -> Result<Admission, LimitRefusal> {
        let now = Instant::now();
        let mut map = self.lock();
        for l in limits {
            let u = map.entry_ref(l.scope.as_str()).or_default();
            u.expire(now);
            let refuse = |limit, retry_after| LimitRefusal { limit, scope: l.scope.clone(), retry_after };
            if let Some(rpm) = l.rpm
                && u.requests.len() as u64 >= rpm
            {
                let oldest = u.requests.front().copied().unwrap_or(now);
                return Err(refuse("rpm", until_expiry(oldest, now)));
            }
            if let Some(tpm) = l.tpm
                && u.token_sum >= tpm
            {
                let oldest = u.tokens.front().map(|(t, _)| *t).unwrap_or(now);
                return Err(refuse("tpm", until_expiry(oldest, now)));
            }
            if let Some(max) = l.parallel
                && u.in_flight >= max
            {
                return Err(refuse("parallel", Duration::from_secs(1)));
            }
        }
        let mut parallel = Vec::new();
        for l in limits {
            let u = map.entry_ref(l.scope.as_str()).or_default();
            u.counts_tokens = l.tpm.is_some();
            if u.counts_tokens {
                self.any_tpm.store(true, Ordering::Relaxed);
            } else {
                u.tokens.clear();
                u.token_sum = 0;
            }
            if l.rpm.is_some() {
                u.requests.push_back(now);
            }
            if l.parallel.is_some() {
                u.in_flight += 1;
                parallel.push(l.scope.clone());
            }
        }
        Ok(Admission { limiter: Arc::clone(self), parallel })
    }

    /// Whether any scope counts tokens (has been admitted under a tokens-per-minute limit).
    pub(crate) fn counts_tokens(&self) -> bool {
        self.any_tpm.load(Ordering::Relaxed)
    }

    /// Counts `tokens` really used against those of `scopes` whose last admission had a
    /// tokens-per-minute limit; other scopes keep nothing.
    pub(crate) fn record_tokens(&self, scopes: &[String], tokens: u64) {
        if tokens == 0 || !self.counts_tokens() {
            return;
        }
        let now = Instant::now();
        let mut map = self.lock();
        for scope in scopes {
            let Some(u) = map.get_mut(scope.as_str()).filter(|u| u.counts_tokens) else { continue };
            u.expire(now);
            u.tokens.push_back((now, tokens));
            u.token_sum = u.token_sum.saturating_add(tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rpm: Option<u64>, tpm: Option<u64>, parallel: Option<u32>) -> Vec<ScopeLimits> {
        vec![ScopeLimits { scope: "key:a".into(), rpm, tpm, parallel }]
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_slides() {
        let l = Arc::new(Limiter::default());
        let rules = limits(Some(2), None, None);
        l.admit(&rules).unwrap();
        tokio::time::advance(Duration::from_secs(30)).await;
        l.admit(&rules).unwrap();
        let e = l.admit(&rules).err().unwrap();
        assert_eq!((e.limit, e.retry_after), ("rpm", Duration::from_secs(30)));
        tokio::time::advance(Duration::from_secs(30)).await;
        l.admit(&rules).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_counts_real_usage_and_parallel_releases() {
        let l = Arc::new(Limiter::default());
        let rules = limits(None, Some(100), Some(1));
        let first = l.admit(&rules).unwrap();
        assert_eq!(l.admit(&rules).err().unwrap().limit, "parallel");
        drop(first);
        l.record_tokens(&["key:a".into()], 100);
        assert_eq!(l.admit(&rules).err().unwrap().limit, "tpm");
        tokio::time::advance(WINDOW).await;
        assert!(l.admit(&rules).is_ok());
    }

    /// Tokens are kept only for scopes admitted under a tokens-per-minute limit: the master key
    /// (never admitted) and keys without one keep nothing, however many requests they make.
    #[tokio::test(start_paused = true)]
    async fn only_scopes_with_a_tpm_limit_keep_tokens() {
        let l = Arc::new(Limiter::default());
        for _ in 0..1_000 {
            l.record_tokens(&["key:master".into()], 10);
        }
        assert!(!l.counts_tokens());
        assert!(l.lock().is_empty(), "a scope never admitted has no entry");

        l.admit(&limits(Some(1_000), None, None)).unwrap();
        l.admit(&[ScopeLimits { scope: "key:b".into(), tpm: Some(50), ..ScopeLimits::default() }]).unwrap();
        assert!(l.counts_tokens());
        for _ in 0..1_000 {
            l.record_tokens(&["key:a".into(), "key:b".into(), "key:master".into()], 10);
        }
        let map = l.lock();
        assert!(map["key:a"].tokens.is_empty(), "no tpm limit: nothing kept");
        assert_eq!(map["key:b"].token_sum, 10_000);
        assert!(!map.contains_key("key:master"));
    }

    /// A scope whose tpm limit is removed forgets its tokens at its next admission.
    #[tokio::test(start_paused = true)]
    async fn a_removed_tpm_limit_forgets_the_tokens() {
        let l = Arc::new(Limiter::default());
        l.admit(&limits(None, Some(100), None)).unwrap();
        l.record_tokens(&["key:a".into()], 100);
        assert_eq!(l.admit(&limits(None, Some(100), None)).err().unwrap().limit, "tpm");
        l.admit(&limits(None, None, None)).unwrap();
        assert_eq!(l.lock()["key:a"].token_sum, 0);
        assert!(l.admit(&limits(None, Some(100), None)).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_books_nothing() {
        let l = Arc::new(Limiter::default());
        let team = ScopeLimits { scope: "team:t".into(), rpm: Some(1), ..ScopeLimits::default() };
        let key = ScopeLimits { scope: "key:a".into(), rpm: Some(5), ..ScopeLimits::default() };
        l.admit(std::slice::from_ref(&team)).unwrap();
        assert!(l.admit(&[key.clone(), team]).is_err());
        for _ in 0..5 {
            l.admit(std::slice::from_ref(&key)).unwrap();
        }
    }
}
