//! The pricing table: the built-in snapshot, user files and run-time overrides.

use arc_swap::ArcSwap;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, LazyLock, OnceLock, RwLock};

use crate::price::ModelPrice;
use crate::snapshot::{
    BUILTIN_SNAPSHOT, PriceTableError, parse_litellm_json, parse_snapshot, parse_snapshot_row,
    snapshot_row_name, split_snapshot,
};

type Rows = HashMap<String, Arc<ModelPrice>>;

/// Past lookups: model name → `base_model` hint → the row found (or none). Read without a lock
/// (an atomic snapshot); a new name copies the map, which happens once per name. Every change of
/// the overrides starts a new, empty generation, and a lookup made in an older generation is not
/// remembered (it may have read the overrides before the change). Starts over past
/// [`RESOLVED_CAPACITY`] names.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    generation: u64,
    names: HashMap<String, HashMap<Option<String>, Option<crate::lookup::ResolvedModel>>>,
}

/// The identity of a [`PriceTable`] and its clones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableId(usize, usize);

/// How many distinct names the lookup memo holds before it starts over.
const RESOLVED_CAPACITY: usize = 4096;

/// One row of a base table: parsed, or (the built-in snapshot) its line, parsed on first use.
struct Slot {
    line: Option<&'static str>,
    parsed: OnceLock<Option<Arc<ModelPrice>>>,
}

/// The read-only rows of a table, with an index of dated names built on first use.
///
/// The built-in snapshot's rows stay text until a model is looked up: parsing all 4,000-odd rows
/// up front held 3.3 MB of heap that a gateway configured with a handful of models never reads.
struct Base {
    /// Sorted by name (searched in halves: a sorted list holds half the memory of a hash map).
    rows: Vec<(Cow<'static, str>, Slot)>,
    /// The snapshot's field names, for rows parsed on first use.
    fields: Vec<&'static str>,
    /// Undated name → the dated names of the rows (`gpt-4o` → `gpt-4o-2024-08-06`, …), so that
    /// resolving an undated name never scans the table.
    dated: OnceLock<HashMap<String, Vec<String>>>,
}

impl Base {
    fn new(rows: Rows) -> Arc<Self> {
        let rows = rows
            .into_iter()
            .map(|(name, price)| (Cow::Owned(name), Slot { line: None, parsed: OnceLock::from(Some(price)) }))
            .collect();
        Arc::new(Self { rows: sorted(rows), fields: Vec::new(), dated: OnceLock::new() })
    }

    /// The rows of a snapshot compiled into the program, each parsed when first asked for.
    fn lazy(text: &'static str) -> Result<Arc<Self>, PriceTableError> {
        let (fields, lines) = split_snapshot(text)?;
        let mut rows = Vec::new();
        for line in lines {
            let name = snapshot_row_name(line)
                .ok_or_else(|| PriceTableError::Shape("snapshot: a row has no name".to_owned()))?;
            rows.push((name, Slot { line: Some(line), parsed: OnceLock::new() }));
        }
        Ok(Arc::new(Self { rows: sorted(rows), fields, dated: OnceLock::new() }))
    }

    fn slot(&self, model: &str) -> Option<&Slot> {
        let i = self.rows.binary_search_by(|(name, _)| name.as_ref().cmp(model)).ok()?;
        Some(&self.rows[i].1)
    }

    fn contains(&self, model: &str) -> bool {
        self.slot(model).is_some()
    }

    /// The row stored under exactly `model`.
    fn get(&self, model: &str) -> Option<Arc<ModelPrice>> {
        let slot = self.slot(model)?;
        slot.parsed
            .get_or_init(|| {
                let line = slot.line?;
                parse_snapshot_row(line, &self.fields).ok().map(|(_, price)| Arc::new(price))
            })
            .clone()
    }

