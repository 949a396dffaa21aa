//! Time for the router: tokio's clock, so paused-time tests drive rate limits and cooldowns too.

use std::time::Duration;

use governor::clock::Clock;
use governor::nanos::Nanos;
use tokio::time::Instant;

/// A governor clock reading tokio's (pausable) monotonic clock, relative to a fixed epoch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokioClock {
    epoch: Instant,
}

impl TokioClock {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self { epoch }
    }

    pub(crate) fn since_epoch(&self) -> Duration {
        Instant::now().saturating_duration_since(self.epoch)
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.since_epoch())
    }
}
