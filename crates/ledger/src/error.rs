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
    #[error("storage error: {0}")]
    Storage(String),
}

impl LedgerError {
    /// True when retrying the same request can never succeed (the outcome is final).
    pub fn is_definitive(&self) -> bool {
        !matches!(self, LedgerError::Storage(_))
    }
}
