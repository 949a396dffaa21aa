//! Finding a model's row from a name as users write it.

use std::sync::Arc;

use crate::cost::CostUnknown;
use crate::price::ModelPrice;
use crate::table::PriceTable;

/// Extra facts that help find the right row, e.g. from a router's deployment config.
///
/// Put one in `RequestContext::extensions` and the layers of this crate use it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupHints {
    /// The model a deployment runs (LiteLLM's `base_model`, e.g. `azure/gpt-4o` or `gpt-4o`), for
    /// names like `azure/<deployment>` that say nothing about it. It wins over the name.
    pub base_model: Option<String>,
}

impl LookupHints {
    /// Hints with a `base_model`.
    pub fn base_model(model: impl Into<String>) -> Self {
        Self { base_model: Some(model.into()) }
    }
}

/// How a name was matched to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The name is a key of the table.
    Exact,
    /// The provider prefix was dropped (`openai/gpt-4o` → `gpt-4o`) and the row's provider matches.
    ProviderStripped,
    /// A Bedrock region or route segment, or a cross-region prefix, was dropped.
    RegionStripped,
    /// The `base_model` hint named the row.
    BaseModel,
    /// A dated snapshot not in the table is priced as its base model (`gpt-4o-2099-01-01` → `gpt-4o`).
    Undated,
    /// A base name not in the table is priced as its dated snapshots, which all have the same
    /// prices (`claude-x` → `claude-x-20250101`).
    UniqueDated,
}

/// The row a name resolved to.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    /// The table key that matched.
    pub key: String,
    /// Its row.
    pub price: Arc<ModelPrice>,
    /// How it was found.
    pub resolution: Resolution,
}

impl PriceTable {
    /// Finds the row for a model name as users write it.
    ///
    /// In order: the exact name; the `base_model` hint (as `provider/base` then `base`); the name
    /// without its provider prefix when the row belongs to that provider (`anthropic/claude-…`,
    /// `vertex_ai/gemini-…`); for `bedrock/…` the name without region (`bedrock/us-east-1/…`),
    /// route (`converse/`, `invoke/`) and cross-region (`us.`, `eu.`, …) parts; then a dated name
    /// as its base model; then a base name as its dated snapshots when they all cost the same.
    ///
    /// ```
    /// use llm_cost::{LookupHints, PriceTable, Resolution};
    /// let table = PriceTable::builtin();
    /// let r = table.resolve("openai/gpt-4o", &LookupHints::default()).unwrap();
    /// assert_eq!((r.key.as_str(), r.resolution), ("gpt-4o", Resolution::ProviderStripped));
    /// let r = table.resolve("azure/prod-east", &LookupHints::base_model("gpt-4o")).unwrap();
    /// assert_eq!(r.key, "azure/gpt-4o");
    /// assert!(table.resolve("azure/prod-east", &LookupHints::default()).is_err());
    /// ```
    pub fn resolve(&self, name: &str, hints: &LookupHints) -> Result<ResolvedModel, CostUnknown> {
        let name = name.trim();
        let found = match self.remembered(name, &hints.base_model) {
            Ok(found) => found,
            Err(generation) => {
                let found = self.resolve_uncached(name, hints);
                self.remember(generation, name, &hints.base_model, found.clone());
                found
            }
        };
        found.ok_or_else(|| CostUnknown::ModelNotFound { model: name.to_owned() })
    }

    fn resolve_uncached(&self, name: &str, hints: &LookupHints) -> Option<ResolvedModel> {
        if let Some(base) = hints.base_model.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
            if !base.contains('/') {
                if let Some((provider, _)) = name.split_once('/') {
                    if let Some(found) =
                        self.found(&format!("{provider}/{base}"), None, Resolution::BaseModel)
                    {
                        return Some(found);
                    }
                }
            }
            if let Some(mut found) = self.resolve_plain(base) {
                found.resolution = Resolution::BaseModel;
                return Some(found);
            }
        }
        self.resolve_plain(name)
    }

    fn resolve_plain(&self, name: &str) -> Option<ResolvedModel> {
        if let Some(found) = self.resolve_candidates(name) {
            return Some(found);
        }
        if let Some(base) = strip_date_suffix(name) {
            if let Some(mut found) = self.resolve_candidates(base) {
                found.resolution = Resolution::Undated;
                return Some(found);
            }
        }
        self.unique_dated(name)
    }

    fn resolve_candidates(&self, name: &str) -> Option<ResolvedModel> {
        // The exact name first, without building the other candidates (the common case).
        if let Some(found) = self.found(name, None, Resolution::Exact) {
            return Some(found);
        }
        candidates(name)
            .into_iter()
            .skip(1)
            .find_map(|c| self.found(&c.key, c.provider.as_deref(), c.resolution))
    }

    fn found(&self, key: &str, provider: Option<&str>, resolution: Resolution) -> Option<ResolvedModel> {
        let price = self.get(key)?;
        if let Some(wanted) = provider {
            if !provider_matches(price.provider.as_deref(), wanted) {
                return None;
            }
        }
        Some(ResolvedModel { key: key.to_owned(), price, resolution })
    }

    fn unique_dated(&self, name: &str) -> Option<ResolvedModel> {
        if strip_date_suffix(name).is_some() {
            return None;
        }
        for candidate in candidates(name) {
            let mut keys = Vec::new();
            self.for_each_dated(&candidate.key, |k| keys.push(k.to_owned()));
            keys.sort();
            keys.dedup();
            let rows: Vec<ResolvedModel> = keys
                .iter()
                .filter_map(|k| self.found(k, candidate.provider.as_deref(), Resolution::UniqueDated))
                .collect();
            let Some(last) = rows.last() else { continue };
            if rows.iter().all(|r| r.price.rates == last.price.rates) {
                return Some(last.clone());
            }
            return None;
        }
        None
    }
}

