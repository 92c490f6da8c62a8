//! The audit behind `Store::verify`, as a pure streaming checker: a backend reads every account
//! and then feeds it every journal entry (in id order, with its postings), all from one
//! consistent snapshot, and gets a [`VerifyReport`]. Memory is bounded by the number of accounts,
//! not the length of the journal.

use std::collections::HashMap;

use crate::chain::{EntryFields, GENESIS, PostingFields, entry_hash};
use crate::model::{AccountId, VerifyReport};

/// At most this many problems are listed; the rest are counted.
const PROBLEMS_MAX: usize = 1000;

/// What may move an operator account (found by its kind): which entry kinds may post to it, and
/// whether it may grow.
#[derive(Debug)]
struct OperatorAccount {
    kind: &'static str,
    name: &'static str,
    kinds: &'static [&'static str],
    may_grow: bool,
}

/// Money enters or leaves the system only through funding (deposits) and fraud loss (what the
/// operator pays for a double-spent purse), and a reserve account (one per purse, and the shared
/// one of older purses) moves only with purses (docs/DESIGN.md, money rule 3). Neither funding
/// nor fraud loss ever takes money back in.
const OPERATOR_ACCOUNTS: [OperatorAccount; 3] = [
    OperatorAccount { kind: "funding", name: "funding", kinds: &["deposit"], may_grow: false },
    OperatorAccount {
        kind: "reserve",
        name: "reserve",
        kinds: &["purse_load", "purse_return", "offline_settle"],
        may_grow: true,
    },
    OperatorAccount { kind: "fraud_loss", name: "fraud loss", kinds: &["offline_settle"], may_grow: false },
];

/// An account row as stored.
#[derive(Debug, Clone)]
pub struct StoredAccount {
    pub id: AccountId,
    pub kind: String,
    pub balance: i64,
    pub head: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Verifier {
    /// Every account, as stored.
    accounts: Vec<StoredAccount>,
    /// The rule of each operator account, by id.
    rules: HashMap<AccountId, &'static OperatorAccount>,
    /// Per account: the hash of the newest entry seen so far.
    heads: HashMap<AccountId, Vec<u8>>,
    /// Per account: the sum of its postings so far.
    sums: HashMap<AccountId, i128>,
    entries: u64,
    problems: Vec<String>,
    problems_dropped: u64,
}

impl Verifier {
    /// A checker for the journal of these accounts (every account, read in the same snapshot
    /// as the journal): their kinds say which rules apply to which postings.
    pub fn new(accounts: Vec<StoredAccount>) -> Verifier {
        let rules = accounts
            .iter()
            .filter_map(|a| Some((a.id, OPERATOR_ACCOUNTS.iter().find(|rule| rule.kind == a.kind)?)))
            .collect();
        Verifier { accounts, rules, ..Verifier::default() }
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < PROBLEMS_MAX {
            self.problems.push(text);
        } else {
            self.problems_dropped += 1;
        }
    }

    /// One journal entry with its stored hash and postings. Entries must come in id order.
    pub fn entry(&mut self, entry: &EntryFields, stored_hash: &[u8], postings: &[PostingFields]) {
        self.entries += 1;
        let id = entry.id;
        if postings.len() < 2 {
            self.problem(format!(
                "journal entry {id} has {} posting(s); every entry needs at least two",
                postings.len()
            ));
        }
        let sum: i128 = postings.iter().map(|p| i128::from(p.delta)).sum();
        if sum != 0 {
            self.problem(format!("journal entry {id}: postings sum to {sum}, not zero"));
        }
        if entry.kind == "transfer" || entry.kind == "deposit" {
            let credited: i128 = postings.iter().filter(|p| p.delta > 0).map(|p| i128::from(p.delta)).sum();
            if credited != i128::from(entry.amount) {
                self.problem(format!(
                    "journal entry {id}: amount {} does not match its postings ({credited})",
                    entry.amount
                ));
            }
        }
        if entry_hash(entry, postings).as_slice() != stored_hash {
            self.problem(format!(
                "journal entry {id}: stored hash does not match its contents (the entry or a posting was edited)"
            ));
        }
        for p in postings {
            if let Some(rule) = self.rules.get(&p.account_id).copied() {
                let (name, kind) = (rule.name, &entry.kind);
                if !rule.kinds.contains(&kind.as_str()) {
                    self.problem(format!("journal entry {id}: a {kind} entry moved money on the {name} account"));
                } else if p.delta > 0 && !rule.may_grow {
                    self.problem(format!("journal entry {id}: the {name} account took money in"));
                }
            }
            let expected = self.heads.get(&p.account_id).map(Vec::as_slice).unwrap_or(&GENESIS);
            if p.prev_hash.as_slice() != expected {
                let account = p.account_id;
                self.problem(format!(
                    "journal entry {id}: hash chain of account {account} is broken (the previous entry of this account was edited, removed or reordered)"
                ));
            }
            self.heads.insert(p.account_id, stored_hash.to_vec());
            *self.sums.entry(p.account_id).or_default() += i128::from(p.delta);
        }
    }

