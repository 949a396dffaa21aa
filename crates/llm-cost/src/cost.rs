//! The cost of one response from its usage and the model's row.

use std::collections::BTreeMap;
use std::time::Duration;

use llm_core::Usage;
use serde_json::Value;

use crate::lookup::{LookupHints, Resolution, ResolvedModel};
use crate::money::NanoUsd;
use crate::price::ModelPrice;
use crate::table::PriceTable;

/// The provider's service tier, which selects LiteLLM's `_batches`, `_priority` and `_flex` prices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ServiceTier {
    /// Standard prices (OpenAI's `default`, `auto`, `scale`).
    #[default]
    Standard,
    /// Batch API prices (`_batches`).
    Batch,
    /// Priority processing (`_priority`).
    Priority,
    /// Flex processing (`_flex`).
    Flex,
}

impl ServiceTier {
    /// Reads a wire value such as a response's `service_tier` (`priority`, `flex`, `batch`);
    /// anything else is [`Standard`](Self::Standard).
    pub fn from_wire(value: &str) -> Self {
        match value.trim().to_ascii_lowercase().as_str() {
            "priority" => ServiceTier::Priority,
            "flex" => ServiceTier::Flex,
            "batch" | "batches" => ServiceTier::Batch,
            _ => ServiceTier::Standard,
        }
    }

    /// The suffix of LiteLLM's price fields for this tier.
    pub fn field_suffix(self) -> Option<&'static str> {
        match self {
            ServiceTier::Standard => None,
            ServiceTier::Batch => Some("batches"),
            ServiceTier::Priority => Some("priority"),
            ServiceTier::Flex => Some("flex"),
        }
    }
}

/// What a response used, in the units the table prices.
///
/// Token counts follow [`Usage`]'s OpenAI meaning: `prompt_tokens` includes the cached,
/// cache-creation and audio input tokens, `completion_tokens` includes reasoning, audio and image
/// output tokens.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostInput {
    /// All input tokens.
    pub prompt_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cached_tokens: u64,
    /// Input tokens written to the prompt cache (both lifetimes).
    pub cache_creation_tokens: u64,
    /// The part of `cache_creation_tokens` written with the 1-hour lifetime.
    pub cache_creation_1h_tokens: u64,
    /// Audio input tokens.
    pub prompt_audio_tokens: u64,
    /// All output tokens.
    pub completion_tokens: u64,
    /// Reasoning output tokens.
    pub reasoning_tokens: u64,
    /// Audio output tokens.
    pub completion_audio_tokens: u64,
    /// Image output tokens.
    pub completion_image_tokens: u64,
    /// Images generated (priced per image).
    pub output_images: u64,
    /// How long the call took (for per-second prices).
    pub duration: Option<Duration>,
    /// The service tier the call ran in.
    pub service_tier: ServiceTier,
}

impl CostInput {
    /// Reads a [`Usage`], including two fields `llm-core` keeps in `extra`: 1-hour cache writes
    /// (`prompt_tokens_details.cache_creation_1h_tokens`, or Anthropic's
    /// `cache_creation.ephemeral_1h_input_tokens`) and `completion_tokens_details.image_tokens`.
    ///
    /// ```
    /// use llm_core::Usage;
    /// use llm_cost::CostInput;
    /// let input = CostInput::from_usage(&Usage::new(1000, 200).with_cached_tokens(600));
    /// assert_eq!((input.prompt_tokens, input.cached_tokens, input.completion_tokens), (1000, 600, 200));
    /// ```
    pub fn from_usage(usage: &Usage) -> Self {
        let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
        let prompt_extra = usage.prompt_tokens_details.as_ref().map(|d| &d.extra);
        let completion_extra = usage.completion_tokens_details.as_ref().map(|d| &d.extra);
        let one_hour = match prompt_extra.and_then(|e| e.get("cache_creation_1h_tokens")) {
            Some(v) => count(Some(v)),
            None => count(usage.extra.get("cache_creation").and_then(|c| c.get("ephemeral_1h_input_tokens"))),
        };
        Self {
            prompt_tokens: usage.prompt_tokens,
            cached_tokens: usage.cached_tokens(),
            cache_creation_tokens: usage.cache_creation_tokens(),
            cache_creation_1h_tokens: one_hour,
            prompt_audio_tokens: usage.prompt_audio_tokens(),
            completion_tokens: usage.completion_tokens,
            reasoning_tokens: usage.reasoning_tokens(),
            completion_audio_tokens: usage.completion_audio_tokens(),
            completion_image_tokens: count(completion_extra.and_then(|e| e.get("image_tokens"))),
            ..Self::default()
        }
    }

