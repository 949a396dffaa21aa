//! Enforcement: who is calling (master key or a valid virtual key), whether it may call a model,
//! and its rate limits; budgets are kept in sync with the records for `llm-cost`'s
//! `BudgetLayer`.
//!
//! The budget store learns budgets at start, from this replica's admin API, and from every record
//! read on a request (so a key, team or user made or changed on another replica is limited here
//! too). A budget new to this replica, or changed, starts with the spend of its current window
//! from the spend log, so a restart or another replica's spending is not forgotten. Windows
//! (`budget_duration`) follow each other from the record's creation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use llm_core::{Caller, ErrorKind, LlmError};
use llm_cost::{Budget, BudgetScope, BudgetStore, BudgetWindow, InMemoryBudgetStore, NanoUsd, Reservation};

use super::limits::{Admission, Limiter, ScopeLimits};
use super::shared::{SharedRpm, SharedVerdict};
use super::shared_budget::SEED_ID;
use super::{KeyRecord, KeyStore, SpendOf, Table, TeamRecord, UserRecord, unix_now};

/// A budget as a record gives it, as last handed to the budget store.
#[derive(Debug, Clone, PartialEq)]
struct BudgetSpec {
    max: Option<f64>,
    duration: Option<String>,
    /// The record's creation (Unix seconds): windows are counted from it.
    created_at: i64,
}

impl BudgetSpec {
    fn is(&self, max: Option<f64>, duration: Option<&str>, created_at: i64) -> bool {
        self.max == max && self.duration.as_deref() == duration && self.created_at == created_at
    }
}

/// When the window that `now` falls in started: windows of `period` follow each other from the
/// record's creation (`created_at`, Unix seconds), as LiteLLM resets budgets `budget_duration`
/// after creation, then every `budget_duration`. The same on every replica and across restarts.
fn window_start(created_at: i64, period: Duration, now: SystemTime) -> SystemTime {
    let now_ms = now.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let created_ms = u128::try_from(created_at).unwrap_or(0).saturating_mul(1000);
    let period_ms = period.as_millis().max(1);
    if created_ms > now_ms {
        return now;
    }
    let start = created_ms + (now_ms - created_ms) / period_ms * period_ms;
    UNIX_EPOCH + Duration::from_millis(u64::try_from(start).unwrap_or(u64::MAX))
}

/// Keys, budgets and rate limits.
pub(crate) struct Access {
    pub(crate) store: KeyStore,
    pub(crate) budgets: Arc<dyn BudgetStore>,
    pub(crate) limiter: Arc<Limiter>,
    /// Requests-per-minute counters shared through Redis, when configured.
    pub(crate) shared: Option<SharedRpm>,
    /// Requests whose shared check failed (Redis unreachable) and fell back to local limits.
    pub(crate) redis_fallbacks: Arc<AtomicU64>,
    /// The budget last handed to `budgets` per scope, to notice records changed elsewhere.
    synced: Mutex<HashMap<BudgetScope, BudgetSpec>>,
    /// Serializes budget changes, so that spend is seeded from the log once.
    sync_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").finish_non_exhaustive()
    }
}

/// A refused request: the error to answer with and the reason counted in metrics.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) error: LlmError,
    pub(crate) reason: &'static str,
}

impl Refusal {
    fn new(kind: ErrorKind, reason: &'static str, message: impl Into<String>) -> Self {
        Self { error: LlmError::new(kind, message.into()), reason }
    }
}

/// What a key may call: empty lists allow everything.
fn allows(models: &[String], model: &str) -> bool {
    models.is_empty() || models.iter().any(|m| m == model || m == "*" || m == "all-proxy-models")
}

