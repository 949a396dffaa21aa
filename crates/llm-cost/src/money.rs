//! Money in integer nano-US-dollars, for aggregation without rounding drift.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Nano-dollars in one US dollar.
pub const NANOS_PER_USD: u64 = 1_000_000_000;

/// An amount of money in nano-US-dollars (10⁻⁹ USD).
///
/// Prices are per token and as small as 10⁻¹⁰ USD, so single costs are computed in `f64` and
/// converted once; every sum (spend, budgets) is kept in this integer unit.
///
/// ```
/// use llm_cost::NanoUsd;
/// let a = NanoUsd::from_usd(0.0025);
/// assert_eq!(a, NanoUsd(2_500_000));
/// assert_eq!(a.saturating_add(a).as_usd(), 0.005);
/// assert_eq!(NanoUsd::from_usd(f64::NAN), NanoUsd(0));
/// assert_eq!(NanoUsd::from_usd(1.0).to_string(), "$1.000000000");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NanoUsd(pub u64);

impl NanoUsd {
    /// Zero dollars.
    pub const ZERO: NanoUsd = NanoUsd(0);

    /// Rounds `usd` to the nearest nano-dollar; negative or NaN amounts become zero and huge ones
    /// saturate.
    pub fn from_usd(usd: f64) -> Self {
        Self::convert(usd, f64::round)
    }

    /// Rounds `usd` up to the next nano-dollar (for reservations, which must not under-count).
    pub fn from_usd_ceil(usd: f64) -> Self {
        Self::convert(usd, f64::ceil)
    }

    fn convert(usd: f64, round: fn(f64) -> f64) -> Self {
        let nanos = round(usd * NANOS_PER_USD as f64);
        if nanos.is_nan() || nanos <= 0.0 {
            NanoUsd(0)
        } else if nanos >= u64::MAX as f64 {
            NanoUsd(u64::MAX)
        } else {
            NanoUsd(nanos as u64)
        }
    }

    /// Whole dollars: `NanoUsd::dollars(5)` is $5.
    pub const fn dollars(usd: u64) -> Self {
        NanoUsd(usd.saturating_mul(NANOS_PER_USD))
    }

    /// The amount in dollars.
    pub fn as_usd(self) -> f64 {
        self.0 as f64 / NANOS_PER_USD as f64
    }

    /// `self + other`, saturating at the maximum.
    pub fn saturating_add(self, other: NanoUsd) -> Self {
        NanoUsd(self.0.saturating_add(other.0))
    }

    /// `self - other`, saturating at zero.
    pub fn saturating_sub(self, other: NanoUsd) -> Self {
        NanoUsd(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for NanoUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:09}", self.0 / NANOS_PER_USD, self.0 % NANOS_PER_USD)
    }
}

impl std::iter::Sum for NanoUsd {
    fn sum<I: Iterator<Item = NanoUsd>>(iter: I) -> Self {
        iter.fold(NanoUsd::ZERO, NanoUsd::saturating_add)
    }
}
