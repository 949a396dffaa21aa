//! Budgets shared by every replica through Redis: each scope's budget is a hash (`max`,
//! `window_ms`, `start_ms`, `spent`, `reserved`, in nano-dollars) and reserving checks and books
//! every scope in one Lua script, so concurrent calls on any replica never together pass a
//! budget. When Redis cannot be reached, reservations fall back to this replica's in-memory store
//! (which is kept in step with budget changes), logged and counted.
//!
//! Spend read from the spend log (at start, or when a budget is new here) raises the local
//! fallback's count only ([`SEED_ID`]); Redis keeps its own count across gateway restarts.
//!
//! A scope's hash missing from Redis (Redis connected after budgets were set, or restarted and
//! empty) is recreated by the reservation script from this replica's view of the budget.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use llm_cost::{
    Budget, BudgetError, BudgetScope, BudgetStatus, BudgetStore, InMemoryBudgetStore, NanoUsd, Reservation,
};

use super::shared::{LuaScript, RedisLink, ScriptCall, SharedError};

const TIMEOUT: Duration = Duration::from_secs(1);
/// Reservation ids at or above this were made in Redis; those below, in the local store.
const SHARED_ID: u64 = 1 << 63;
/// Settling a reservation of nothing with this id raises the spend the local fallback counts for
/// its scopes to the settled amount (when it counts less): how spend read from the spend log is
/// given to the fallback without touching Redis, whose own count survives gateway restarts.
pub(crate) const SEED_ID: u64 = SHARED_ID - 1;

/// KEYS: scope hashes. ARGV: amount, then per scope the budget's max and window (ms) as this
/// replica knows them (`''` when it does not), to recreate a missing hash. Rolls expired windows,
/// then books `amount` in every scope that has a budget, or none. Returns `{0, booked flags...}`
/// or `{index, max, spent, reserved}`.
static RESERVE: LuaScript = LuaScript::new(
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local amount = tonumber(ARGV[1])
local booked = {0}
for i, key in ipairs(KEYS) do
  local max = ARGV[2 * i]
  if max ~= '' and redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'max', max, 'window_ms', ARGV[2 * i + 1], 'start_ms', now, 'spent', 0, 'reserved', 0)
  end
  if redis.call('EXISTS', key) == 1 then
    local w = tonumber(redis.call('HGET', key, 'window_ms') or '0')
    local start = tonumber(redis.call('HGET', key, 'start_ms') or '0')
    if w > 0 and now >= start + w then
      local periods = math.floor((now - start) / w)
      redis.call('HSET', key, 'start_ms', start + periods * w, 'spent', 0)
    end
    local max = tonumber(redis.call('HGET', key, 'max'))
    local spent = tonumber(redis.call('HGET', key, 'spent') or '0')
    local reserved = tonumber(redis.call('HGET', key, 'reserved') or '0')
    if spent + reserved + amount > max then
      return {i, tostring(max), spent, reserved}
    end
    booked[i + 1] = 1
  else
    booked[i + 1] = 0
  end
end
for i, key in ipairs(KEYS) do
  if booked[i + 1] == 1 then redis.call('HINCRBY', key, 'reserved', amount) end
end
return booked
",
);

/// Budgets in Redis, with an in-memory fallback.
pub(crate) struct SharedBudgets {
    link: RedisLink,
    local: InMemoryBudgetStore,
    /// Every budget set here (max, window in ms) by Redis key, to recreate missing hashes.
    known: RwLock<HashMap<String, (u64, u64)>>,
    next_id: AtomicU64,
    fallbacks: Arc<AtomicU64>,
}

