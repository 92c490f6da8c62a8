//! The SQLite side of offline payments ([`OfflineStore`]): the schema migration for devices,
//! purses, notes, fraud proofs and offline idempotency records, and the commands. Writes run on
//! the group-commit writer thread (one transaction per batch; each command in its savepoint),
//! where settlement runs the protocol's checks for all purses of an upload in parallel before
//! writing everything the pure plan (`offline::plan`) decided.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use offpay_protocol::{Amount, CloseStatement, Hash256, Nonce, PaymentNote, PurseCertificate, PurseId, UnixTime};
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::writer::WriteCtx;
use crate::error::LedgerError;
use crate::model::{AccountId, EntryId, EventNotice, IdempotencyKey, TimestampMs, UserId};
use crate::model::{account_kind, amount_of, handle_of, note_hash};
use crate::offline::audit::{self, NoteAudit, PurseTotals};
use crate::offline::certificates;
use crate::offline::held::{self, HeldNote, RequestsPaid};
use crate::offline::plan::{
    self, Accounts, FRAUD_LOSS_ACCOUNT, LoadFacts, NotesRead, RESERVE_ACCOUNT, SettleInput, Snapshot, StoredState,
    Writes,
};
use crate::offline::refusal::{self, PaidNote, RefusalOutcome};
use crate::offline::signatures;
use crate::offline::stored_note::Restorer;
use crate::offline::{
    CloseOutcome, DEVICE_WINDOW_MS, DEVICES_PER_DAY, Device, EXPIRE_MAX, ExpiryOutcome, FraudProofRecord,
    HeldNoteRecord, LIST_MAX, LoadRequest, LoadedPurse, NOTES_MAX, NoteResult, OfflineError, OfflineStore, Purse,
    PurseState, RELEASE_MAX, ReleaseOutcome, RevocationList, UserRef,
};
use crate::plan::LockedAccount;

