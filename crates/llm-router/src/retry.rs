//! Retry decisions: which error kinds are retried, how often, and how long to wait.

use std::time::Duration;

use llm_core::ErrorKind;
use tokio::time::Instant;

use crate::config::{RouterSettings, secs};
use crate::rng::SharedRng;

/// Longest wait the router sleeps before a retry; a longer `retry_after` ends the retries.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(300);

/// The retry budgets kept apart per request and model group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryClass {
    RateLimit = 0,
    Timeout = 1,
    Server = 2,
    Connection = 3,
}

impl RetryClass {
    /// The class of a retryable kind; `None` for kinds that are never retried.
    pub(crate) fn of(kind: &ErrorKind) -> Option<Self> {
        match kind {
            ErrorKind::RateLimited { .. } => Some(Self::RateLimit),
            ErrorKind::Timeout => Some(Self::Timeout),
            ErrorKind::ServiceUnavailable => Some(Self::Server),
            ErrorKind::Upstream { status } if *status >= 500 => Some(Self::Server),
            ErrorKind::Transport => Some(Self::Connection),
            _ => None,
        }
    }
}

/// Compiled retry settings.
#[derive(Debug, Clone)]
pub(crate) struct RetryRules {
    limits: [u32; 4],
    min_wait: Duration,
    backoff_base: Duration,
    backoff_max: Duration,
}

/// Retries used so far, per class.
#[derive(Debug, Default)]
pub(crate) struct RetryBudget {
    used: [u32; 4],
    total: u32,
}

impl RetryRules {
    pub(crate) fn new(settings: &RouterSettings) -> Self {
        let p = settings.retry_policy.unwrap_or_default();
        let n = settings.num_retries;
        Self {
            limits: [
                p.rate_limit.unwrap_or(n),
                p.timeout.unwrap_or(n),
                p.internal_server.unwrap_or(n),
                p.api_connection.unwrap_or(n),
            ],
            min_wait: secs(settings.retry_after),
            backoff_base: secs(settings.retry_backoff_base),
            backoff_max: secs(settings.retry_backoff_max),
        }
    }

    /// How long to wait before retrying after `kind`, or `None` when the request must not be
    /// retried: the kind is not retryable, its budget is spent, or the wait would pass the
    /// deadline or five minutes. Takes one from the budget when it says yes.
    pub(crate) fn next_wait(
        &self,
        kind: &ErrorKind,
        budget: &mut RetryBudget,
        deadline: Option<Instant>,
        rng: &SharedRng,
    ) -> Option<Duration> {
        let class = RetryClass::of(kind)? as usize;
        if budget.used[class] >= self.limits[class] {
            return None;
        }
        let wait = match kind {
            ErrorKind::RateLimited { retry_after: Some(after) } => *after,
            _ => self.backoff(budget.total, rng),
        }
        .max(self.min_wait);
        if wait > MAX_RETRY_WAIT
            || deadline.is_some_and(|d| Instant::now().checked_add(wait).is_none_or(|t| t >= d))
        {
            return None;
        }
        budget.used[class] += 1;
        budget.total += 1;
        Some(wait)
    }

    /// Exponential backoff for retry number `n` (0-based) with "equal jitter": half fixed, half
    /// random, so retries of many requests spread out without ever waiting near zero.
    fn backoff(&self, n: u32, rng: &SharedRng) -> Duration {
        let exp = self.backoff_base.saturating_mul(1u32 << n.min(20)).min(self.backoff_max);
        let half = exp / 2;
        half + half.mul_f64(rng.unit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(n: u32) -> RetryRules {
        RetryRules::new(&RouterSettings { num_retries: n, ..RouterSettings::default() })
    }

    #[test]
    fn never_retried_kinds() {
        let r = rules(5);
        let rng = SharedRng::new(1);
        for kind in [
            ErrorKind::Authentication,
            ErrorKind::BadRequest,
            ErrorKind::ContextWindowExceeded,
            ErrorKind::ContentPolicy,
            ErrorKind::Upstream { status: 418 },
            ErrorKind::Decode,
        ] {
            assert_eq!(r.next_wait(&kind, &mut RetryBudget::default(), None, &rng), None, "{kind:?}");
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let r = rules(30);
        let rng = SharedRng::new(3);
        let mut budget = RetryBudget::default();
        let mut waits = Vec::new();
        while let Some(w) = r.next_wait(&ErrorKind::Transport, &mut budget, None, &rng) {
            waits.push(w);
        }
        assert_eq!(waits.len(), 30);
        for (n, w) in waits.iter().enumerate() {
            let exp = Duration::from_millis(500).saturating_mul(1 << n.min(20)).min(Duration::from_secs(8));
            assert!(*w >= exp / 2 && *w <= exp, "retry {n}: {w:?} vs {exp:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_and_deadline_bounds_it() {
        let r = rules(3);
        let rng = SharedRng::new(3);
        let kind = ErrorKind::RateLimited { retry_after: Some(Duration::from_secs(7)) };
        let mut budget = RetryBudget::default();
        assert_eq!(r.next_wait(&kind, &mut budget, None, &rng), Some(Duration::from_secs(7)));
        let soon = Some(Instant::now() + Duration::from_secs(5));
        assert_eq!(r.next_wait(&kind, &mut budget, soon, &rng), None);
        let forever = ErrorKind::RateLimited { retry_after: Some(Duration::MAX) };
        assert_eq!(r.next_wait(&forever, &mut budget, soon, &rng), None);
        assert_eq!(r.next_wait(&forever, &mut budget, None, &rng), None);
    }
}