    fn dated(&self) -> &HashMap<String, Vec<String>> {
        self.dated.get_or_init(|| {
            let mut index: HashMap<String, Vec<String>> = HashMap::new();
            for (key, _) in &self.rows {
                if let Some(undated) = crate::lookup::strip_date_suffix(key) {
                    index.entry(undated.to_owned()).or_default().push(key.to_string());
                }
            }
            index
        })
    }
}

/// `rows` sorted by name; of rows with the same name, the last one stays.
fn sorted(mut rows: Vec<(Cow<'static, str>, Slot)>) -> Vec<(Cow<'static, str>, Slot)> {
    rows.reverse();
    rows.sort_by(|a, b| a.0.cmp(&b.0)); // stable: the last row of a name now comes first
    rows.dedup_by(|later, first| later.0 == first.0);
    rows.shrink_to_fit();
    rows
}

static BUILTIN: LazyLock<Arc<Base>> = LazyLock::new(|| {
    // The freshness test parses the same text (every row), so this cannot fail in a released
    // crate; an empty table (every cost "unknown") is the safe answer if it ever did.
    Base::lazy(BUILTIN_SNAPSHOT).unwrap_or_else(|_| Base::new(Rows::new()))
});

/// Model prices and limits by model name, shared by every clone.
///
/// A table is a read-only base (the built-in snapshot, or a file the user loads) plus run-time
/// overrides that every clone sees: [`set`](Self::set) replaces one model's row while services
/// that hold the table keep running.
///
/// ```
/// use llm_cost::{ModelPrice, PriceTable};
/// let table = PriceTable::builtin();
/// assert!(table.get("gpt-4o").is_some());
/// let shared = table.clone();
/// table.set("my-finetune", ModelPrice::new("openai").with_rate("input_cost_per_token", 3e-6));
/// assert_eq!(shared.get("my-finetune").unwrap().rate("input_cost_per_token"), Some(3e-6));
/// ```
#[derive(Clone)]
pub struct PriceTable {
    base: Arc<Base>,
    overrides: Arc<RwLock<Rows>>,
    resolved: Arc<ArcSwap<Resolved>>,
}

impl fmt::Debug for PriceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriceTable")
            .field("models", &self.base.rows.len())
            .field("overrides", &self.read_overrides().len())
            .finish()
    }
}

impl Default for PriceTable {
    fn default() -> Self {
        Self::builtin()
    }
}

impl PriceTable {
    /// The snapshot compiled into the crate (parsed once per process, on first use).
    pub fn builtin() -> Self {
        Self::with_base(Arc::clone(&BUILTIN))
    }

    /// A table with no models.
    pub fn empty() -> Self {
        Self::with_base(Base::new(Rows::new()))
    }

    /// A table from the text of a LiteLLM `model_prices_and_context_window.json`.
    pub fn from_litellm_json(text: &str) -> Result<Self, PriceTableError> {
        let rows = parse_litellm_json(text)?;
        Ok(Self::with_base(Base::new(rows.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())))
    }

