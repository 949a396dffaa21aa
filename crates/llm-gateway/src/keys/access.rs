//! Enforcement: who is calling (master key or a valid virtual key), whether it may call a model,
//! and its rate limits; budgets are kept in sync with the records for `llm-cost`'s
//! `BudgetLayer`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use llm_core::{Caller, ErrorKind, LlmError};
use llm_cost::{Budget, BudgetScope, BudgetStore, BudgetWindow, InMemoryBudgetStore, NanoUsd};

use super::limits::{Admission, Limiter, ScopeLimits};
use super::shared::{SharedRpm, SharedVerdict};
use super::{KeyRecord, KeyStore, Table, TeamRecord, UserRecord, unix_now};

/// Keys, budgets and rate limits.
pub(crate) struct Access {
    pub(crate) store: KeyStore,
    pub(crate) budgets: Arc<dyn BudgetStore>,
    pub(crate) limiter: Arc<Limiter>,
    /// Requests-per-minute counters shared through Redis, when configured.
    pub(crate) shared: Option<SharedRpm>,
    /// Requests whose shared check failed (Redis unreachable) and fell back to local limits.
    pub(crate) redis_fallbacks: Arc<AtomicU64>,
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
        }
    }

    /// Loads every stored budget into the budget store.
    pub(crate) async fn load_budgets(&self) -> Result<(), String> {
        let keys: Vec<KeyRecord> = self.store.list(Table::Keys).await.map_err(|e| e.to_string())?;
        let teams: Vec<TeamRecord> = self.store.list(Table::Teams).await.map_err(|e| e.to_string())?;
        let users: Vec<UserRecord> = self.store.list(Table::Users).await.map_err(|e| e.to_string())?;
        for k in keys {
            self.sync_budget(BudgetScope::Key(k.key_id()), k.max_budget, k.budget_duration.as_deref()).await;
        }
        for t in teams {
            self.sync_budget(BudgetScope::Team(t.team_id), t.max_budget, t.budget_duration.as_deref()).await;
        }
        for u in users {
            self.sync_budget(BudgetScope::User(u.user_id), u.max_budget, u.budget_duration.as_deref()).await;
        }
        Ok(())
    }

    /// Sets the budget of `scope` (no budget = unlimited). `duration` was validated before.
    pub(crate) async fn sync_budget(&self, scope: BudgetScope, max: Option<f64>, duration: Option<&str>) {
        let budget = match max {
            Some(usd) => Budget::new(NanoUsd::from_usd(usd)),
            None => Budget::new(NanoUsd(u64::MAX)),
        };
        let budget = match duration.and_then(|d| d.parse::<BudgetWindow>().ok()) {
            Some(w) if max.is_some() => budget.with_window(w),
            _ => budget,
        };
        // The in-memory store never fails.
        let _ = self.budgets.set_budget(scope, budget, SystemTime::now()).await;
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
        let team = match &key.team_id {
            Some(t) => self.store.team(t).await.map_err(|e| {
                tracing::error!(error = %e, "key store lookup failed");
                Refusal::new(ErrorKind::ServiceUnavailable, "key_store", "key store unavailable")
            })?,
            None => None,
        };
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
        let mut scopes = Vec::with_capacity(2);
        scopes.extend(caller.key_id.as_ref().map(|k| format!("key:{k}")));
        scopes.extend(caller.team_id.as_ref().map(|t| format!("team:{t}")));
        self.limiter.record_tokens(&scopes, tokens);
    }
}