struct Candidate {
    key: String,
    provider: Option<String>,
    resolution: Resolution,
}

fn candidates(name: &str) -> Vec<Candidate> {
    let mut out = vec![Candidate { key: name.to_owned(), provider: None, resolution: Resolution::Exact }];
    match name.split_once('/') {
        Some(("bedrock", rest)) => {
            let model: Vec<&str> =
                rest.split('/').filter(|s| !is_region(s) && !matches!(*s, "converse" | "invoke")).collect();
            let model = model.join("/");
            let bedrock = Some("bedrock".to_owned());
            out.push(Candidate {
                key: model.clone(),
                provider: bedrock.clone(),
                resolution: Resolution::RegionStripped,
            });
            if let Some(stripped) = strip_cross_region(&model) {
                out.push(Candidate {
                    key: stripped.to_owned(),
                    provider: bedrock,
                    resolution: Resolution::RegionStripped,
                });
            }
        }
        Some((provider, rest)) => out.push(Candidate {
            key: rest.to_owned(),
            provider: Some(provider.to_owned()),
            resolution: Resolution::ProviderStripped,
        }),
        None => {
            if let Some(stripped) = strip_cross_region(name) {
                out.push(Candidate {
                    key: stripped.to_owned(),
                    provider: Some("bedrock".to_owned()),
                    resolution: Resolution::RegionStripped,
                });
            }
        }
    }
    out
}

/// Whether the row's provider is the one the user named (`vertex_ai` matches
/// `vertex_ai-language-models`, `bedrock` matches `bedrock_converse`).
fn provider_matches(row: Option<&str>, wanted: &str) -> bool {
    let Some(row) = row else { return false };
    row == wanted
        || row.strip_prefix(wanted).is_some_and(|rest| rest.starts_with(['-', '_']))
        || row.strip_suffix(wanted).is_some_and(|rest| rest.ends_with('-'))
}

/// AWS region names such as `us-east-1`, `eu-central-2`, `us-gov-west-1`.
fn is_region(segment: &str) -> bool {
    let parts: Vec<&str> = segment.split('-').collect();
    parts.len() >= 3
        && parts.first().is_some_and(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts.last().is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[1..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
}

/// `us.anthropic.claude-…` → `anthropic.claude-…` (Bedrock cross-region inference profiles).
fn strip_cross_region(model: &str) -> Option<&str> {
    const PREFIXES: [&str; 8] = ["us.", "eu.", "apac.", "global.", "jp.", "au.", "ca.", "us-gov."];
    PREFIXES.iter().find_map(|p| model.strip_prefix(p)).filter(|rest| rest.contains('.'))
}

/// `gpt-4o-2024-08-06` → `gpt-4o`, `claude-x-20250101` → `claude-x`, `claude-x@20250101` → `claude-x`.
pub(crate) fn strip_date_suffix(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let year = |s: &[u8]| s.starts_with(b"20") && digits(s);
    // `-YYYY-MM-DD`
    if b.len() > 11 {
        let s = &b[b.len() - 11..];
        if s[0] == b'-'
            && s[5] == b'-'
            && s[8] == b'-'
            && year(&s[1..5])
            && digits(&s[6..8])
            && digits(&s[9..])
        {
            return name.get(..b.len() - 11);
        }
    }
    // `-YYYYMMDD` or `@YYYYMMDD`
    if b.len() > 9 {
        let s = &b[b.len() - 9..];
        if matches!(s[0], b'-' | b'@') && year(&s[1..]) {
            return name.get(..b.len() - 9);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_suffixes() {
        assert_eq!(strip_date_suffix("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(strip_date_suffix("claude-3-5-sonnet-20241022"), Some("claude-3-5-sonnet"));
        assert_eq!(strip_date_suffix("claude-3-5-sonnet@20240620"), Some("claude-3-5-sonnet"));
        assert_eq!(strip_date_suffix("gpt-4-0613"), None);
        assert_eq!(strip_date_suffix("anthropic.claude-3-5-sonnet-20241022-v2:0"), None);
        assert_eq!(strip_date_suffix("é-2024-08-0é"), None);
        assert_eq!(strip_date_suffix(""), None);
    }

    #[test]
    fn regions_and_providers() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(!is_region("anthropic.claude-v2:1"));
        assert!(!is_region("1-month-commitment"));
        assert!(provider_matches(Some("vertex_ai-language-models"), "vertex_ai"));
        assert!(provider_matches(Some("bedrock_converse"), "bedrock"));
        assert!(provider_matches(Some("text-completion-openai"), "openai"));
        assert!(!provider_matches(Some("azure_ai"), "azure_a"));
        assert!(!provider_matches(Some("openai"), "azure"));
        assert!(!provider_matches(None, "openai"));
    }
}