    /// Sets the service tier.
    pub fn with_service_tier(mut self, tier: ServiceTier) -> Self {
        self.service_tier = tier;
        self
    }

    /// Sets the call's duration.
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Sets the number of generated images.
    pub fn with_output_images(mut self, images: u64) -> Self {
        self.output_images = images;
        self
    }
}

/// Why a cost could not be computed. A missing price is never silently zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CostUnknown {
    /// No row matches the model name.
    #[error("model `{model}` is not in the pricing table")]
    ModelNotFound {
        /// The name asked for.
        model: String,
    },
    /// The row lacks a price the usage needs.
    #[error("model `{model}` has no `{field}` price")]
    MissingPrice {
        /// The table key.
        model: String,
        /// The LiteLLM field that is missing.
        field: String,
    },
    /// The model is priced per second and the duration is not known.
    #[error("model `{model}` is priced per second and the call's duration is unknown")]
    MissingDuration {
        /// The table key.
        model: String,
    },
    /// The response reported no usage.
    #[error("the response reported no usage")]
    NoUsage,
}

/// The parts of a cost, in US dollars.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostBreakdown {
    /// Uncached text input.
    pub input: f64,
    /// Cache reads.
    pub cache_read: f64,
    /// Cache writes (5-minute and 1-hour).
    pub cache_creation: f64,
    /// Audio input and output.
    pub audio: f64,
    /// Text output.
    pub output: f64,
    /// Reasoning output.
    pub reasoning: f64,
    /// Image output (per image and per image token).
    pub images: f64,
    /// Per-request fee.
    pub per_request: f64,
    /// Per-second prices.
    pub per_second: f64,
}

impl CostBreakdown {
    fn total(&self) -> f64 {
        self.input
            + self.cache_read
            + self.cache_creation
            + self.audio
            + self.output
            + self.reasoning
            + self.images
            + self.per_request
            + self.per_second
    }
}

/// The cost of one response.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// The table key that priced it.
    pub model: String,
    /// How the key was found.
    pub resolution: Resolution,
    /// The total in US dollars.
    pub usd: f64,
    /// The parts.
    pub breakdown: CostBreakdown,
}

impl Cost {
    /// The total in nano-dollars (rounded to the nearest).
    pub fn nano_usd(&self) -> NanoUsd {
        NanoUsd::from_usd(self.usd)
    }
}

impl PriceTable {
    /// Resolves `model` (see [`PriceTable::resolve`]) and prices `input` with its row.
    ///
    /// ```
    /// use llm_core::Usage;
    /// use llm_cost::{CostInput, LookupHints, PriceTable};
    /// let table = PriceTable::builtin();
    /// let usage = Usage::new(1_000, 100).with_cached_tokens(400);
    /// let cost = table.cost("gpt-4o", &LookupHints::default(), &CostInput::from_usage(&usage)).unwrap();
    /// // 600 × $2.5/M + 400 × $1.25/M + 100 × $10/M
    /// assert!((cost.usd - 0.0030).abs() < 1e-12);
    /// assert!(table.cost("no-such-model", &LookupHints::default(), &CostInput::default()).is_err());
    /// ```
    pub fn cost(&self, model: &str, hints: &LookupHints, input: &CostInput) -> Result<Cost, CostUnknown> {
        let resolved = self.resolve(model, hints)?;
        compute_cost(&resolved, input)
    }
}

