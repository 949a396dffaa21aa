//! The gateway's configuration: LiteLLM proxy's `config.yaml`, read as is.
//!
//! ```
//! use llm_gateway::config::GatewayConfig;
//! let yaml = r#"
//! model_list:
//!   - model_name: gpt-4o
//!     litellm_params:
//!       model: openai/gpt-4o
//!       api_key: os.environ/OPENAI_API_KEY
//! general_settings:
//!   master_key: sk-1234
//! "#;
//! let env = |name: &str| (name == "OPENAI_API_KEY").then(|| "sk-upstream".to_owned());
//! let config = GatewayConfig::from_yaml_str(yaml, "config.yaml", &env).unwrap();
//! assert_eq!(config.model_list[0].litellm_params.api_key.as_deref(), Some("sk-upstream"));
//! // Secrets never appear in Debug output.
//! assert!(!format!("{config:?}").contains("sk-upstream"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use llm_router::RouterSettings;
use serde::Deserialize;

/// Looks up an environment variable; tests pass a map, the binary the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The prefix that makes a value come from the environment (`os.environ/OPENAI_API_KEY`).
pub const ENV_PREFIX: &str = "os.environ/";

/// Why a configuration could not be loaded. Messages name the file, the field and, for syntax
/// and type errors, the line; they never contain a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read the configuration: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// YAML syntax or a field of the wrong type.
    #[error("{file}: {location}field `{field}`: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// `line L column C: `, when known.
        location: String,
        /// The path of the offending field (`model_list[0].litellm_params.rpm`).
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A value that is valid YAML but not a valid setting.
    #[error("{file}: field `{field}`: {message}")]
    Value {
        /// The file.
        file: String,
        /// The path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole `config.yaml`.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct GatewayConfig {
    /// Deployments, grouped by `model_name`.
    pub model_list: Vec<ModelEntry>,
    /// `router_settings`, with LiteLLM's names.
    pub router_settings: RouterSettings,
    /// `litellm_settings`.
    pub litellm_settings: LitellmSettings,
    /// `general_settings`.
    pub general_settings: GeneralSettings,
    /// Unknown keys that were ignored (paths), for a warning at start.
    #[serde(skip)]
    pub ignored_keys: Vec<String>,
    /// The Redis that shares rate-limit counters between replicas (a secret: it may hold a
    /// password): `general_settings.redis_url`, else `router_settings.redis_url`, else built from
    /// `router_settings.redis_host`/`redis_port`/`redis_password` (LiteLLM's names).
    #[serde(skip)]
    pub redis_url: Option<String>,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("model_list", &self.model_list)
            .field("router_settings", &self.router_settings)
            .field("litellm_settings", &self.litellm_settings)
            .field("general_settings", &self.general_settings)
            .field("ignored_keys", &self.ignored_keys)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// One `model_list` entry: a deployment of the model group `model_name`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    /// The public name callers ask for (the model group).
    pub model_name: String,
    /// How to reach the deployment.
    pub litellm_params: LitellmParams,
    /// Metadata (`id`, `base_model`, …).
    #[serde(default)]
    pub model_info: ModelInfo,
}

/// `litellm_params` of a deployment.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct LitellmParams {
    /// `provider/model`, e.g. `openai/gpt-4o`, `anthropic/claude-sonnet-4-5`, `groq/llama-3.3-70b`.
    pub model: String,
    /// The upstream base URL.
    pub api_base: Option<String>,
    /// The upstream API key (a secret).
    pub api_key: Option<String>,
    /// The API version (Azure).
    pub api_version: Option<String>,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens per minute.
    pub tpm: Option<u64>,
    /// Weight for `simple-shuffle`.
    pub weight: Option<f64>,
    /// Priority tier: lower is tried first.
    pub order: Option<u32>,
    /// Time limit of one call, seconds.
    pub timeout: Option<f64>,
    /// Time limit until a stream's first chunk, seconds.
    pub stream_timeout: Option<f64>,
    /// Tags for tag-based routing.
    pub tags: Vec<String>,
    /// A custom input price, USD per token.
    pub input_cost_per_token: Option<f64>,
    /// A custom output price, USD per token.
    pub output_cost_per_token: Option<f64>,
    /// Most parallel requests.
    pub max_parallel_requests: Option<u32>,
    /// A default `max_tokens` (Anthropic needs one).
    pub max_tokens: Option<u32>,
    /// Drop unsupported parameters instead of failing (overrides `litellm_settings.drop_params`).
    pub drop_params: Option<bool>,
}

