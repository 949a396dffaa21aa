//! Model aliases: names the application uses (`fast`, `smart`) mapped to a model and default
//! parameters by a small TOML file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use llm_core::ModelId;

use crate::{ConfigError, Params};

/// What an alias stands for: a model id and the parameters requests through it default to.
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    /// The `provider/model` id (or a bare model name) the alias resolves to.
    pub model: String,
    /// Parameters applied to requests that leave them unset.
    pub params: Params,
}

/// A set of aliases, usually read from a TOML file.
///
/// The format is one top-level key per alias: either a model string, or a table with `model`
/// and any chat parameters (`max_tokens`, `temperature`, `top_p`, `reasoning_effort`, provider
/// extras, ...):
///
/// ```
/// let aliases = llm::Aliases::from_toml_str(r#"
///     fast = "groq/llama-3.1-8b-instant"
///     smart = { model = "anthropic/claude-sonnet-4-5", max_tokens = 1024, temperature = 0.2 }
/// "#).unwrap();
/// assert_eq!(aliases.get("fast").unwrap().model, "groq/llama-3.1-8b-instant");
/// assert_eq!(aliases.get("smart").unwrap().params.as_map()["max_tokens"], 1024);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    map: HashMap<String, Arc<Alias>>,
}

impl Aliases {
    /// No aliases.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) alias `name` for `model`.
    pub fn insert(&mut self, name: impl Into<String>, model: impl Into<String>, params: Params) {
        self.map.insert(name.into(), Arc::new(Alias { model: model.into(), params }));
    }

    /// The alias named `name`.
    pub fn get(&self, name: &str) -> Option<&Alias> {
        self.map.get(name).map(|a| &**a)
    }

    pub(crate) fn get_shared(&self, name: &str) -> Option<Arc<Alias>> {
        self.map.get(name).cloned()
    }

    /// How many aliases there are.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds every alias of `other`, replacing ones of the same name.
    pub fn extend(&mut self, other: Aliases) {
        self.map.extend(other.map);
    }

    /// Reads aliases from the TOML file at `path`; errors name the path and the problem.
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::AliasFile { path: path.to_owned(), problem: e.to_string() })?;
        Self::from_toml_str(&text)
            .map_err(|e| ConfigError::AliasFile { path: path.to_owned(), problem: e.to_string() })
    }

    /// Parses aliases from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table =
            text.parse().map_err(|e: toml::de::Error| ConfigError::AliasSyntax(e.message().to_owned()))?;
        let mut aliases = Self::new();
        for (name, value) in table {
            let alias = parse_alias(&name, value)?;
            aliases.map.insert(name, Arc::new(alias));
        }
        Ok(aliases)
    }
}

fn parse_alias(name: &str, value: toml::Value) -> Result<Alias, ConfigError> {
    let invalid = |problem: String| ConfigError::InvalidAlias { name: name.to_owned(), problem };
    let (model, params) = match value {
        toml::Value::String(model) => (model, Params::new()),
        toml::Value::Table(mut table) => {
            let model = match table.remove("model") {
                Some(toml::Value::String(m)) => m,
                Some(other) => {
                    return Err(invalid(format!("`model` must be a string, got {}", other.type_str())));
                }
                None => return Err(invalid("the table has no `model` key".into())),
            };
            let json = serde_json::to_value(&table).map_err(|e| invalid(e.to_string()))?;
            let serde_json::Value::Object(map) = json else {
                return Err(invalid("parameters must be a table".into()));
            };
            (model, Params::from_map(map).map_err(|e| invalid(e.message().to_owned()))?)
        }
        other => {
            return Err(invalid(format!(
                "expected a model string or a table with `model`, got {}",
                other.type_str()
            )));
        }
    };
    ModelId::parse(&model).map_err(|e| invalid(e.to_string()))?;
    Ok(Alias { model, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_alias_and_the_problem() {
        let cases = [
            ("x = 1", "expected a model string"),
            ("x = { max_tokens = 3 }", "no `model` key"),
            ("x = { model = 3 }", "`model` must be a string"),
            ("x = { model = \"a/b\", max_tokens = \"lots\" }", "max_tokens"),
            ("x = { model = \"a/b\", stream = true }", "`stream` cannot be"),
            ("x = \"openai/\"", "empty provider or model"),
        ];
        for (text, expected) in cases {
            let err = Aliases::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains("alias `x`") && err.contains(expected), "{text}: {err}");
        }
        let err = Aliases::from_toml_str("x = ").unwrap_err().to_string();
        assert!(err.contains("TOML"), "{err}");
    }

    #[test]
    fn reads_a_file_or_names_it_in_the_error() {
        let err = Aliases::from_toml_file("/nonexistent/llm-aliases.toml").unwrap_err().to_string();
        assert!(err.contains("/nonexistent/llm-aliases.toml"), "{err}");
    }
}
