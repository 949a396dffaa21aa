//! Fallback resolution: which model groups to try after a group fails.

use std::collections::HashMap;
use std::sync::Arc;

use llm_core::ErrorKind;

use crate::config::{FallbackList, RouterSettings};

/// Compiled fallback maps.
#[derive(Debug, Default)]
pub(crate) struct Fallbacks {
    generic: HashMap<Arc<str>, Vec<Arc<str>>>,
    context_window: HashMap<Arc<str>, Vec<Arc<str>>>,
    content_policy: HashMap<Arc<str>, Vec<Arc<str>>>,
    pub(crate) max_depth: u32,
}

fn compile(list: &FallbackList) -> HashMap<Arc<str>, Vec<Arc<str>>> {
    let mut map: HashMap<Arc<str>, Vec<Arc<str>>> = HashMap::new();
    for entry in list {
        for (from, to) in entry {
            map.entry(Arc::from(from.as_str())).or_default().extend(to.iter().map(|m| Arc::from(m.as_str())));
        }
    }
    map
}

impl Fallbacks {
    pub(crate) fn new(settings: &RouterSettings) -> Self {
        let mut generic = compile(&settings.fallbacks);
        if !settings.default_fallbacks.is_empty() {
            generic
                .entry(Arc::from("*"))
                .or_default()
                .extend(settings.default_fallbacks.iter().map(|m| Arc::from(m.as_str())));
        }
        Self {
            generic,
            context_window: compile(&settings.context_window_fallbacks),
            content_policy: compile(&settings.content_policy_fallbacks),
            max_depth: settings.max_fallbacks,
        }
    }

    /// The groups to try after `model` failed with `kind`: the context-window or content-policy
    /// list for those kinds when one is configured, else the generic list; each list's `*` entry
    /// applies to models without their own. Errors that no other model would answer differently
    /// (bad request, budget, cancellation) have no fallbacks.
    pub(crate) fn for_failure(&self, model: &str, kind: &ErrorKind) -> &[Arc<str>] {
        if matches!(kind, ErrorKind::BadRequest | ErrorKind::BudgetExceeded | ErrorKind::Cancelled) {
            return &[];
        }
        let special = match kind {
            ErrorKind::ContextWindowExceeded => Some(&self.context_window),
            ErrorKind::ContentPolicy => Some(&self.content_policy),
            _ => None,
        };
        if let Some(list) = special.and_then(|m| lookup(m, model)) {
            return list;
        }
        lookup(&self.generic, model).unwrap_or(&[])
    }
}

fn lookup<'a>(map: &'a HashMap<Arc<str>, Vec<Arc<str>>>, model: &str) -> Option<&'a [Arc<str>]> {
    map.get(model).or_else(|| map.get("*")).map(Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_lists_win_and_star_catches_the_rest() {
        let settings: RouterSettings = serde_json::from_value(serde_json::json!({
            "fallbacks": [{"small": ["big"]}, {"*": ["any"]}],
            "context_window_fallbacks": [{"small": ["long"]}],
        }))
        .unwrap();
        let f = Fallbacks::new(&settings);
        let names = |s: &[Arc<str>]| s.iter().map(|m| m.to_string()).collect::<Vec<_>>();
        assert_eq!(names(f.for_failure("small", &ErrorKind::Timeout)), ["big"]);
        assert_eq!(names(f.for_failure("small", &ErrorKind::ContextWindowExceeded)), ["long"]);
        assert_eq!(names(f.for_failure("small", &ErrorKind::ContentPolicy)), ["big"]);
        assert_eq!(names(f.for_failure("other", &ErrorKind::Timeout)), ["any"]);
        assert!(f.for_failure("small", &ErrorKind::BadRequest).is_empty());
    }
}