/// Migration 2: offline payments.
pub const MIGRATION: &str = r#"
    CREATE TABLE devices (
        public_key    BLOB    PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        revoked       INTEGER NOT NULL DEFAULT 0,
        created_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX devices_by_user ON devices (user_id);

    CREATE TABLE purses (
        id              BLOB    PRIMARY KEY,
        user_id         INTEGER NOT NULL REFERENCES users (id),
        device_key      BLOB    NOT NULL,
        amount          INTEGER NOT NULL CHECK (amount > 0),
        valid_until     INTEGER NOT NULL,
        certificate     BLOB    NOT NULL,
        state           TEXT    NOT NULL CHECK (state IN ('open', 'closed', 'expired', 'revoked')),
        expired         INTEGER NOT NULL DEFAULT 0,
        settled         INTEGER NOT NULL DEFAULT 0,
        returned        INTEGER NOT NULL DEFAULT 0,
        recovered       INTEGER NOT NULL DEFAULT 0,
        fraud_loss      INTEGER NOT NULL DEFAULT 0,
        close_statement BLOB,
        load_entry_id   INTEGER NOT NULL REFERENCES journal (id),
        created_at_ms   INTEGER NOT NULL,
        CHECK (settled >= 0 AND returned >= 0 AND settled + returned <= amount)
    );
    CREATE INDEX purses_by_user ON purses (user_id, created_at_ms);
    CREATE INDEX purses_to_expire ON purses (valid_until) WHERE expired = 0;

    CREATE TABLE notes (
        hash          BLOB    PRIMARY KEY,
        purse_id      BLOB    NOT NULL REFERENCES purses (id),
        seq           INTEGER NOT NULL,
        payee         INTEGER NOT NULL,
        amount        INTEGER NOT NULL CHECK (amount > 0),
        encoded       BLOB    NOT NULL,
        from_reserve  INTEGER NOT NULL,
        from_payer    INTEGER NOT NULL,
        from_loss     INTEGER NOT NULL,
        entry_id      INTEGER REFERENCES journal (id),
        uploaded_by   INTEGER NOT NULL REFERENCES users (id),
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX notes_by_purse ON notes (purse_id);

    CREATE TABLE fraud_proofs (
        id            INTEGER PRIMARY KEY,
        fingerprint   BLOB    NOT NULL UNIQUE,
        purse_id      BLOB    NOT NULL REFERENCES purses (id),
        user_id       INTEGER NOT NULL REFERENCES users (id),
        kind          TEXT    NOT NULL,
        first         BLOB    NOT NULL,
        second        BLOB    NOT NULL,
        created_at_ms INTEGER NOT NULL
    );

    CREATE TABLE offline_idempotency (
        scope         TEXT    NOT NULL,
        key           TEXT    NOT NULL,
        request_hash  BLOB    NOT NULL,
        response      TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;
"#;

/// Schema 3: one index on notes, `UNIQUE (purse_id, hash)`, instead of a primary key on the
/// random note hash plus an index on the purse. Same guarantee (a note hash covers the
/// certificate, so one hash belongs to one purse: unique per purse is unique), but rows are
/// appended and each purse's notes sit together, so a settlement batch dirties far fewer pages
/// (measured: docs/PERFORMANCE.md, "Settlement"). Notes are only ever read by purse.
pub const NOTES_BY_PURSE_MIGRATION: &str = r#"
    CREATE TABLE notes_v3 (
        hash          BLOB    NOT NULL,
        purse_id      BLOB    NOT NULL REFERENCES purses (id),
        seq           INTEGER NOT NULL,
        payee         INTEGER NOT NULL,
        amount        INTEGER NOT NULL CHECK (amount > 0),
        encoded       BLOB    NOT NULL,
        from_reserve  INTEGER NOT NULL,
        from_payer    INTEGER NOT NULL,
        from_loss     INTEGER NOT NULL,
        entry_id      INTEGER REFERENCES journal (id),
        uploaded_by   INTEGER NOT NULL REFERENCES users (id),
        created_at_ms INTEGER NOT NULL,
        UNIQUE (purse_id, hash)
    );
    INSERT INTO notes_v3 (hash, purse_id, seq, payee, amount, encoded, from_reserve, from_payer,
                          from_loss, entry_id, uploaded_by, created_at_ms)
        SELECT hash, purse_id, seq, payee, amount, encoded, from_reserve, from_payer,
               from_loss, entry_id, uploaded_by, created_at_ms
        FROM notes ORDER BY purse_id, seq;
    DROP TABLE notes;
    ALTER TABLE notes_v3 RENAME TO notes;
"#;

/// Schema 4, the loss bound (docs/OFFLINE.md): each purse's loss allowance (purses from before
/// get their booked loss as allowance: no more loss on them, and `verify` stays clean) and what
/// it holds for held notes; each note's request nonce (filled in by [`fill_note_nonces`]), what
/// is held on it, and an index to find a payee's notes for one request.
pub const LOSS_BOUND_MIGRATION: &str = r#"
    ALTER TABLE purses ADD COLUMN loss_allowance INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE purses ADD COLUMN notes_held INTEGER NOT NULL DEFAULT 0;
    UPDATE purses SET loss_allowance = fraud_loss;
    ALTER TABLE notes ADD COLUMN nonce BLOB;
    ALTER TABLE notes ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX notes_by_request ON notes (payee, nonce);
    CREATE INDEX notes_held ON notes (purse_id) WHERE held > 0;
"#;

/// Fills in the request nonce of every stored note (migration 4), from the note itself.
pub fn fill_note_nonces(conn: &Connection) -> Result<(), LedgerError> {
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = conn
        .prepare(
            "SELECT n.rowid, n.encoded, p.certificate FROM notes n JOIN purses p ON p.id = n.purse_id
             WHERE n.nonce IS NULL",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let mut update = conn.prepare("UPDATE notes SET nonce = ?2 WHERE rowid = ?1")?;
    for (rowid, encoded, certificate) in rows {
        let certificate = PurseCertificate::decode(&certificate).map_err(|e| storage("certificate", e))?;
        let note = Restorer::new(&certificate).restore(&encoded).map_err(|e| storage("note", e))?;
        update.execute(params![rowid, &note.fields().nonce.as_bytes()[..]])?;
    }
    Ok(())
}

/// Schema 5: notes found by request through an 8-byte integer key instead of the (payee, nonce)
/// index. Request nonces are random, so every settled note lands on a random page of that index,
/// and each such page is written to the WAL at the next commit; an entry of this index takes
/// about 17 bytes against about 28 for (payee, 16-byte blob), so the index has fewer pages and a
/// settlement batch dirties fewer of them (docs/PERFORMANCE.md, "Settlement"). The key is the nonce's first eight bytes
/// ([`request_key`]); lookups still compare the payee and the whole nonce, so two requests that
/// share a key are never confused, they only share an index entry's neighbourhood.
/// [`fill_request_keys`] fills the column and builds the index.
pub const REQUEST_KEY_MIGRATION: &str = r#"
    ALTER TABLE notes ADD COLUMN request_key INTEGER NOT NULL DEFAULT 0;
    DROP INDEX notes_by_request;
"#;

/// The index key of a request nonce: its first eight bytes as a big-endian integer.
pub fn request_key(nonce: &Nonce) -> i64 {
    let bytes = nonce.as_bytes();
    let mut head = [0u8; 8];
    head.copy_from_slice(&bytes[..8]);
    i64::from_be_bytes(head)
}

/// Fills in every stored note's request key (migration 5) from its nonce, then indexes it.
pub fn fill_request_keys(conn: &Connection) -> Result<(), LedgerError> {
    let rows: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT rowid, nonce FROM notes")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut update = conn.prepare("UPDATE notes SET request_key = ?2 WHERE rowid = ?1")?;
    for (rowid, nonce) in rows {
        let nonce: [u8; 16] = nonce.as_slice().try_into().map_err(|e| storage("note nonce", e))?;
        update.execute(params![rowid, request_key(&Nonce::from_bytes(nonce))])?;
    }
    conn.execute_batch("CREATE INDEX notes_by_request_key ON notes (request_key)")?;
    Ok(())
}

/// Schema 10: the notes of one purse by payee, for the partial read of a revoked purse
/// (`NotesNeeded`): the uploader's notes, and a few of each payee the payer's upload names,
/// without reading every note of the purse.
pub const NOTES_BY_PAYEE_MIGRATION: &str = r#"
    CREATE INDEX notes_by_purse_payee ON notes (purse_id, payee);
"#;

/// Schema 11: notes by (purse, sequence number), for an upload's read of the notes around its
/// own ([`NotesRead::Around`]); fraud proofs by purse, for the read of a revoked purse's proofs.
pub const NOTES_BY_SEQ_MIGRATION: &str = r#"
    CREATE INDEX notes_by_purse_seq ON notes (purse_id, seq);
    CREATE INDEX fraud_proofs_by_purse ON fraud_proofs (purse_id);
"#;

/// Schema 6: each `offline_settle` journal entry names the note it pays (`HistoryItem::note`), so
/// that devices match history entries to their notes exactly.
pub const ENTRY_NOTE_MIGRATION: &str = r#"
    ALTER TABLE journal ADD COLUMN note BLOB;
"#;

/// Schema 12: each purse loaded from now on keeps its reserve in its own account, so that
/// uploads to different purses post to different account rows; `NULL` is the shared reserve
/// account of the purses loaded before (docs/LEDGER.md, "One reserve account per purse").
pub const PURSE_RESERVE_MIGRATION: &str = r#"
    ALTER TABLE purses ADD COLUMN reserve_account INTEGER REFERENCES accounts (id);
"#;

/// Migration 18: notes refused by their payee at the counter (`offline/refusal.rs`), one row per
/// note: `amount` given back by journal entry `entry_id` (0 and none: never paid).
pub const REFUSALS_MIGRATION: &str = r#"
    CREATE TABLE note_refusals (
        note          BLOB    PRIMARY KEY,
        purse_id      BLOB    NOT NULL REFERENCES purses (id),
        payee         INTEGER NOT NULL REFERENCES users (id),
        payer         INTEGER NOT NULL REFERENCES users (id),
        amount        INTEGER NOT NULL CHECK (amount >= 0),
        entry_id      INTEGER REFERENCES journal (id),
        created_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX note_refusals_by_purse ON note_refusals (purse_id, payee);
"#;

const PURSE_COLUMNS: &str = "id, user_id, certificate, state, expired, settled, returned, recovered, fraud_loss, close_statement, created_at_ms, loss_allowance, notes_held, reserve_account, settle_by";

fn storage(what: &str, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> LedgerError {
    LedgerError::storage(format!("stored {what} is invalid"), e)
}

type PurseRow = (
    Vec<u8>,
    UserId,
    Vec<u8>,
    String,
    bool,
    i64,
    i64,
    i64,
    i64,
    Option<Vec<u8>>,
    i64,
    i64,
    i64,
    Option<AccountId>,
    Option<i64>,
);

fn purse_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PurseRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
    ))
}

fn to_purse(row: PurseRow) -> Result<Purse, LedgerError> {
    let (
        id,
        user_id,
        cert,
        state,
        expired,
        settled,
        returned,
        recovered,
        fraud_loss,
        close,
        created_at_ms,
        loss_allowance,
        notes_held,
        reserve_account,
        settle_by,
    ) = row;
    let id: [u8; 16] = id.as_slice().try_into().map_err(|e| storage("purse id", e))?;
    let certificate = certificates::decode(&cert).map_err(|e| storage("certificate", e))?;
    let close = close.map(|c| CloseStatement::decode(&c)).transpose().map_err(|e| storage("close statement", e))?;
    Ok(Purse {
        id: PurseId::from_bytes(id),
        user_id,
        certificate,
        state: PurseState::parse(&state).ok_or_else(|| storage("purse state", state.as_str()))?,
        expired,
        settled,
        returned,
        recovered,
        fraud_loss,
        loss_allowance,
        notes_held,
        close,
        created_at_ms,
        reserve_account: reserve_account.unwrap_or(RESERVE_ACCOUNT),
        settle_by,
    })
}

fn read_purse(conn: &Connection, id: PurseId) -> Result<Option<Purse>, LedgerError> {
    let sql = format!("SELECT {PURSE_COLUMNS} FROM purses WHERE id = ?1");
    conn.prepare_cached(&sql)?.query_row([&id.as_bytes()[..]], purse_row).optional()?.map(to_purse).transpose()
}

/// The purse with the stored notes `read` says (every one, or those an upload needs).
fn snapshot(conn: &Connection, purse: Purse, read: NotesRead) -> Result<Snapshot, LedgerError> {
    let id = purse.id;
    let mut stmt = conn.prepare_cached(match &read {
        NotesRead::All => "SELECT encoded, from_payer, held, uploaded_by, hash FROM notes WHERE purse_id = ?1 ORDER BY rowid",
        NotesRead::Around { .. } => AROUND_SQL,
        // Each part on an index, so that no part reads every note of the purse.
        NotesRead::Revoked(_) => {
            "SELECT encoded, from_payer, held, uploaded_by, hash FROM notes WHERE rowid IN (
             SELECT rowid FROM notes INDEXED BY notes_by_purse_payee WHERE purse_id = ?1 AND payee = ?2
             UNION SELECT rowid FROM notes WHERE purse_id = ?1 AND hash IN (SELECT unhex(value) FROM json_each(?3))
             UNION SELECT n.rowid FROM json_each(?4) AS p JOIN notes AS n ON n.rowid IN (
                 SELECT rowid FROM notes INDEXED BY notes_by_purse_payee WHERE purse_id = ?1 AND payee = p.value LIMIT ?5)
             UNION SELECT rowid FROM (SELECT rowid FROM notes WHERE purse_id = ?1 AND held > 0 ORDER BY rowid LIMIT ?6))
         ORDER BY rowid"
        }
    })?;
    let mut restorer = Restorer::new(&purse.certificate);
    let mut stored = Vec::new();
    let mut states = Vec::new();
    let map_row = |r: &rusqlite::Row<'_>| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, UserId>(3)?,
            r.get::<_, Vec<u8>>(4)?,
        ))
    };
    let rows: Vec<_> = match &read {
        NotesRead::All => stmt.query_map([&id.as_bytes()[..]], map_row)?.collect(),
        NotesRead::Around { seqs } => {
            let args = rusqlite::params![&id.as_bytes()[..], json_list("sequence numbers", seqs)?];
            stmt.query_map(args, map_row)?.collect()
        }
        NotesRead::Revoked(n) => {
            let hashes: Vec<String> = n.hashes.iter().map(|h| h.to_hex()).collect();
            let args = rusqlite::params![
                &id.as_bytes()[..],
                n.uploader,
                json_list("hash list", &hashes)?,
                json_list("payee list", &n.payees)?,
                crate::offline::NOTES_PER_PAYEE_READ + 1,
                crate::offline::HELD_READ
            ];
            stmt.query_map(args, map_row)?.collect()
        }
    };
    for row in rows {
        let (bytes, from_payer, held, uploaded_by, hash) = row?;
        let hash = note_hash(&hash)?;
        stored.push(restorer.restore(&bytes).map_err(|e| storage("note", e))?);
        states.push(StoredState { hash, from_payer, held, uploaded_by });
    }
    // Every fraud proof revokes its purse in the same transaction, so only a revoked purse has any.
    let proofs = if purse.state == PurseState::Revoked {
        let mut stmt = conn.prepare_cached(PROOFS_SQL)?;
        stmt.query_map([&id.as_bytes()[..]], |r| r.get::<_, Vec<u8>>(0))?
            .map(|fp| {
                let fp = fp?;
                <[u8; 32]>::try_from(fp.as_slice()).map_err(|e| storage("proof fingerprint", e))
            })
            .collect::<Result<HashSet<_>, _>>()?
    } else {
        HashSet::new()
    };
    let release_until = match read {
        NotesRead::Revoked(_) => held_read_limit(conn, id)?,
        NotesRead::All | NotesRead::Around { .. } => None,
    };
    Ok(Snapshot { purse, stored, states, proofs, read, release_until })
}

