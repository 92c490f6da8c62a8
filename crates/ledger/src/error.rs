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
}

impl LedgerError {
    /// True when retrying the same request can never succeed (the outcome is final).
    pub fn is_definitive(&self) -> bool {
        !matches!(self, LedgerError::Storage(_))
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(error: rusqlite::Error) -> LedgerError {
        LedgerError::Storage(format!("sqlite: {error}"))
    }
}

impl From<tokio_postgres::Error> for LedgerError {
    fn from(error: tokio_postgres::Error) -> LedgerError {
        // The Display of a tokio-postgres error omits the server's message; include it.
        match error.as_db_error() {
            Some(db) => {
                LedgerError::Storage(format!("postgres: {}: {}", db.code().code(), db.message()))
            }
            None => LedgerError::Storage(format!("postgres: {error}")),
        }
    }
}

impl From<deadpool_postgres::PoolError> for LedgerError {
    fn from(error: deadpool_postgres::PoolError) -> LedgerError {
        LedgerError::Storage(format!("postgres pool: {error}"))
    }
}
