//! `power-of-two-choices`: two random candidates, the less busy one wins.

use super::PickInput;

/// Samples two distinct candidates and keeps the one with fewer requests in flight (the first
/// on a tie).
pub(crate) fn pick(input: &PickInput<'_>) -> usize {
    let n = input.candidates.len();
    let a = input.rng.below(n);
    let b = (a + 1 + input.rng.below(n - 1)) % n;
    let (a, b) = (input.candidates[a], input.candidates[b]);
    if input.states[b].in_flight() < input.states[a].in_flight() { b } else { a }
}
