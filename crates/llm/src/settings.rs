//! What the builder collected: keys, base URLs, timeout, `drop_params`, environment lookup.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Reads an environment variable (injectable so tests never touch the process environment).
pub(crate) type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// A secret that never shows itself in `Debug`.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(value: String) -> Self {
        Self(value.trim().to_owned())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Provider settings shared by every adapter the client builds.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) api_keys: HashMap<String, Secret>,
    pub(crate) base_urls: HashMap<String, String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) drop_params: bool,
    pub(crate) env: EnvLookup,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            api_keys: HashMap::new(),
            base_urls: HashMap::new(),
            timeout: None,
            drop_params: false,
            env: Arc::new(|name| std::env::var(name).ok()),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("api_keys", &self.api_keys)
            .field("base_urls", &self.base_urls)
            .field("timeout", &self.timeout)
            .field("drop_params", &self.drop_params)
            .finish_non_exhaustive()
    }
}

#[cfg_attr(not(any(feature = "openai", feature = "anthropic", feature = "gemini")), allow(dead_code))]
impl Settings {
    /// The key set in code for `provider`.
    pub(crate) fn api_key(&self, provider: &str) -> Option<&str> {
        self.api_keys.get(provider).map(Secret::expose)
    }

    /// The base URL set in code for `provider`.
    pub(crate) fn base_url(&self, provider: &str) -> Option<&str> {
        self.base_urls.get(provider).map(String::as_str)
    }

    /// The first of `names` set to a non-blank value in the environment.
    pub(crate) fn first_env(&self, names: &[&str]) -> Option<String> {
        names.iter().filter_map(|n| (self.env)(n)).map(|v| v.trim().to_owned()).find(|v| !v.is_empty())
    }
}
