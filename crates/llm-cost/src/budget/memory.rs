use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;

use super::{Budget, BudgetError, BudgetScope, BudgetStatus, BudgetStore, Reservation};
use crate::money::NanoUsd;

/// Budgets in this process's memory; clones share them.
#[derive(Debug, Clone, Default)]
pub struct InMemoryBudgetStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    accounts: HashMap<BudgetScope, Account>,
    next_id: u64,
}

#[derive(Debug)]
struct Account {
    budget: Budget,
    spent: NanoUsd,
    reserved: NanoUsd,
    window_start: SystemTime,
}

impl Account {
    /// Starts the window `now` falls in, clearing the spending when a window has passed.
    fn roll(&mut self, now: SystemTime) {
        let Some(window) = self.budget.window else { return };
        let period = window.period();
        let Ok(elapsed) = now.duration_since(self.window_start) else { return };
        if elapsed >= period {
            let periods = (elapsed.as_nanos() / period.as_nanos()).min(u128::from(u32::MAX)) as u32;
            self.window_start = period
                .checked_mul(periods)
                .and_then(|advance| self.window_start.checked_add(advance))
                .unwrap_or(now);
            self.spent = NanoUsd::ZERO;
        }
    }

    fn status(&self) -> BudgetStatus {
        BudgetStatus {
            budget: self.budget,
            spent: self.spent,
            reserved: self.reserved,
            resets_at: self.budget.window.and_then(|w| self.window_start.checked_add(w.period())),
        }
    }
}

impl InMemoryBudgetStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether every one of `scopes` has a budget here (unlimited ones included).
    pub fn knows_all(&self, scopes: &[BudgetScope]) -> bool {
        let state = self.lock();
        scopes.iter().all(|s| state.accounts.contains_key(s))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl BudgetStore for InMemoryBudgetStore {
    fn limits_any(&self, scopes: &[BudgetScope]) -> bool {
        let state = self.lock();
        scopes.iter().any(|s| state.accounts.get(s).is_some_and(|a| !a.budget.is_unlimited()))
    }

    async fn set_budget(
        &self,
        scope: BudgetScope,
        budget: Budget,
        now: SystemTime,
    ) -> Result<(), BudgetError> {
        let mut state = self.lock();
        match state.accounts.get_mut(&scope) {
            Some(account) => {
                account.budget = budget;
                account.window_start = now;
            }
            None => {
                state.accounts.insert(
                    scope,
                    Account { budget, spent: NanoUsd::ZERO, reserved: NanoUsd::ZERO, window_start: now },
                );
            }
        }
        Ok(())
    }

    async fn reserve(
        &self,
        scopes: &[BudgetScope],
        amount: NanoUsd,
        now: SystemTime,
    ) -> Result<Reservation, BudgetError> {
        let mut state = self.lock();
        let mut booked = Vec::new();
        for scope in scopes {
            let Some(account) = state.accounts.get_mut(scope) else { continue };
            account.roll(now);
            let after = account.spent.saturating_add(account.reserved).saturating_add(amount);
            if after > account.budget.max || account.spent >= account.budget.max {
                return Err(BudgetError::Exceeded {
                    scope: scope.clone(),
                    max: account.budget.max,
                    spent: account.spent,
                    reserved: account.reserved,
                    requested: amount,
                });
            }
            if !booked.contains(scope) {
                booked.push(scope.clone());
            }
        }
        for scope in &booked {
            if let Some(account) = state.accounts.get_mut(scope) {
                account.reserved = account.reserved.saturating_add(amount);
            }
        }
        state.next_id += 1;
        Ok(Reservation { id: state.next_id, scopes: booked, amount })
    }

    async fn settle(
        &self,
        reservation: Reservation,
        actual: NanoUsd,
        now: SystemTime,
    ) -> Result<(), BudgetError> {
        let mut state = self.lock();
        for scope in &reservation.scopes {
            if let Some(account) = state.accounts.get_mut(scope) {
                account.roll(now);
                account.reserved = account.reserved.saturating_sub(reservation.amount);
                account.spent = account.spent.saturating_add(actual);
            }
        }
        Ok(())
    }

    async fn release(&self, reservation: Reservation) -> Result<(), BudgetError> {
        let mut state = self.lock();
        for scope in &reservation.scopes {
            if let Some(account) = state.accounts.get_mut(scope) {
                account.reserved = account.reserved.saturating_sub(reservation.amount);
            }
        }
        Ok(())
    }

    async fn status(
        &self,
        scope: &BudgetScope,
        now: SystemTime,
    ) -> Result<Option<BudgetStatus>, BudgetError> {
        let mut state = self.lock();
        Ok(state.accounts.get_mut(scope).map(|account| {
            account.roll(now);
            account.status()
        }))
    }
}