impl fmt::Debug for LitellmParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LitellmParams")
            .field("model", &self.model)
            .field("api_base", &self.api_base)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_version", &self.api_version)
            .field("rpm", &self.rpm)
            .field("tpm", &self.tpm)
            .field("weight", &self.weight)
            .field("order", &self.order)
            .field("timeout", &self.timeout)
            .field("tags", &self.tags)
            .finish_non_exhaustive()
    }
}

/// `model_info` of a deployment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ModelInfo {
    /// The deployment id (defaults to `<model_name>-<index in its group>`).
    pub id: Option<String>,
    /// The model a deployment runs, for pricing (`azure/gpt-4o`).
    pub base_model: Option<String>,
    /// `chat`, `embedding`, …
    pub mode: Option<String>,
}

/// `litellm_settings`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LitellmSettings {
    /// Drop parameters a provider does not support instead of failing.
    pub drop_params: bool,
    /// Retries when `router_settings.num_retries` is not set.
    pub num_retries: Option<u32>,
    /// Time limit in seconds of a call when `router_settings.timeout` is not set.
    pub request_timeout: Option<f64>,
    /// Turns the response cache on.
    pub cache: bool,
    /// Cache settings.
    pub cache_params: CacheParams,
}

/// `litellm_settings.cache_params`.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct CacheParams {
    /// `local` (default, in memory) or `redis` (memory in front of Redis, shared by replicas).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Redis host for `type: redis` (LiteLLM's name); else the gateway's `redis_url`.
    pub host: Option<String>,
    /// Redis port (default 6379).
    pub port: Option<u16>,
    /// Redis password (a secret).
    pub password: Option<String>,
    /// Entry time-to-live in seconds.
    pub ttl: Option<f64>,
    /// Key namespace.
    pub namespace: Option<String>,
}

impl std::fmt::Debug for CacheParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheParams")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ttl", &self.ttl)
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// `general_settings`.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct GeneralSettings {
    /// The key callers must present (a secret). Without it every caller is let in.
    pub master_key: Option<String>,
    /// Where spend logs go: a SQLite file path, `sqlite://path`, `:memory:`, or a
    /// `postgres://` URL. Default: `llm-gateway.db`.
    pub database_url: Option<String>,
    /// Largest accepted request body, in MB (LiteLLM's name). Default 16.
    pub max_request_size_mb: Option<f64>,
    /// The Redis shared by replicas for rate limits (`redis://host:port/db`, a secret).
    pub redis_url: Option<String>,
    /// Requests this gateway serves at once (LiteLLM's name); past it, calls are refused at once
    /// with 429 and `retry-after` instead of queueing behind an overloaded gateway. Default: no
    /// limit.
    pub global_max_parallel_requests: Option<u32>,
    /// Our own key: what every Redis key of the shared limits, budgets and cooldowns starts with,
    /// so that separate gateway fleets can share one Redis. Default `llm-gateway:`.
    pub redis_key_prefix: Option<String>,
    /// Our own key: seconds without a first streamed token before the gateway sends the
    /// response head and SSE keep-alive comments (then every as many seconds). Default 5.
    pub stream_keepalive_seconds: Option<f64>,
}

impl fmt::Debug for GeneralSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneralSettings")
            .field("master_key", &self.master_key.as_ref().map(|_| "<redacted>"))
            .field("database_url", &self.database_url.as_ref().map(|_| "<redacted>"))
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<redacted>"))
            .field("redis_key_prefix", &self.redis_key_prefix)
            .field("global_max_parallel_requests", &self.global_max_parallel_requests)
            .field("max_request_size_mb", &self.max_request_size_mb)
            .field("stream_keepalive_seconds", &self.stream_keepalive_seconds)
            .finish()
    }
}

