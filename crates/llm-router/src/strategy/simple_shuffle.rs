//! `simple-shuffle`: weighted random choice.

use super::PickInput;

/// Weights by `weight` when any candidate has one (missing counts 1), else by `rpm` when every
/// candidate has one, else by `tpm` when every candidate has one, else uniformly.
pub(crate) fn pick(input: &PickInput<'_>) -> usize {
    let d = input.deployments;
    let c = input.candidates;
    let weight: fn(&crate::Deployment) -> f64 = if c.iter().any(|&i| d[i].weight.is_some()) {
        |d| d.weight.unwrap_or(1.0)
    } else if c.iter().all(|&i| d[i].rpm.is_some()) {
        |d| f64::from(d.rpm.unwrap_or(0))
    } else if c.iter().all(|&i| d[i].tpm.is_some()) {
        |d| d.tpm.unwrap_or(0) as f64
    } else {
        return input.any();
    };
    let total: f64 = c.iter().map(|&i| weight(&d[i])).sum();
    if !(total > 0.0 && total.is_finite()) {
        return input.any();
    }
    let mut target = input.rng.unit() * total;
    for &i in c {
        let w = weight(&d[i]);
        if target < w {
            return i;
        }
        target -= w;
    }
    // Rounding left a sliver past the end: the last candidate with weight takes it.
    c.iter().rev().copied().find(|&i| weight(&d[i]) > 0.0).unwrap_or(c[0])
}
