//! Ledger errors. Each variant is an outcome the caller must tell apart; `Storage` is the only
//! one that means "something broke" (and so the only one where a retry may succeed).
//!
//! A storage failure is a [`StorageError`]: a context sentence saying what the ledger was doing,
//! plus the underlying error (rusqlite, tokio-postgres, deadpool, io, serde, ...) kept as
//! [`std::error::Error::source`] rather than flattened into the text, so a log line can print
//! the whole chain ([`crate::ErrorChain`]) and a test can downcast the cause back
//! (docs/decisions/error-source-chain.md).

use std::error::Error;
use std::fmt;
use std::sync::Arc;

/// Any underlying error a storage failure can carry, shared so that one failure can be handed to
/// every waiter of a group commit (`sqlite/writer.rs`).
pub type StorageSource = Arc<dyn Error + Send + Sync + 'static>;

#[derive(Debug)]
pub enum LedgerError {
    HandleTaken,
    UnknownUser,
    InsufficientFunds,
    SameAccount,
    AccountFrozen,
    IdempotencyConflict,
    AmountOverflow,
    InvalidAmount,
    MemoTooLong,
    MemoCharacters,
    /// The memo the server writes on a payment a shop gives back at its counter
    /// (`offpay_api::money::COUNTER_REFUND_MEMO`): no one else may write it.
    MemoReserved,
    /// Something broke; its `source()` is the underlying error, when there is one.
    Storage(StorageError),
    /// The database has no room to write (a full disk, or PostgreSQL's `disk_full`): nothing was
    /// written; the same request can succeed once there is space again.
    StorageFull(StorageError),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::HandleTaken => f.write_str("that username is already taken"),
            LedgerError::UnknownUser => f.write_str("no user has that username"),
            LedgerError::InsufficientFunds => f.write_str("the balance is too low for this payment"),
            LedgerError::SameAccount => f.write_str("you cannot send money to yourself"),
            LedgerError::AccountFrozen => f.write_str("this account is frozen; contact the operator"),
            LedgerError::IdempotencyConflict => {
                f.write_str("this idempotency key was already used for a different request")
            }
            LedgerError::AmountOverflow => f.write_str("the amount is too large"),
            LedgerError::InvalidAmount => f.write_str("the amount must be greater than zero"),
            LedgerError::MemoTooLong => f.write_str("the memo is longer than 140 characters"),
            LedgerError::MemoCharacters => f.write_str("the memo contains control or text-direction characters"),
            LedgerError::MemoReserved => f.write_str("this memo is kept for payments a shop gives back at its counter"),
            LedgerError::Storage(e) => write!(f, "storage error: {}", e.context),
            LedgerError::StorageFull(e) => write!(f, "the database is out of space: {}", e.context),
        }
    }
}

impl Error for LedgerError {
    /// The underlying error itself (not the [`StorageError`] wrapper, whose context is already in
    /// this error's message), so `source()` can be downcast to, say, `rusqlite::Error`.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            LedgerError::Storage(e) | LedgerError::StorageFull(e) => e.source(),
            _ => None,
        }
    }
}

impl LedgerError {
    /// True when retrying the same request can never succeed (the outcome is final).
    pub fn is_definitive(&self) -> bool {
        !matches!(self, LedgerError::Storage(_) | LedgerError::StorageFull(_))
    }

    /// The refusals that depend on the ledger's state when the request is decided, by the code
    /// they are remembered under with the request's idempotency key (docs/LEDGER.md,
    /// "Idempotency"): a later attempt with the same key gets the same refusal instead of being
    /// decided again, so a refusal the client saw stays true even if an earlier attempt of the
    /// same request was still on its way. Other refusals do not depend on the state (the same
    /// request is always refused) or come before the key is looked at.
    pub fn remembered_code(&self) -> Option<&'static str> {
        match self {
            LedgerError::UnknownUser => Some("unknown_user"),
            LedgerError::InsufficientFunds => Some("insufficient_funds"),
            LedgerError::SameAccount => Some("same_account"),
            LedgerError::AccountFrozen => Some("account_frozen"),
            // Also a request's own amount past the maximum, but that is refused before the key.
            LedgerError::AmountOverflow => Some("amount_overflow"),
            _ => None,
        }
    }

    /// The refusal remembered under `code` ([`LedgerError::remembered_code`], whose match is
    /// the one list of them).
    pub fn remembered(code: &str) -> LedgerError {
        [
            LedgerError::UnknownUser,
            LedgerError::InsufficientFunds,
            LedgerError::SameAccount,
            LedgerError::AccountFrozen,
            LedgerError::AmountOverflow,
        ]
        .into_iter()
        .find(|refusal| refusal.remembered_code() == Some(code))
        .unwrap_or_else(|| LedgerError::Storage(format!("unknown remembered refusal {code:?}").into()))
    }

    /// A storage failure: what the ledger was doing, and the error that stopped it.
    pub fn storage(context: impl Into<String>, source: impl Into<Box<dyn Error + Send + Sync>>) -> LedgerError {
        LedgerError::Storage(StorageError::caused_by(context, source))
    }
}

/// What broke in storage: a context sentence ("sqlite commit failed") and, unless an invariant
/// broke with nothing underneath, the error that caused it. Cheap to clone (the cause is shared).
#[derive(Debug, Clone)]
pub struct StorageError {
    context: String,
    source: Option<StorageSource>,
}

impl StorageError {
    /// A failure with no underlying error (a broken invariant, a stopped thread).
    pub fn new(context: impl Into<String>) -> StorageError {
        StorageError { context: context.into(), source: None }
    }

