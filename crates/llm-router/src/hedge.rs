//! Hedging support: the delay before a second request, from settings or observed latency.

use std::sync::Mutex;
use std::time::Duration;

use crate::config::{HedgeSettings, secs};

const SAMPLES: usize = 128;
const MIN_SAMPLES: usize = 20;

/// When to send a hedge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HedgePlan {
    delay: Duration,
    adaptive: bool,
}

impl HedgePlan {
    pub(crate) fn new(settings: &HedgeSettings) -> Self {
        Self { delay: secs(settings.delay), adaptive: settings.adaptive }
    }

    pub(crate) fn adaptive(&self) -> bool {
        self.adaptive
    }

    /// The delay for a group with these latency samples.
    pub(crate) fn delay(&self, samples: &LatencySamples) -> Duration {
        if self.adaptive { samples.p95().unwrap_or(self.delay) } else { self.delay }
    }
}

/// The latest successful latencies of a model group, for its 95th percentile.
#[derive(Debug, Default)]
pub(crate) struct LatencySamples {
    ring: Mutex<Ring>,
}

#[derive(Debug)]
struct Ring {
    nanos: [u64; SAMPLES],
    next: usize,
    len: usize,
}

impl Default for Ring {
    fn default() -> Self {
        Self { nanos: [0; SAMPLES], next: 0, len: 0 }
    }
}

impl LatencySamples {
    pub(crate) fn record(&self, latency: Duration) {
        if let Ok(mut r) = self.ring.lock() {
            let i = r.next;
            r.nanos[i] = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
            r.next = (i + 1) % SAMPLES;
            r.len = (r.len + 1).min(SAMPLES);
        }
    }

    /// The 95th percentile, once enough samples exist.
    pub(crate) fn p95(&self) -> Option<Duration> {
        let r = self.ring.lock().ok()?;
        if r.len < MIN_SAMPLES {
            return None;
        }
        let mut copy = r.nanos;
        let live = &mut copy[..r.len];
        let rank = (live.len() * 95).div_ceil(100) - 1;
        let (_, p, _) = live.select_nth_unstable(rank);
        Some(Duration::from_nanos(*p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p95_needs_samples_then_tracks_the_tail() {
        let s = LatencySamples::default();
        for ms in 1..=19 {
            s.record(Duration::from_millis(ms));
        }
        assert_eq!(s.p95(), None);
        for ms in 20..=100 {
            s.record(Duration::from_millis(ms));
        }
        assert_eq!(s.p95(), Some(Duration::from_millis(95)));
        let plan = HedgePlan::new(&HedgeSettings { delay: 2.0, adaptive: true });
        assert_eq!(plan.delay(&s), Duration::from_millis(95));
        assert_eq!(plan.delay(&LatencySamples::default()), Duration::from_secs(2));
    }
}
