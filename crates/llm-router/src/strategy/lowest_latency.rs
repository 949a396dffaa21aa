//! `latency-based-routing`: the fastest deployment, with a buffer so near-equals share load.

use super::PickInput;

/// Scores each candidate by its smoothed latency (time to first token for streams, falling back
/// to complete-call latency) and picks at random among those within `latency_buffer` (relative)
/// of the best. A deployment without samples scores 0, so new deployments get tried.
pub(crate) fn pick(input: &PickInput<'_>) -> usize {
    input.min_by_score(input.latency_buffer, |i| {
        let s = &input.states[i];
        let ttft = s.ttft_ewma();
        Some(if input.stream && ttft > 0.0 { ttft } else { s.latency_ewma() })
    })
}