impl SharedBudgets {
    /// Budgets through `link`; `fallbacks` counts calls served by the local store instead.
    pub(crate) fn new(link: RedisLink, fallbacks: Arc<AtomicU64>) -> Self {
        Self {
            link,
            local: InMemoryBudgetStore::new(),
            known: RwLock::default(),
            next_id: AtomicU64::new(SHARED_ID),
            fallbacks,
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, String> {
        let Some(mut c) = self.link.connection() else { return Err("not connected".into()) };
        let reply = match tokio::time::timeout(TIMEOUT, cmd.query_async::<T>(&mut c)).await {
            Err(_) => Err("timed out".into()),
            Ok(r) => r.map_err(|e| format!("{:?}", e.kind())),
        };
        if reply.is_ok() {
            self.link.succeeded();
        }
        reply
    }

    async fn run_script<T: redis::FromRedisValue>(&self, call: &ScriptCall<'_>) -> Result<T, String> {
        let Some(mut c) = self.link.connection() else { return Err("not connected".into()) };
        let reply = match tokio::time::timeout(TIMEOUT, call.invoke::<T>(&mut c)).await {
            Err(_) => Err("timed out".into()),
            Ok(r) => r.map_err(|e| format!("{:?}", e.kind())),
        };
        if reply.is_ok() {
            self.link.succeeded();
        }
        reply
    }

    /// The Redis key of `scope`'s budget hash.
    fn key(&self, scope: &BudgetScope) -> String {
        self.link.key(&match scope {
            BudgetScope::Key(k) => format!("budget:key:{k}"),
            BudgetScope::User(u) => format!("budget:user:{u}"),
            BudgetScope::Team(t) => format!("budget:team:{t}"),
        })
    }

    fn fell_back(&self, e: &str) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.link.down("budgets", &SharedError(e.to_owned()));
    }
}

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[async_trait]
impl BudgetStore for SharedBudgets {
    /// Answered by the local copy, which the gateway keeps in step with every budget a request
    /// touches; a scope it does not know counts as limited (it may have a budget in Redis).
    fn limits_any(&self, scopes: &[BudgetScope]) -> bool {
        !self.local.knows_all(scopes) || self.local.limits_any(scopes)
    }

    async fn set_budget(
        &self,
        scope: BudgetScope,
        budget: Budget,
        now: SystemTime,
    ) -> Result<(), BudgetError> {
        self.local.set_budget(scope.clone(), budget, now).await?;
        let window = budget.window.map(|w| w.period().as_millis() as u64).unwrap_or(0);
        self.known
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.key(&scope), (budget.max.0, window));
        let mut cmd = redis::cmd("HSET");
        cmd.arg(self.key(&scope)).arg("max").arg(budget.max.0).arg("window_ms").arg(window);
        // A window already running is kept (other replicas set the same budget at start).
        let mut start = redis::cmd("HSETNX");
        start.arg(self.key(&scope)).arg("start_ms").arg(ms(now));
        if let Err(e) = self.run::<()>(cmd).await {
            self.fell_back(&e);
        } else if let Err(e) = self.run::<()>(start).await {
            self.fell_back(&e);
        }
        Ok(())
    }

