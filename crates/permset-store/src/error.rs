//! The one error type of the store. Messages follow CONVENTIONS.md: one
//! lowercase line, user input in backticks; database failures show a
//! generic message (the cause stays reachable through `source()` for logs).

use permset_core::{AdminError, CompileError};

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing does not exist, or the acting user may not know that it does.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. ``record `c1` of `customers` ``.
        what: String,
    },
    /// The acting user may not do this.
    #[error("{message}")]
    Forbidden {
        /// Names the permission or field that is missing.
        message: String,
    },
    /// The input is malformed or does not fit the schema.
    #[error("{message}")]
    Invalid {
        /// What is wrong, with the nearest valid name where one exists.
        message: String,
    },
    /// An administration rule refused the change; nothing was written.
    #[error("{0}")]
    Admin(#[from] AdminError),
    /// The model would not compile; nothing was written.
    #[error("the model is invalid: {0}")]
    Model(#[from] CompileError),
    /// The snapshot used for a decision is older than the stored model.
    #[error("the workspace changed (now at revision {current}); recompile and retry")]
    Stale {
        /// The stored revision.
        current: u64,
    },
    /// The write collides with existing data.
    #[error("{message}")]
    Conflict {
        /// What collides.
        message: String,
    },
    /// Stored data cannot be read back (tampering or a bug).
    #[error("stored data is corrupt: {message}")]
    Corrupt {
        /// What could not be read.
        message: String,
    },
    /// The database failed; the cause is kept for logs, never shown to callers.
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the database could not be reached (pool timeout, a lost or
    /// refused connection, the server shutting down or terminating the
    /// session): the request may be retried later, nothing was committed.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(error) = self else { return false };
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => true,
            // SQLSTATE class 08 (connection exception), 57P (operator intervention: shutdown, terminated).
            sqlx::Error::Database(db) => {
                db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P"))
            }
            _ => false,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        StoreError::Invalid { message: message.into() }
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        StoreError::Forbidden { message: message.into() }
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        StoreError::NotFound { what: what.into() }
    }

    pub(crate) fn corrupt(message: impl std::fmt::Display) -> Self {
        StoreError::Corrupt { message: message.to_string() }
    }
}
