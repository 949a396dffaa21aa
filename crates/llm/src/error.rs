//! Errors of building a [`Client`](crate::Client).

use std::path::PathBuf;

/// Why a client's configuration was rejected. Errors of calls are [`LlmError`](llm_core::LlmError)s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The alias file could not be read or is invalid.
    #[error("alias file `{}`: {problem}", path.display())]
    AliasFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The alias text is not valid TOML.
    #[error("invalid TOML: {0}")]
    AliasSyntax(String),
    /// One alias is invalid.
    #[error("alias `{name}`: {problem}")]
    InvalidAlias {
        /// The alias.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
}