    async fn reserve(
        &self,
        scopes: &[BudgetScope],
        amount: NanoUsd,
        now: SystemTime,
    ) -> Result<Reservation, BudgetError> {
        let mut call = RESERVE.prepare();
        let keys: Vec<String> = scopes.iter().map(|s| self.key(s)).collect();
        call.key(&keys).arg(amount.0);
        {
            let known = self.known.read().unwrap_or_else(|p| p.into_inner());
            for k in &keys {
                match known.get(k) {
                    Some((max, window)) => call.arg(*max).arg(*window),
                    None => call.arg("").arg(0),
                };
            }
        }
        match self.run_script::<Vec<redis::Value>>(&call).await {
            Ok(reply) => {
                let num = |v: Option<&redis::Value>| -> u64 {
                    match v {
                        Some(redis::Value::Int(i)) => u64::try_from(*i).unwrap_or(0),
                        Some(redis::Value::BulkString(b)) => {
                            std::str::from_utf8(b).ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0)
                                as u64
                        }
                        _ => 0,
                    }
                };
                let first = num(reply.first());
                if first > 0 {
                    let scope =
                        scopes.get(first as usize - 1).cloned().unwrap_or(BudgetScope::Key(String::new()));
                    return Err(BudgetError::Exceeded {
                        scope,
                        max: NanoUsd(num(reply.get(1))),
                        spent: NanoUsd(num(reply.get(2))),
                        reserved: NanoUsd(num(reply.get(3))),
                        requested: amount,
                    });
                }
                let booked = scopes
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| num(reply.get(i + 1)) == 1)
                    .map(|(_, s)| s.clone())
                    .collect();
                let id = self.next_id.fetch_add(1, Ordering::Relaxed) | SHARED_ID;
                Ok(Reservation { id, scopes: booked, amount })
            }
            Err(e) => {
                self.fell_back(&e);
                self.local.reserve(scopes, amount, now).await
            }
        }
    }

    async fn settle(
        &self,
        reservation: Reservation,
        actual: NanoUsd,
        now: SystemTime,
    ) -> Result<(), BudgetError> {
        if reservation.id == SEED_ID {
            for scope in reservation.scopes {
                let have = self.local.status(&scope, now).await?.map(|s| s.spent).unwrap_or(NanoUsd::ZERO);
                if actual > have {
                    let seed = Reservation { id: 0, scopes: vec![scope], amount: NanoUsd::ZERO };
                    self.local.settle(seed, actual.saturating_sub(have), now).await?;
                }
            }
            return Ok(());
        }
        if reservation.id < SHARED_ID {
            return self.local.settle(reservation, actual, now).await;
        }
        for s in &reservation.scopes {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("HINCRBY")
                .arg(self.key(s))
                .arg("reserved")
                .arg(-(reservation.amount.0 as i64))
                .ignore()
                .cmd("HINCRBY")
                .arg(self.key(s))
                .arg("spent")
                .arg(actual.0 as i64)
                .ignore();
            let done = match self.link.connection() {
                Some(mut c) => tokio::time::timeout(TIMEOUT, pipe.query_async::<()>(&mut c)).await,
                None => Ok(Err(redis::RedisError::from((redis::ErrorKind::IoError, "not connected")))),
            };
            if !matches!(done, Ok(Ok(()))) {
                self.fell_back("settle failed");
            }
        }
        Ok(())
    }

    async fn release(&self, reservation: Reservation) -> Result<(), BudgetError> {
        if reservation.id < SHARED_ID {
            return self.local.release(reservation).await;
        }
        for s in &reservation.scopes {
            let mut cmd = redis::cmd("HINCRBY");
            cmd.arg(self.key(s)).arg("reserved").arg(-(reservation.amount.0 as i64));
            if let Err(e) = self.run::<()>(cmd).await {
                self.fell_back(&e);
            }
        }
        Ok(())
    }

    async fn status(
        &self,
        scope: &BudgetScope,
        now: SystemTime,
    ) -> Result<Option<BudgetStatus>, BudgetError> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.key(scope)).arg("spent").arg("reserved").arg("max");
        match self.run::<(Option<i64>, Option<i64>, Option<String>)>(cmd).await {
            Ok((spent, reserved, max)) => {
                let local = self.local.status(scope, now).await?;
                let Some(max) = max.and_then(|m| m.parse::<u64>().ok()) else { return Ok(local) };
                let mut status = local.unwrap_or(BudgetStatus {
                    budget: Budget::new(NanoUsd(max)),
                    spent: NanoUsd(0),
                    reserved: NanoUsd(0),
                    resets_at: None,
                });
                status.spent = NanoUsd(spent.unwrap_or(0).max(0) as u64);
                status.reserved = NanoUsd(reserved.unwrap_or(0).max(0) as u64);
                Ok(Some(status))
            }
            Err(_) => self.local.status(scope, now).await,
        }
    }
}
