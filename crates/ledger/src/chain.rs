//! The journal's hash chain and request fingerprints: pure functions, shared by both backends
//! and by `verify`, so the bytes hashed are defined in exactly one place.
//!
//! # Per-account chains
//! Every account row keeps `head`, the hash of the newest journal entry that touched it
//! ([`GENESIS`] before the first). An entry's hash covers its own fields and, for each of its
//! postings (in account-id order), the account id, the signed delta and that account's previous
//! head. Each posting stores the previous head it saw, and the entry becomes the new head of every
//! account it touches. Editing, deleting or reordering any committed entry or posting therefore
//! breaks either the entry's own hash or the link from the next entry of the same account, and
//! `verify` reports it.
//!
//! Why not one global chain: a single chain head is one hot row that every commit must lock, so
//! in PostgreSQL all transfers would serialise on it. Per-account heads live on the account rows
//! the transfer has already locked (in id order), so unrelated transfers commit in parallel and
//! the chain adds no lock.

use sha2::{Digest, Sha256};

use crate::model::{AccountId, EntryId, TimestampMs, UserId};

/// The head of an account no entry has touched yet.
pub const GENESIS: [u8; 32] = [0; 32];

const ENTRY_DOMAIN: &[u8] = b"offpay-ledger-entry-v1\0";
const REQUEST_DOMAIN: &[u8] = b"offpay-ledger-request-v1\0";

/// The hashed fields of a journal entry (everything but its own hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFields {
    pub id: EntryId,
    /// `deposit` or `transfer` (kept as text so `verify` can hash rows of any kind).
    pub kind: String,
    pub amount: i64,
    pub memo: Option<String>,
    pub from_user: Option<UserId>,
    pub to_user: UserId,
    pub created_at_ms: TimestampMs,
}

/// One posting as hashed: the account, its signed change and the account's head before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingFields {
    pub account_id: AccountId,
    pub delta: i64,
    pub prev_hash: Vec<u8>,
}

/// SHA-256 over the entry's fields and its postings sorted by account id. Fixed-width
/// big-endian integers and length-prefixed strings make the encoding unambiguous.
pub fn entry_hash(entry: &EntryFields, postings: &[PostingFields]) -> [u8; 32] {
    let mut sorted: Vec<&PostingFields> = postings.iter().collect();
    sorted.sort_by_key(|p| p.account_id);

    let mut h = Sha256::new();
    h.update(ENTRY_DOMAIN);
    h.update(entry.id.0.to_be_bytes());
    put_str(&mut h, &entry.kind);
    h.update(entry.amount.to_be_bytes());
    match &entry.memo {
        None => h.update([0u8]),
        Some(memo) => {
            h.update([1u8]);
            put_str(&mut h, memo);
        }
    }
    h.update(entry.from_user.map_or(0, |u| u.0).to_be_bytes());
    h.update(entry.to_user.0.to_be_bytes());
    h.update(entry.created_at_ms.to_be_bytes());
    h.update((sorted.len() as u64).to_be_bytes());
    for p in sorted {
        h.update(p.account_id.0.to_be_bytes());
        h.update(p.delta.to_be_bytes());
        put_bytes(&mut h, &p.prev_hash);
    }
    h.finalize().into()
}

/// The fingerprint of a mutating request, stored with its idempotency key: a retry must carry
/// the same fingerprint to be replayed.
pub fn request_fingerprint(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(REQUEST_DOMAIN);
    for part in parts {
        put_bytes(&mut h, part);
    }
    h.finalize().into()
}

fn put_str(h: &mut Sha256, s: &str) {
    put_bytes(h, s.as_bytes());
}

fn put_bytes(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_be_bytes());
    h.update(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> EntryFields {
        EntryFields {
            id: EntryId(7),
            kind: "transfer".into(),
            amount: 500,
            memo: Some("tea".into()),
            from_user: Some(UserId(1)),
            to_user: UserId(2),
            created_at_ms: 1_700_000_000_000,
        }
    }

    fn postings() -> Vec<PostingFields> {
        vec![
            PostingFields { account_id: AccountId(4), delta: -500, prev_hash: GENESIS.to_vec() },
            PostingFields { account_id: AccountId(5), delta: 500, prev_hash: [9; 32].to_vec() },
        ]
    }

    #[test]
    fn posting_order_does_not_matter() {
        let mut reversed = postings();
        reversed.reverse();
        assert_eq!(entry_hash(&entry(), &postings()), entry_hash(&entry(), &reversed));
    }

    #[test]
    fn every_field_is_covered() {
        let base = entry_hash(&entry(), &postings());
        let mut e = entry();
        e.amount = 501;
        assert_ne!(base, entry_hash(&e, &postings()));
        let mut e = entry();
        e.memo = None;
        assert_ne!(base, entry_hash(&e, &postings()));
        let mut e = entry();
        e.from_user = None;
        assert_ne!(base, entry_hash(&e, &postings()));
        let mut p = postings();
        p[1].prev_hash = GENESIS.to_vec();
        assert_ne!(base, entry_hash(&entry(), &p));
        let mut p = postings();
        p[0].delta = -499;
        assert_ne!(base, entry_hash(&entry(), &p));
    }

    #[test]
    fn fingerprint_parts_are_length_prefixed() {
        assert_ne!(request_fingerprint(&[b"ab", b"c"]), request_fingerprint(&[b"a", b"bc"]));
    }
}
