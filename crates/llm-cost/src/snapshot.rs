//! The compact snapshot of the pricing table compiled into the crate, and its generator.
//!
//! The snapshot is JSON lines: a header `{"format":…,"fields":[…],"models":N}` naming every price
//! field once, then one line per model, sorted by name:
//!
//! ```text
//! [name, provider, mode, max_input_tokens, max_output_tokens, max_tokens, [field_index, usd, …], tiers?]
//! ```
//!
//! where `tiers` is `[[from_tokens, to_tokens, [field_index, usd, …]], …]`. Only the fields this
//! crate uses are kept (about 500 KB instead of 3 MB). `cargo xtask codegen-prices` regenerates it
//! with [`generate_snapshot`]; a test checks that the checked-in file is what the generator makes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::price::{ModelPrice, PriceTier};

/// The format tag of the snapshot's header.
pub const SNAPSHOT_FORMAT: &str = "llm-cost-prices/1";

/// The snapshot compiled into the crate (`data/prices.jsonl`).
pub const BUILTIN_SNAPSHOT: &str = include_str!("../data/prices.jsonl");

/// Why a pricing file or snapshot could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PriceTableError {
    /// The text is not valid JSON.
    #[error("pricing file is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON does not have the expected shape.
    #[error("pricing file has an unexpected shape: {0}")]
    Shape(String),
    /// The file could not be read.
    #[error("cannot read pricing file: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads LiteLLM's `model_prices_and_context_window.json` (skipping `sample_spec`) into rows.
pub fn parse_litellm_json(text: &str) -> Result<BTreeMap<String, ModelPrice>, PriceTableError> {
    let root: Value = serde_json::from_str(text)?;
    let obj = root
        .as_object()
        .ok_or_else(|| PriceTableError::Shape("the top level is not an object".to_owned()))?;
    Ok(obj
        .iter()
        .filter(|(name, _)| name.as_str() != "sample_spec")
        .filter_map(|(name, row)| Some((name.clone(), ModelPrice::from_litellm_row(row)?)))
        .collect())
}

/// Turns LiteLLM's JSON into the compact snapshot text; the same input always gives the same
/// bytes.
///
/// ```
/// let json = r#"{"m": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-6,
///                 "supports_vision": true, "max_tokens": 10}}"#;
/// let snapshot = llm_cost::generate_snapshot(json).unwrap();
/// let table = llm_cost::PriceTable::from_snapshot(&snapshot).unwrap();
/// assert_eq!(table.get("m").unwrap().rate("input_cost_per_token"), Some(1e-6));
/// ```
pub fn generate_snapshot(litellm_json: &str) -> Result<String, PriceTableError> {
    let rows = parse_litellm_json(litellm_json)?;
    let fields: BTreeSet<&str> = rows
        .values()
        .flat_map(|p| p.rates.keys().chain(p.tiers.iter().flat_map(|t| t.rates.keys())))
        .map(String::as_str)
        .collect();
    let index: BTreeMap<&str, usize> = fields.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let encode_rates = |rates: &BTreeMap<String, f64>| -> Value {
        Value::Array(
            rates
                .iter()
                .flat_map(|(field, usd)| [json!(index.get(field.as_str()).copied().unwrap_or(0)), json!(usd)])
                .collect(),
        )
    };
    let header = json!({ "format": SNAPSHOT_FORMAT, "models": rows.len(), "fields": fields });
    let mut out = serde_json::to_string(&header)?;
    out.push('\n');
    for (name, price) in &rows {
        let mut row = vec![
            json!(name),
            json!(price.provider),
            json!(price.mode),
            json!(price.max_input_tokens),
            json!(price.max_output_tokens),
            json!(price.max_tokens),
            encode_rates(&price.rates),
        ];
        if !price.tiers.is_empty() {
            row.push(Value::Array(
                price
                    .tiers
                    .iter()
                    .map(|t| json!([t.from_tokens, t.to_tokens, encode_rates(&t.rates)]))
                    .collect(),
            ));
        }
        out.push_str(&serde_json::to_string(&row)?);
        out.push('\n');
    }
    Ok(out)
}

