//! `usage-based-routing-v2`: the most rpm/tpm headroom left this minute.

use super::PickInput;

/// Headroom is the smaller of the unused rpm and tpm fractions this minute (1 when unlimited);
/// the candidate with the most wins, ties at random.
pub(crate) fn pick(input: &PickInput<'_>) -> usize {
    input.min_by_score(0.0, |i| {
        let d = &input.deployments[i];
        let (requests, tokens) = input.states[i].minute_usage(input.now);
        let rpm_left = d.rpm.map_or(1.0, |l| 1.0 - requests as f64 / f64::from(l));
        let tpm_left = d.tpm.map_or(1.0, |l| 1.0 - tokens as f64 / l as f64);
        Some(-rpm_left.min(tpm_left))
    })
}
