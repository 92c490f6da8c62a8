//! The money rules as pure functions: given the locked state of the accounts a request touches,
//! build the journal entry, its postings, the new balances and heads, and the live events to
//! write. Both backends call these, so the rules (no negative wallet, checked arithmetic,
//! postings summing to zero, hash chain, event payloads) live in one place.

use offpay_protocol::{Amount, Handle};

use crate::chain::{EntryFields, PostingFields, entry_hash, request_fingerprint};
use crate::error::LedgerError;
use crate::model::{
    AccountId, AccountKind, EntryId, EntryKind, Posted, TimestampMs, TransferRequest, UserId, amount_of,
};

/// Longest memo accepted, in characters.
pub const MEMO_MAX_CHARS: usize = 140;

/// Live event kinds.
pub const EVENT_DEPOSIT: &str = "deposit";
pub const EVENT_MONEY_OUT: &str = "money_out";
pub const EVENT_MONEY_IN: &str = "money_in";

/// Idempotency scope of operator deposits.
pub const OPERATOR_SCOPE: &str = "operator";

/// Idempotency scope of a user's transfers.
pub fn user_scope(user: UserId) -> String {
    format!("u:{user}")
}

/// An account as read under its row lock.
#[derive(Debug, Clone)]
pub struct LockedAccount {
    pub account_id: AccountId,
    pub kind: AccountKind,
    pub balance: i64,
    pub head: Vec<u8>,
}

/// A user side of an entry (the account must be locked).
#[derive(Debug, Clone)]
pub struct Party {
    pub user_id: UserId,
    pub handle: Handle,
    pub account: LockedAccount,
}

/// A live event row to insert.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub user_id: UserId,
    pub kind: &'static str,
    pub payload: String,
}

/// Everything one journal entry writes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub entry: EntryFields,
    pub hash: [u8; 32],
    pub postings: Vec<PostingFields>,
    /// (account, new balance); the new head of each is `hash`.
    pub balances: Vec<(AccountId, i64)>,
    pub events: Vec<NewEvent>,
    pub posted: Posted,
    /// The shop card the entry's receipt is bound to in the same transaction
    /// ([`TransferRequest::card`]).
    pub card: Option<[u8; 4]>,
}

pub fn check_amount(amount: Amount) -> Result<i64, LedgerError> {
    if amount.is_zero() {
        return Err(LedgerError::InvalidAmount);
    }
    i64::try_from(amount.minor()).map_err(|_| LedgerError::AmountOverflow)
}

/// A memo is at most [`MEMO_MAX_CHARS`] characters of printable text: no control characters
/// (line breaks, escape sequences that would drive a terminal) and no bidirectional embedding,
/// override, isolate or mark characters (U+202E and its kind make "gpj.exe" read as "exe.jpg"
/// and can make a memo misstate an amount or a name), docs/API.md. Nor is it the memo the server
/// writes on a payment given back at a shop's counter: a shop's takings subtract an outgoing
/// transfer with it, so only such a refund may carry it.
pub fn check_memo(memo: Option<&str>) -> Result<(), LedgerError> {
    match memo {
        Some(m) if m.chars().count() > MEMO_MAX_CHARS => Err(LedgerError::MemoTooLong),
        Some(m) if m.chars().any(|c| c.is_control() || is_text_direction_mark(c)) => Err(LedgerError::MemoCharacters),
        Some(offpay_api::money::COUNTER_REFUND_MEMO) => Err(LedgerError::MemoReserved),
        _ => Ok(()),
    }
}

