//! `cost-based-routing`: the cheapest deployment per token.

use super::PickInput;

/// Prices of one model in US dollars per token.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TokenPrice {
    /// Per input (prompt) token.
    pub input: f64,
    /// Per output (completion) token.
    pub output: f64,
}

/// Where `cost-based-routing` looks up prices, so a pricing crate can feed the router without
/// depending on it. Closures `Fn(&str) -> Option<TokenPrice>` are sources.
///
/// ```
/// use llm_router::{CostSource, TokenPrice};
/// let table = |model: &str| (model == "gpt-4o-mini").then_some(TokenPrice { input: 1.5e-7, output: 6e-7 });
/// assert!(table.price("gpt-4o-mini").is_some());
/// assert!(table.price("unknown").is_none());
/// ```
pub trait CostSource: Send + Sync + 'static {
    /// The price of the upstream `model` (the deployment's model name), if known.
    fn price(&self, model: &str) -> Option<TokenPrice>;
}

impl<F> CostSource for F
where
    F: Fn(&str) -> Option<TokenPrice> + Send + Sync + 'static,
{
    fn price(&self, model: &str) -> Option<TokenPrice> {
        self(model)
    }
}

/// The candidate with the lowest input-plus-output price per token; a deployment's own prices
/// win over the source; unpriced deployments come last; ties at random.
pub(crate) fn pick(input: &PickInput<'_>) -> usize {
    input.min_by_score(0.0, |i| {
        let d = &input.deployments[i];
        let own = d
            .input_cost_per_token
            .zip(d.output_cost_per_token)
            .map(|(i, o)| TokenPrice { input: i, output: o });
        let price = own.or_else(|| input.cost.and_then(|c| c.price(&d.model)))?;
        let total = price.input + price.output;
        total.is_finite().then_some(total)
    })
}
