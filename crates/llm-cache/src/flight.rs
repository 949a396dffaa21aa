//! Single-flight: identical concurrent misses share one upstream call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use llm_core::{ErrorKind, LlmError, ResponseMetadata};
use tokio::sync::watch;

use crate::CachedBody;

/// What the leader of a flight hands its followers.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A complete response.
    Done(Arc<(CachedBody, ResponseMetadata)>),
    /// The upstream call failed; every follower gets an equivalent error.
    Failed(Arc<ErrorSnapshot>),
    /// The leader could not share a result (it was dropped, or got a body it cannot share):
    /// followers go upstream themselves.
    Abandoned,
}

/// The cloneable parts of an [`LlmError`] (the source chain is not cloneable and is dropped).
#[derive(Debug, Clone)]
pub(crate) struct ErrorSnapshot {
    kind: ErrorKind,
    message: String,
    provider: Option<String>,
    param: Option<String>,
    code: Option<String>,
}

impl ErrorSnapshot {
    pub(crate) fn of(error: &LlmError) -> Self {
        Self {
            kind: error.kind().clone(),
            message: error.message().to_owned(),
            provider: error.provider().map(str::to_owned),
            param: error.param().map(str::to_owned),
            code: error.code().map(str::to_owned),
        }
    }

    pub(crate) fn rebuild(&self) -> LlmError {
        let mut e = LlmError::new(self.kind.clone(), self.message.clone());
        if let Some(p) = &self.provider {
            e = e.with_provider(p.clone());
        }
        if let Some(p) = &self.param {
            e = e.with_param(p.clone());
        }
        if let Some(c) = &self.code {
            e = e.with_code(c.clone());
        }
        e
    }
}

type Slot = watch::Sender<Option<Outcome>>;

/// The flights in progress, by storage key.
#[derive(Debug, Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Slot>>>,
}

/// A request's part in a flight.
pub(crate) enum Role {
    /// Go upstream and report through the guard.
    Leader(LeaderGuard),
    /// Wait for the leader.
    Follower(watch::Receiver<Option<Outcome>>),
}

impl Flights {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Joins the flight for `key`, or starts one.
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Role {
        let mut map = self.lock();
        if let Some(slot) = map.get(key) {
            return Role::Follower(slot.subscribe());
        }
        let slot = Arc::new(watch::Sender::new(None));
        map.insert(key.to_owned(), slot.clone());
        Role::Leader(LeaderGuard { flights: self.clone(), key: key.to_owned(), slot, finished: false })
    }

    /// The number of flights in progress.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Held by a flight's leader; reports [`Outcome::Abandoned`] if dropped before [`finish`].
///
/// [`finish`]: LeaderGuard::finish
pub(crate) struct LeaderGuard {
    flights: Arc<Flights>,
    key: String,
    slot: Arc<Slot>,
    finished: bool,
}

impl LeaderGuard {
    /// Ends the flight: removes it (so later requests read the cache) and wakes the followers.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.finished = true;
        self.end(outcome);
    }

    fn end(&self, outcome: Outcome) {
        {
            let mut map = self.flights.lock();
            if map.get(&self.key).is_some_and(|s| Arc::ptr_eq(s, &self.slot)) {
                map.remove(&self.key);
            }
        }
        self.slot.send_replace(Some(outcome));
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.end(Outcome::Abandoned);
        }
    }
}

/// Waits for the leader's outcome.
pub(crate) async fn wait(mut rx: watch::Receiver<Option<Outcome>>) -> Outcome {
    match rx.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone().unwrap_or(Outcome::Abandoned),
        Err(_) => Outcome::Abandoned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropped_leader_releases_followers_and_the_key() {
        let flights = Arc::new(Flights::default());
        let Role::Leader(guard) = flights.join("k") else { panic!("first is leader") };
        let Role::Follower(rx) = flights.join("k") else { panic!("second follows") };
        drop(guard);
        assert!(matches!(wait(rx).await, Outcome::Abandoned));
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.join("k"), Role::Leader(_)));
    }

    #[test]
    fn error_snapshot_rebuilds_an_equivalent_error() {
        let original = LlmError::new(ErrorKind::RateLimited { retry_after: None }, "slow down")
            .with_provider("openai")
            .with_param("model")
            .with_code("custom");
        let copy = ErrorSnapshot::of(&original).rebuild();
        assert_eq!(copy.kind(), original.kind());
        assert_eq!(copy.message(), "slow down");
        assert_eq!(copy.provider(), Some("openai"));
        assert_eq!(copy.param(), Some("model"));
        assert_eq!(copy.code(), Some("custom"));
        assert_eq!(copy.to_string(), original.to_string());
    }
}
