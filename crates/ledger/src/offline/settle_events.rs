//! The live events of one settlement upload: one `offline_in` per payee and one `offline_out`
//! per payer, each listing its notes, instead of two events per note. A merchant who syncs 500
//! notes gets one notification with the total, not 500 (and the ledger writes 2 rows per upload
//! and person instead of 2 per note). Payloads: docs/API-OFFLINE.md, "Live events".

use std::collections::BTreeMap;

use serde::Serialize;

use super::{EVENT_OFFLINE_IN, EVENT_OFFLINE_OUT, UserRef};
use crate::model::{AccountId, UserId};
use crate::plan::NewEvent;

/// One settled note, as both of its events list it.
pub struct SettledNote<'a> {
    pub note: String,
    pub amount: i64,
    pub payer: &'a UserRef,
    pub payee: &'a UserRef,
}

/// A note as an event lists it; `counterparty` is `from` in `offline_in`, `to` in `offline_out`.
#[derive(Serialize)]
struct ListedNote {
    note: String,
    amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
}

/// An event's payload; the user's own handle is `to` of an `offline_in`, `from` of an
/// `offline_out`.
#[derive(Serialize)]
struct Payload<'a> {
    amount: i64,
    count: usize,
    balance: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    notes: &'a [ListedNote],
}

struct Aggregate {
    account: AccountId,
    handle: String,
    amount: i64,
    notes: Vec<ListedNote>,
}

/// Collects settled notes per (user, event kind), in user order.
#[derive(Default)]
pub struct SettleEvents {
    by_user: BTreeMap<(UserId, &'static str), Aggregate>,
}

impl SettleEvents {
    /// Adds a note to its payee's `offline_in` and, unless paying oneself, its payer's
    /// `offline_out`.
    pub fn add(&mut self, n: SettledNote<'_>) {
        let listed = |from: Option<&UserRef>, to: Option<&UserRef>| ListedNote {
            note: n.note.clone(),
            amount: n.amount,
            from: from.map(|u| u.handle.as_str().to_string()),
            to: to.map(|u| u.handle.as_str().to_string()),
        };
        if n.payer.id != n.payee.id {
            self.push(n.payer, EVENT_OFFLINE_OUT, n.amount, listed(None, Some(n.payee)));
        }
        self.push(n.payee, EVENT_OFFLINE_IN, n.amount, listed(Some(n.payer), None));
    }

    fn push(&mut self, user: &UserRef, kind: &'static str, amount: i64, note: ListedNote) {
        let entry = self.by_user.entry((user.id, kind)).or_insert_with(|| Aggregate {
            account: user.account_id,
            handle: user.handle.as_str().to_string(),
            amount: 0,
            notes: Vec::new(),
        });
        entry.amount = entry.amount.saturating_add(amount);
        entry.notes.push(note);
    }

    /// The events, each with the user's balance after the whole upload.
    pub fn finish(self, balance_of: impl Fn(AccountId) -> i64) -> Vec<NewEvent> {
        self.by_user
            .into_iter()
            .map(|((user_id, kind), a)| {
                let own = Some(a.handle.as_str());
                let inbound = kind == EVENT_OFFLINE_IN;
                let payload = Payload {
                    amount: a.amount,
                    count: a.notes.len(),
                    balance: balance_of(a.account),
                    from: if inbound { None } else { own },
                    to: if inbound { own } else { None },
                    notes: &a.notes,
                };
                // Serializing plain structs of strings and integers cannot fail.
                let payload = serde_json::to_string(&payload).unwrap_or_default();
                NewEvent { user_id, kind, payload }
            })
            .collect()
    }
}