impl Access {
    /// An access store over `store`.
    pub(crate) fn new(store: KeyStore) -> Self {
        Self {
            store,
            budgets: Arc::new(InMemoryBudgetStore::new()),
            limiter: Arc::new(Limiter::default()),
            shared: None,
            redis_fallbacks: Arc::new(AtomicU64::new(0)),
            synced: Mutex::default(),
            sync_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads every stored budget into the budget store, with the spend of the current windows
    /// from the spend log (so that a restart forgets no spending).
    pub(crate) async fn load_budgets(&self) -> Result<(), String> {
        let keys: Vec<KeyRecord> = self.store.list(Table::Keys).await.map_err(|e| e.to_string())?;
        let teams: Vec<TeamRecord> = self.store.list(Table::Teams).await.map_err(|e| e.to_string())?;
        let users: Vec<UserRecord> = self.store.list(Table::Users).await.map_err(|e| e.to_string())?;
        for k in &keys {
            self.sync_key_budget(k).await;
        }
        for t in &teams {
            self.sync_team_budget(t).await;
        }
        for u in &users {
            self.sync_user_budget(u).await;
        }
        Ok(())
    }

    /// Hands the budget of key `k` to the budget store (after a change made here).
    pub(crate) async fn sync_key_budget(&self, k: &KeyRecord) {
        let scope = BudgetScope::Key(k.key_id());
        self.sync_budget(scope, k.max_budget, k.budget_duration.as_deref(), k.created_at, true).await;
    }

    /// Hands the budget of team `t` to the budget store (after a change made here).
    pub(crate) async fn sync_team_budget(&self, t: &TeamRecord) {
        let scope = BudgetScope::Team(t.team_id.clone());
        self.sync_budget(scope, t.max_budget, t.budget_duration.as_deref(), t.created_at, true).await;
    }

    /// Hands the budget of user `u` to the budget store (after a change made here).
    pub(crate) async fn sync_user_budget(&self, u: &UserRecord) {
        let scope = BudgetScope::User(u.user_id.clone());
        self.sync_budget(scope, u.max_budget, u.budget_duration.as_deref(), u.created_at, true).await;
    }

    /// Makes sure the budget store holds key `k`'s budget as its record (read from the database,
    /// possibly changed by another replica) gives it. Cheap when it does.
    pub(crate) async fn ensure_key_budget(&self, k: &KeyRecord) {
        let scope = BudgetScope::Key(k.key_id());
        self.sync_budget(scope, k.max_budget, k.budget_duration.as_deref(), k.created_at, false).await;
    }

    /// [`Self::ensure_key_budget`] for a team.
    pub(crate) async fn ensure_team_budget(&self, t: &TeamRecord) {
        let scope = BudgetScope::Team(t.team_id.clone());
        self.sync_budget(scope, t.max_budget, t.budget_duration.as_deref(), t.created_at, false).await;
    }

    /// [`Self::ensure_key_budget`] for a user.
    pub(crate) async fn ensure_user_budget(&self, u: &UserRecord) {
        let scope = BudgetScope::User(u.user_id.clone());
        self.sync_budget(scope, u.max_budget, u.budget_duration.as_deref(), u.created_at, false).await;
    }

    fn is_synced(&self, scope: &BudgetScope, max: Option<f64>, duration: Option<&str>, created: i64) -> bool {
        let synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        synced.get(scope).is_some_and(|s| s.is(max, duration, created))
    }

    /// Sets the budget of `scope` (no budget = unlimited; `duration` was validated before) when
    /// `always` or when the store does not hold this one yet. A budget new to this replica, or
    /// changed, gets the spend of its current window from the spend log when that is more than
    /// the store counts (spend is never reset by a change).
    async fn sync_budget(
        &self,
        scope: BudgetScope,
        max: Option<f64>,
        duration: Option<&str>,
        created_at: i64,
        always: bool,
    ) {
        if !always && self.is_synced(&scope, max, duration, created_at) {
            return;
        }
        let _one_at_a_time = self.sync_lock.lock().await;
        if !always && self.is_synced(&scope, max, duration, created_at) {
            return;
        }
        let now = SystemTime::now();
        let window = duration.and_then(|d| d.parse::<BudgetWindow>().ok()).filter(|_| max.is_some());
        let budget = match max {
            Some(usd) => Budget::new(NanoUsd::from_usd(usd)),
            None => Budget::unlimited(),
        };
        if max.is_some() {
            crate::app::load_tokenizers_in_background();
        }
        let (budget, start) = match window {
            Some(w) => (budget.with_window(w), window_start(created_at, w.period(), now)),
            None => (budget, now),
        };
        // The in-memory store never fails; the shared one falls back to it.
        let _ = self.budgets.set_budget(scope.clone(), budget, start).await;
        if max.is_some() {
            let since = window.map(|_| {
                i64::try_from(start.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis())
                    .unwrap_or(i64::MAX)
            });
            self.seed_spend(&scope, since, now).await;
        }
        let spec = BudgetSpec { max, duration: duration.map(str::to_owned), created_at };
        self.synced.lock().unwrap_or_else(|p| p.into_inner()).insert(scope, spec);
    }

    /// Raises the spend the budget store counts for `scope` to what the spend log holds since
    /// `since_ms`, when the log holds more: spending before this replica started, or made on
    /// another replica without Redis.
    async fn seed_spend(&self, scope: &BudgetScope, since_ms: Option<i64>, now: SystemTime) {
        let whom = match scope {
            BudgetScope::Key(k) => SpendOf::Key(k),
            BudgetScope::Team(t) => SpendOf::Team(t),
            BudgetScope::User(u) => SpendOf::User(u),
        };
        let logged = match self.store.logged_spend(whom, since_ms).await {
            Ok(usd) => NanoUsd::from_usd(usd),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read spend so far from the spend log");
                return;
            }
        };
        if logged == NanoUsd::ZERO {
            return;
        }
        let seed =
            |id, amount| (Reservation { id, scopes: vec![scope.clone()], amount: NanoUsd::ZERO }, amount);
        let (reservation, amount) = if self.shared.is_some() {
            // The shared store (Redis configured) raises its local fallback's count to `logged`;
            // what Redis counts is kept in Redis.
            seed(SEED_ID, logged)
        } else {
            // A reservation of nothing settled for the missing spend adds it.
            let have = match self.budgets.status(scope, now).await {
                Ok(Some(s)) => s.spent,
                _ => NanoUsd::ZERO,
            };
            if logged <= have {
                return;
            }
            seed(0, logged.saturating_sub(have))
        };
        let _ = self.budgets.settle(reservation, amount, now).await;
    }

    /// Spent (settled) USD in the current window of `scope`.
    pub(crate) async fn spent(&self, scope: &BudgetScope) -> f64 {
        match self.budgets.status(scope, SystemTime::now()).await {
            Ok(Some(s)) => s.spent.as_usd(),
            _ => 0.0,
        }
    }

    /// The valid (known, not blocked, not expired) key whose hash is `token`.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Arc<KeyRecord>, Refusal> {
        let key = match self.store.key(token).await {
            Ok(Some(k)) => k,
            Ok(None) => {
                return Err(Refusal::new(ErrorKind::Authentication, "invalid_key", "invalid API key"));
            }
            Err(e) => {
                tracing::error!(error = %e, "key store lookup failed");
                return Err(Refusal::new(
                    ErrorKind::ServiceUnavailable,
                    "key_store",
                    "key store unavailable",
                ));
            }
        };
        if key.blocked {
            return Err(Refusal::new(ErrorKind::Authentication, "blocked_key", "this API key is blocked"));
        }
        if key.expires.is_some_and(|e| e <= unix_now()) {
            return Err(Refusal::new(ErrorKind::Authentication, "expired_key", "this API key has expired"));
        }
        Ok(key)
    }

