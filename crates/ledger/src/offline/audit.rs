//! The offline part of `offpay admin verify`, as a pure check over what each backend's audit
//! queries read: every purse's reserve, its money against its notes', its loss against its
//! allowance, and notes and requests paid beyond what they are owed (docs/OFFLINE.md, "The
//! loss bound"; docs/LEDGER.md).

use std::collections::BTreeMap;

use crate::model::AccountId;

/// Audit query (both backends): notes paid and held beyond their amount.
pub const OVERPAID_NOTES_SQL: &str =
    "SELECT hash FROM notes WHERE held < 0 OR from_reserve + from_payer + from_loss + held > amount ORDER BY hash";
/// Audit query (both backends): requests paid beyond their largest note. Held money is a claim,
/// not a payment, and can add up past it until it is paid: what other notes paid for the request
/// is taken off a held note when its payer has money again (`held.rs`). What a refusal gave back
/// (`refusal.rs`) was not paid for the request.
pub const OVERPAID_REQUESTS_SQL: &str = "SELECT n.payee, n.nonce FROM notes n
     LEFT JOIN note_refusals r ON r.note = n.hash WHERE n.nonce IS NOT NULL GROUP BY n.payee, n.nonce
     HAVING sum(n.from_reserve + n.from_payer + n.from_loss - coalesce(r.amount, 0)) > max(n.amount)
     ORDER BY n.payee, n.nonce";

/// A purse's totals next to the sums of its notes, for the audit.
#[derive(Debug, Clone)]
pub struct PurseTotals {
    pub id: Vec<u8>,
    /// The account that holds the purse's reserve (`Purse::reserve_account`).
    pub reserve_account: AccountId,
    pub amount: i64,
    pub settled: i64,
    pub returned: i64,
    pub recovered: i64,
    pub fraud_loss: i64,
    pub loss_allowance: i64,
    pub notes_held: i64,
    pub notes_reserve: i64,
    pub notes_payer: i64,
    pub notes_loss: i64,
    /// Sum of the purse's notes' `held`.
    pub notes_held_sum: i64,
}

/// Notes paid more than they are owed, found by the backend's audit queries.
#[derive(Debug, Clone, Default)]
pub struct NoteAudit {
    /// Hashes (hex) of notes whose payments plus held exceed their amount, or with negative held.
    pub overpaid_notes: Vec<String>,
    /// (payee, nonce hex) of requests paid more than their largest note.
    pub overpaid_requests: Vec<(i64, String)>,
}

/// The offline part of `verify`: every purse's reserve equals amount − settled − returned and
/// is not negative, its `settled`/`recovered`/`fraud_loss` equal what its notes were paid from,
/// each reserve account (`reserve_balances`: every account of kind `reserve`) holds exactly the
/// sum of the reserves of the purses it holds, and the fraud-loss account is minus the booked
/// losses; no purse lost more than its allowance; held amounts agree; no note and no request was
/// paid (or held) more than it is owed.
pub fn audit(
    purses: &[PurseTotals],
    notes: &NoteAudit,
    reserve_balances: &[(AccountId, i64)],
    fraud_loss_balance: i64,
) -> Vec<String> {
    let mut problems = Vec::new();
    for hash in &notes.overpaid_notes {
        problems.push(format!("note {hash}: paid and held add up to more than its amount"));
    }
    for (payee, nonce) in &notes.overpaid_requests {
        problems.push(format!("request {nonce} of user {payee}: paid more than its largest note (paid twice)"));
    }
    let mut held_by_account: BTreeMap<AccountId, i128> =
        reserve_balances.iter().map(|(account, _)| (*account, 0)).collect();
    let mut loss_total: i128 = 0;
    for p in purses {
        let id = hex::encode(&p.id);
        let held = i128::from(p.amount) - i128::from(p.settled) - i128::from(p.returned);
        if held < 0 || p.settled < 0 || p.returned < 0 {
            problems.push(format!(
                "purse {id}: reserve {held} = amount {} - settled {} - returned {} is negative",
                p.amount, p.settled, p.returned
            ));
        }
        for (what, purse_value, notes_value) in [
            ("settled from the reserve", p.settled, p.notes_reserve),
            ("recovered from the payer", p.recovered, p.notes_payer),
            ("booked as fraud loss", p.fraud_loss, p.notes_loss),
            ("held for notes", p.notes_held, p.notes_held_sum),
        ] {
            if purse_value != notes_value {
                problems.push(format!("purse {id}: {what} is {purse_value} but its notes say {notes_value}"));
            }
        }
        if p.fraud_loss > p.loss_allowance {
            problems.push(format!(
                "purse {id}: fraud loss {} is over its loss allowance {}",
                p.fraud_loss, p.loss_allowance
            ));
        }
        match held_by_account.get_mut(&p.reserve_account) {
            Some(total) => *total += held,
            None => problems.push(format!(
                "purse {id}: its reserve is said to be in account {}, which is not a reserve account",
                p.reserve_account
            )),
        }
        loss_total += i128::from(p.fraud_loss);
    }
    for (account, balance) in reserve_balances {
        let held = held_by_account.get(account).copied().unwrap_or(0);
        if held != i128::from(*balance) {
            problems.push(format!(
                "reserve account {account} holds {balance} but the reserves (amount - settled - returned) of its purses sum to {held}"
            ));
        }
    }
    if -loss_total != i128::from(fraud_loss_balance) {
        problems.push(format!(
            "the fraud-loss account holds {fraud_loss_balance} but purses booked {loss_total} of fraud loss"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purse(id: u8, reserve_account: i64, amount: i64, settled: i64) -> PurseTotals {
        PurseTotals {
            id: vec![id],
            reserve_account: AccountId(reserve_account),
            amount,
            settled,
            returned: 0,
            recovered: 0,
            fraud_loss: 0,
            loss_allowance: 0,
            notes_held: 0,
            notes_reserve: settled,
            notes_payer: 0,
            notes_loss: 0,
            notes_held_sum: 0,
        }
    }

    /// Each reserve account must hold exactly the reserves of its own purses: money moved from
    /// one purse's reserve account to another's is found even when the total is right.
    #[test]
    fn each_reserve_account_holds_exactly_its_purses_reserves() {
        let notes = NoteAudit::default();
        // The shared account holds two older purses (300 + 200); two purses have their own.
        let purses = [purse(1, 2, 500, 200), purse(2, 2, 200, 0), purse(3, 10, 1_000, 400), purse(4, 11, 50, 50)];
        let right = [(AccountId(2), 500), (AccountId(10), 600), (AccountId(11), 0)];
        assert_eq!(audit(&purses, &notes, &right, 0), Vec::<String>::new());

        let moved = [(AccountId(2), 500), (AccountId(10), 500), (AccountId(11), 100)];
        let problems = audit(&purses, &notes, &moved, 0);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("reserve account 10 holds 500 but"), "{problems:?}");
        assert!(problems[1].starts_with("reserve account 11 holds 100 but"), "{problems:?}");

        // A reserve account without purses must be empty; a purse must name a reserve account.
        let stray = [(AccountId(2), 500), (AccountId(10), 600), (AccountId(11), 0), (AccountId(12), 5)];
        assert!(audit(&purses, &notes, &stray, 0)[0].starts_with("reserve account 12 holds 5"));
        let problems = audit(&purses, &notes, &right[..2], 0);
        assert!(problems[0].contains("in account 11, which is not a reserve account"), "{problems:?}");
    }
}