impl GatewayConfig {
    /// Reads and parses the file at `path`, resolving `os.environ/NAME` through `env`.
    pub fn load(path: &Path, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Io { file: path.to_owned(), source })?;
        Self::from_yaml_str(&text, &path.display().to_string(), env)
    }

    /// Parses `text` (named `file` in errors), resolving `os.environ/NAME` through `env`.
    pub fn from_yaml_str(text: &str, file: &str, env: EnvLookup<'_>) -> Result<Self, ConfigError> {
        let mut ignored = Vec::new();
        let mut config: GatewayConfig = if text.trim().is_empty() {
            GatewayConfig::default()
        } else {
            let de = serde_yaml_ng::Deserializer::from_str(text);
            let mut on_ignored = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
            let de = serde_ignored::Deserializer::new(de, &mut on_ignored);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let field = e.path().to_string();
                let inner = e.into_inner();
                let location = inner
                    .location()
                    .map(|l| format!("line {} column {}: ", l.line(), l.column()))
                    .unwrap_or_default();
                ConfigError::Invalid { file: file.to_owned(), location, field, message: inner.to_string() }
            })?
        };
        config.ignored_keys = ignored;
        config.apply_litellm_defaults(text);
        config.resolve_env(file, env)?;
        config.redis_url = config.find_redis(text, file, env)?;
        config.validate(file)?;
        Ok(config)
    }

    /// `litellm_settings.num_retries` / `request_timeout` fill `router_settings` gaps.
    fn apply_litellm_defaults(&mut self, text: &str) {
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap_or_default();
        let router = raw.get("router_settings");
        let has = |key: &str| router.and_then(|r| r.get(key)).is_some();
        if let Some(n) = self.litellm_settings.num_retries.filter(|_| !has("num_retries")) {
            self.router_settings.num_retries = n;
        }
        if let Some(t) = self.litellm_settings.request_timeout.filter(|_| !has("timeout")) {
            self.router_settings.timeout = Some(t);
        }
    }

    /// The Redis URL from `general_settings` or LiteLLM's `router_settings` names.
    fn find_redis(&self, text: &str, file: &str, env: EnvLookup<'_>) -> Result<Option<String>, ConfigError> {
        if let Some(url) = &self.general_settings.redis_url {
            return Ok(Some(url.clone()));
        }
        let raw: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap_or_default();
        let get = |name: &str| -> Result<Option<String>, ConfigError> {
            let value = raw.get("router_settings").and_then(|r| r.get(name));
            let Some(mut v) = value.and_then(|v| match v {
                serde_yaml_ng::Value::String(s) => Some(s.clone()),
                serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }) else {
                return Ok(None);
            };
            resolve_str(&mut v, &format!("router_settings.{name}"), file, env)?;
            Ok(Some(v))
        };
        if let Some(url) = get("redis_url")? {
            return Ok(Some(url));
        }
        let Some(host) = get("redis_host")? else { return Ok(None) };
        let port = get("redis_port")?.unwrap_or_else(|| "6379".into());
        Ok(Some(match get("redis_password")? {
            Some(password) => format!("redis://:{password}@{host}:{port}"),
            None => format!("redis://{host}:{port}"),
        }))
    }

    fn resolve_env(&mut self, file: &str, env: EnvLookup<'_>) -> Result<(), ConfigError> {
        for (i, entry) in self.model_list.iter_mut().enumerate() {
            let p = &mut entry.litellm_params;
            let base = format!("model_list[{i}].litellm_params");
            resolve_str(&mut p.model, &format!("{base}.model"), file, env)?;
            for (name, value) in [
                ("api_base", &mut p.api_base),
                ("api_key", &mut p.api_key),
                ("api_version", &mut p.api_version),
            ] {
                if let Some(v) = value {
                    resolve_str(v, &format!("{base}.{name}"), file, env)?;
                }
            }
        }
        let g = &mut self.general_settings;
        for (name, value) in [
            ("master_key", &mut g.master_key),
            ("database_url", &mut g.database_url),
            ("redis_url", &mut g.redis_url),
        ] {
            if let Some(v) = value {
                resolve_str(v, &format!("general_settings.{name}"), file, env)?;
            }
        }
        let c = &mut self.litellm_settings.cache_params;
        for (name, value) in [("host", &mut c.host), ("password", &mut c.password)] {
            if let Some(v) = value {
                resolve_str(v, &format!("litellm_settings.cache_params.{name}"), file, env)?;
            }
        }
        Ok(())
    }

    fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let err =
            |field: String, message: String| ConfigError::Value { file: file.to_owned(), field, message };
        for (i, entry) in self.model_list.iter().enumerate() {
            if entry.model_name.trim().is_empty() {
                return Err(err(format!("model_list[{i}].model_name"), "must not be empty".into()));
            }
            if entry.litellm_params.model.trim().is_empty() {
                return Err(err(format!("model_list[{i}].litellm_params.model"), "must not be empty".into()));
            }
            if let Some(w) = entry.litellm_params.weight.filter(|w| !w.is_finite() || *w < 0.0) {
                return Err(err(
                    format!("model_list[{i}].litellm_params.weight"),
                    format!("{w} is not >= 0"),
                ));
            }
        }
        if let Some(mb) = self.general_settings.max_request_size_mb.filter(|mb| !mb.is_finite() || *mb <= 0.0)
        {
            return Err(err("general_settings.max_request_size_mb".into(), format!("{mb} is not > 0")));
        }
        Ok(())
    }

    /// How long a stream may wait for its first token before keep-alive comments start.
    pub fn stream_keepalive(&self) -> std::time::Duration {
        let secs = self.general_settings.stream_keepalive_seconds.filter(|s| s.is_finite() && *s > 0.0);
        std::time::Duration::from_secs_f64(secs.unwrap_or(5.0).min(3600.0))
    }

    /// The largest accepted request body, in bytes.
    pub fn max_request_bytes(&self) -> usize {
        let mb = self.general_settings.max_request_size_mb.unwrap_or(16.0);
        (mb * 1024.0 * 1024.0).min(usize::MAX as f64) as usize
    }
}