/// The Unicode bidirectional formatting characters: marks (U+061C, U+200E, U+200F), embeddings
/// and overrides (U+202A to U+202E) and isolates (U+2066 to U+2069). Memos may not contain them,
/// and the terminal wallet shows any it meets in stored text as `[U+202E]`.
pub fn is_text_direction_mark(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Validates a transfer request before any database work.
pub fn check_transfer(request: &TransferRequest) -> Result<i64, LedgerError> {
    check_memo(request.memo.as_deref())?;
    check_amount(request.amount)
}

pub fn transfer_fingerprint(request: &TransferRequest) -> [u8; 32] {
    let amount = request.amount.minor().to_be_bytes();
    let memo = request.memo.as_deref().unwrap_or("");
    let has_memo = [u8::from(request.memo.is_some())];
    match request.card {
        None => {
            request_fingerprint(&[b"transfer", request.to.as_str().as_bytes(), &amount, &has_memo, memo.as_bytes()])
        }
        Some(card) => request_fingerprint(&[
            b"transfer",
            request.to.as_str().as_bytes(),
            &amount,
            &has_memo,
            memo.as_bytes(),
            b"card",
            &card,
        ]),
    }
}

pub fn deposit_fingerprint(to: &Handle, amount: Amount) -> [u8; 32] {
    request_fingerprint(&[b"deposit", to.as_str().as_bytes(), &amount.minor().to_be_bytes()])
}

fn debit(account: &LockedAccount, amount: i64) -> Result<i64, LedgerError> {
    let after = account.balance.checked_sub(amount).ok_or(LedgerError::AmountOverflow)?;
    if account.kind == AccountKind::Wallet && after < 0 {
        return Err(LedgerError::InsufficientFunds);
    }
    Ok(after)
}

/// The most a wallet holds, online and offline: [`Amount::MAX`], what the API and the wallets can
/// show, so that every stored balance reads back as an `Amount` (`verify` reports one above it).
pub(crate) const WALLET_MAX: i64 = Amount::MAX.minor() as i64;

/// A credit to `account`; a wallet never past [`WALLET_MAX`].
fn credit(account: &LockedAccount, amount: i64) -> Result<i64, LedgerError> {
    let after = account.balance.checked_add(amount).ok_or(LedgerError::AmountOverflow)?;
    if account.kind == AccountKind::Wallet && after > WALLET_MAX {
        return Err(LedgerError::AmountOverflow);
    }
    Ok(after)
}

fn payload(
    entry_id: EntryId,
    amount: i64,
    from: Option<&Handle>,
    to: &Handle,
    memo: Option<&str>,
    balance: i64,
) -> serde_json::Value {
    serde_json::json!({
        "entry_id": entry_id,
        "amount": amount,
        "from": from.map(Handle::as_str),
        "to": to.as_str(),
        "memo": memo,
        "balance": balance,
    })
}

/// A transfer between two users' wallets. The caller has checked the sender is not frozen and
/// the two differ; this checks funds and arithmetic. With `card` (a shop counter's payment), the
/// payee's event names the card (hex) and the plan binds the receipt to it.
pub fn plan_transfer(
    entry_id: EntryId,
    from: &Party,
    to: &Party,
    amount: i64,
    memo: Option<&str>,
    card: Option<[u8; 4]>,
    now_ms: TimestampMs,
) -> Result<Plan, LedgerError> {
    if from.account.account_id == to.account.account_id {
        return Err(LedgerError::SameAccount);
    }
    let from_after = debit(&from.account, amount)?;
    let to_after = credit(&to.account, amount)?;
    let entry = EntryFields {
        id: entry_id,
        kind: EntryKind::Transfer.as_str().to_string(),
        amount,
        memo: memo.map(str::to_string),
        from_user: Some(from.user_id),
        to_user: to.user_id,
        created_at_ms: now_ms,
    };
    let postings = vec![
        PostingFields { account_id: from.account.account_id, delta: -amount, prev_hash: from.account.head.clone() },
        PostingFields { account_id: to.account.account_id, delta: amount, prev_hash: to.account.head.clone() },
    ];
    let hash = entry_hash(&entry, &postings);
    let events = vec![
        NewEvent {
            user_id: from.user_id,
            kind: EVENT_MONEY_OUT,
            payload: payload(entry_id, amount, Some(&from.handle), &to.handle, memo, from_after).to_string(),
        },
        NewEvent {
            user_id: to.user_id,
            kind: EVENT_MONEY_IN,
            payload: {
                let mut body = payload(entry_id, amount, Some(&from.handle), &to.handle, memo, to_after);
                if let Some(card) = card {
                    body["card"] = serde_json::Value::String(hex::encode(card));
                }
                body.to_string()
            },
        },
    ];
    let posted = Posted {
        entry_id,
        kind: EntryKind::Transfer,
        from: Some(from.handle.clone()),
        to: to.handle.clone(),
        amount: amount_of(amount)?,
        created_at_ms: now_ms,
        replayed: false,
    };
    Ok(Plan {
        entry,
        hash,
        postings,
        balances: vec![(from.account.account_id, from_after), (to.account.account_id, to_after)],
        events,
        posted,
        card,
    })
}

impl Plan {
    /// The balance `account` has once this plan is written; `None` when the plan leaves it alone.
    pub fn balance_after(&self, account: AccountId) -> Option<i64> {
        self.balances.iter().find(|(id, _)| *id == account).map(|(_, balance)| *balance)
    }
}

/// An operator deposit: the funding account (which may go negative) to a user's wallet.
pub fn plan_deposit(
    entry_id: EntryId,
    funding: &LockedAccount,
    to: &Party,
    amount: i64,
    now_ms: TimestampMs,
) -> Result<Plan, LedgerError> {
    let funding_after = debit(funding, amount)?;
    let to_after = credit(&to.account, amount)?;
    let entry = EntryFields {
        id: entry_id,
        kind: EntryKind::Deposit.as_str().to_string(),
        amount,
        memo: None,
        from_user: None,
        to_user: to.user_id,
        created_at_ms: now_ms,
    };
    let postings = vec![
        PostingFields { account_id: funding.account_id, delta: -amount, prev_hash: funding.head.clone() },
        PostingFields { account_id: to.account.account_id, delta: amount, prev_hash: to.account.head.clone() },
    ];
    let hash = entry_hash(&entry, &postings);
    let events = vec![NewEvent {
        user_id: to.user_id,
        kind: EVENT_DEPOSIT,
        payload: payload(entry_id, amount, None, &to.handle, None, to_after).to_string(),
    }];
    let posted = Posted {
        entry_id,
        kind: EntryKind::Deposit,
        from: None,
        to: to.handle.clone(),
        amount: amount_of(amount)?,
        created_at_ms: now_ms,
        replayed: false,
    };
    Ok(Plan {
        entry,
        hash,
        postings,
        balances: vec![(funding.account_id, funding_after), (to.account.account_id, to_after)],
        events,
        posted,
        card: None,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::chain::GENESIS;

    fn party(user_id: i64, handle: &str, account_id: i64, balance: i64) -> Party {
        Party {
            user_id: UserId(user_id),
            handle: Handle::parse(handle).unwrap(),
            account: LockedAccount {
                account_id: AccountId(account_id),
                kind: AccountKind::Wallet,
                balance,
                head: GENESIS.to_vec(),
            },
        }
    }

    #[test]
    fn transfer_moves_money_and_sums_to_zero() {
        let plan =
            plan_transfer(EntryId(9), &party(1, "alice", 4, 1000), &party(2, "bob", 5, 0), 300, None, None, 5).unwrap();
        assert_eq!(plan.balances, vec![(AccountId(4), 700), (AccountId(5), 300)]);
        assert_eq!(plan.postings.iter().map(|p| p.delta).sum::<i64>(), 0);
        assert_eq!(plan.events.len(), 2);
        let out: serde_json::Value = serde_json::from_str(&plan.events[0].payload).unwrap();
        assert_eq!(out["balance"], 700);
        assert_eq!(out["from"], "alice");
    }

    #[test]
    fn no_negative_wallet() {
        let err = plan_transfer(EntryId(9), &party(1, "alice", 4, 299), &party(2, "bob", 5, 0), 300, None, None, 5)
            .unwrap_err();
        assert!(matches!(err, LedgerError::InsufficientFunds));
    }

    #[test]
    fn funding_may_go_negative_but_not_overflow() {
        let mut funding =
            LockedAccount { account_id: AccountId(1), kind: AccountKind::Funding, balance: 0, head: GENESIS.to_vec() };
        let plan = plan_deposit(EntryId(1), &funding, &party(2, "bob", 5, 0), 300, 5).unwrap();
        assert_eq!(plan.balances[0], (AccountId(1), -300));
        funding.balance = i64::MIN + 10;
        let err = plan_deposit(EntryId(1), &funding, &party(2, "bob", 5, 0), 300, 5).unwrap_err();
        assert!(matches!(err, LedgerError::AmountOverflow));
        let err = plan_deposit(EntryId(1), &funding, &party(2, "bob", 5, i64::MAX), 1, 5);
        assert!(err.is_err());
    }

    #[test]
    fn zero_amount_and_long_memo_are_refused() {
        assert!(matches!(check_amount(Amount::ZERO), Err(LedgerError::InvalidAmount)));
        assert!(check_memo(Some(&"x".repeat(140))).is_ok());
        assert!(matches!(check_memo(Some(&"é".repeat(141))), Err(LedgerError::MemoTooLong)));
        assert!(matches!(check_memo(Some(offpay_api::money::COUNTER_REFUND_MEMO)), Err(LedgerError::MemoReserved)));
        assert!(check_memo(Some("Returned: payment refused at the shop's counter, thanks")).is_ok());
    }

    #[test]
    fn control_and_text_direction_characters_in_a_memo_are_refused() {
        for bad in ["rent\u{202E}00.001", "a\nb", "\u{1b}[2J", "tab\there", "x\u{2066}y\u{2069}", "\u{200F}", "\u{7f}"]
        {
            assert!(matches!(check_memo(Some(bad)), Err(LedgerError::MemoCharacters)), "{bad:?}");
        }
        for good in ["Rent for March", "चाय ☕", "مرحبا", "Café — 2 × ₹50"] {
            assert!(check_memo(Some(good)).is_ok(), "{good:?}");
        }
    }
}
