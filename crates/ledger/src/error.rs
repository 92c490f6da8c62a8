//! Ledger errors. Each variant is an outcome the caller must tell apart; `Storage` is the only
//! one that means "something broke" (and so the only one where a retry may succeed).

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("that username is already taken")]
    HandleTaken,
    #[error("no user has that username")]
    UnknownUser,
    #[error("the balance is too low for this payment")]
    InsufficientFunds,
    #[error("you cannot send money to yourself")]
    SameAccount,
    #[error("this account is frozen; contact the operator")]
    AccountFrozen,
    #[error("this idempotency key was already used for a different request")]
    IdempotencyConflict,
    #[error("the amount is too large")]
    AmountOverflow,
    #[error("the amount must be greater than zero")]
    InvalidAmount,
    #[error("the memo is longer than 140 characters")]
    MemoTooLong,
    #[error("the memo contains control or text-direction characters")]
    MemoCharacters,
    #[error("storage error: {0}")]
    Storage(String),
    /// The database has no room to write (a full disk, or PostgreSQL's `disk_full`): nothing was
    /// written; the same request can succeed once there is space again.
    #[error("the database is out of space: {0}")]
    StorageFull(String),
}

impl LedgerError {
    /// True when retrying the same request can never succeed (the outcome is final).
    pub fn is_definitive(&self) -> bool {
        !matches!(self, LedgerError::Storage(_) | LedgerError::StorageFull(_))
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(error: rusqlite::Error) -> LedgerError {
        if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return LedgerError::StorageFull(format!("sqlite: {error}"));
        }
        LedgerError::Storage(format!("sqlite: {error}"))
    }
}

impl From<tokio_postgres::Error> for LedgerError {
    fn from(error: tokio_postgres::Error) -> LedgerError {
        // The Display of a tokio-postgres error omits the server's message; include it.
        match error.as_db_error() {
            Some(db) if *db.code() == tokio_postgres::error::SqlState::DISK_FULL => {
                LedgerError::StorageFull(format!("postgres: {}: {}", db.code().code(), db.message()))
            }
            Some(db) => LedgerError::Storage(format!("postgres: {}: {}", db.code().code(), db.message())),
            None => LedgerError::Storage(format!("postgres: {error}")),
        }
    }
}

impl From<deadpool_postgres::PoolError> for LedgerError {
    fn from(error: deadpool_postgres::PoolError) -> LedgerError {
        LedgerError::Storage(format!("postgres pool: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_database_is_its_own_error_and_not_definitive() {
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        let error = LedgerError::from(full);
        assert!(matches!(error, LedgerError::StorageFull(_)), "{error:?}");
        assert!(!error.is_definitive(), "the same request may succeed once there is space");
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
        assert!(matches!(LedgerError::from(busy), LedgerError::Storage(_)));
    }
}