fn resolve_str(value: &mut String, field: &str, file: &str, env: EnvLookup<'_>) -> Result<(), ConfigError> {
    if let Some(name) = value.strip_prefix(ENV_PREFIX) {
        let name = name.trim().to_owned();
        *value = env(&name).ok_or_else(|| ConfigError::Value {
            file: file.to_owned(),
            field: field.to_owned(),
            message: format!("environment variable `{name}` is not set"),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const LITELLM: &str = r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: os.environ/AZURE_API_BASE
      api_key: os.environ/AZURE_API_KEY
      api_version: "2024-10-21"
      rpm: 900
      tpm: 100000
      weight: 2
      order: 1
      timeout: 30
      stream_timeout: 10
      tags: ["eu"]
      input_cost_per_token: 0.000002
      output_cost_per_token: 0.000008
      extra_headers: {"x": "y"}
    model_info:
      id: azure-eu
      base_model: azure/gpt-4o
  - model_name: claude
    litellm_params:
      model: anthropic/claude-sonnet-4-5
      api_key: os.environ/ANTHROPIC_API_KEY
router_settings:
  routing_strategy: simple-shuffle
  fallbacks: [{"gpt-4o": ["claude"]}]
  cooldown_time: 30
  redis_host: localhost
litellm_settings:
  drop_params: true
  num_retries: 4
  request_timeout: 45
  cache: true
  cache_params: {type: local, ttl: 60}
  success_callback: ["langfuse"]
general_settings:
  master_key: os.environ/MASTER
  database_url: ":memory:"
  alerting: ["slack"]
"#;

    fn env() -> HashMap<&'static str, &'static str> {
        HashMap::from([
            ("AZURE_API_BASE", "https://eu.example"),
            ("AZURE_API_KEY", "az-secret"),
            ("ANTHROPIC_API_KEY", "ant-secret"),
            ("MASTER", "sk-master"),
        ])
    }

    fn parse(text: &str) -> Result<GatewayConfig, ConfigError> {
        let env = env();
        GatewayConfig::from_yaml_str(text, "config.yaml", &|k| env.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn reads_a_litellm_config() {
        let c = parse(LITELLM).unwrap();
        assert_eq!(c.model_list.len(), 2);
        let p = &c.model_list[0].litellm_params;
        assert_eq!(p.model, "azure/gpt-4o-eu");
        assert_eq!(p.api_base.as_deref(), Some("https://eu.example"));
        assert_eq!(p.api_key.as_deref(), Some("az-secret"));
        assert_eq!((p.rpm, p.tpm, p.weight, p.order), (Some(900), Some(100_000), Some(2.0), Some(1)));
        assert_eq!(p.input_cost_per_token, Some(2e-6));
        assert_eq!(c.model_list[0].model_info.id.as_deref(), Some("azure-eu"));
        assert_eq!(c.router_settings.cooldown_time, 30.0);
        assert_eq!(c.router_settings.fallbacks[0]["gpt-4o"], vec!["claude".to_owned()]);
        // litellm_settings fill the router's gaps.
        assert_eq!(c.router_settings.num_retries, 4);
        assert_eq!(c.router_settings.timeout, Some(45.0));
        assert!(c.litellm_settings.cache && c.litellm_settings.drop_params);
        assert_eq!(c.general_settings.master_key.as_deref(), Some("sk-master"));
        for key in ["success_callback", "alerting", "extra_headers"] {
            assert!(
                c.ignored_keys.iter().any(|k| k.contains(key)),
                "{key} not reported: {:?}",
                c.ignored_keys
            );
        }
    }

    #[test]
    fn redis_from_litellm_router_settings() {
        let c = parse(
            "router_settings: {redis_host: os.environ/AZURE_API_BASE, redis_port: 6380, redis_password: pw}",
        )
        .unwrap();
        assert_eq!(c.redis_url.as_deref(), Some("redis://:pw@https://eu.example:6380"));
        let c = parse("general_settings: {redis_url: 'redis://r:1/0'}\nrouter_settings: {redis_host: x}")
            .unwrap();
        assert_eq!(c.redis_url.as_deref(), Some("redis://r:1/0"));
        assert!(!format!("{:?}", c.general_settings).contains("redis://"));
        let c = parse("router_settings: {redis_host: h, redis_password: hunter2}").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(parse("").unwrap().redis_url.is_none());
    }

    #[test]
    fn router_settings_win_over_litellm_settings() {
        let c = parse("router_settings: {num_retries: 1}\nlitellm_settings: {num_retries: 5}").unwrap();
        assert_eq!(c.router_settings.num_retries, 1);
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = parse(LITELLM).unwrap();
        let text = format!("{c:?}");
        for secret in ["az-secret", "ant-secret", "sk-master"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }

    #[test]
    fn wrong_type_names_file_line_and_field() {
        let text =
            "model_list:\n  - model_name: a\n    litellm_params:\n      model: openai/x\n      rpm: lots\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.starts_with("config.yaml: line 5"), "{e}");
        assert!(e.contains("model_list[0].litellm_params.rpm"), "{e}");
    }

    #[test]
    fn missing_field_is_named() {
        let e = parse("model_list:\n  - litellm_params: {model: openai/x}\n").unwrap_err().to_string();
        assert!(e.contains("model_name"), "{e}");
        assert!(e.contains("model_list[0]"), "{e}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let e = parse("model_list:\n  - model_name: [unclosed\n").unwrap_err().to_string();
        assert!(e.contains("line"), "{e}");
    }

    #[test]
    fn missing_env_var_is_named_without_values() {
        let text = "model_list:\n  - model_name: a\n    litellm_params: {model: openai/x, api_key: os.environ/NOPE}\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(e.contains("NOPE") && e.contains("model_list[0].litellm_params.api_key"), "{e}");
    }

    #[test]
    fn empty_file_is_an_empty_config() {
        assert!(parse("").unwrap().model_list.is_empty());
    }

    #[test]
    fn bad_values_are_rejected() {
        let e = parse("model_list:\n  - model_name: a\n    litellm_params: {model: ''}\n").unwrap_err();
        assert!(e.to_string().contains("litellm_params.model"), "{e}");
        let e = parse("general_settings: {max_request_size_mb: -1}").unwrap_err();
        assert!(e.to_string().contains("max_request_size_mb"), "{e}");
    }
}