    /// Admits a call of `model` with `key`: model allowed for the key and its team, rate limits
    /// of both. Returns the caller (for spend rows and budgets) and the admission to hold until
    /// the response is done.
    pub(crate) async fn admit(&self, key: &KeyRecord, model: &str) -> Result<(Caller, Admission), Refusal> {
        let unavailable = |e: super::KeyStoreError| {
            tracing::error!(error = %e, "key store lookup failed");
            Refusal::new(ErrorKind::ServiceUnavailable, "key_store", "key store unavailable")
        };
        let team = match &key.team_id {
            Some(t) => self.store.team(t).await.map_err(unavailable)?,
            None => None,
        };
        // Records created or changed by another replica bring their budgets here before the
        // budget layer reserves against them.
        self.ensure_key_budget(key).await;
        if let Some(team) = &team {
            self.ensure_team_budget(team).await;
        }
        if let Some(user) = &key.user_id
            && let Some(user) = self.store.user(user).await.map_err(unavailable)?
        {
            self.ensure_user_budget(&user).await;
        }
        let denied = |whose: &str| {
            let mut e = Refusal::new(
                ErrorKind::PermissionDenied,
                "model_not_allowed",
                format!("this {whose} may not call model `{model}`"),
            );
            e.error = e.error.with_code("model_not_allowed");
            e
        };
        if !allows(&key.models, model) {
            return Err(denied("key"));
        }
        if let Some(team) = &team {
            if team.blocked {
                return Err(Refusal::new(
                    ErrorKind::Authentication,
                    "blocked_team",
                    "this key's team is blocked",
                ));
            }
            if !allows(&team.models, model) {
                return Err(denied("team"));
            }
        }
        let key_id = key.key_id();
        let mut rules = vec![ScopeLimits {
            scope: format!("key:{key_id}"),
            rpm: key.rpm_limit,
            tpm: key.tpm_limit,
            parallel: key.max_parallel_requests,
        }];
        if let Some(team) = &team {
            rules.push(ScopeLimits {
                scope: format!("team:{}", team.team_id),
                rpm: team.rpm_limit,
                tpm: team.tpm_limit,
                parallel: team.max_parallel_requests,
            });
        }
        let rate_refusal = |limit: &str, scope: &str, retry_after: std::time::Duration| {
            let reason = match limit {
                "tpm" => "tpm_limit",
                "parallel" => "parallel_limit",
                _ => "rpm_limit",
            };
            let message = format!(
                "rate limit reached ({limit} of {}); retry after {}s",
                scope.split(':').next().unwrap_or("key"),
                retry_after.as_secs()
            );
            Refusal::new(ErrorKind::RateLimited { retry_after: Some(retry_after) }, reason, message)
        };
        if let Some(shared) = &self.shared {
            let rpm: Vec<(String, u64)> =
                rules.iter().filter_map(|r| r.rpm.map(|l| (r.scope.clone(), l))).collect();
            if !rpm.is_empty() {
                match shared.admit(&rpm).await {
                    // Booked locally too (a local count never exceeds the shared one), so that if
                    // Redis goes away this replica alone still keeps to the limit.
                    Ok(SharedVerdict::Admitted) => {}
                    Ok(SharedVerdict::Refused { index, retry_after }) => {
                        let scope = rpm.get(index).map(|(s, _)| s.as_str()).unwrap_or("key");
                        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                        return Err(rate_refusal("rpm", scope, std::time::Duration::from_secs(secs.max(1))));
                    }
                    Err(e) => {
                        self.redis_fallbacks.fetch_add(1, Ordering::Relaxed);
                        // Logged once per outage by the Redis link; counted per request here.
                        tracing::debug!(error = %e, "shared rate limits unavailable: using this gateway's own counters");
                    }
                }
            }
        }
        let admission =
            self.limiter.admit(&rules).map_err(|r| rate_refusal(r.limit, &r.scope, r.retry_after))?;
        let caller =
            Caller { key_id: Some(key_id), user_id: key.user_id.clone(), team_id: key.team_id.clone() };
        Ok((caller, admission))
    }

