//! Errors building a router.

/// A router could not be built from its configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterError {
    /// Two deployments of one model group share an id.
    #[error("model group `{group}` has two deployments with id `{id}`")]
    DuplicateDeployment {
        /// The model group.
        group: String,
        /// The repeated id.
        id: String,
    },
}
