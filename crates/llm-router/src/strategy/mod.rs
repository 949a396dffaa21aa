//! Routing strategies: how one deployment is chosen among the available ones of a tier.
//!
//! Every strategy receives only deployments that are in rotation, under their limits and in the
//! best available priority tier, and returns one of them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::deployment::Deployment;
use crate::rng::SharedRng;
use crate::state::DeploymentState;

mod least_busy;
mod lowest_cost;
mod lowest_latency;
mod power_of_two;
mod simple_shuffle;
mod usage_based;

pub use lowest_cost::{CostSource, TokenPrice};

/// How a model group picks a deployment; serialized with LiteLLM's `routing_strategy` names.
///
/// ```
/// use llm_router::RoutingStrategy;
/// let s: RoutingStrategy = serde_json::from_str("\"latency-based-routing\"").unwrap();
/// assert_eq!(s, RoutingStrategy::LowestLatency);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum RoutingStrategy {
    /// Random, weighted by `weight`, else `rpm`, else `tpm` (`simple-shuffle`).
    #[default]
    #[serde(rename = "simple-shuffle", alias = "weighted-shuffle")]
    SimpleShuffle,
    /// Fewest requests in flight (`least-busy`).
    #[serde(rename = "least-busy")]
    LeastBusy,
    /// Lowest smoothed latency, or time to first token for streams, sharing load between
    /// deployments within the latency buffer (`latency-based-routing`).
    #[serde(rename = "latency-based-routing", alias = "lowest-latency")]
    LowestLatency,
    /// Most rpm/tpm headroom left this minute (`usage-based-routing-v2`).
    #[serde(rename = "usage-based-routing-v2", alias = "usage-based-routing")]
    UsageBased,
    /// Cheapest price per token (`cost-based-routing`).
    #[serde(rename = "cost-based-routing", alias = "lowest-cost")]
    LowestCost,
    /// The less busy of two random deployments (`power-of-two-choices`).
    #[serde(rename = "power-of-two-choices")]
    PowerOfTwoChoices,
}

/// What a strategy sees.
pub(crate) struct PickInput<'a> {
    pub(crate) deployments: &'a [Deployment],
    pub(crate) states: &'a [Arc<DeploymentState>],
    /// Indices into `deployments`; never empty.
    pub(crate) candidates: &'a [usize],
    pub(crate) rng: &'a SharedRng,
    pub(crate) stream: bool,
    pub(crate) cost: Option<&'a dyn CostSource>,
    pub(crate) latency_buffer: f64,
    /// Time since the router's epoch, read once per pick.
    pub(crate) now: std::time::Duration,
}

impl PickInput<'_> {
    /// A uniformly random candidate.
    pub(crate) fn any(&self) -> usize {
        self.candidates[self.rng.below(self.candidates.len())]
    }

    /// A uniformly random candidate among those whose `score` is lowest (within `tolerance`,
    /// relative); `score` returns `None` for "worst".
    pub(crate) fn min_by_score(&self, tolerance: f64, score: impl Fn(usize) -> Option<f64>) -> usize {
        let mut best = f64::INFINITY;
        for &c in self.candidates {
            if let Some(s) = score(c) {
                best = best.min(s);
            }
        }
        if !best.is_finite() {
            return self.any();
        }
        let limit = best + best.abs() * tolerance;
        let within = |c: usize| score(c).is_some_and(|s| s <= limit);
        let count = self.candidates.iter().filter(|&&c| within(c)).count();
        let nth = self.rng.below(count);
        self.candidates.iter().copied().filter(|&c| within(c)).nth(nth).unwrap_or(self.candidates[0])
    }
}

/// Runs `strategy` over the candidates.
pub(crate) fn pick(strategy: RoutingStrategy, input: &PickInput<'_>) -> usize {
    if input.candidates.len() == 1 {
        return input.candidates[0];
    }
    match strategy {
        RoutingStrategy::SimpleShuffle => simple_shuffle::pick(input),
        RoutingStrategy::LeastBusy => least_busy::pick(input),
        RoutingStrategy::LowestLatency => lowest_latency::pick(input),
        RoutingStrategy::UsageBased => usage_based::pick(input),
        RoutingStrategy::LowestCost => lowest_cost::pick(input),
        RoutingStrategy::PowerOfTwoChoices => power_of_two::pick(input),
    }
}
