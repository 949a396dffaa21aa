//! An in-memory sink that aggregates spend by key, user, team, model, tag and day.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{SpendRecord, SpendSink};
use crate::money::NanoUsd;

/// One dimension value spend is aggregated under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpendKey {
    /// Everything.
    Total,
    /// A virtual key's id.
    Key(String),
    /// A user.
    User(String),
    /// A team.
    Team(String),
    /// A requested model.
    Model(String),
    /// A tag.
    Tag(String),
    /// A UTC day, `YYYY-MM-DD`.
    Day(String),
}

/// Sums over the records of one [`SpendKey`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpendTotals {
    /// Calls recorded.
    pub requests: u64,
    /// Calls that did not succeed.
    pub failures: u64,
    /// Calls with usage whose cost is unknown (not counted in `cost`).
    pub unpriced: u64,
    /// Input tokens.
    pub prompt_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
    /// Known cost.
    pub cost: NanoUsd,
}

/// Aggregates records in memory; clones share the totals.
///
/// ```
/// use llm_cost::{InMemorySpendSink, SpendKey};
/// let sink = InMemorySpendSink::new();
/// assert_eq!(sink.totals(&SpendKey::Total).requests, 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemorySpendSink {
    totals: Arc<Mutex<BTreeMap<SpendKey, SpendTotals>>>,
}

impl InMemorySpendSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The totals under `key` (zeros when nothing was recorded).
    pub fn totals(&self, key: &SpendKey) -> SpendTotals {
        self.lock().get(key).copied().unwrap_or_default()
    }

    /// Every key with its totals, sorted.
    pub fn all(&self) -> Vec<(SpendKey, SpendTotals)> {
        self.lock().iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<SpendKey, SpendTotals>> {
        self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SpendSink for InMemorySpendSink {
    fn record(&self, record: SpendRecord) {
        let mut keys = vec![
            SpendKey::Total,
            SpendKey::Model(record.model.clone()),
            SpendKey::Day(utc_day(record.started_at)),
        ];
        let caller = &record.caller;
        keys.extend(caller.key_id.clone().map(SpendKey::Key));
        keys.extend(caller.user_id.clone().map(SpendKey::User));
        keys.extend(caller.team_id.clone().map(SpendKey::Team));
        keys.extend(record.tags.iter().cloned().map(SpendKey::Tag));
        keys.sort();
        keys.dedup();
        let (prompt, completion) =
            record.usage.as_ref().map(|u| (u.prompt_tokens, u.completion_tokens)).unwrap_or((0, 0));
        let cost = record.cost_nano_usd();
        let unpriced = cost.is_none() && record.usage.is_some();
        let mut totals = self.lock();
        for key in keys {
            let t = totals.entry(key).or_default();
            t.requests += 1;
            t.failures += u64::from(!record.status.is_success());
            t.unpriced += u64::from(unpriced);
            t.prompt_tokens = t.prompt_tokens.saturating_add(prompt);
            t.completion_tokens = t.completion_tokens.saturating_add(completion);
            t.cost = t.cost.saturating_add(cost.unwrap_or_default());
        }
    }
}

/// The UTC calendar day of `time` as `YYYY-MM-DD` (times before 1970 give `1970-01-01`).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// assert_eq!(llm_cost::utc_day(UNIX_EPOCH + Duration::from_secs(1_700_000_000)), "2023-11-14");
/// ```
pub fn utc_day(time: SystemTime) -> String {
    let days = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0);
    let (y, m, d) = llm_core::civil_from_days(days as i64);
    // Digit by digit: this runs for every spend row, and `format!` with padding costs ~10x more.
    let mut day = String::with_capacity(10);
    let digits = |day: &mut String, value: u32, width: u32| {
        for place in (0..width).rev() {
            day.push(char::from(b'0' + (value / 10u32.pow(place) % 10) as u8));
        }
    };
    digits(&mut day, y.clamp(0, 9999) as u32, 4);
    day.push('-');
    digits(&mut day, m, 2);
    day.push('-');
    digits(&mut day, d, 2);
    day
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn days() {
        let at = |s: u64| utc_day(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01");
        assert_eq!(at(951_782_400), "2000-02-29");
        assert_eq!(at(1_709_164_800), "2024-02-29");
        assert_eq!(at(1_735_689_599), "2024-12-31");
        assert_eq!(at(1_735_689_600), "2025-01-01");
    }
}