/// Prices `input` with a resolved row.
///
/// - Uncached text input at `input_cost_per_token`; cache reads at `cache_read_input_token_cost`
///   (else `input_cost_per_token_cache_hit`, else the input price); 5-minute cache writes at
///   `cache_creation_input_token_cost` (else the input price); 1-hour writes at
///   `cache_creation_input_token_cost_above_1hr` (else the 5-minute price); audio input at
///   `input_cost_per_audio_token` (else the input price).
/// - Text output at `output_cost_per_token`; reasoning at `output_cost_per_reasoning_token`, audio
///   at `output_cost_per_audio_token`, image tokens at `output_cost_per_image_token` (each else the
///   output price); images at `output_cost_per_image`.
/// - Plus `input_cost_per_request` once, and `input_cost_per_second`/`output_cost_per_second`
///   times the duration.
/// - Each price is chosen by prompt size and tier: a `tiered_pricing` range replaces the row's
///   prices; `{field}_above_{N}k_tokens` applies to all tokens of that kind when `prompt_tokens`
///   exceeds N×1000 (the largest such N); with a service tier, `{field}_above_{N}k_tokens_{tier}`,
///   then `{field}_{tier}`, then the standard price.
/// - A needed price that is absent is [`CostUnknown::MissingPrice`]; an explicit `0.0` is free.
pub fn compute_cost(model: &ResolvedModel, input: &CostInput) -> Result<Cost, CostUnknown> {
    let price: &ModelPrice = &model.price;
    let rates = Rates::new(price, input);
    // A kind of token the call did not use costs nothing, and its price is not even looked up
    // (a call uses two or three of the eleven kinds; each lookup searches the row by name).
    let priced = |count: u64, rate: &dyn Fn() -> Option<f64>, field: &str| -> Result<f64, CostUnknown> {
        if count == 0 {
            return Ok(0.0);
        }
        rate()
            .map(|r| r * count as f64)
            .ok_or_else(|| CostUnknown::MissingPrice { model: model.key.clone(), field: field.to_owned() })
    };

    let mut b = CostBreakdown::default();

    let per_second_in = rates.rate("input_cost_per_second");
    let per_second_out = rates.rate("output_cost_per_second");
    if per_second_in.is_some() || per_second_out.is_some() {
        match input.duration {
            Some(d) => {
                b.per_second =
                    (per_second_in.unwrap_or(0.0) + per_second_out.unwrap_or(0.0)) * d.as_secs_f64()
            }
            None if rates.rate("input_cost_per_token").is_none() => {
                return Err(CostUnknown::MissingDuration { model: model.key.clone() });
            }
            None => {}
        }
    }
    b.per_request = rates.rate("input_cost_per_request").unwrap_or(0.0);

    let input_rate = || rates.rate("input_cost_per_token");
    let output_rate = || rates.rate("output_cost_per_token");

    let creation_1h = input.cache_creation_1h_tokens.min(input.cache_creation_tokens);
    let creation_5m = input.cache_creation_tokens - creation_1h;
    let text_in = input
        .prompt_tokens
        .saturating_sub(input.cached_tokens)
        .saturating_sub(input.cache_creation_tokens)
        .saturating_sub(input.prompt_audio_tokens);
    b.input = priced(text_in, &input_rate, "input_cost_per_token")?;
    let cache_read_rate = || {
        rates
            .rate("cache_read_input_token_cost")
            .or_else(|| rates.rate("input_cost_per_token_cache_hit"))
            .or_else(input_rate)
    };
    b.cache_read = priced(input.cached_tokens, &cache_read_rate, "input_cost_per_token")?;
    let creation_rate = || rates.rate("cache_creation_input_token_cost").or_else(input_rate);
    let creation_1h_rate = || rates.rate("cache_creation_input_token_cost_above_1hr").or_else(creation_rate);
    b.cache_creation = priced(creation_5m, &creation_rate, "input_cost_per_token")?
        + priced(creation_1h, &creation_1h_rate, "cache_creation_input_token_cost_above_1hr")?;
    let audio_in_rate = || rates.rate("input_cost_per_audio_token").or_else(input_rate);
    b.audio = priced(input.prompt_audio_tokens, &audio_in_rate, "input_cost_per_audio_token")?;

    let text_out = input
        .completion_tokens
        .saturating_sub(input.reasoning_tokens)
        .saturating_sub(input.completion_audio_tokens)
        .saturating_sub(input.completion_image_tokens);
    b.output = priced(text_out, &output_rate, "output_cost_per_token")?;
    let reasoning_rate = || rates.rate("output_cost_per_reasoning_token").or_else(output_rate);
    b.reasoning = priced(input.reasoning_tokens, &reasoning_rate, "output_cost_per_token")?;
    let audio_out_rate = || rates.rate("output_cost_per_audio_token").or_else(output_rate);
    b.audio += priced(input.completion_audio_tokens, &audio_out_rate, "output_cost_per_audio_token")?;
    let image_token_rate = || rates.rate("output_cost_per_image_token").or_else(output_rate);
    let image_rate = || rates.rate("output_cost_per_image");
    b.images = priced(input.completion_image_tokens, &image_token_rate, "output_cost_per_image_token")?
        + priced(input.output_images, &image_rate, "output_cost_per_image")?;

    Ok(Cost { model: model.key.clone(), resolution: model.resolution, usd: b.total(), breakdown: b })
}

