//! One model's row of the pricing table.

use std::collections::BTreeMap;

use serde_json::Value;

/// Prices and limits of one model, as in a row of LiteLLM's `model_prices_and_context_window.json`.
///
/// Every numeric field whose name contains `cost` is kept in [`rates`](Self::rates) under its
/// LiteLLM name (`input_cost_per_token`, `cache_read_input_token_cost_above_200k_tokens`,
/// `output_cost_per_token_priority`, `output_cost_per_image`, …), so new fields need no code
/// change to be stored; [`crate::compute_cost`] knows which ones it uses.
///
/// ```
/// use llm_cost::ModelPrice;
/// let p = ModelPrice::new("openai")
///     .with_rate("input_cost_per_token", 2e-6)
///     .with_rate("output_cost_per_token", 8e-6)
///     .with_max_tokens(128_000, 16_384);
/// assert_eq!(p.rate("input_cost_per_token"), Some(2e-6));
/// assert_eq!(p.input_token_limit(), Some(128_000));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelPrice {
    /// LiteLLM's `litellm_provider` (e.g. `openai`, `bedrock_converse`, `vertex_ai-language-models`).
    pub provider: Option<String>,
    /// LiteLLM's `mode` (`chat`, `embedding`, `image_generation`, …).
    pub mode: Option<String>,
    /// `max_input_tokens`.
    pub max_input_tokens: Option<u64>,
    /// `max_output_tokens`.
    pub max_output_tokens: Option<u64>,
    /// `max_tokens` (legacy: the output limit, or the input limit when no output limit is given).
    pub max_tokens: Option<u64>,
    /// Every price field, in US dollars per unit, by LiteLLM field name.
    pub rates: BTreeMap<String, f64>,
    /// LiteLLM's `tiered_pricing`: rates that replace [`rates`](Self::rates) by prompt size.
    pub tiers: Vec<PriceTier>,
}

/// One entry of `tiered_pricing`: its rates apply when the prompt has `from_tokens` to `to_tokens`
/// tokens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTier {
    /// Lower bound of the range (exclusive, except for 0).
    pub from_tokens: u64,
    /// Upper bound of the range (inclusive); `None` for no upper bound.
    pub to_tokens: Option<u64>,
    /// The rates of this tier, by LiteLLM field name.
    pub rates: BTreeMap<String, f64>,
}

impl ModelPrice {
    /// An empty row for `provider`; add prices with [`with_rate`](Self::with_rate).
    pub fn new(provider: impl Into<String>) -> Self {
        Self { provider: Some(provider.into()), mode: Some("chat".to_owned()), ..Self::default() }
    }

    /// Sets the price field `field` (a LiteLLM field name) to `usd` dollars per unit.
    pub fn with_rate(mut self, field: impl Into<String>, usd: f64) -> Self {
        self.rates.insert(field.into(), usd);
        self
    }

    /// Sets the input and output token limits.
    pub fn with_max_tokens(mut self, input: u64, output: u64) -> Self {
        self.max_input_tokens = Some(input);
        self.max_output_tokens = Some(output);
        self.max_tokens = Some(output);
        self
    }

    /// The price field `field`, if the row has it.
    pub fn rate(&self, field: &str) -> Option<f64> {
        self.rates.get(field).copied()
    }

    /// The input limit: `max_input_tokens`, else `max_tokens`.
    pub fn input_token_limit(&self) -> Option<u64> {
        self.max_input_tokens.or(self.max_tokens)
    }

    /// The output limit: `max_output_tokens`, else `max_tokens`.
    pub fn output_token_limit(&self) -> Option<u64> {
        self.max_output_tokens.or(self.max_tokens)
    }

    /// Reads one row of LiteLLM's JSON; `None` when `row` is not an object.
    ///
    /// Non-numeric values in numeric fields are skipped, never an error: the file is edited by
    /// hand upstream and `sample_spec` holds prose.
    pub fn from_litellm_row(row: &Value) -> Option<Self> {
        let obj = row.as_object()?;
        let mut price = ModelPrice {
            provider: obj.get("litellm_provider").and_then(Value::as_str).map(str::to_owned),
            mode: obj.get("mode").and_then(Value::as_str).map(str::to_owned),
            max_input_tokens: obj.get("max_input_tokens").and_then(token_count),
            max_output_tokens: obj.get("max_output_tokens").and_then(token_count),
            max_tokens: obj.get("max_tokens").and_then(token_count),
            ..ModelPrice::default()
        };
        for (field, value) in obj {
            if is_price_field(field) {
                if let Some(usd) = price_value(value) {
                    price.rates.insert(field.clone(), usd);
                }
            }
        }
        if let Some(tiers) = obj.get("tiered_pricing").and_then(Value::as_array) {
            price.tiers = tiers.iter().filter_map(PriceTier::from_litellm).collect();
        }
        Some(price)
    }
}

impl PriceTier {
    fn from_litellm(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        let range = obj.get("range")?.as_array()?;
        let from_tokens = range.first().and_then(token_count)?;
        let to_tokens = range.get(1).and_then(token_count);
        let rates = obj
            .iter()
            .filter(|(field, _)| is_price_field(field))
            .filter_map(|(field, v)| Some((field.clone(), price_value(v)?)))
            .collect();
        Some(PriceTier { from_tokens, to_tokens, rates })
    }

    /// Whether a prompt of `prompt_tokens` falls in this tier.
    pub fn contains(&self, prompt_tokens: u64) -> bool {
        let above_start = prompt_tokens > self.from_tokens || (self.from_tokens == 0 && prompt_tokens == 0);
        above_start && self.to_tokens.is_none_or(|to| prompt_tokens <= to)
    }
}

/// Whether a LiteLLM field name is a price this crate stores.
pub(crate) fn is_price_field(field: &str) -> bool {
    field.contains("cost")
}

fn price_value(value: &Value) -> Option<f64> {
    value.as_f64().filter(|v| v.is_finite() && *v >= 0.0)
}

fn token_count(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    (f.is_finite() && f >= 0.0 && f < u64::MAX as f64).then_some(f as u64)
}