/// Reads a snapshot made by [`generate_snapshot`].
pub fn parse_snapshot(text: &str) -> Result<BTreeMap<String, ModelPrice>, PriceTableError> {
    let (fields, rows) = split_snapshot(text)?;
    let mut out = BTreeMap::new();
    for line in rows {
        let (name, price) = parse_snapshot_row(line, &fields)?;
        out.insert(name, price);
    }
    Ok(out)
}

fn shape(what: &str) -> PriceTableError {
    PriceTableError::Shape(format!("snapshot: {what}"))
}

/// A snapshot's field names (from its header) and its row lines, each still JSON text.
pub(crate) fn split_snapshot(text: &str) -> Result<(Vec<&str>, impl Iterator<Item = &str>), PriceTableError> {
    let mut lines = text.lines();
    let header = lines.next().ok_or_else(|| shape("empty"))?;
    #[derive(serde::Deserialize)]
    struct Header<'a> {
        format: &'a str,
        #[serde(borrow)]
        fields: Vec<&'a str>,
    }
    let header: Header<'_> = serde_json::from_str(header)?;
    if header.format != SNAPSHOT_FORMAT {
        return Err(shape("unknown format"));
    }
    Ok((header.fields, lines.filter(|l| !l.trim().is_empty())))
}

/// The model name a snapshot row starts with, read without parsing the rest of the row; borrowed
/// from `line` unless it holds escapes.
pub(crate) fn snapshot_row_name(line: &str) -> Option<std::borrow::Cow<'_, str>> {
    let rest = line.strip_prefix("[\"")?;
    let end = rest.find('"')?;
    let raw = &rest[..end];
    if !raw.contains('\\') {
        return Some(std::borrow::Cow::Borrowed(raw));
    }
    // An escape: let the JSON parser read the row's first element.
    let row: Vec<Value> = serde_json::from_str(line).ok()?;
    row.first()?.as_str().map(|s| std::borrow::Cow::Owned(s.to_owned()))
}

/// One snapshot row: its model name and prices. `fields` is the header's field list.
pub(crate) fn parse_snapshot_row(
    line: &str,
    fields: &[&str],
) -> Result<(String, ModelPrice), PriceTableError> {
    let decode_rates = |v: Option<&Value>| -> Result<BTreeMap<String, f64>, PriceTableError> {
        let pairs = v.and_then(Value::as_array).ok_or_else(|| shape("rates are not a list"))?;
        pairs
            .chunks(2)
            .map(|pair| {
                let idx = pair.first().and_then(Value::as_u64).ok_or_else(|| shape("bad field index"))?;
                let field = fields.get(idx as usize).ok_or_else(|| shape("field index out of range"))?;
                let usd = pair.get(1).and_then(Value::as_f64).ok_or_else(|| shape("bad price"))?;
                Ok(((*field).to_owned(), usd))
            })
            .collect()
    };
    let row: Vec<Value> = serde_json::from_str(line)?;
    let text_at = |i: usize| row.get(i).and_then(Value::as_str).map(str::to_owned);
    let count_at = |i: usize| row.get(i).and_then(Value::as_u64);
    let name = text_at(0).ok_or_else(|| shape("a row has no name"))?;
    let tiers = match row.get(7).and_then(Value::as_array) {
        None => Vec::new(),
        Some(list) => list
            .iter()
            .map(|t| {
                Ok(PriceTier {
                    from_tokens: t.get(0).and_then(Value::as_u64).unwrap_or(0),
                    to_tokens: t.get(1).and_then(Value::as_u64),
                    rates: decode_rates(t.get(2))?,
                })
            })
            .collect::<Result<_, PriceTableError>>()?,
    };
    let price = ModelPrice {
        provider: text_at(1),
        mode: text_at(2),
        max_input_tokens: count_at(3),
        max_output_tokens: count_at(4),
        max_tokens: count_at(5),
        rates: decode_rates(row.get(6))?,
        tiers,
    };
    Ok((name, price))
}