/// Picks the price of a field for one call: `tiered_pricing` range, `_above_Nk_tokens` threshold
/// and service tier.
struct Rates<'a> {
    price: &'a ModelPrice,
    tier_rates: Option<&'a BTreeMap<String, f64>>,
    prompt_tokens: u64,
    service: Option<&'static str>,
    /// Whether the row has any `_above_{N}k_tokens` field (most have none: one scan here saves
    /// a search per field priced).
    has_thresholds: bool,
}

impl<'a> Rates<'a> {
    fn new(price: &'a ModelPrice, input: &CostInput) -> Self {
        let tier_rates = price.tiers.iter().find(|t| t.contains(input.prompt_tokens)).map(|t| &t.rates);
        Self {
            price,
            tier_rates,
            prompt_tokens: input.prompt_tokens,
            service: input.service_tier.field_suffix(),
            has_thresholds: price.rates.keys().any(|k| k.contains("_above_") && k.contains("k_tokens")),
        }
    }

    fn get(&self, field: &str) -> Option<f64> {
        self.tier_rates.and_then(|t| t.get(field).copied()).or_else(|| self.price.rate(field))
    }

    /// The price of `base` for this call. With a service tier: the tier's threshold price, the
    /// tier's price, then the standard threshold price and the standard price.
    fn rate(&self, base: &str) -> Option<f64> {
        if let Some(suffix) = self.service {
            let tiered = self.above_threshold(base, Some(suffix));
            if let Some(r) = tiered.or_else(|| self.get(&format!("{base}_{suffix}"))) {
                return Some(r);
            }
        }
        self.above_threshold(base, None).or_else(|| self.get(base))
    }

    /// The `{base}_above_{N}k_tokens[_{suffix}]` price with the largest `N` the prompt exceeds.
    /// Walks only the fields that start with `base` (adjacent in the sorted map), allocation-free.
    fn above_threshold(&self, base: &str, suffix: Option<&str>) -> Option<f64> {
        use std::ops::Bound;
        if !self.has_thresholds {
            return None;
        }
        let mut best: Option<(u64, f64)> = None;
        let from: (Bound<&str>, Bound<&str>) = (Bound::Included(base), Bound::Unbounded);
        for (field, usd) in self.price.rates.range::<str, _>(from) {
            let Some(rest) = field.strip_prefix(base) else { break };
            let Some(rest) = rest.strip_prefix("_above_") else { continue };
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let Ok(thousands) = rest[..digits].parse::<u64>() else { continue };
            let tail = &rest[digits..];
            let matches = match suffix {
                None => tail == "k_tokens",
                Some(s) => tail.strip_prefix("k_tokens_") == Some(s),
            };
            let threshold = thousands.saturating_mul(1000);
            if matches && self.prompt_tokens > threshold && best.is_none_or(|(t, _)| threshold > t) {
                best = Some((threshold, self.get(field).unwrap_or(*usd)));
            }
        }
        best.map(|(_, usd)| usd)
    }
}