    /// A table from a LiteLLM JSON file on disk.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, PriceTableError> {
        Self::from_litellm_json(&std::fs::read_to_string(path)?)
    }

    /// A table from a snapshot made by [`generate_snapshot`](crate::generate_snapshot).
    pub fn from_snapshot(text: &str) -> Result<Self, PriceTableError> {
        let rows = parse_snapshot(text)?;
        Ok(Self::with_base(Base::new(rows.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())))
    }

    fn with_base(base: Arc<Base>) -> Self {
        Self { base, overrides: Arc::new(RwLock::new(Rows::new())), resolved: Arc::default() }
    }

    /// Sets (or replaces) one model's row at run time; every clone of the table sees it.
    pub fn set(&self, model: impl Into<String>, price: ModelPrice) {
        self.write_overrides().insert(model.into(), Arc::new(price));
    }

    /// Adds every row of a LiteLLM JSON text as overrides (rows of the same name are replaced).
    /// Returns how many rows were read.
    pub fn merge_litellm_json(&self, text: &str) -> Result<usize, PriceTableError> {
        let rows = parse_litellm_json(text)?;
        let n = rows.len();
        let mut overrides = self.write_overrides();
        overrides.extend(rows.into_iter().map(|(k, v)| (k, Arc::new(v))));
        Ok(n)
    }

    /// Removes a run-time override; returns whether there was one.
    pub fn remove_override(&self, model: &str) -> bool {
        self.write_overrides().remove(model).is_some()
    }

    /// The row stored under exactly `model` (overrides first). See
    /// [`resolve`](Self::resolve) for names as users write them.
    pub fn get(&self, model: &str) -> Option<Arc<ModelPrice>> {
        if let Some(p) = self.read_overrides().get(model) {
            return Some(Arc::clone(p));
        }
        self.base.get(model)
    }

    /// How many distinct model names the table holds.
    pub fn len(&self) -> usize {
        let overrides = self.read_overrides();
        self.base.rows.len() + overrides.keys().filter(|k| !self.base.contains(k)).count()
    }

    /// Whether the table holds no model.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` with every name whose undated form is `undated` (`gpt-4o-2024-08-06` for
    /// `gpt-4o`): an index lookup for the base rows, a scan of the few overrides.
    pub(crate) fn for_each_dated(&self, undated: &str, mut f: impl FnMut(&str)) {
        self.base.dated().get(undated).into_iter().flatten().for_each(|k| f(k));
        self.read_overrides()
            .keys()
            .filter(|k| crate::lookup::strip_date_suffix(k) == Some(undated))
            .for_each(|k| f(k));
    }

    fn read_overrides(&self) -> std::sync::RwLockReadGuard<'_, Rows> {
        self.overrides.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_overrides(&self) -> std::sync::RwLockWriteGuard<'_, Rows> {
        let guard = self.overrides.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Any change can change what a name resolves to.
        self.resolved.rcu(|memo| Resolved { generation: memo.generation + 1, names: HashMap::new() });
        guard
    }

    /// Which table this is: clones share it (and their overrides), other tables differ.
    pub(crate) fn id(&self) -> TableId {
        TableId(Arc::as_ptr(&self.base) as usize, Arc::as_ptr(&self.overrides) as usize)
    }

    /// A remembered lookup of `name` with `base_model` (`Ok(None)`: it found nothing), or the
    /// memo's generation to pass to [`remember`](Self::remember) after looking it up.
    pub(crate) fn remembered(
        &self,
        name: &str,
        base_model: &Option<String>,
    ) -> Result<Option<crate::lookup::ResolvedModel>, u64> {
        let memo = self.resolved.load();
        match memo.names.get(name).and_then(|hints| hints.get(base_model)) {
            Some(found) => Ok(found.clone()),
            None => Err(memo.generation),
        }
    }

    /// Remembers a lookup begun in memo `generation`, unless the overrides changed since.
    pub(crate) fn remember(
        &self,
        generation: u64,
        name: &str,
        base_model: &Option<String>,
        found: Option<crate::lookup::ResolvedModel>,
    ) {
        if self.resolved.load().generation != generation {
            return;
        }
        self.resolved.rcu(|memo| {
            if memo.generation != generation {
                return Resolved::clone(memo);
            }
            let mut next = if memo.names.len() >= RESOLVED_CAPACITY && !memo.names.contains_key(name) {
                Resolved { generation, names: HashMap::new() }
            } else {
                Resolved::clone(memo)
            };
            next.names.entry(name.to_owned()).or_default().insert(base_model.clone(), found.clone());
            next
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lookup_begun_before_an_override_is_not_remembered() {
        let table = PriceTable::builtin();
        let generation = table.remembered("acme/m", &None).unwrap_err();
        // The lookup read the overrides (nothing found), then an override arrived.
        table.set("acme/m", ModelPrice::new("acme").with_rate("input_cost_per_token", 1.0));
        table.remember(generation, "acme/m", &None, None);
        assert!(table.remembered("acme/m", &None).is_err(), "a stale answer was remembered");
        let found = table.resolve("acme/m", &crate::LookupHints::default()).unwrap();
        assert_eq!(found.price.rate("input_cost_per_token"), Some(1.0));
        // Looked up in the current generation, the answer is remembered.
        assert_eq!(table.remembered("acme/m", &None).unwrap().map(|f| f.key), Some("acme/m".to_owned()));
    }
}
