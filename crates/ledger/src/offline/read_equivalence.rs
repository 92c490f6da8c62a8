//! Test: an upload planned on the notes [`NotesRead::Around`] reads decides exactly what it would
//! on every stored note of the purse (docs/decisions/settlement-reads-neighbours.md). Random
//! purses never revoked (their stored notes are part of one honest chain, as the settlement rule
//! leaves them), random uploads (the rest of the chain, copies of stored notes, forks at taken
//! numbers, made-up notes with gaps that do not add up, notes for accounts that do not exist,
//! bad signatures) by random uploaders (the payer or a payee): the plan from the notes the read
//! keeps, filtered here by the same rule as the backends' SQL (and from every note when their
//! settlement finds a fraud, as the backends do: [`plan::read_in_full`]), has the same results
//! and the same rows to write as the plan from all of them.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap, HashSet};

use offpay_protocol::testkit::Fixture;
use offpay_protocol::{AccountNumber, Amount, Handle, Hash256, Nonce, NoteFields, PaymentNote};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::plan::{self, Accounts, FRAUD_LOSS_ACCOUNT, NotesRead, SettleInput, Snapshot, StoredState};
use super::{NoteStatus, Purse, PurseState, UserRef};
use crate::model::{AccountId, AccountKind, EntryId, UserId};
use crate::plan::LockedAccount;

/// The payer (the fixture certificate's account) and three payees.
const PAYER: i64 = 1001;
const PAYEES: [i64; 3] = [2001, 2002, 2003];
/// An account number no user has.
const NOBODY: i64 = 9999;
/// The purse's own reserve account.
const PURSE_RESERVE: AccountId = AccountId(50);

/// Which of `stored` the around read keeps: the notes at each of `read`'s numbers and at the
/// nearest stored numbers below and above.
fn kept_by(read: &NotesRead, stored: &[PaymentNote]) -> Vec<bool> {
    let NotesRead::Around { seqs } = read else { panic!("not an around read: {read:?}") };
    let present: BTreeSet<u32> = stored.iter().map(PaymentNote::seq).collect();
    let mut wanted = BTreeSet::new();
    for &s in seqs {
        wanted.insert(s);
        wanted.extend(present.range(..s).next_back());
        wanted.extend(present.range(s + 1..).next());
    }
    stored.iter().map(|n| wanted.contains(&n.seq())).collect()
}

fn user(id: i64) -> (UserRef, bool) {
    let handle = Handle::parse(&format!("user{id}")).unwrap();
    (UserRef { id: UserId(id), handle, account_id: AccountId(id) }, false)
}

fn account(id: AccountId, kind: AccountKind, balance: i64) -> (AccountId, LockedAccount) {
    (id, LockedAccount { account_id: id, kind, balance, head: vec![0; 32] })
}