    /// A failure caused by `source` (any error, or a sentence when the cause is only text).
    pub fn caused_by(context: impl Into<String>, source: impl Into<Box<dyn Error + Send + Sync>>) -> StorageError {
        StorageError { context: context.into(), source: Some(Arc::from(source.into())) }
    }

    /// A failure caused by an error that other failures share (one failed group commit).
    pub fn shared(context: impl Into<String>, source: StorageSource) -> StorageError {
        StorageError { context: context.into(), source: Some(source) }
    }

    /// The context sentence alone, without the cause.
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)
    }
}

impl Error for StorageError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

impl From<String> for StorageError {
    fn from(context: String) -> StorageError {
        StorageError::new(context)
    }
}

impl From<&str> for StorageError {
    fn from(context: &str) -> StorageError {
        StorageError::new(context)
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(error: rusqlite::Error) -> LedgerError {
        if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            return LedgerError::StorageFull(StorageError::caused_by("sqlite", error));
        }
        LedgerError::Storage(StorageError::caused_by("sqlite", error))
    }
}

impl From<tokio_postgres::Error> for LedgerError {
    fn from(error: tokio_postgres::Error) -> LedgerError {
        // The Display of a tokio-postgres error omits the server's message (its source, the
        // DbError, has it); the SQLSTATE goes into the context so a log line shows it up front.
        match error.as_db_error().map(|db| db.code().clone()) {
            Some(code) if code == tokio_postgres::error::SqlState::DISK_FULL => {
                LedgerError::StorageFull(StorageError::caused_by(format!("postgres {}", code.code()), error))
            }
            Some(code) => LedgerError::Storage(StorageError::caused_by(format!("postgres {}", code.code()), error)),
            None => LedgerError::Storage(StorageError::caused_by("postgres", error)),
        }
    }
}

impl From<deadpool_postgres::PoolError> for LedgerError {
    fn from(error: deadpool_postgres::PoolError) -> LedgerError {
        LedgerError::Storage(StorageError::caused_by("postgres pool", error))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ErrorChain;

    #[test]
    fn a_full_database_is_its_own_error_and_not_definitive() {
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        let error = LedgerError::from(full);
        assert!(matches!(error, LedgerError::StorageFull(_)), "{error:?}");
        assert!(!error.is_definitive(), "the same request may succeed once there is space");
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None);
        assert!(matches!(LedgerError::from(busy), LedgerError::Storage(_)));
    }

    #[test]
    fn a_rusqlite_error_stays_the_source() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let cause = conn.execute("INSERT INTO no_such_table VALUES (1)", []).unwrap_err();
        let cause_text = cause.to_string();
        let error = LedgerError::from(cause);
        assert!(matches!(error, LedgerError::Storage(_)), "{error:?}");
        assert_eq!(error.to_string(), "storage error: sqlite");
        let source = error.source().unwrap().downcast_ref::<rusqlite::Error>().unwrap();
        assert_eq!(source.to_string(), cause_text);
        assert!(cause_text.contains("no_such_table"), "{cause_text}");
        assert!(ErrorChain(&error).to_string().starts_with("storage error: sqlite: no such table: no_such_table"));
    }

    #[test]
    fn a_full_sqlite_database_keeps_its_cause_too() {
        let full = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL), None);
        let error = LedgerError::from(full);
        let source = error.source().unwrap().downcast_ref::<rusqlite::Error>().unwrap();
        assert_eq!(source.sqlite_error_code(), Some(rusqlite::ErrorCode::DiskFull));
    }

    #[test]
    fn a_tokio_postgres_error_stays_the_source() {
        // A connection string that does not parse fails without a server.
        let cause = "host=localhost port=not-a-number".parse::<tokio_postgres::Config>().unwrap_err();
        let cause_text = cause.to_string();
        let error = LedgerError::from(cause);
        assert_eq!(error.to_string(), "storage error: postgres");
        let source = error.source().unwrap().downcast_ref::<tokio_postgres::Error>().unwrap();
        assert_eq!(source.to_string(), cause_text);
        assert!(ErrorChain(&error).to_string().starts_with(&format!("storage error: postgres: {cause_text}")));
    }

    #[test]
    fn an_io_error_stays_the_source_and_clones_share_it() {
        let cause = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no entry");
        let inner = StorageError::caused_by("cannot create data directory /x", cause);
        let copy = inner.clone();
        let error = LedgerError::Storage(inner);
        assert_eq!(error.to_string(), "storage error: cannot create data directory /x");
        let io = error.source().unwrap().downcast_ref::<std::io::Error>().unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
        let copied = copy.source().unwrap().downcast_ref::<std::io::Error>().unwrap();
        assert!(std::ptr::eq(io, copied), "a clone shares the cause rather than copying its text");
        assert_eq!(ErrorChain(&error).to_string(), "storage error: cannot create data directory /x: no entry");
    }

    #[test]
    fn every_remembered_refusal_reads_back_as_itself_and_others_are_storage_errors() {
        for refusal in [
            LedgerError::UnknownUser,
            LedgerError::InsufficientFunds,
            LedgerError::SameAccount,
            LedgerError::AccountFrozen,
            LedgerError::AmountOverflow,
        ] {
            let code = refusal.remembered_code().unwrap();
            assert_eq!(LedgerError::remembered(code).to_string(), refusal.to_string(), "{code}");
        }
        assert_eq!(LedgerError::IdempotencyConflict.remembered_code(), None);
        assert!(matches!(LedgerError::remembered("no_such_refusal"), LedgerError::Storage(_)));
    }

    #[test]
    fn a_broken_invariant_has_only_its_context() {
        let error = LedgerError::Storage("internal error: ran out of entry ids".into());
        assert!(error.source().is_none());
        assert_eq!(ErrorChain(&error).to_string(), "storage error: internal error: ran out of entry ids");
    }
}