    /// Postings whose entry does not exist (found separately by the backend).
    pub fn orphan_postings(&mut self, count: u64) {
        if count > 0 {
            self.problem(format!("{count} posting(s) belong to no journal entry"));
        }
    }

    /// Checks every account against the journal and finishes the report.
    pub fn finish(mut self) -> VerifyReport {
        let mut total: i128 = 0;
        let mut funding: Option<i128> = None;
        let accounts = std::mem::take(&mut self.accounts);
        for a in &accounts {
            let id = a.id;
            let sum = self.sums.remove(&id).unwrap_or(0);
            let balance = i128::from(a.balance);
            if sum != balance {
                self.problem(format!(
                    "account {id} ({}): stored balance {balance} but its postings sum to {sum}",
                    a.kind
                ));
            }
            if a.kind == "wallet" && a.balance < 0 {
                self.problem(format!("account {id}: wallet balance {balance} is negative"));
            }
            if a.kind == "wallet" && balance > i128::from(crate::plan::WALLET_MAX) {
                self.problem(format!("account {id}: wallet balance {balance} is above the largest amount"));
            }
            let head = self.heads.remove(&id).unwrap_or_else(|| GENESIS.to_vec());
            if a.head != head {
                self.problem(format!("account {id}: stored chain head does not match its newest journal entry"));
            }
            total += balance;
            if a.kind == "funding" {
                funding = Some(funding.unwrap_or(0) + balance);
            }
        }
        let mut unknown: Vec<AccountId> = self.sums.keys().copied().collect();
        unknown.sort_unstable();
        for id in unknown {
            self.problem(format!("postings refer to account {id}, which does not exist"));
        }
        if total != 0 {
            self.problem(format!("all balances sum to {total}, not zero (money was created or destroyed)"));
        }
        let funding = funding.unwrap_or(0);
        if funding == 0 && accounts.iter().all(|a| a.kind != "funding") {
            self.problem("there is no funding account".to_string());
        }
        if self.problems_dropped > 0 {
            let n = self.problems_dropped;
            self.problems.push(format!("... and {n} more problem(s)"));
        }
        let money = i64::try_from(-funding).unwrap_or(i64::MAX);
        VerifyReport {
            entries: self.entries,
            accounts: accounts.len() as u64,
            money_in_system: money,
            problems: self.problems,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::entry_hash;
    use crate::model::{EntryId, UserId};
    use crate::offline::plan::{FRAUD_LOSS_ACCOUNT, RESERVE_ACCOUNT};

    const FUNDING_ACCOUNT: AccountId = AccountId(1);

    fn account(id: i64, kind: &str, balance: i64, head: Vec<u8>) -> StoredAccount {
        StoredAccount { id: AccountId(id), kind: kind.into(), balance, head }
    }

    fn deposit(id: i64, prev_f: Vec<u8>, prev_w: Vec<u8>) -> (EntryFields, [u8; 32], Vec<PostingFields>) {
        let e = EntryFields {
            id: EntryId(id),
            kind: "deposit".into(),
            amount: 100,
            memo: None,
            from_user: None,
            to_user: UserId(1),
            created_at_ms: 1,
        };
        let p = vec![
            PostingFields { account_id: AccountId(1), delta: -100, prev_hash: prev_f },
            PostingFields { account_id: AccountId(4), delta: 100, prev_hash: prev_w },
        ];
        let h = entry_hash(&e, &p);
        (e, h, p)
    }

    #[test]
    fn a_clean_journal_passes_and_an_edit_is_found() {
        let (e1, h1, p1) = deposit(1, GENESIS.to_vec(), GENESIS.to_vec());
        let (e2, h2, p2) = deposit(2, h1.to_vec(), h1.to_vec());
        let accounts = vec![account(1, "funding", -200, h2.to_vec()), account(4, "wallet", 200, h2.to_vec())];

        let mut v = Verifier::new(accounts.clone());
        v.entry(&e1, &h1, &p1);
        v.entry(&e2, &h2, &p2);
        let report = v.finish();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.money_in_system, 200);
        assert_eq!(report.entries, 2);

        let mut edited = p1.clone();
        edited[1].delta = 150;
        let mut v = Verifier::new(accounts.clone());
        v.entry(&e1, &h1, &edited);
        v.entry(&e2, &h2, &p2);
        let report = v.finish();
        assert!(report.problems.iter().any(|p| p.contains("sum to 50")), "{:?}", report.problems);
        assert!(report.problems.iter().any(|p| p.contains("stored hash")), "{:?}", report.problems);

        // Dropping the first entry breaks both chains.
        let mut v = Verifier::new(accounts);
        v.entry(&e2, &h2, &p2);
        let report = v.finish();
        assert!(report.problems.iter().any(|p| p.contains("chain of account 1")), "{:?}", report.problems);
    }

    /// A transfer that pays out of the funding account, or a settlement that credits fraud loss,
    /// sums to zero and hashes correctly, yet creates or hides money: verify names it, on the
    /// shared reserve account and on a purse's own (a reserve account is known by its kind).
    #[test]
    fn only_the_allowed_entries_move_operator_accounts() {
        let one = |kind: &str, moved: AccountId, delta: i64| {
            let e = EntryFields {
                id: EntryId(1),
                kind: kind.into(),
                amount: delta.abs(),
                memo: None,
                from_user: None,
                to_user: UserId(1),
                created_at_ms: 1,
            };
            let p = vec![
                PostingFields { account_id: moved, delta, prev_hash: GENESIS.to_vec() },
                PostingFields { account_id: AccountId(4), delta: -delta, prev_hash: GENESIS.to_vec() },
            ];
            let h = entry_hash(&e, &p);
            let accounts = [(1, "funding"), (2, "reserve"), (3, "fraud_loss"), (4, "wallet"), (9, "reserve")]
                .map(|(id, kind)| account(id, kind, 0, GENESIS.to_vec()));
            let mut v = Verifier::new(accounts.to_vec());
            v.entry(&e, &h, &p);
            v.problems
        };
        assert!(one("deposit", FUNDING_ACCOUNT, -100).is_empty());
        assert!(one("purse_load", RESERVE_ACCOUNT, 100).is_empty());
        assert!(one("offline_settle", FRAUD_LOSS_ACCOUNT, -100).is_empty());
        let problems = one("transfer", FUNDING_ACCOUNT, -100);
        assert!(
            problems.iter().any(|p| p.contains("a transfer entry moved money on the funding account")),
            "{problems:?}"
        );
        let problems = one("deposit", FUNDING_ACCOUNT, 100);
        assert!(problems.iter().any(|p| p.contains("the funding account took money in")), "{problems:?}");
        let problems = one("offline_settle", FRAUD_LOSS_ACCOUNT, 100);
        assert!(problems.iter().any(|p| p.contains("the fraud loss account took money in")), "{problems:?}");
        let problems = one("transfer", RESERVE_ACCOUNT, 100);
        assert!(problems.iter().any(|p| p.contains("moved money on the reserve account")), "{problems:?}");
        let purse_reserve = AccountId(9);
        assert!(one("purse_load", purse_reserve, 100).is_empty());
        assert!(one("offline_settle", purse_reserve, -100).is_empty());
        let problems = one("transfer", purse_reserve, -100);
        assert!(problems.iter().any(|p| p.contains("moved money on the reserve account")), "{problems:?}");
    }
}
