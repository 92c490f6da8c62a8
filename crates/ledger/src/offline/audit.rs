//! The offline part of `offpay admin verify`, as a pure check over what each backend's audit
//! queries read: every purse's reserve, its money against its notes', its loss against its
//! allowance, and notes and requests paid beyond what they are owed (docs/OFFLINE.md, "The
//! loss bound"; docs/LEDGER.md).

/// Audit query (both backends): notes paid and held beyond their amount.
pub const OVERPAID_NOTES_SQL: &str =
    "SELECT hash FROM notes WHERE held < 0 OR from_reserve + from_payer + from_loss + held > amount ORDER BY hash";
/// Audit query (both backends): requests paid and held beyond their largest note.
pub const OVERPAID_REQUESTS_SQL: &str = "SELECT payee, nonce FROM notes WHERE nonce IS NOT NULL GROUP BY payee, nonce
     HAVING sum(from_reserve + from_payer + from_loss + held) > max(amount) ORDER BY payee, nonce";

/// A purse's totals next to the sums of its notes, for the audit.
#[derive(Debug, Clone)]
pub struct PurseTotals {
    pub id: Vec<u8>,
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
    /// (payee, nonce hex) of requests paid (or held) more than their largest note.
    pub overpaid_requests: Vec<(i64, String)>,
}

/// The offline part of `verify`: every purse's reserve equals amount − settled − returned and
/// is not negative, its `settled`/`recovered`/`fraud_loss` equal what its notes were paid from,
/// the reserve account holds exactly the sum of the purses' reserves, and the fraud-loss account
/// is minus the booked losses; no purse lost more than its allowance; held amounts agree; no
/// note and no request was paid (or held) more than it is owed.
pub fn audit(purses: &[PurseTotals], notes: &NoteAudit, reserve_balance: i64, fraud_loss_balance: i64) -> Vec<String> {
    let mut problems = Vec::new();
    for hash in &notes.overpaid_notes {
        problems.push(format!("note {hash}: paid and held add up to more than its amount"));
    }
    for (payee, nonce) in &notes.overpaid_requests {
        problems.push(format!(
            "request {nonce} of user {payee}: paid and held add up to more than its largest note (paid twice)"
        ));
    }
    let mut held_total: i128 = 0;
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
        held_total += held;
        loss_total += i128::from(p.fraud_loss);
    }
    if held_total != i128::from(reserve_balance) {
        problems.push(format!(
            "the reserve account holds {reserve_balance} but the purses' reserves (amount - settled - returned) sum to {held_total}"
        ));
    }
    if -loss_total != i128::from(fraud_loss_balance) {
        problems.push(format!(
            "the fraud-loss account holds {fraud_loss_balance} but purses booked {loss_total} of fraud loss"
        ));
    }
    problems
}