    /// Counts tokens really used by `caller` against its tokens-per-minute limits.
    pub(crate) fn record_tokens(&self, caller: &Caller, tokens: u64) {
        if !self.limiter.counts_tokens() {
            return;
        }
        let mut scopes = Vec::with_capacity(2);
        scopes.extend(caller.key_id.as_ref().map(|k| format!("key:{k}")));
        scopes.extend(caller.team_id.as_ref().map(|t| format!("team:{t}")));
        self.limiter.record_tokens(&scopes, tokens);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_each_other_from_creation() {
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        let day = Duration::from_secs(86_400);
        // Created at 1000 s: windows start at 1000, 87400, 173800, …
        assert_eq!(window_start(1000, day, at(1000)), at(1000));
        assert_eq!(window_start(1000, day, at(87_399)), at(1000));
        assert_eq!(window_start(1000, day, at(87_400)), at(87_400));
        assert_eq!(window_start(1000, day, at(200_000)), at(173_800));
        // A creation in the future (clock skew) starts the window now; none counts from 1970.
        assert_eq!(window_start(5000, day, at(1000)), at(1000));
        assert_eq!(window_start(0, day, at(100_000)), at(86_400));
    }

    #[tokio::test]
    async fn spend_is_seeded_once_and_never_double_counted() {
        let access = Access::new(KeyStore::open(":memory:").unwrap());
        // No spend log yet: nothing to seed, no error.
        let key = KeyRecord { token: "t".into(), max_budget: Some(1.0), ..KeyRecord::default() };
        access.sync_key_budget(&key).await;
        let scope = BudgetScope::Key("t".into());
        assert_eq!(access.spent(&scope).await, 0.0);
        if let super::super::Db::Sqlite(c) = &access.store.db {
            super::super::lock(c)
                .execute_batch(
                    "CREATE TABLE spend_logs (key_hash TEXT, team TEXT, \"user\" TEXT, started_at_ms BIGINT, \
                     cost_usd DOUBLE PRECISION);
                     INSERT INTO spend_logs VALUES ('t', NULL, NULL, 1, 0.25), ('t', NULL, NULL, 2, NULL),
                       ('other', NULL, NULL, 3, 5.0);",
                )
                .unwrap();
        }
        // A changed budget brings the logged spend; the same budget again changes nothing.
        let key = KeyRecord { max_budget: Some(2.0), ..key };
        access.ensure_key_budget(&key).await;
        assert!((access.spent(&scope).await - 0.25).abs() < 1e-9);
        access.ensure_key_budget(&key).await;
        access.sync_key_budget(&key).await;
        assert!((access.spent(&scope).await - 0.25).abs() < 1e-9);
    }
}