/// The notes of purse `?1` at each sequence number of the JSON array `?2` and at its nearest
/// stored neighbours ([`NotesRead::Around`]): the numbers first (`max`/`min` are one index seek
/// each), then the notes at them, so that neither step reads the purse's other notes (the test
/// `reading_around_seeks_the_index` checks the plan).
pub(crate) const AROUND_SQL: &str = "SELECT n.encoded, n.from_payer, n.held, n.uploaded_by, n.hash FROM (
        SELECT value AS seq FROM json_each(?2)
        UNION SELECT (SELECT max(seq) FROM notes WHERE purse_id = ?1 AND seq < j.value) FROM json_each(?2) AS j
        UNION SELECT (SELECT min(seq) FROM notes WHERE purse_id = ?1 AND seq > j.value) FROM json_each(?2) AS j
    ) AS wanted CROSS JOIN notes AS n INDEXED BY notes_by_purse_seq ON n.purse_id = ?1 AND n.seq = wanted.seq
    ORDER BY n.rowid";

/// The fingerprints of a purse's fraud proofs, on their index (without it, every upload to a
/// revoked purse read every proof of every purse; the test `reading_around_seeks_the_index`
/// checks the plan).
pub(crate) const PROOFS_SQL: &str = "SELECT fingerprint FROM fraud_proofs WHERE purse_id = ?1";

/// A list as the JSON array `json_each` reads.
fn json_list<T: serde::Serialize>(what: &str, items: &[T]) -> Result<String, LedgerError> {
    serde_json::to_string(items).map_err(|e| storage(what, e))
}

