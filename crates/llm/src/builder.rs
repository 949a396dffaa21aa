//! [`ClientBuilder`]: keys, base URLs, timeout, aliases, default parameters and layers.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use llm_core::{BoxLlmService, LlmError, LlmRequest, LlmResponse};
use tower::{Layer, Service};

use crate::resolve::backend_for;
use crate::settings::{Secret, Settings};
use crate::{Aliases, Client, ConfigError, Params};

/// A user layer, type-erased: wraps one provider service.
pub(crate) type LayerFn = Arc<dyn Fn(BoxLlmService) -> BoxLlmService + Send + Sync>;

/// Builds a [`Client`]. Settings made here win over environment variables.
///
/// ```
/// use std::time::Duration;
/// use llm::{Client, Params};
/// let client = Client::builder()
///     .api_key("anthropic", "sk-ant-from-a-vault")
///     .base_url("openai", "http://localhost:8000/v1")
///     .timeout(Duration::from_secs(30))
///     .default_params(Params::new().with("max_tokens", 512))
///     .drop_params(true)
///     .layer(tower::layer::layer_fn(|service| service)) // any tower layer over BoxLlmService
///     .build()
///     .unwrap();
/// assert!(!format!("{client:?}").contains("sk-ant-from-a-vault"));
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    settings: Settings,
    aliases: Aliases,
    default_params: Params,
    layers: Vec<LayerFn>,
    error: Option<ConfigError>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("settings", &self.settings)
            .field("aliases", &self.aliases.len())
            .field("default_params", &self.default_params)
            .field("layers", &self.layers.len())
            .field("error", &self.error)
            .finish()
    }
}

/// `google` and other provider aliases share their canonical provider's settings.
fn canonical(provider: &str) -> String {
    backend_for(provider).map_or_else(|| provider.to_owned(), |b| b.name().to_owned())
}

impl ClientBuilder {
    /// A builder with nothing set: keys and base URLs come from the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `key` for `provider` (`openai`, `anthropic`, `gemini`, `azure`, `groq`, ...)
    /// instead of its environment variable.
    pub fn api_key(mut self, provider: &str, key: impl Into<String>) -> Self {
        self.settings.api_keys.insert(canonical(provider), Secret::new(key.into()));
        self
    }

    /// Sends `provider`'s requests to `url` (e.g. a proxy or a local server) instead of its
    /// default or environment base URL. The form is the provider's own: with the version path
    /// for OpenAI-style APIs (`http://localhost:8000/v1`), without it for Anthropic and Gemini.
    pub fn base_url(mut self, provider: &str, url: impl Into<String>) -> Self {
        self.settings.base_urls.insert(canonical(provider), url.into());
        self
    }

    /// Limits every provider call (for a stream: its head and each read).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }

    /// Parameters every chat request gets when it leaves them unset (alias parameters win).
    pub fn default_params(mut self, params: Params) -> Self {
        self.default_params = params;
        self
    }

    /// Whether a parameter a provider does not support is removed (`true`) or fails the request
    /// with a `BadRequest` naming it (`false`, the default). Passed to every provider that has
    /// the setting (OpenAI-compatible vendors, Azure, Anthropic); Gemini maps or ignores every
    /// OpenAI parameter itself.
    pub fn drop_params(mut self, drop: bool) -> Self {
        self.settings.drop_params = drop;
        self
    }

    /// Wraps every provider service in `layer`. The first layer added is the outermost, as
    /// with `tower::ServiceBuilder`.
    pub fn layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<BoxLlmService> + Send + Sync + 'static,
        L::Service:
            Service<LlmRequest, Response = LlmResponse, Error = LlmError> + Clone + Send + Sync + 'static,
        <L::Service as Service<LlmRequest>>::Future: Send + 'static,
    {
        self.layers.push(Arc::new(move |service| BoxLlmService::new(layer.layer(service))));
        self
    }

    /// Adds aliases (replacing ones of the same name).
    pub fn aliases(mut self, aliases: Aliases) -> Self {
        self.aliases.extend(aliases);
        self
    }

    /// Adds aliases from a TOML file (format: [`Aliases`]); a problem is reported by
    /// [`build`](Self::build) with the path.
    pub fn aliases_from_file(mut self, path: impl AsRef<Path>) -> Self {
        match Aliases::from_toml_file(path) {
            Ok(aliases) => self.aliases.extend(aliases),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// Adds aliases from TOML text (format: [`Aliases`]).
    pub fn aliases_from_str(mut self, toml: &str) -> Self {
        match Aliases::from_toml_str(toml) {
            Ok(aliases) => self.aliases.extend(aliases),
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// Reads environment variables through `lookup` instead of the process environment (for
    /// tests, or to read from a secrets store). `|_| None` ignores the environment.
    pub fn env_lookup(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.settings.env = Arc::new(lookup);
        self
    }

    /// The client, or the first configuration problem (e.g. an invalid alias file).
    pub fn build(self) -> Result<Client, ConfigError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.into_client()),
        }
    }

    pub(crate) fn into_client(self) -> Client {
        Client::from_parts(self.settings, self.aliases, self.default_params, self.layers)
    }
}