#[test]
fn the_around_read_plans_what_the_full_read_plans() {
    let fx = Fixture::new();
    let cert = fx.certificate_with(&fx.issuer, |f| {
        f.amount = Amount::from_minor(2_000).unwrap();
        f.per_payment_cap = Amount::from_minor(200).unwrap();
    });
    let sign = |seq: u32, prev: Hash256, cumulative: u64, amount: u64, payee: i64, nonce: u64| {
        let fields = NoteFields {
            seq,
            prev_hash: prev,
            cumulative: Amount::from_minor(cumulative).unwrap(),
            amount: Amount::from_minor(amount).unwrap(),
            payee: AccountNumber(payee as u64),
            nonce: Nonce::from_bytes(nonce.to_be_bytes().repeat(2).try_into().unwrap()),
            time: 0,
        };
        PaymentNote::sign(cert.clone(), fields, &fx.payer_device).unwrap()
    };
    let mut rng = StdRng::seed_from_u64(11);
    let (mut fraud, mut settled, mut refused, mut fewer, mut again) = (0, 0, 0, 0, 0);
    for case in 0..600u64 {
        let payee = |rng: &mut StdRng| if rng.random_bool(0.1) { NOBODY } else { PAYEES[rng.random_range(0..3)] };
        // An honest chain of up to 40 notes; a random part of it is stored.
        let mut chain = Vec::new();
        let (mut prev, mut cumulative) = (cert.hash(), 0);
        for seq in 1..=rng.random_range(1..=40u32) {
            let amount = rng.random_range(1..=40);
            cumulative += amount;
            let p = payee(&mut rng);
            let n = sign(seq, prev, cumulative, amount, p, case * 1000 + u64::from(seq));
            prev = n.hash();
            chain.push(n);
        }
        let stored: Vec<PaymentNote> = chain.iter().filter(|_| rng.random_bool(0.5)).cloned().collect();
        let states: Vec<StoredState> = stored
            .iter()
            .map(|n| {
                let payee = n.fields().payee.0 as i64;
                let uploaded_by = UserId(if rng.random_bool(0.5) { PAYER } else { payee });
                StoredState { hash: n.hash(), from_payer: 0, held: 0, uploaded_by }
            })
            .collect();
        let settled_so_far: i64 =
            stored.iter().filter(|n| n.fields().payee.0 as i64 != NOBODY).map(|n| n.amount().minor() as i64).sum();
        // The upload: up to four of the chain's other notes, copies, forks and made-up notes.
        let mut batch = Vec::new();
        for k in 0..rng.random_range(1..=4u64) {
            let note = match rng.random_range(0..4) {
                0 | 1 => chain[rng.random_range(0..chain.len())].clone(),
                2 => {
                    // A fork or a note in a gap: a real or made-up link, totals that may not add up.
                    let seq = rng.random_range(1..=45);
                    let amount = rng.random_range(1..=40);
                    let prev = if rng.random_bool(0.5) {
                        chain[rng.random_range(0..chain.len())].hash()
                    } else {
                        Hash256::from_bytes([7; 32])
                    };
                    let cumulative = rng.random_range(amount..=cumulative + 60);
                    sign(seq, prev, cumulative, amount, payee(&mut rng), case * 1000 + 900 + k)
                }
                _ => {
                    // The next note of the honest chain, as its payer would sign it.
                    let amount = rng.random_range(1..=40);
                    let seq = chain.len() as u32 + 1;
                    sign(seq, prev, cumulative + amount, amount, payee(&mut rng), case * 1000 + 950 + k)
                }
            };
            batch.push(note);
        }
        let signature_ok: Vec<bool> = batch.iter().map(|_| rng.random_bool(0.95)).collect();
        let uploader = if rng.random_bool(0.4) { UserId(PAYER) } else { UserId(PAYEES[rng.random_range(0..3)]) };
        let purse = Purse {
            id: cert.purse_id(),
            user_id: UserId(PAYER),
            certificate: cert.clone(),
            state: PurseState::Open,
            expired: false,
            settled: settled_so_far,
            returned: 0,
            recovered: 0,
            fraud_loss: 0,
            loss_allowance: 300,
            notes_held: 0,
            close: None,
            created_at_ms: 0,
            reserve_account: PURSE_RESERVE,
            settle_by: None,
        };
        let read = NotesRead::for_upload(&batch, &purse, uploader);
        let keep = kept_by(&read, &stored);
        let left_out = keep.iter().any(|k| !k);
        let full = Snapshot {
            purse: purse.clone(),
            stored: stored.clone(),
            states: states.clone(),
            proofs: Default::default(),
            read: NotesRead::All,
            release_until: None,
        };
        let mut around = Snapshot { read: read.clone(), ..full.clone() };
        around.stored = stored.iter().zip(&keep).filter(|(_, k)| **k).map(|(n, _)| n.clone()).collect();
        around.states = states.iter().zip(&keep).filter(|(_, k)| **k).map(|(s, _)| *s).collect();
        let users: HashMap<UserId, (UserRef, bool)> =
            std::iter::once(PAYER).chain(PAYEES).map(|id| (UserId(id), user(id))).collect();
        let payer_balance = rng.random_range(0..=100);
        let plan = |snap: Snapshot| {
            let mut snapshots = HashMap::from([(purse.id, snap)]);
            let mut settlements = plan::settle_all(&snapshots, &batch, &signature_ok).unwrap();
            let read_again = !plan::read_in_full(&snapshots, &settlements).is_empty();
            if read_again {
                snapshots.insert(purse.id, full.clone());
                settlements = plan::settle_all(&snapshots, &batch, &signature_ok).unwrap();
            }
            // Only the operator accounts the backends lock for this upload: a plan that needs
            // another fails here.
            let mut accounts: Accounts = plan::operator_accounts(&snapshots, &batch)
                .into_iter()
                .map(|id| match id {
                    PURSE_RESERVE => account(id, AccountKind::Reserve, 2_000 - settled_so_far),
                    FRAUD_LOSS_ACCOUNT => account(id, AccountKind::FraudLoss, 0),
                    other => panic!("account {other} is not this purse's"),
                })
                .chain([account(AccountId(PAYER), AccountKind::Wallet, payer_balance)])
                .chain(PAYEES.map(|id| account(AccountId(id), AccountKind::Wallet, 0)))
                .collect();
            let input = SettleInput {
                batch: &batch,
                snapshots: &mut snapshots,
                settlements: &settlements,
                users: &users,
                requests: HashMap::new(),
                uploader,
                held_elsewhere: &HashSet::new(),
                refused: &HashSet::new(),
                now_ms: 0,
            };
            let mut ids = (1..).map(EntryId);
            let (writes, results) = plan::plan_settlement(input, &mut accounts, &mut ids).unwrap();
            (format!("{writes:?}"), results, read_again)
        };
        let (full_writes, full_results, _) = plan(full.clone());
        let (around_writes, around_results, read_again) = plan(around);
        again += usize::from(read_again);
        assert_eq!(around_results, full_results, "case {case}");
        assert_eq!(around_writes, full_writes, "case {case}");
        fewer += usize::from(left_out && !read_again);
        for r in &full_results {
            match r.status {
                NoteStatus::Fraud => fraud += 1,
                NoteStatus::Settled => settled += 1,
                NoteStatus::Rejected => refused += 1,
                _ => {}
            }
        }
    }
    // The cases cover every outcome, uploads decided on a read that left notes out, and uploads
    // read again in full.
    assert!(
        fraud > 50 && settled > 100 && refused > 100 && fewer > 200 && again > 50,
        "{fraud} fraud, {settled} settled, {refused} refused, {fewer} decided on fewer notes, {again} read again"
    );
}