/// When a purse holds more than [`crate::offline::HELD_READ`] held notes: the hash of the last of the
/// oldest that many (a partial snapshot reads those).
fn held_read_limit(conn: &Connection, id: PurseId) -> Result<Option<Hash256>, LedgerError> {
    let mut stmt = conn
        .prepare_cached("SELECT hash FROM notes WHERE purse_id = ?1 AND held > 0 ORDER BY rowid LIMIT 2 OFFSET ?2")?;
    let hashes: Vec<Vec<u8>> = stmt
        .query_map(rusqlite::params![&id.as_bytes()[..], crate::offline::HELD_READ - 1], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    match hashes.as_slice() {
        [last, _] => Ok(Some(note_hash(last)?)),
        _ => Ok(None),
    }
}

fn user_ref(conn: &Connection, id: UserId) -> Result<Option<(UserRef, bool)>, LedgerError> {
    let row: Option<(String, AccountId, bool)> = conn
        .prepare_cached("SELECT handle, account_id, frozen FROM users WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(handle, account_id, frozen)| Ok((UserRef { id, handle: handle_of(&handle)?, account_id }, frozen)))
        .transpose()
}

fn lock_accounts(conn: &Connection, ids: impl IntoIterator<Item = AccountId>) -> Result<Accounts, LedgerError> {
    let mut accounts = Accounts::new();
    let mut stmt = conn.prepare_cached("SELECT kind, balance, head FROM accounts WHERE id = ?1")?;
    for id in ids {
        if accounts.contains_key(&id) {
            continue;
        }
        let (kind, balance, head): (String, i64, Vec<u8>) =
            stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        accounts.insert(id, LockedAccount { account_id: id, kind: account_kind(&kind)?, balance, head });
    }
    Ok(accounts)
}

/// The id the next journal entry gets.
fn next_entry_id(conn: &Connection) -> Result<EntryId, LedgerError> {
    Ok(conn.prepare_cached("SELECT coalesce(max(id), 0) + 1 FROM journal")?.query_row([], |r| r.get(0))?)
}

/// The ids the next journal entries get, in order.
fn entry_ids(conn: &Connection) -> Result<impl Iterator<Item = EntryId>, LedgerError> {
    Ok((next_entry_id(conn)?.0..).map(EntryId))
}

fn write_purse(conn: &Connection, p: &Purse) -> Result<(), LedgerError> {
    let close = p.close.as_ref().map(CloseStatement::encode);
    conn.prepare_cached(
        "UPDATE purses SET state = ?2, expired = ?3, settled = ?4, returned = ?5, recovered = ?6, fraud_loss = ?7,
         close_statement = ?8, notes_held = ?9 WHERE id = ?1",
    )?
    .execute(params![
        &p.id.as_bytes()[..],
        p.state.as_str(),
        p.expired,
        p.settled,
        p.returned,
        p.recovered,
        p.fraud_loss,
        close,
        p.notes_held
    ])?;
    Ok(())
}

/// Writes everything a plan decided.
fn apply(
    conn: &Connection,
    w: &Writes,
    uploader: UserId,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<(), LedgerError> {
    let mut insert_entry = conn.prepare_cached(
        "INSERT INTO journal (id, kind, amount, memo, from_user, to_user, created_at_ms, hash, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut insert_posting =
        conn.prepare_cached("INSERT INTO postings (entry_id, account_id, delta, prev_hash) VALUES (?1, ?2, ?3, ?4)")?;
    for e in &w.entries {
        let f = &e.entry;
        insert_entry.execute(params![
            f.id,
            f.kind,
            f.amount,
            f.memo,
            f.from_user,
            f.to_user,
            f.created_at_ms,
            &e.hash[..],
            e.note.as_ref().map(|h| &h.as_bytes()[..])
        ])?;
        for p in &e.postings {
            insert_posting.execute(params![f.id, p.account_id, p.delta, p.prev_hash])?;
        }
    }
    let mut update_account = conn.prepare_cached("UPDATE accounts SET balance = ?2, head = ?3 WHERE id = ?1")?;
    for (id, balance, head) in &w.accounts {
        update_account.execute(params![id, balance, head])?;
    }
    let mut insert_note = conn.prepare_cached(
        "INSERT INTO notes (hash, purse_id, seq, payee, amount, encoded, from_reserve, from_payer, from_loss, entry_id,
                            uploaded_by, created_at_ms, held, nonce, request_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    for n in &w.notes {
        insert_note.execute(params![
            &n.hash.as_bytes()[..],
            &n.purse_id.as_bytes()[..],
            n.seq,
            n.payee,
            n.amount,
            n.encoded,
            n.from_reserve,
            n.from_payer,
            n.from_loss,
            n.entry_id,
            uploader,
            now_ms,
            n.held,
            &n.nonce.as_bytes()[..],
            request_key(&n.nonce)
        ])?;
    }
    let mut update_note =
        conn.prepare_cached("UPDATE notes SET from_payer = ?3, held = ?4 WHERE purse_id = ?1 AND hash = ?2")?;
    for n in &w.note_updates {
        update_note.execute(params![&n.purse_id.as_bytes()[..], &n.hash.as_bytes()[..], n.from_payer, n.held])?;
    }
    for p in &w.purses {
        write_purse(conn, p)?;
    }
    let mut insert_proof = conn.prepare_cached(
        "INSERT INTO fraud_proofs (fingerprint, purse_id, user_id, kind, first, second, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (fingerprint) DO NOTHING",
    )?;
    for p in &w.proofs {
        insert_proof.execute(params![
            &p.fingerprint[..],
            &p.purse_id.as_bytes()[..],
            p.user_id,
            p.kind,
            p.first,
            p.second,
            now_ms
        ])?;
    }
    for (key, owner) in &w.revoke_devices {
        conn.prepare_cached(
            "INSERT INTO devices (public_key, user_id, revoked, created_at_ms) VALUES (?1, ?3, 1, ?2)
             ON CONFLICT (public_key) DO UPDATE SET revoked = 1",
        )?
        .execute(params![&key[..], now_ms, owner])?;
    }
    for user in &w.freeze_users {
        conn.prepare_cached("UPDATE users SET frozen = 1 WHERE id = ?1")?.execute([user])?;
    }
    let mut insert_event =
        conn.prepare_cached("INSERT INTO events (user_id, kind, payload, created_at_ms) VALUES (?1, ?2, ?3, ?4)")?;
    for ev in &w.events {
        insert_event.execute(params![ev.user_id, ev.kind, ev.payload, now_ms])?;
        notices.push(EventNotice { seq: conn.last_insert_rowid(), user_id: ev.user_id });
    }
    for (kind, detail) in &w.security {
        super::writes::record_security_event(conn, kind, detail, now_ms)?;
    }
    Ok(())
}

/// `Some(response)` when (scope, key) was used before with the same fingerprint.
fn replay(
    conn: &Connection,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
) -> Result<Option<String>, LedgerError> {
    const SELECT: &str = "SELECT request_hash, response FROM offline_idempotency WHERE scope = ?1 AND key = ?2";
    super::writes::earlier_result(conn, SELECT, scope, key, fingerprint)
}

fn remember(
    conn: &Connection,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
    response: &str,
    now_ms: TimestampMs,
) -> Result<(), LedgerError> {
    conn.prepare_cached(
        "INSERT INTO offline_idempotency (scope, key, request_hash, response, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![scope, key.as_str(), &fingerprint[..], response, now_ms])?;
    Ok(())
}

/// Runs `work` so that an error undoes everything it wrote. (The writer rolls a command back
/// only on a `LedgerError`; offline errors travel inside `Ok`.) Inside the writer's savepoint,
/// `work` gets a savepoint of its own. Without one (the batch's first run, see `writer.rs`), an
/// error after `work` changed rows asks the writer to run the batch again with savepoints; an
/// error before it changed anything needs no undo, which is the common case.
pub(super) fn atomic<T>(
    ctx: &mut WriteCtx<'_>,
    work: impl FnOnce(&Connection, &mut Vec<EventNotice>) -> Result<T, OfflineError>,
) -> Result<Result<T, OfflineError>, LedgerError> {
    let (conn, savepoint) = (ctx.conn, ctx.has_savepoint());
    if savepoint {
        conn.prepare_cached("SAVEPOINT offline")?.execute([])?;
    }
    let (changes_before, notices_before) = (conn.total_changes(), ctx.notices.len());
    let result = work(conn, &mut ctx.notices);
    if result.is_err() {
        if savepoint {
            conn.prepare_cached("ROLLBACK TO offline")?.execute([])?;
        } else if conn.total_changes() != changes_before {
            return Err(super::writer::undo_needed());
        }
        ctx.notices.truncate(notices_before);
    }
    if savepoint {
        conn.prepare_cached("RELEASE offline")?.execute([])?;
    }
    Ok(result)
}

fn wallet_balance(conn: &Connection, user: UserId) -> Result<Amount, LedgerError> {
    super::reads::balance(conn, user)
}

fn register_device(
    conn: &Connection,
    user: UserId,
    key: [u8; 32],
    now_ms: TimestampMs,
) -> Result<Device, OfflineError> {
    let row: Option<(UserId, bool, i64)> = conn
        .prepare_cached("SELECT user_id, revoked, created_at_ms FROM devices WHERE public_key = ?1")?
        .query_row([&key[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    match row {
        Some((owner, _, _)) if owner != user => Err(OfflineError::DeviceTaken),
        Some((_, true, _)) => Err(OfflineError::DeviceRevoked),
        Some((_, false, created_at_ms)) => Ok(Device { public_key: key, user_id: user, revoked: false, created_at_ms }),
        None => {
            if user_ref(conn, user)?.is_none() {
                return Err(LedgerError::UnknownUser.into());
            }
            let recent: u32 = conn
                .prepare_cached("SELECT count(*) FROM devices WHERE user_id = ?1 AND created_at_ms > ?2")?
                .query_row(params![user, now_ms - DEVICE_WINDOW_MS], |r| r.get(0))?;
            if recent >= DEVICES_PER_DAY {
                return Err(OfflineError::TooManyDevices(DEVICES_PER_DAY));
            }
            conn.prepare_cached(
                "INSERT INTO devices (public_key, user_id, revoked, created_at_ms) VALUES (?1, ?2, 0, ?3)",
            )?
            .execute(params![&key[..], user, now_ms])?;
            Ok(Device { public_key: key, user_id: user, revoked: false, created_at_ms: now_ms })
        }
    }
}

fn load_purse(
    conn: &Connection,
    req: &LoadRequest,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<LoadedPurse, OfflineError> {
    let cert = req.certificate.fields();
    let device = cert.device_key.to_bytes();
    let (scope, fingerprint) = plan::load_idempotency(req);
    if let Some(response) = replay(conn, &scope, &req.idempotency_key, &fingerprint)? {
        let id = plan::kept_load_answer(&response)?;
        let purse = read_purse(conn, id)?.ok_or_else(|| storage("idempotent purse", "missing"))?;
        return Ok(LoadedPurse { purse, balance: wallet_balance(conn, req.user)?, replayed: true });
    }
    let (user, frozen) = user_ref(conn, req.user)?.ok_or(LedgerError::UnknownUser)?;
    let device_row: Option<(UserId, bool)> = conn
        .prepare_cached("SELECT user_id, revoked FROM devices WHERE public_key = ?1")?
        .query_row([&device[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let unsettled: i64 = conn
        .prepare_cached("SELECT count(*) FROM purses WHERE user_id = ?1 AND expired = 0")?
        .query_row([user.id], |r| r.get(0))?;
    let facts = LoadFacts { frozen, device: device_row, unsettled };
    let mut accounts = lock_accounts(conn, [user.account_id])?;
    let entry_id = next_entry_id(conn)?;
    // The purse's own reserve account, created only once the load is accepted (a refused
    // command writes nothing). The writer is the only one writing, so the next id is ours.
    let reserve: AccountId =
        conn.prepare_cached("SELECT coalesce(max(id), 0) + 1 FROM accounts")?.query_row([], |r| r.get(0))?;
    let load = plan::plan_load(&mut accounts, entry_id, reserve, &user, req, facts, now_ms)?;
    let mut w = Writes { entries: vec![load.entry], ..Writes::default() };
    w.finish_accounts(&accounts);
    create_reserve_account(conn, reserve, now_ms)?;
    apply(conn, &w, user.id, now_ms, notices)?;
    conn.prepare_cached(
        "INSERT INTO purses (id, user_id, device_key, amount, valid_until, certificate, state, load_entry_id, created_at_ms,
                             loss_allowance, reserve_account, settle_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'open', ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        &cert.purse_id.as_bytes()[..],
        user.id,
        &device[..],
        load.amount,
        load.valid_until,
        req.certificate.encode(),
        entry_id,
        now_ms,
        load.loss_allowance,
        reserve,
        load.settle_by
    ])?;
    remember(conn, &scope, &req.idempotency_key, &fingerprint, &cert.purse_id.to_hex(), now_ms)?;
    let purse = read_purse(conn, cert.purse_id)?.ok_or_else(|| storage("new purse", "missing"))?;
    let balance = amount_of(accounts.get(&user.account_id).map_or(0, |a| a.balance))?;
    Ok(LoadedPurse { purse, balance, replayed: false })
}

/// Keeps a refused load's refusal under its key when it depends on the state
/// ([`plan::kept_load_refusal`]). Runs after the load's own writes were undone; a key that holds
/// an answer already (the refusal was a replay of it) keeps that.
fn keep_load_refusal(
    conn: &Connection,
    req: &LoadRequest,
    refusal: &OfflineError,
    now_ms: TimestampMs,
) -> Result<(), LedgerError> {
    let Some(kept) = plan::kept_load_refusal(refusal) else { return Ok(()) };
    let (scope, fingerprint) = plan::load_idempotency(req);
    conn.prepare_cached(
        "INSERT INTO offline_idempotency (scope, key, request_hash, response, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![scope, req.idempotency_key.as_str(), &fingerprint[..], kept, now_ms])?;
    Ok(())
}

/// Inserts a purse's reserve account as [`plan::new_reserve_account`] describes it.
fn create_reserve_account(conn: &Connection, id: AccountId, now_ms: TimestampMs) -> Result<(), LedgerError> {
    let empty = plan::new_reserve_account(id);
    conn.prepare_cached(
        "INSERT INTO accounts (id, kind, balance, head, created_at_ms) VALUES (?1, 'reserve', ?2, ?3, ?4)",
    )?
    .execute(params![id, empty.balance, empty.head, now_ms])?;
    Ok(())
}

fn settle_notes(
    conn: &Connection,
    uploader: UserId,
    notes: &[PaymentNote],
    signature_ok: &[bool],
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<Vec<NoteResult>, OfflineError> {
    let mut snapshots: HashMap<PurseId, Snapshot> = HashMap::new();
    for note in notes {
        let id = note.purse_id();
        if !snapshots.contains_key(&id)
            && let Some(purse) = read_purse(conn, id)?
        {
            // Only the notes that decide the upload (docs/decisions/settlement-reads-neighbours.md;
            // a revoked purse: docs/decisions/notes-per-purse.md, "Forks").
            let read = NotesRead::for_upload(notes, &purse, uploader);
            snapshots.insert(id, snapshot(conn, purse, read)?);
        }
    }
    let mut settlements = plan::settle_all(&snapshots, notes, signature_ok)?;
    let again = plan::read_in_full(&snapshots, &settlements);
    if !again.is_empty() {
        for id in again {
            if let Some(purse) = snapshots.remove(&id).map(|s| s.purse) {
                snapshots.insert(id, snapshot(conn, purse, NotesRead::All)?);
            }
        }
        settlements = plan::settle_all(&snapshots, notes, signature_ok)?;
    }
    let wanted = plan::users_wanted(&snapshots, notes);
    let mut users = HashMap::new();
    for id in wanted {
        if let Some(user) = user_ref(conn, id)? {
            users.insert(id, user);
        }
    }
    let mut accounts = lock_accounts(
        conn,
        plan::operator_accounts(&snapshots, notes).into_iter().chain(users.values().map(|(u, _)| u.account_id)),
    )?;
    let mut ids = entry_ids(conn)?;
    let requests = request_totals(conn, &plan::requests_of(notes, &snapshots))?;
    let held_elsewhere = plan::held_elsewhere(held_purses(conn, &plan::owners_of(&snapshots))?, &snapshots);
    let refused = refused_notes(conn, notes)?;
    let input = SettleInput {
        batch: notes,
        snapshots: &mut snapshots,
        settlements: &settlements,
        users: &users,
        requests,
        uploader,
        held_elsewhere: &held_elsewhere,
        refused: &refused,
        now_ms,
    };
    let (w, results) = plan::plan_settlement(input, &mut accounts, &mut ids)?;
    apply(conn, &w, uploader, now_ms, notices)?;
    Ok(results)
}

/// The notes of `notes` that their payee refused at its counter.
fn refused_notes(conn: &Connection, notes: &[PaymentNote]) -> Result<HashSet<Hash256>, LedgerError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM note_refusals WHERE note = ?1")?;
    let mut refused = HashSet::new();
    for note in notes {
        let hash = note.hash();
        if stmt.exists([&hash.as_bytes()[..]])? {
            refused.insert(hash);
        }
    }
    Ok(refused)
}

/// The payee `user` refuses `note` (`offline/refusal.rs`).
fn refuse_note(
    conn: &Connection,
    user: UserId,
    note: &PaymentNote,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<RefusalOutcome, OfflineError> {
    let purse = read_purse(conn, note.purse_id())?;
    let purse = refusal::issued_purse(note, purse)?;
    let hash = note.hash();
    let earlier: Option<(Option<EntryId>, i64)> = conn
        .prepare_cached("SELECT entry_id, amount FROM note_refusals WHERE note = ?1")?
        .query_row([&hash.as_bytes()[..]], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((entry_id, amount)) = earlier {
        return Ok(RefusalOutcome::again(hash, &purse, entry_id, amount));
    }
    let kept: i64 = conn
        .prepare_cached("SELECT count(*) FROM note_refusals WHERE purse_id = ?1 AND payee = ?2")?
        .query_row(params![&purse.id.as_bytes()[..], user], |r| r.get(0))?;
    refusal::check_room(kept)?;
    let stored = conn
        .prepare_cached(
            "SELECT payee, from_reserve, from_payer, from_loss, held FROM notes WHERE purse_id = ?1 AND hash = ?2",
        )?
        .query_row(params![&purse.id.as_bytes()[..], &hash.as_bytes()[..]], |r| {
            Ok(PaidNote {
                payee: r.get(0)?,
                from_reserve: r.get(1)?,
                from_payer: r.get(2)?,
                from_loss: r.get(3)?,
                held: r.get(4)?,
            })
        })
        .optional()?;
    let (payee, payee_frozen) = user_ref(conn, user)?.ok_or(LedgerError::UnknownUser)?;
    let (payer, _) = user_ref(conn, purse.user_id)?.ok_or(LedgerError::UnknownUser)?;
    let mut accounts = lock_accounts(conn, [payee.account_id, payer.account_id])?;
    let mut ids = entry_ids(conn)?;
    let (w, insert, outcome) =
        refusal::plan_refusal(note, &purse, stored, (&payee, payee_frozen), &payer, &mut accounts, &mut ids, now_ms)?;
    apply(conn, &w, user, now_ms, notices)?;
    conn.prepare_cached(
        "INSERT INTO note_refusals (note, purse_id, payee, payer, amount, entry_id, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        &insert.note.as_bytes()[..],
        &insert.purse_id.as_bytes()[..],
        insert.payee,
        insert.payer,
        insert.amount,
        insert.entry_id,
        now_ms
    ])?;
    Ok(outcome)
}

/// The purses of `owners` that hold notes not paid yet, as (owner, purse).
fn held_purses(conn: &Connection, owners: &[UserId]) -> Result<Vec<(UserId, PurseId)>, LedgerError> {
    let mut stmt = conn.prepare_cached("SELECT id FROM purses WHERE user_id = ?1 AND notes_held > 0")?;
    let mut held = Vec::new();
    for &owner in owners {
        for id in stmt.query_map([owner], |r| r.get::<_, Vec<u8>>(0))? {
            let id: [u8; 16] = id?.as_slice().try_into().map_err(|e| storage("purse id", e))?;
            held.push((owner, PurseId::from_bytes(id)));
        }
    }
    Ok(held)
}

/// What was paid so far (held money not counted, and what a refusal gave back not counted:
/// `offline/refusal.rs`) for each (payee, request nonce) of `keys`, over all purses.
fn request_totals(conn: &Connection, keys: &[(UserId, Nonce)]) -> Result<RequestsPaid, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT coalesce(sum(n.from_reserve + n.from_payer + n.from_loss - coalesce(r.amount, 0)), 0)
         FROM notes n LEFT JOIN note_refusals r ON r.note = n.hash
         WHERE n.request_key = ?1 AND n.payee = ?2 AND n.nonce = ?3",
    )?;
    let mut totals = HashMap::new();
    for &key in keys {
        let (payee, nonce) = key;
        let total: i64 = stmt.query_row(params![request_key(&nonce), payee, &nonce.as_bytes()[..]], |r| r.get(0))?;
        if total > 0 {
            totals.insert(key, total);
        }
    }
    Ok(totals)
}

/// Pays held notes from their payers' balances, oldest upload first.
fn release_held(
    conn: &Connection,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<ReleaseOutcome, OfflineError> {
    // (purse id, note hash, payee, from_payer, held, amount, nonce)
    type HeldRow = (Vec<u8>, Vec<u8>, UserId, i64, i64, i64, Option<Vec<u8>>);
    let rows: Vec<HeldRow> = conn
        .prepare_cached(
            "SELECT n.purse_id, n.hash, n.payee, n.from_payer, n.held, n.amount, n.nonce FROM notes n
             JOIN purses p ON p.id = n.purse_id JOIN users u ON u.id = p.user_id JOIN accounts a ON a.id = u.account_id
             WHERE n.held > 0 AND a.balance > 0 ORDER BY n.rowid LIMIT ?1",
        )?
        .query_map([RELEASE_MAX as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
        })?
        .collect::<Result<_, _>>()?;
    if rows.is_empty() {
        return Ok(ReleaseOutcome::default());
    }
    let mut held = Vec::with_capacity(rows.len());
    for (purse_id, hash, payee, from_payer, owed, amount, nonce) in rows {
        let purse_id: [u8; 16] = purse_id.as_slice().try_into().map_err(|e| storage("purse id", e))?;
        let hash = note_hash(&hash)?;
        let nonce = nonce.map(|n| <[u8; 16]>::try_from(n.as_slice()).map(Nonce::from_bytes)).transpose();
        let nonce = nonce.map_err(|e| storage("nonce", e))?;
        held.push(HeldNote {
            purse_id: PurseId::from_bytes(purse_id),
            hash,
            payee,
            from_payer,
            held: owed,
            amount,
            nonce,
        });
    }
    let mut purses = HashMap::new();
    let mut users = HashMap::new();
    for note in &held {
        if !purses.contains_key(&note.purse_id)
            && let Some(purse) = read_purse(conn, note.purse_id)?
        {
            purses.insert(note.purse_id, purse);
        }
    }
    let wanted: HashSet<UserId> = purses.values().map(|p| p.user_id).chain(held.iter().map(|n| n.payee)).collect();
    for id in wanted {
        if let Some((user, _)) = user_ref(conn, id)? {
            users.insert(id, user);
        }
    }
    let mut accounts = lock_accounts(conn, users.values().map(|u| u.account_id))?;
    let mut ids = entry_ids(conn)?;
    let requests = request_totals(conn, &held::requests_of(&held))?;
    let (w, outcome) = held::plan_release(held, &mut purses, &users, &mut accounts, &mut ids, requests, now_ms)?;
    let system = purses.values().next().map_or(UserId(0), |p| p.user_id);
    apply(conn, &w, system, now_ms, notices)?;
    Ok(outcome)
}

fn close_purse(
    conn: &Connection,
    user: UserId,
    close: &CloseStatement,
    key: &IdempotencyKey,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<CloseOutcome, OfflineError> {
    let scope = plan::offline_scope(user);
    let fingerprint = plan::close_fingerprint(close);
    if let Some(response) = replay(conn, &scope, key, &fingerprint)? {
        let mut outcome: CloseOutcome = serde_json::from_str(&response).map_err(|e| storage("close outcome", e))?;
        outcome.replayed = true;
        outcome.balance = i64::try_from(wallet_balance(conn, user)?.minor()).unwrap_or(i64::MAX);
        return Ok(outcome);
    }
    let purse = plan::check_close(read_purse(conn, close.fields().purse_id)?, user, close)?;
    let mut snap = snapshot(conn, purse, NotesRead::All)?;
    let (owner, _) = user_ref(conn, user)?.ok_or(LedgerError::UnknownUser)?;
    let mut accounts = lock_accounts(conn, [snap.purse.reserve_account, owner.account_id])?;
    let mut ids = entry_ids(conn)?;
    let (w, outcome) = plan::plan_close(&mut snap, close, &owner, &mut accounts, &mut ids, now_ms)?;
    apply(conn, &w, user, now_ms, notices)?;
    let response =
        serde_json::to_string(&outcome).map_err(|e| LedgerError::storage("cannot encode the close outcome", e))?;
    remember(conn, &scope, key, &fingerprint, &response, now_ms)?;
    Ok(outcome)
}

fn expire_purses(
    conn: &Connection,
    now_secs: UnixTime,
    grace_secs: u64,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<ExpiryOutcome, OfflineError> {
    let cutoff = i64::try_from(now_secs.saturating_sub(grace_secs)).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {PURSE_COLUMNS} FROM purses WHERE expired = 0 AND valid_until < ?1 ORDER BY valid_until LIMIT ?2"
    );
    let mut purses = conn
        .prepare_cached(&sql)?
        .query_map(params![cutoff, EXPIRE_MAX as i64], purse_row)?
        .map(|r| to_purse(r?))
        .collect::<Result<Vec<_>, _>>()?;
    if purses.is_empty() {
        return Ok(ExpiryOutcome::default());
    }
    let mut owners = HashMap::new();
    for p in &purses {
        if let Some((u, _)) = user_ref(conn, p.user_id)? {
            owners.insert(u.id, u);
        }
    }
    let reserves = purses.iter().map(|p| p.reserve_account);
    let mut accounts = lock_accounts(conn, reserves.chain(owners.values().map(|u| u.account_id)))?;
    let mut ids = entry_ids(conn)?;
    let (w, outcome) = plan::plan_expiry(&mut purses, &owners, &mut accounts, &mut ids, now_ms)?;
    let system = purses.first().map_or(UserId(0), |p| p.user_id);
    apply(conn, &w, system, now_ms, notices)?;
    Ok(outcome)
}

fn purses(conn: &Connection, user: Option<UserId>, limit: u32) -> Result<Vec<Purse>, LedgerError> {
    let limit = limit.min(LIST_MAX);
    let sql = format!(
        "SELECT {PURSE_COLUMNS} FROM purses WHERE (?1 IS NULL OR user_id = ?1) ORDER BY created_at_ms DESC, id LIMIT ?2"
    );
    conn.prepare_cached(&sql)?.query_map(params![user, limit], purse_row)?.map(|r| to_purse(r?)).collect()
}

fn held_notes(conn: &Connection, limit: u32) -> Result<Vec<HeldNoteRecord>, LedgerError> {
    let sql = plan::held_notes_sql("n.rowid", "?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([limit.min(LIST_MAX)], |r| {
        Ok((
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            [r.get::<_, i64>(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?],
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (purse_id, hash, [payer, payee, amount, paid, held, uploaded_at_ms]) = row?;
        let purse_id: [u8; 16] = purse_id.as_slice().try_into().map_err(|e| storage("purse id", e))?;
        let hash = note_hash(&hash)?;
        out.push(HeldNoteRecord {
            purse_id: PurseId::from_bytes(purse_id),
            note: hash,
            payer: UserId(payer),
            payee: UserId(payee),
            amount,
            paid,
            held,
            uploaded_at_ms,
        });
    }
    Ok(out)
}

fn revocations(conn: &Connection, now_secs: i64) -> Result<RevocationList, LedgerError> {
    let mut list = RevocationList::default();
    let mut stmt = conn.prepare_cached("SELECT id FROM purses WHERE state = 'revoked' AND valid_until >= ?1")?;
    for id in stmt.query_map([now_secs], |r| r.get::<_, Vec<u8>>(0))? {
        let id: [u8; 16] = id?.as_slice().try_into().map_err(|e| storage("purse id", e))?;
        list.purses.insert(PurseId::from_bytes(id));
    }
    let mut stmt = conn.prepare_cached("SELECT public_key FROM devices WHERE revoked = 1")?;
    for key in stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))? {
        let key: [u8; 32] = key?.as_slice().try_into().map_err(|e| storage("device key", e))?;
        list.devices.insert(key);
    }
    Ok(list)
}

fn fraud_proofs(conn: &Connection, limit: u32) -> Result<Vec<FraudProofRecord>, LedgerError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, purse_id, user_id, kind, first, second, created_at_ms FROM fraud_proofs ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit.min(LIST_MAX)], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, UserId>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Vec<u8>>(4)?,
            r.get::<_, Vec<u8>>(5)?,
            r.get::<_, i64>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, purse_id, user_id, kind, first, second, created_at_ms) = row?;
        let purse_id: [u8; 16] = purse_id.as_slice().try_into().map_err(|e| storage("purse id", e))?;
        out.push(FraudProofRecord {
            id,
            purse_id: PurseId::from_bytes(purse_id),
            user_id,
            kind,
            first,
            second,
            created_at_ms,
        });
    }
    Ok(out)
}

/// The offline part of `verify` (see `offline::audit`), in the caller's snapshot.
pub fn audit(conn: &Connection) -> Result<Vec<String>, LedgerError> {
    let mut stmt = conn.prepare(
        "SELECT p.id, p.amount, p.settled, p.returned, p.recovered, p.fraud_loss,
                coalesce(sum(n.from_reserve), 0), coalesce(sum(n.from_payer), 0), coalesce(sum(n.from_loss), 0),
                p.loss_allowance, p.notes_held, coalesce(sum(n.held), 0), p.reserve_account
         FROM purses p LEFT JOIN notes n ON n.purse_id = p.id GROUP BY p.id ORDER BY p.id",
    )?;
    let purses = stmt
        .query_map([], |r| {
            Ok(PurseTotals {
                id: r.get(0)?,
                amount: r.get(1)?,
                settled: r.get(2)?,
                returned: r.get(3)?,
                recovered: r.get(4)?,
                fraud_loss: r.get(5)?,
                notes_reserve: r.get(6)?,
                notes_payer: r.get(7)?,
                notes_loss: r.get(8)?,
                loss_allowance: r.get(9)?,
                notes_held: r.get(10)?,
                notes_held_sum: r.get(11)?,
                reserve_account: r.get::<_, Option<AccountId>>(12)?.unwrap_or(RESERVE_ACCOUNT),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let overpaid_notes = conn
        .prepare(audit::OVERPAID_NOTES_SQL)?
        .query_map([], |r| r.get::<_, Vec<u8>>(0))?
        .map(|h| h.map(hex::encode))
        .collect::<Result<Vec<_>, _>>()?;
    let overpaid_requests = conn
        .prepare(audit::OVERPAID_REQUESTS_SQL)?
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, hex::encode(r.get::<_, Vec<u8>>(1)?))))?
        .collect::<Result<Vec<_>, _>>()?;
    let notes = NoteAudit { overpaid_notes, overpaid_requests };
    let reserves = conn
        .prepare("SELECT id, balance FROM accounts WHERE kind = 'reserve' ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<(AccountId, i64)>, _>>()?;
    let loss: i64 = conn.query_row("SELECT balance FROM accounts WHERE id = ?1", [FRAUD_LOSS_ACCOUNT], |r| r.get(0))?;
    Ok(audit::audit(&purses, &notes, &reserves, loss))
}

#[async_trait]
impl OfflineStore for SqliteStore {
    async fn register_device(
        &self,
        user: UserId,
        public_key: [u8; 32],
        now_ms: TimestampMs,
    ) -> Result<Device, OfflineError> {
        self.writer.write(move |ctx| atomic(ctx, |conn, _| register_device(conn, user, public_key, now_ms))).await?
    }

    async fn load_purse(&self, request: &LoadRequest, now_ms: TimestampMs) -> Result<LoadedPurse, OfflineError> {
        let request = request.clone();
        self.writer
            .write(move |ctx| {
                let loaded = atomic(ctx, |conn, notices| load_purse(conn, &request, now_ms, notices))?;
                if let Err(refusal) = &loaded {
                    keep_load_refusal(ctx.conn, &request, refusal, now_ms)?;
                }
                Ok(loaded)
            })
            .await?
    }

    async fn purse(&self, id: PurseId) -> Result<Option<Purse>, OfflineError> {
        Ok(self.readers.read(move |conn| read_purse(conn, id)).await?)
    }

    async fn purses(&self, user: Option<UserId>, limit: u32) -> Result<Vec<Purse>, OfflineError> {
        Ok(self.readers.read(move |conn| purses(conn, user, limit)).await?)
    }

    async fn settle_notes(
        &self,
        uploader: UserId,
        notes: Vec<PaymentNote>,
        now_ms: TimestampMs,
    ) -> Result<Vec<NoteResult>, OfflineError> {
        if notes.len() > NOTES_MAX {
            return Err(OfflineError::TooManyNotes);
        }
        if notes.is_empty() {
            return Ok(Vec::new());
        }
        let (notes, signature_ok) = signatures::check(uploader, notes).await?;
        self.writer
            .write(move |ctx| {
                atomic(ctx, |conn, notices| settle_notes(conn, uploader, &notes, &signature_ok, now_ms, notices))
            })
            .await?
    }

    async fn close_purse(
        &self,
        user: UserId,
        close: &CloseStatement,
        key: &IdempotencyKey,
        now_ms: TimestampMs,
    ) -> Result<CloseOutcome, OfflineError> {
        let (close, key) = (close.clone(), key.clone());
        self.writer
            .write(move |ctx| atomic(ctx, |conn, notices| close_purse(conn, user, &close, &key, now_ms, notices)))
            .await?
    }

    async fn expire_purses(
        &self,
        now_secs: UnixTime,
        grace_secs: u64,
        now_ms: TimestampMs,
    ) -> Result<ExpiryOutcome, OfflineError> {
        self.writer
            .write(move |ctx| atomic(ctx, |conn, notices| expire_purses(conn, now_secs, grace_secs, now_ms, notices)))
            .await?
    }

    async fn release_held(&self, now_ms: TimestampMs) -> Result<ReleaseOutcome, OfflineError> {
        self.writer.write(move |ctx| atomic(ctx, |conn, notices| release_held(conn, now_ms, notices))).await?
    }

    async fn unfreeze_unless_held(&self, user: UserId) -> Result<i64, OfflineError> {
        Ok(self
            .writer
            .write(move |ctx| {
                let owed: i64 = ctx
                    .conn
                    .prepare_cached("SELECT coalesce(sum(notes_held), 0) FROM purses WHERE user_id = ?1")?
                    .query_row([user], |r| r.get(0))?;
                if owed == 0 {
                    super::writes::set_frozen(ctx.conn, user, false)?;
                }
                Ok::<_, LedgerError>(owed)
            })
            .await?)
    }

    async fn held_notes(&self, limit: u32) -> Result<Vec<HeldNoteRecord>, OfflineError> {
        Ok(self.readers.read(move |conn| held_notes(conn, limit)).await?)
    }

    async fn revocations(&self, now_secs: u64) -> Result<RevocationList, OfflineError> {
        let now_secs = i64::try_from(now_secs).unwrap_or(i64::MAX);
        Ok(self.readers.read(move |conn| revocations(conn, now_secs)).await?)
    }

    async fn refuse_note(
        &self,
        user: UserId,
        note: PaymentNote,
        now_ms: TimestampMs,
    ) -> Result<RefusalOutcome, OfflineError> {
        // The signature check runs here, not on the writer thread.
        refusal::precheck_refusal(&note, user)?;
        self.writer
            .write(move |ctx| atomic(ctx, |conn, notices| refuse_note(conn, user, &note, now_ms, notices)))
            .await?
    }

    async fn fraud_proofs(&self, limit: u32) -> Result<Vec<FraudProofRecord>, OfflineError> {
        Ok(self.readers.read(move |conn| fraud_proofs(conn, limit)).await?)
    }
}
