//! The ledger's typed ids, so that a user, an account and a journal entry cannot be passed for
//! one another: [`UserId`] (`users.id`, which is also the account number offline notes and the
//! API name), [`AccountId`] (`accounts.id`: a user's wallet, the reserve, funding, fraud loss)
//! and [`EntryId`] (`journal.id`). Each is an `i64` in both databases and a JSON number.

use serde::{Deserialize, Serialize};

macro_rules! ledger_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            postgres_types::ToSql, postgres_types::FromSql,
        )]
        #[serde(transparent)]
        #[postgres(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.0))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }
    };
}

ledger_id!(
    /// A user (`users.id`); also the account number that offline notes and the API name.
    UserId
);
ledger_id!(
    /// A ledger account (`accounts.id`): a user's wallet or one of the operator's accounts.
    AccountId
);
ledger_id!(
    /// A journal entry (`journal.id`).
    EntryId
);

// The API's entry id is another type (the SQL impls above cannot be written for a type of
// another crate); these are the one conversion between the two.
impl From<EntryId> for offpay_api::EntryId {
    fn from(id: EntryId) -> Self {
        offpay_api::EntryId(id.0)
    }
}

impl From<offpay_api::EntryId> for EntryId {
    fn from(id: offpay_api::EntryId) -> Self {
        EntryId(id.0)
    }
}

impl UserId {
    /// The user an offline certificate or note names by its account number (`None` beyond
    /// `i64`: no such user).
    pub fn of_account(account: offpay_protocol::AccountNumber) -> Option<UserId> {
        i64::try_from(account.0).ok().map(UserId)
    }

    /// This user's account number in offline certificates and notes (`None` for a negative id,
    /// which no user has).
    pub fn account_number(self) -> Option<offpay_protocol::AccountNumber> {
        u64::try_from(self.0).ok().map(offpay_protocol::AccountNumber)
    }
}
