//! Errors of the domain store.

/// What can go wrong in the domain store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database URL names a backend careflow does not support.
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// Something the caller asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (already decided, claimed by another...).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The input is not valid; the message says which field and why.
    #[error("{0}")]
    Invalid(String),
    /// A password (or a token) was wrong; the message says what the user may do next.
    #[error("{0}")]
    BadCredentials(String),
    /// The account is locked after repeated failed passwords; the message says until when.
    #[error("{0}")]
    Locked(String),
    /// Stored data could not be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// A file beside the database (the audit key or anchors) could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// Result with the store's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
