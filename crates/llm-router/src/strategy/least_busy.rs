//! `least-busy`: the fewest requests in flight.

use super::PickInput;

/// The candidate with the fewest in-flight requests; ties are broken at random.
pub(crate) fn pick(input: &PickInput<'_>) -> usize {
    input.min_by_score(0.0, |i| Some(f64::from(input.states[i].in_flight())))
}
