//! Live per-deployment counters: in-flight requests, latency averages, minute usage, rpm limiter.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::clock::TokioClock;
use crate::deployment::Deployment;

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

const MINUTE_NANOS: u64 = 60_000_000_000;

/// Counters of one deployment, shared by every request routed to it.
#[derive(Debug)]
pub(crate) struct DeploymentState {
    pub(crate) in_flight: AtomicU32,
    latency_ewma: AtomicU64,
    ttft_ewma: AtomicU64,
    window_minute: AtomicU64,
    window_requests: AtomicU64,
    window_tokens: AtomicU64,
    limiter: Option<Limiter>,
    clock: TokioClock,
}

impl DeploymentState {
    pub(crate) fn new(deployment: &Deployment, clock: TokioClock) -> Self {
        let limiter = deployment.rpm.map(|rpm| {
            let burst = deployment.rpm_burst.unwrap_or(rpm / 10).clamp(1, rpm);
            Limiter::direct_with_clock(rpm_quota(rpm, burst), clock)
        });
        Self {
            in_flight: AtomicU32::new(0),
            latency_ewma: AtomicU64::new(0),
            ttft_ewma: AtomicU64::new(0),
            window_minute: AtomicU64::new(0),
            window_requests: AtomicU64::new(0),
            window_tokens: AtomicU64::new(0),
            limiter,
            clock,
        }
    }

    /// Takes one request from the rpm budget, or says how long until one is free.
    pub(crate) fn take_rpm(&self) -> Result<(), Duration> {
        match &self.limiter {
            None => Ok(()),
            Some(l) => l.check().map_err(|not_until| not_until.wait_time_from(self.clock.now())),
        }
    }

    /// Takes an in-flight slot when below `max`.
    pub(crate) fn try_acquire_slot(&self, max: Option<u32>) -> bool {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if max.is_some_and(|m| before >= m) {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn current_minute(&self, now: Duration) -> u64 {
        let minute = now.as_nanos() as u64 / MINUTE_NANOS + 1;
        let seen = self.window_minute.load(Ordering::Acquire);
        if seen != minute
            && self.window_minute.compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            self.window_requests.store(0, Ordering::Release);
            self.window_tokens.store(0, Ordering::Release);
        }
        minute
    }

    /// Requests and tokens counted in the minute holding `now` (time since the router's epoch).
    pub(crate) fn minute_usage(&self, now: Duration) -> (u64, u64) {
        self.current_minute(now);
        (self.window_requests.load(Ordering::Relaxed), self.window_tokens.load(Ordering::Relaxed))
    }

    /// Time from `now` until its minute window ends.
    pub(crate) fn until_next_minute(now: Duration) -> Duration {
        Duration::from_nanos(MINUTE_NANOS - now.as_nanos() as u64 % MINUTE_NANOS)
    }

    /// Counts a request and reserves `estimate` tokens in the minute holding `now`; returns the
    /// minute.
    pub(crate) fn reserve(&self, estimate: u64, now: Duration) -> u64 {
        let minute = self.current_minute(now);
        self.window_requests.fetch_add(1, Ordering::Relaxed);
        self.window_tokens.fetch_add(estimate, Ordering::Relaxed);
        minute
    }

    /// Replaces a reservation of `estimate` tokens made in `minute` with the `actual` count.
    pub(crate) fn settle(&self, minute: u64, estimate: u64, actual: u64) {
        let now = self.current_minute(self.clock.since_epoch());
        if now == minute {
            if actual >= estimate {
                self.window_tokens.fetch_add(actual - estimate, Ordering::Relaxed);
            } else {
                let refund = estimate - actual;
                let _ = self
                    .window_tokens
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| Some(t.saturating_sub(refund)));
            }
        } else {
            self.window_tokens.fetch_add(actual, Ordering::Relaxed);
        }
    }

    /// The smoothed latency of complete calls in nanoseconds (`0.0` before the first sample).
    pub(crate) fn latency_ewma(&self) -> f64 {
        f64::from_bits(self.latency_ewma.load(Ordering::Relaxed))
    }

    /// The smoothed time to first chunk in nanoseconds (`0.0` before the first sample).
    pub(crate) fn ttft_ewma(&self) -> f64 {
        f64::from_bits(self.ttft_ewma.load(Ordering::Relaxed))
    }

    pub(crate) fn observe_latency(&self, latency: Duration, alpha: f64) {
        observe(&self.latency_ewma, latency, alpha);
    }

    pub(crate) fn observe_ttft(&self, ttft: Duration, alpha: f64) {
        observe(&self.ttft_ewma, ttft, alpha);
    }
}

fn observe(cell: &AtomicU64, sample: Duration, alpha: f64) {
    let sample = sample.as_nanos() as f64;
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        let old = f64::from_bits(bits);
        let new = if old == 0.0 { sample } else { old + alpha * (sample - old) };
        Some(new.max(1.0).to_bits())
    });
}

/// A GCRA quota under which no 60-second window holds more than `rpm` requests: `burst` may go
/// at once, and the rest replenish at `rpm - burst + 1` per minute (period rounded up).
fn rpm_quota(rpm: u32, burst: u32) -> Quota {
    let sustained = u64::from(rpm - burst + 1);
    let period = Duration::from_nanos(MINUTE_NANOS.div_ceil(sustained));
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    match Quota::with_period(period) {
        Some(q) => q.allow_burst(burst),
        None => Quota::per_minute(burst),
    }
}

/// A claim on a deployment for one call: holds its in-flight slot and token reservation, and
/// gives them back when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    pub(crate) index: usize,
    pub(crate) state: Arc<DeploymentState>,
    minute: u64,
    estimate: u64,
    settled: bool,
}

impl Lease {
    pub(crate) fn new(index: usize, state: Arc<DeploymentState>, estimate: u64, now: Duration) -> Self {
        let minute = state.reserve(estimate, now);
        Self { index, state, minute, estimate, settled: false }
    }

    /// Records the tokens the call really used.
    pub(crate) fn settle(&mut self, actual: u64) {
        if !self.settled {
            self.settled = true;
            self.state.settle(self.minute, self.estimate, actual);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_keeps_every_minute_under_rpm() {
        for (rpm, burst) in [(60, 1), (60, 6), (600, 60), (7, 7), (1, 1)] {
            let q = rpm_quota(rpm, burst);
            let per_minute =
                burst as u64 - 1 + MINUTE_NANOS.div_ceil(q.replenish_interval().as_nanos() as u64);
            assert!(per_minute <= rpm as u64, "rpm {rpm} burst {burst}: {per_minute}");
        }
    }
}
