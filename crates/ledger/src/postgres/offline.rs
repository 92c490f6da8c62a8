//! The PostgreSQL side of offline payments ([`OfflineStore`]): migration 2 (devices, purses,
//! notes, fraud proofs, offline idempotency) and the commands. Each command is one transaction
//! run in a spawned task (a dropped caller cannot interrupt it). Locking order, the same in every
//! command: the idempotency key, then purse rows (`FOR UPDATE`, by id), then account rows (`FOR
//! UPDATE`, by id) — transfers lock only accounts, so no cycle is possible. Entry ids are drawn
//! after the account locks (per-account ids follow commit order, as the hash chains need).
//! Settlement's signature checks run in `spawn_blocking`, on all cores. Statements come from the
//! connection's statement cache ([`cached`]); a plan's writes go in one pipeline, and an upload's
//! account locks, request totals and entry ids in another, each executed in the order sent.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use offpay_protocol::{CloseStatement, Nonce, PaymentNote, PurseCertificate, PurseId, UnixTime};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::PostgresStore;
use super::cached;
use super::notify::Notifier;
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
        public_key    BYTEA   PRIMARY KEY,
        user_id       BIGINT  NOT NULL REFERENCES users (id),
        revoked       BOOLEAN NOT NULL DEFAULT false,
        created_at_ms BIGINT  NOT NULL
    );
    CREATE INDEX devices_by_user ON devices (user_id);

    CREATE TABLE purses (
        id              BYTEA   PRIMARY KEY,
        user_id         BIGINT  NOT NULL REFERENCES users (id),
        device_key      BYTEA   NOT NULL,
        amount          BIGINT  NOT NULL CHECK (amount > 0),
        valid_until     BIGINT  NOT NULL,
        certificate     BYTEA   NOT NULL,
        state           TEXT    NOT NULL CHECK (state IN ('open', 'closed', 'expired', 'revoked')),
        expired         BOOLEAN NOT NULL DEFAULT false,
        settled         BIGINT  NOT NULL DEFAULT 0,
        returned        BIGINT  NOT NULL DEFAULT 0,
        recovered       BIGINT  NOT NULL DEFAULT 0,
        fraud_loss      BIGINT  NOT NULL DEFAULT 0,
        close_statement BYTEA,
        load_entry_id   BIGINT  NOT NULL REFERENCES journal (id),
        created_at_ms   BIGINT  NOT NULL,
        CHECK (settled >= 0 AND returned >= 0 AND settled + returned <= amount)
    );
    CREATE INDEX purses_by_user ON purses (user_id, created_at_ms);
    CREATE INDEX purses_to_expire ON purses (valid_until) WHERE NOT expired;

    CREATE TABLE notes (
        hash          BYTEA  PRIMARY KEY,
        purse_id      BYTEA  NOT NULL REFERENCES purses (id),
        seq           BIGINT NOT NULL,
        payee         BIGINT NOT NULL,
        amount        BIGINT NOT NULL CHECK (amount > 0),
        encoded       BYTEA  NOT NULL,
        from_reserve  BIGINT NOT NULL,
        from_payer    BIGINT NOT NULL,
        from_loss     BIGINT NOT NULL,
        entry_id      BIGINT REFERENCES journal (id),
        uploaded_by   BIGINT NOT NULL REFERENCES users (id),
        created_at_ms BIGINT NOT NULL
    );
    CREATE INDEX notes_by_purse ON notes (purse_id);

    CREATE TABLE fraud_proofs (
        id            BIGSERIAL PRIMARY KEY,
        fingerprint   BYTEA     NOT NULL UNIQUE,
        purse_id      BYTEA     NOT NULL REFERENCES purses (id),
        user_id       BIGINT    NOT NULL REFERENCES users (id),
        kind          TEXT      NOT NULL,
        first         BYTEA     NOT NULL,
        second        BYTEA     NOT NULL,
        created_at_ms BIGINT    NOT NULL
    );

    CREATE TABLE offline_idempotency (
        scope         TEXT   NOT NULL,
        key           TEXT   NOT NULL,
        request_hash  BYTEA  NOT NULL,
        response      TEXT   NOT NULL,
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (scope, key)
    );
"#;

/// Migration 3, the loss bound (docs/OFFLINE.md): each purse's loss allowance (purses from before
/// get their booked loss as allowance) and what it holds for held notes; each note's request
/// nonce (filled in by [`fill_note_nonces`]), what is held on it, its upload order, and an index
/// to find a payee's notes for one request.
pub const LOSS_BOUND_MIGRATION: &str = r#"
    ALTER TABLE purses ADD COLUMN loss_allowance BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE purses ADD COLUMN notes_held BIGINT NOT NULL DEFAULT 0;
    UPDATE purses SET loss_allowance = fraud_loss;
    ALTER TABLE notes ADD COLUMN nonce BYTEA;
    ALTER TABLE notes ADD COLUMN held BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE notes ADD COLUMN upload_order BIGSERIAL;
    CREATE INDEX notes_by_request ON notes (payee, nonce);
    CREATE INDEX notes_held ON notes (upload_order) WHERE held > 0;
"#;

/// Fills in the request nonce of every stored note (migration 3), from the note itself.
pub async fn fill_note_nonces(tx: &tokio_postgres::Transaction<'_>) -> Result<(), LedgerError> {
    let rows = tx
        .query(
            "SELECT n.hash, n.encoded, p.certificate FROM notes n JOIN purses p ON p.id = n.purse_id
             WHERE n.nonce IS NULL",
            &[],
        )
        .await?;
    for row in rows {
        let hash: Vec<u8> = row.try_get(0)?;
        let encoded: Vec<u8> = row.try_get(1)?;
        let certificate: Vec<u8> = row.try_get(2)?;
        let certificate = PurseCertificate::decode(&certificate).map_err(|e| storage("certificate", e))?;
        let note = Restorer::new(&certificate).restore(&encoded).map_err(|e| storage("note", e))?;
        tx.execute("UPDATE notes SET nonce = $2 WHERE hash = $1", &[&hash, &note.fields().nonce.as_bytes().as_slice()])
            .await?;
    }
    Ok(())
}

/// Schema 10: each purse loaded from now on keeps its reserve in its own account, so that
/// uploads to different purses lock different account rows; `NULL` is the shared reserve
/// account of the purses loaded before (docs/LEDGER.md, "One reserve account per purse").
pub const PURSE_RESERVE_MIGRATION: &str =
    "ALTER TABLE purses ADD COLUMN reserve_account BIGINT REFERENCES accounts (id);";

/// The columns [`to_purse`] reads, as a literal, so that the statements below are constants.
macro_rules! purse_columns {
    () => {
        "id, user_id, certificate, state, expired, settled, returned, recovered, fraud_loss, close_statement, created_at_ms, loss_allowance, notes_held, reserve_account, settle_by"
    };
}

type Params<'a> = [&'a (dyn ToSql + Sync)];

fn storage(what: &str, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> LedgerError {
    LedgerError::storage(format!("stored {what} is invalid"), e)
}

fn purse_id_of(bytes: &[u8]) -> Result<PurseId, LedgerError> {
    let id: [u8; 16] = bytes.try_into().map_err(|e| storage("purse id", e))?;
    Ok(PurseId::from_bytes(id))
}

fn to_purse(r: &Row) -> Result<Purse, LedgerError> {
    let cert: Vec<u8> = r.try_get(2)?;
    let state: String = r.try_get(3)?;
    let close: Option<Vec<u8>> = r.try_get(9)?;
    Ok(Purse {
        id: purse_id_of(&r.try_get::<_, Vec<u8>>(0)?)?,
        user_id: r.try_get(1)?,
        certificate: certificates::decode(&cert).map_err(|e| storage("certificate", e))?,
        state: PurseState::parse(&state).ok_or_else(|| storage("purse state", state.as_str()))?,
        expired: r.try_get(4)?,
        settled: r.try_get(5)?,
        returned: r.try_get(6)?,
        recovered: r.try_get(7)?,
        fraud_loss: r.try_get(8)?,
        loss_allowance: r.try_get(11)?,
        notes_held: r.try_get(12)?,
        close: close.map(|c| CloseStatement::decode(&c)).transpose().map_err(|e| storage("close statement", e))?,
        created_at_ms: r.try_get(10)?,
        reserve_account: r.try_get::<_, Option<AccountId>>(13)?.unwrap_or(RESERVE_ACCOUNT),
        settle_by: r.try_get(14)?,
    })
}

/// Every stored note of the purses.
const NOTES_ALL: &str = "SELECT purse_id, encoded, from_payer, held, uploaded_by, hash FROM notes WHERE purse_id = ANY($1) ORDER BY upload_order";
/// The stored notes at each (purse, sequence number) and at its nearest stored neighbours: the
/// numbers first (`max`/`min` are one index seek each), then the notes at them.
const NOTES_AROUND: &str = "SELECT n.purse_id, n.encoded, n.from_payer, n.held, n.uploaded_by, n.hash FROM (
                   SELECT s.purse, s.seq FROM unnest($1::bytea[], $2::bigint[]) AS s(purse, seq)
                   UNION SELECT s.purse, (SELECT max(seq) FROM notes WHERE purse_id = s.purse AND seq < s.seq)
                     FROM unnest($1::bytea[], $2::bigint[]) AS s(purse, seq)
                   UNION SELECT s.purse, (SELECT min(seq) FROM notes WHERE purse_id = s.purse AND seq > s.seq)
                     FROM unnest($1::bytea[], $2::bigint[]) AS s(purse, seq)
                 ) AS wanted JOIN notes AS n ON n.purse_id = wanted.purse AND n.seq = wanted.seq
                 ORDER BY n.upload_order";
/// The stored notes of a revoked purse that an upload needs ([`NotesNeeded`]). Each branch
/// reads whole rows by index (`upload_order` has no index of its own: picking rows by it would
/// scan every note).
const NOTES_NEEDED: &str = "SELECT purse_id, encoded, from_payer, held, uploaded_by, hash FROM (
                   SELECT upload_order, purse_id, encoded, from_payer, held, uploaded_by, hash
                     FROM notes WHERE purse_id = $1 AND payee = $2
                   UNION SELECT d.* FROM unnest($3::bytea[]) AS h(hash) CROSS JOIN LATERAL (
                     SELECT upload_order, purse_id, encoded, from_payer, held, uploaded_by, hash
                       FROM notes WHERE notes.hash = h.hash AND notes.purse_id = $1 LIMIT 1) AS d
                   UNION SELECT f.* FROM unnest($4::bigint[]) AS p(payee) CROSS JOIN LATERAL (
                     SELECT upload_order, purse_id, encoded, from_payer, held, uploaded_by, hash
                       FROM notes WHERE purse_id = $1 AND notes.payee = p.payee LIMIT $5) AS f
                   UNION (SELECT upload_order, purse_id, encoded, from_payer, held, uploaded_by, hash
                     FROM notes WHERE purse_id = $1 AND held > 0 ORDER BY upload_order LIMIT $6)
                 ) AS needed ORDER BY upload_order";
/// The held notes of a purse beyond those read.
const HELD_AFTER: &str =
    "SELECT hash FROM notes WHERE purse_id = $1 AND held > 0 ORDER BY upload_order LIMIT 2 OFFSET $2";
/// The fraud proofs of the purses.
const PROOFS: &str = "SELECT purse_id, fingerprint FROM fraud_proofs WHERE purse_id = ANY($1)";
/// The users by id.
const USERS: &str = "SELECT id, handle, account_id, frozen FROM users WHERE id = ANY($1)";

/// Claims an idempotency key (no row: a request with that key came first).
const CLAIM: &str = "INSERT INTO offline_idempotency (scope, key, request_hash, response, created_at_ms)
             VALUES ($1, $2, $3, '', $4) ON CONFLICT DO NOTHING";
/// What the request that first claimed a key asked and was answered.
const CLAIMED: &str = "SELECT request_hash, response FROM offline_idempotency WHERE scope = $1 AND key = $2";
/// The answer to a claimed key.
const REMEMBER: &str = "UPDATE offline_idempotency SET response = $3 WHERE scope = $1 AND key = $2";
/// A user's wallet balance.
const WALLET_BALANCE: &str = "SELECT a.balance FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = $1";
/// Registers a device key (nothing if the key is known).
const ADD_DEVICE: &str = "INSERT INTO devices (public_key, user_id, revoked, created_at_ms)
             SELECT $1, id, false, $3 FROM users WHERE id = $2 ON CONFLICT DO NOTHING";
/// How many device keys a user registered since a time.
const RECENT_DEVICES: &str = "SELECT count(*) FROM devices WHERE user_id = $1 AND created_at_ms > $2";
/// A device by key.
const DEVICE: &str = "SELECT user_id, revoked, created_at_ms FROM devices WHERE public_key = $1";
/// A device's owner and whether it is revoked.
const DEVICE_OWNER: &str = "SELECT user_id, revoked FROM devices WHERE public_key = $1";
/// What a purse load is judged on, and the id of its reserve account.
const LOAD_FACTS: &str = "SELECT (SELECT frozen FROM users WHERE id = $1),
                        (SELECT count(*) FROM purses WHERE user_id = $1 AND NOT expired),
                        nextval('accounts_id_seq')";
/// A purse's own reserve account.
const INSERT_RESERVE: &str =
    "INSERT INTO accounts (id, kind, balance, head, created_at_ms) VALUES ($1, 'reserve', $2, $3, $4)";
/// A loaded purse.
const INSERT_PURSE: &str = "INSERT INTO purses (id, user_id, device_key, amount, valid_until, certificate, state, load_entry_id, created_at_ms,
                                 loss_allowance, reserve_account, settle_by)
             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, $11)";
/// Purses with held notes whose payer has money.
const RELEASE_CANDIDATES: &str = "SELECT n.purse_id FROM notes n JOIN purses p ON p.id = n.purse_id
                 JOIN users u ON u.id = p.user_id JOIN accounts a ON a.id = u.account_id
                 WHERE n.held > 0 AND a.balance > 0
                 GROUP BY n.purse_id ORDER BY min(n.upload_order) LIMIT $1";
/// The held notes of the purses, oldest upload first.
const HELD_NOTES: &str = "SELECT purse_id, hash, payee, from_payer, held, amount, nonce FROM notes
                 WHERE purse_id = ANY($1) AND held > 0 ORDER BY upload_order LIMIT $2";

/// Locks and reads the purses with these ids (in id order).
async fn lock_purses(tx: &Transaction<'_>, ids: &[PurseId]) -> Result<Vec<Purse>, LedgerError> {
    let mut keys: Vec<Vec<u8>> = ids.iter().map(|id| id.as_bytes().to_vec()).collect();
    keys.sort_unstable();
    keys.dedup();
    cached::query(tx, LOCK_PURSES, &[&keys]).await?.iter().map(to_purse).collect()
}

/// A purse by id.
const PURSE: &str = concat!("SELECT ", purse_columns!(), " FROM purses WHERE id = $1");
/// Purses past their settlement deadline and not expired yet, locked (others' locks skipped).
const EXPIRING: &str = concat!(
    "SELECT ",
    purse_columns!(),
    " FROM purses WHERE NOT expired AND valid_until < $1 ORDER BY valid_until LIMIT $2 FOR UPDATE SKIP LOCKED"
);
/// The statement of [`lock_purses`].
const LOCK_PURSES: &str =
    concat!("SELECT ", purse_columns!(), " FROM purses WHERE id = ANY($1) ORDER BY id FOR UPDATE");
/// A user's purses (or everyone's), newest first.
const PURSES: &str = concat!(
    "SELECT ",
    purse_columns!(),
    " FROM purses WHERE ($1::bigint IS NULL OR user_id = $1) ORDER BY created_at_ms DESC, id LIMIT $2"
);

/// The purses with their stored notes and proof fingerprints. With `batch` (an upload), only the
/// notes that decide it are read ([`NotesRead`]); without, every note.
async fn snapshots(
    tx: &Transaction<'_>,
    purses: Vec<Purse>,
    batch: Option<(&[PaymentNote], UserId)>,
) -> Result<HashMap<PurseId, Snapshot>, LedgerError> {
    let mut full: Vec<Vec<u8>> = Vec::new();
    // The (purse, sequence number) pairs of the purses read around the batch.
    let (mut seq_purses, mut seqs) = (vec![], vec![]);
    let mut map: HashMap<PurseId, Snapshot> = HashMap::with_capacity(purses.len());
    for p in purses {
        let read = batch.map_or(NotesRead::All, |(notes, uploader)| NotesRead::for_upload(notes, &p, uploader));
        match &read {
            NotesRead::All => full.push(p.id.as_bytes().to_vec()),
            NotesRead::Around { seqs: s } => {
                for seq in s {
                    seq_purses.push(p.id.as_bytes().to_vec());
                    seqs.push(i64::from(*seq));
                }
            }
            NotesRead::Revoked(_) => {}
        }
        let (stored, states, proofs) = (Vec::new(), Vec::new(), HashSet::new());
        map.insert(p.id, Snapshot { purse: p, stored, states, proofs, read, release_until: None });
    }
    // Each read only when some purse needs it: every query is a round trip.
    let mut rows = Vec::new();
    if !full.is_empty() {
        rows = cached::query(tx, NOTES_ALL, &[&full]).await?;
    }
    if !seqs.is_empty() {
        rows.extend(cached::query(tx, NOTES_AROUND, &[&seq_purses, &seqs]).await?);
    }
    let mut partial: Vec<PurseId> = map.values().filter(|s| s.read.needed().is_some()).map(|s| s.purse.id).collect();
    partial.sort_unstable();
    for id in partial {
        let Some(needed) = map.get(&id).and_then(|s| s.read.needed()) else { continue };
        let hashes: Vec<&[u8]> = needed.hashes.iter().map(|h| &h.as_bytes()[..]).collect();
        rows.extend(
            cached::query(
                tx,
                NOTES_NEEDED,
                &[
                    &&id.as_bytes()[..],
                    &needed.uploader,
                    &hashes,
                    &needed.payees,
                    &(crate::offline::NOTES_PER_PAYEE_READ + 1),
                    &crate::offline::HELD_READ,
                ],
            )
            .await?,
        );
        // More held notes than were read: money reaching the payer pays up to the last read.
        let held = cached::query(tx, HELD_AFTER, &[&&id.as_bytes()[..], &(crate::offline::HELD_READ - 1)]).await?;
        if let (Some(last), true, Some(snap)) = (held.first(), held.len() == 2, map.get_mut(&id)) {
            snap.release_until = Some(note_hash(&last.try_get::<_, Vec<u8>>(0)?)?);
        }
    }
    // Each purse's certificate is encoded once for all its stored notes, and never decoded again.
    let mut restorers: HashMap<PurseId, Restorer> =
        map.iter().map(|(id, s)| (*id, Restorer::new(&s.purse.certificate))).collect();
    for row in rows {
        let id = purse_id_of(&row.try_get::<_, Vec<u8>>(0)?)?;
        if let (Some(s), Some(restorer)) = (map.get_mut(&id), restorers.get_mut(&id)) {
            let bytes: Vec<u8> = row.try_get(1)?;
            let note = restorer.restore(&bytes).map_err(|e| storage("note", e))?;
            s.stored.push(note);
            let hash: Vec<u8> = row.try_get(5)?;
            let hash = note_hash(&hash)?;
            s.states.push(StoredState {
                hash,
                from_payer: row.try_get(2)?,
                held: row.try_get(3)?,
                uploaded_by: row.try_get(4)?,
            });
        }
    }
    // Every fraud proof revokes its purse in the same transaction, so only a revoked purse has any.
    let revoked: Vec<Vec<u8>> =
        map.values().filter(|s| s.purse.state == PurseState::Revoked).map(|s| s.purse.id.as_bytes().to_vec()).collect();
    let mut proofs = Vec::new();
    if !revoked.is_empty() {
        proofs = cached::query(tx, PROOFS, &[&revoked]).await?;
    }
    for row in proofs {
        let id = purse_id_of(&row.try_get::<_, Vec<u8>>(0)?)?;
        let fp: Vec<u8> = row.try_get(1)?;
        let fp: [u8; 32] = fp.as_slice().try_into().map_err(|e| storage("proof fingerprint", e))?;
        if let Some(s) = map.get_mut(&id) {
            s.proofs.insert(fp);
        }
    }
    Ok(map)
}

async fn users(tx: &Transaction<'_>, ids: &[UserId]) -> Result<HashMap<UserId, (UserRef, bool)>, LedgerError> {
    let mut map = HashMap::new();
    for row in cached::query(tx, USERS, &[&ids]).await? {
        let id: UserId = row.try_get(0)?;
        let handle: String = row.try_get(1)?;
        map.insert(id, (UserRef { id, handle: handle_of(&handle)?, account_id: row.try_get(2)? }, row.try_get(3)?));
    }
    Ok(map)
}

/// Migration 17: notes refused by their payee at the counter, one row per note: `amount` given
/// back by journal entry `entry_id` (0 and none: never paid).
pub const REFUSALS_MIGRATION: &str = "CREATE TABLE note_refusals (
        note          BYTEA  PRIMARY KEY,
        purse_id      BYTEA  NOT NULL REFERENCES purses (id),
        payee         BIGINT NOT NULL REFERENCES users (id),
        payer         BIGINT NOT NULL REFERENCES users (id),
        amount        BIGINT NOT NULL CHECK (amount >= 0),
        entry_id      BIGINT REFERENCES journal (id),
        created_at_ms BIGINT NOT NULL
    );
    CREATE INDEX note_refusals_by_purse ON note_refusals (purse_id, payee);";
/// The upload's notes that their payee refused (read after the purses are locked: a refusal
/// locks its note's purse first).
const REFUSED: &str = "SELECT note FROM note_refusals WHERE note = ANY($1)";
const REFUSAL: &str = "SELECT entry_id, amount FROM note_refusals WHERE note = $1";
const REFUSALS_KEPT: &str = "SELECT count(*) FROM note_refusals WHERE purse_id = $1 AND payee = $2";
const INSERT_REFUSAL: &str = "INSERT INTO note_refusals (note, purse_id, payee, payer, amount, entry_id, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const PAID_NOTE: &str = "SELECT payee, from_reserve, from_payer, from_loss, held FROM notes
     WHERE purse_id = $1 AND hash = $2";

const LOCK_ACCOUNTS: &str = "SELECT id, kind, balance, head FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE";
const NEXT_ENTRY_IDS: &str = "SELECT nextval('journal_id_seq') FROM generate_series(1, $1::bigint)";
/// The purses of the upload's payers that hold notes not paid yet (read after the payers'
/// wallets are locked: every settlement and release that changes `notes_held` holds them).
const HELD_PURSES: &str = "SELECT user_id, id FROM purses WHERE user_id = ANY($1) AND notes_held > 0";
/// What each (payee, request nonce) was paid, less what refusals gave back (`offline/refusal.rs`).
const REQUEST_TOTALS: &str =
    "SELECT t.p, t.n, sum(n.from_reserve + n.from_payer + n.from_loss - coalesce(r.amount, 0))::bigint
     FROM unnest($1::bigint[], $2::bytea[]) AS t (p, n)
     JOIN notes n ON n.payee = t.p AND n.nonce = t.n LEFT JOIN note_refusals r ON r.note = n.hash
     GROUP BY t.p, t.n";

/// The ids for [`LOCK_ACCOUNTS`]: sorted (rows are locked in id order), once each.
fn lock_order(ids: impl IntoIterator<Item = AccountId>) -> Vec<AccountId> {
    let mut ids: Vec<AccountId> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

async fn lock_accounts(
    tx: &Transaction<'_>,
    ids: impl IntoIterator<Item = AccountId>,
) -> Result<Accounts, LedgerError> {
    accounts_of(&cached::query(tx, LOCK_ACCOUNTS, &[&lock_order(ids)]).await?)
}

/// The rows of [`LOCK_ACCOUNTS`].
fn accounts_of(rows: &[Row]) -> Result<Accounts, LedgerError> {
    let mut accounts = Accounts::new();
    for row in rows {
        let id: AccountId = row.try_get(0)?;
        let kind: String = row.try_get(1)?;
        accounts.insert(
            id,
            LockedAccount {
                account_id: id,
                kind: account_kind(&kind)?,
                balance: row.try_get(2)?,
                head: row.try_get(3)?,
            },
        );
    }
    Ok(accounts)
}

async fn entry_ids(tx: &Transaction<'_>, count: usize) -> Result<std::vec::IntoIter<EntryId>, LedgerError> {
    let n = i64::try_from(count).unwrap_or(i64::MAX);
    ids_of(&cached::query(tx, NEXT_ENTRY_IDS, &[&n]).await?)
}

/// The rows of [`NEXT_ENTRY_IDS`].
fn ids_of(rows: &[Row]) -> Result<std::vec::IntoIter<EntryId>, LedgerError> {
    Ok(rows.iter().map(|r| r.try_get::<_, EntryId>(0)).collect::<Result<Vec<_>, _>>()?.into_iter())
}

const INSERT_JOURNAL: &str =
    "INSERT INTO journal (id, kind, amount, memo, from_user, to_user, created_at_ms, hash, note)
     SELECT t.id, t.kind, t.amount, t.m, t.f, t.t, $7, t.h, t.n
     FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bytea[], $8::bytea[],
                 $9::text[])
          AS t (id, kind, amount, f, t, h, n, m)";
const INSERT_POSTINGS: &str = "INSERT INTO postings (entry_id, account_id, delta, prev_hash)
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[])";
const UPDATE_ACCOUNTS: &str = "UPDATE accounts SET balance = t.b, head = t.h
     FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]) AS t (id, b, h) WHERE accounts.id = t.id";
// WITH ORDINALITY keeps the batch's order in upload_order.
const INSERT_NOTES: &str = "INSERT INTO notes (hash, purse_id, seq, payee, amount, encoded, from_reserve, from_payer,
                         from_loss, entry_id, held, nonce, uploaded_by, created_at_ms)
     SELECT t.h, t.p, t.s, t.y, t.a, t.e, t.fr, t.fp, t.fl, t.en, t.hd, t.n, $13, $14
     FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bytea[], $7::bigint[],
                 $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bytea[])
          WITH ORDINALITY AS t (h, p, s, y, a, e, fr, fp, fl, en, hd, n, o)
     ORDER BY t.o";
const UPDATE_NOTE: &str = "UPDATE notes SET from_payer = $3, held = $4 WHERE purse_id = $1 AND hash = $2";
const UPDATE_PURSE: &str = "UPDATE purses SET state = $2, expired = $3, settled = $4, returned = $5, recovered = $6,
     fraud_loss = $7, close_statement = $8, notes_held = $9 WHERE id = $1";
const INSERT_PROOF: &str =
    "INSERT INTO fraud_proofs (fingerprint, purse_id, user_id, kind, first, second, created_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (fingerprint) DO NOTHING";
const REVOKE_DEVICE: &str =
    "INSERT INTO devices (public_key, user_id, revoked, created_at_ms) VALUES ($1, $3, true, $2)
     ON CONFLICT (public_key) DO UPDATE SET revoked = true";
const FREEZE_USERS: &str = "UPDATE users SET frozen = true WHERE id = ANY($1)";
const INSERT_EVENTS: &str = "INSERT INTO events (user_id, kind, payload, created_at_ms)
     SELECT t.u, t.k, t.p, $4 FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS t (u, k, p, o)
     ORDER BY t.o
     RETURNING seq, user_id";
const INSERT_SECURITY_EVENT: &str = "INSERT INTO security_events (kind, detail, created_at_ms) VALUES ($1, $2, $3)";

type Param<'a> = &'a (dyn ToSql + Sync);

/// A purse row's id, state and encoded close statement, as `UPDATE_PURSE` takes them.
type PurseKeys<'a> = (&'a [u8], &'a str, Option<Vec<u8>>);

/// Writes everything a plan decided, in one pipeline (docs/PERFORMANCE.md, "Single-note uploads
/// on PostgreSQL"): every statement is sent before the first answer is awaited, and they run in
/// the order below (the journal before the postings and notes that refer to it).
async fn apply(
    tx: &Transaction<'_>,
    w: &Writes,
    uploader: UserId,
    now_ms: TimestampMs,
    notices: &mut Vec<EventNotice>,
) -> Result<(), LedgerError> {
    // The journal, its postings and the accounts' new balances and heads.
    let (mut ids, mut kinds, mut amounts, mut froms, mut tos, mut hashes) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut p_entry, mut p_account, mut p_delta, mut p_prev) = (vec![], vec![], vec![], vec![]);
    let mut entry_notes: Vec<Option<Vec<u8>>> = Vec::with_capacity(w.entries.len());
    let mut memos: Vec<Option<&str>> = Vec::with_capacity(w.entries.len());
    for e in &w.entries {
        ids.push(e.entry.id);
        kinds.push(e.entry.kind.as_str());
        amounts.push(e.entry.amount);
        froms.push(e.entry.from_user);
        tos.push(e.entry.to_user);
        hashes.push(e.hash.to_vec());
        entry_notes.push(e.note.map(|h| h.as_bytes().to_vec()));
        memos.push(e.entry.memo.as_deref());
        for p in &e.postings {
            p_entry.push(e.entry.id);
            p_account.push(p.account_id);
            p_delta.push(p.delta);
            p_prev.push(p.prev_hash.clone());
        }
    }
    let journal: [Param; 9] = [&ids, &kinds, &amounts, &froms, &tos, &hashes, &now_ms, &entry_notes, &memos];
    let postings: [Param; 4] = [&p_entry, &p_account, &p_delta, &p_prev];
    let a_id: Vec<AccountId> = w.accounts.iter().map(|a| a.0).collect();
    let a_bal: Vec<i64> = w.accounts.iter().map(|a| a.1).collect();
    let a_head: Vec<Vec<u8>> = w.accounts.iter().map(|a| a.2.clone()).collect();
    let accounts: [Param; 3] = [&a_id, &a_bal, &a_head];
    // New notes.
    let n = &w.notes;
    let hash: Vec<Vec<u8>> = n.iter().map(|x| x.hash.as_bytes().to_vec()).collect();
    let purse: Vec<Vec<u8>> = n.iter().map(|x| x.purse_id.as_bytes().to_vec()).collect();
    let seq: Vec<i64> = n.iter().map(|x| i64::from(x.seq)).collect();
    let payee: Vec<UserId> = n.iter().map(|x| x.payee).collect();
    let amount: Vec<i64> = n.iter().map(|x| x.amount).collect();
    let encoded: Vec<Vec<u8>> = n.iter().map(|x| x.encoded.clone()).collect();
    let fr: Vec<i64> = n.iter().map(|x| x.from_reserve).collect();
    let fp: Vec<i64> = n.iter().map(|x| x.from_payer).collect();
    let fl: Vec<i64> = n.iter().map(|x| x.from_loss).collect();
    let entry: Vec<Option<EntryId>> = n.iter().map(|x| x.entry_id).collect();
    let held: Vec<i64> = n.iter().map(|x| x.held).collect();
    let nonce: Vec<Vec<u8>> = n.iter().map(|x| x.nonce.as_bytes().to_vec()).collect();
    let notes: [Param; 14] =
        [&hash, &purse, &seq, &payee, &amount, &encoded, &fr, &fp, &fl, &entry, &held, &nonce, &uploader, &now_ms];
    // Row by row: stored notes paid now, purses, fraud proofs, revoked devices, security events.
    let note_keys: Vec<(&[u8], &[u8])> =
        w.note_updates.iter().map(|u| (u.purse_id.as_bytes().as_slice(), u.hash.as_bytes().as_slice())).collect();
    let note_updates: Vec<[Param; 4]> = w
        .note_updates
        .iter()
        .zip(&note_keys)
        .map(|(u, (purse, hash))| -> [Param; 4] { [purse, hash, &u.from_payer, &u.held] })
        .collect();
    let purse_rows: Vec<PurseKeys> = w
        .purses
        .iter()
        .map(|p| (p.id.as_bytes().as_slice(), p.state.as_str(), p.close.as_ref().map(CloseStatement::encode)))
        .collect();
    let purses: Vec<[Param; 9]> = w
        .purses
        .iter()
        .zip(&purse_rows)
        .map(|(p, (id, state, close))| -> [Param; 9] {
            [id, state, &p.expired, &p.settled, &p.returned, &p.recovered, &p.fraud_loss, close, &p.notes_held]
        })
        .collect();
    let proof_keys: Vec<(&[u8], &[u8])> =
        w.proofs.iter().map(|p| (p.fingerprint.as_slice(), p.purse_id.as_bytes().as_slice())).collect();
    let proofs: Vec<[Param; 7]> = w
        .proofs
        .iter()
        .zip(&proof_keys)
        .map(|(p, (fingerprint, purse))| -> [Param; 7] {
            [fingerprint, purse, &p.user_id, &p.kind, &p.first, &p.second, &now_ms]
        })
        .collect();
    let device_keys: Vec<(&[u8], UserId)> = w.revoke_devices.iter().map(|(k, owner)| (k.as_slice(), *owner)).collect();
    let revocations: Vec<[Param; 3]> =
        device_keys.iter().map(|(k, owner)| -> [Param; 3] { [k, &now_ms, owner] }).collect();
    let freeze: [Param; 1] = [&w.freeze_users];
    let e_users: Vec<UserId> = w.events.iter().map(|e| e.user_id).collect();
    let e_kinds: Vec<&str> = w.events.iter().map(|e| e.kind).collect();
    let e_payloads: Vec<&str> = w.events.iter().map(|e| e.payload.as_str()).collect();
    let events: [Param; 4] = [&e_users, &e_kinds, &e_payloads, &now_ms];
    let security: Vec<[Param; 3]> =
        w.security.iter().map(|(kind, detail)| -> [Param; 3] { [kind, detail, &now_ms] }).collect();

    // The statements, prepared (from the connection's cache after its first use) before any is sent.
    let mut statements = Vec::new();
    for sql in [
        INSERT_JOURNAL,
        INSERT_POSTINGS,
        UPDATE_ACCOUNTS,
        INSERT_NOTES,
        UPDATE_NOTE,
        UPDATE_PURSE,
        INSERT_PROOF,
        REVOKE_DEVICE,
        FREEZE_USERS,
        INSERT_EVENTS,
        INSERT_SECURITY_EVENT,
    ] {
        statements.push(tx.prepare_cached(sql).await?);
    }
    let [
        journal_st,
        postings_st,
        accounts_st,
        notes_st,
        note_st,
        purse_st,
        proof_st,
        device_st,
        freeze_st,
        events_st,
        security_st,
    ] = &statements[..]
    else {
        return Err(LedgerError::Storage("internal error: statements not prepared".into()));
    };
    let mut pipeline = Vec::new();
    if !w.entries.is_empty() {
        pipeline.push(cached::pending(tx, journal_st, &journal));
        pipeline.push(cached::pending(tx, postings_st, &postings));
        pipeline.push(cached::pending(tx, accounts_st, &accounts));
    }
    if !w.notes.is_empty() {
        pipeline.push(cached::pending(tx, notes_st, &notes));
    }
    pipeline.extend(note_updates.iter().map(|p| cached::pending(tx, note_st, p)));
    pipeline.extend(purses.iter().map(|p| cached::pending(tx, purse_st, p)));
    pipeline.extend(proofs.iter().map(|p| cached::pending(tx, proof_st, p)));
    pipeline.extend(revocations.iter().map(|p| cached::pending(tx, device_st, p)));
    if !w.freeze_users.is_empty() {
        pipeline.push(cached::pending(tx, freeze_st, &freeze));
    }
    pipeline.extend(security.iter().map(|p| cached::pending(tx, security_st, p)));
    // Last, so that its rows are the pipeline's last answer.
    if !w.events.is_empty() {
        pipeline.push(cached::pending(tx, events_st, &events));
    }
    let answers = cached::in_order(pipeline).await?;
    if !w.events.is_empty()
        && let Some(rows) = answers.last()
    {
        for row in rows {
            notices.push(EventNotice { seq: row.try_get(0)?, user_id: row.try_get(1)? });
        }
    }
    Ok(())
}

/// Claims (scope, key): `Ok(None)` when claimed now, `Ok(Some(response))` when a committed
/// request with the same fingerprint holds it (waits for an uncommitted one).
async fn claim(
    tx: &Transaction<'_>,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
    now_ms: TimestampMs,
) -> Result<Option<String>, LedgerError> {
    let fp = fingerprint.as_slice();
    let claimed = cached::execute(tx, CLAIM, &[&scope, &key.as_str(), &fp, &now_ms]).await?;
    if claimed == 1 {
        return Ok(None);
    }
    let row = cached::query_one(tx, CLAIMED, &[&scope, &key.as_str()]).await?;
    let hash: Vec<u8> = row.try_get(0)?;
    if hash.as_slice() != fp {
        return Err(LedgerError::IdempotencyConflict);
    }
    Ok(Some(row.try_get(1)?))
}

async fn remember(tx: &Transaction<'_>, scope: &str, key: &IdempotencyKey, response: &str) -> Result<(), LedgerError> {
    cached::execute(tx, REMEMBER, &[&scope, &key.as_str(), &response]).await?;
    Ok(())
}

async fn wallet_balance(tx: &Transaction<'_>, user: UserId) -> Result<i64, LedgerError> {
    let row = cached::query_opt(tx, WALLET_BALANCE, &[&user]).await?.ok_or(LedgerError::UnknownUser)?;
    Ok(row.try_get(0)?)
}

/// Runs `work` in a transaction: commit on `Ok`, roll back on `Err`.
/// Live-event notices go to the notifier after the commit.
macro_rules! in_tx {
    ($pool:expr, $notifier:expr, |$tx:ident, $notices:ident| $body:expr) => {{
        let mut client = $pool.get().await?;
        let $tx = client.transaction().await.map_err(LedgerError::from)?;
        #[allow(unused_mut)]
        let mut $notices: Vec<EventNotice> = Vec::new();
        let result: Result<_, OfflineError> = async { $body }.await;
        match result {
            Ok(value) => {
                $tx.commit().await.map_err(LedgerError::from)?;
                $notifier.send(&$notices);
                Ok(value)
            }
            Err(e) => {
                let _ = $tx.rollback().await;
                Err(e)
            }
        }
    }};
}

async fn register_device(
    pool: Pool,
    notifier: Notifier,
    user: UserId,
    key: [u8; 32],
    now_ms: TimestampMs,
) -> Result<Device, OfflineError> {
    in_tx!(pool, notifier, |tx, notices| {
        // Every offline statement is planned as an upload's are (`cached::INDEX_PLANS`): they
        // share the connection's cache of prepared statements, and a plan made here is kept.
        tx.batch_execute(cached::INDEX_PLANS).await.map_err(LedgerError::from)?;
        if cached::query_opt(&tx, DEVICE, &[&key.as_slice()]).await.map_err(LedgerError::from)?.is_none() {
            // A new key counts against the account's keys of the last day, under the account's
            // lock so that registrations at once cannot pass the count together.
            tx.execute(super::LOCK_USER_ACCOUNT, &[&user]).await.map_err(LedgerError::from)?;
            let since = now_ms - DEVICE_WINDOW_MS;
            let recent: i64 = cached::query_opt(&tx, RECENT_DEVICES, &[&user, &since])
                .await
                .map_err(LedgerError::from)?
                .map(|r| r.try_get(0))
                .transpose()
                .map_err(LedgerError::from)?
                .unwrap_or(0);
            if recent >= i64::from(DEVICES_PER_DAY) {
                return Err(OfflineError::TooManyDevices(DEVICES_PER_DAY));
            }
        }
        cached::execute(&tx, ADD_DEVICE, &[&key.as_slice(), &user, &now_ms]).await.map_err(LedgerError::from)?;
        let row = cached::query_opt(&tx, DEVICE, &[&key.as_slice()])
            .await
            .map_err(LedgerError::from)?
            .ok_or(LedgerError::UnknownUser)?;
        let (owner, revoked, created_at_ms): (UserId, bool, i64) = (
            row.try_get(0).map_err(LedgerError::from)?,
            row.try_get(1).map_err(LedgerError::from)?,
            row.try_get(2).map_err(LedgerError::from)?,
        );
        if owner != user {
            return Err(OfflineError::DeviceTaken);
        }
        if revoked {
            return Err(OfflineError::DeviceRevoked);
        }
        Ok(Device { public_key: key, user_id: user, revoked, created_at_ms })
    })
}

async fn read_purse_tx(tx: &Transaction<'_>, id: PurseId) -> Result<Option<Purse>, LedgerError> {
    cached::query_opt(tx, PURSE, &[&id.as_bytes().as_slice()]).await?.as_ref().map(to_purse).transpose()
}

async fn load_purse(
    pool: Pool,
    notifier: Notifier,
    req: LoadRequest,
    now_ms: TimestampMs,
) -> Result<LoadedPurse, OfflineError> {
    // The inner result is the load's refusal when it is kept under the key: the transaction
    // commits the key with it ([`plan::kept_load_refusal`]).
    let loaded: Result<Result<LoadedPurse, OfflineError>, OfflineError> = in_tx!(pool, notifier, |tx, notices| {
        // Every offline statement is planned as an upload's are (`cached::INDEX_PLANS`): they
        // share the connection's cache of prepared statements, and a plan made here is kept.
        tx.batch_execute(cached::INDEX_PLANS).await.map_err(LedgerError::from)?;
        let cert = req.certificate.fields();
        let device = cert.device_key.to_bytes();
        let (scope, fingerprint) = plan::load_idempotency(&req);
        if let Some(response) = claim(&tx, &scope, &req.idempotency_key, &fingerprint, now_ms).await? {
            let id = match plan::kept_load_answer(&response) {
                Ok(id) => id,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let purse = read_purse_tx(&tx, id).await?.ok_or_else(|| storage("idempotent purse", "missing"))?;
            let balance = amount_of(wallet_balance(&tx, req.user).await?)?;
            return Ok(Ok(LoadedPurse { purse, balance, replayed: true }));
        }
        // Everything a refusal comes from is read and decided before the first write.
        let decided = async {
            let (user, _) = users(&tx, &[req.user]).await?.remove(&req.user).ok_or(LedgerError::UnknownUser)?;
            let device_row = cached::query_opt(&tx, DEVICE_OWNER, &[&device.as_slice()])
                .await
                .map_err(LedgerError::from)?
                .map(|row| Ok::<_, tokio_postgres::Error>((row.try_get::<_, UserId>(0)?, row.try_get::<_, bool>(1)?)))
                .transpose()
                .map_err(LedgerError::from)?;
            // The wallet's row lock serialises this with the account's other loads and with a
            // settlement that freezes it: frozen and the purse count are read under it.
            let mut accounts = lock_accounts(&tx, [user.account_id]).await?;
            // The purse's own reserve account gets this id; the row is written only once the load
            // is accepted (a refused load leaves a gap in the ids, nothing else).
            let row = cached::query_one(&tx, LOAD_FACTS, &[&user.id]).await.map_err(LedgerError::from)?;
            let facts = LoadFacts {
                frozen: row.try_get(0).map_err(LedgerError::from)?,
                device: device_row,
                unsettled: row.try_get(1).map_err(LedgerError::from)?,
            };
            let reserve: AccountId = row.try_get(2).map_err(LedgerError::from)?;
            let entry_id = entry_ids(&tx, 1).await?.next().ok_or_else(|| storage("entry id", "none"))?;
            let load = plan::plan_load(&mut accounts, entry_id, reserve, &user, &req, facts, now_ms)?;
            Ok::<_, OfflineError>((user, accounts, reserve, entry_id, load))
        }
        .await;
        let (user, accounts, reserve, entry_id, load) = match decided {
            Ok(decided) => decided,
            Err(refusal) => match plan::kept_load_refusal(&refusal) {
                Some(kept) => {
                    remember(&tx, &scope, &req.idempotency_key, &kept).await?;
                    return Ok(Err(refusal));
                }
                None => return Err(refusal),
            },
        };
        let mut w = Writes { entries: vec![load.entry], ..Writes::default() };
        w.finish_accounts(&accounts);
        let empty = plan::new_reserve_account(reserve);
        cached::execute(&tx, INSERT_RESERVE, &[&reserve, &empty.balance, &empty.head, &now_ms])
            .await
            .map_err(LedgerError::from)?;
        apply(&tx, &w, user.id, now_ms, &mut notices).await?;
        let encoded = req.certificate.encode();
        let params: [&(dyn ToSql + Sync); 11] = [
            &cert.purse_id.as_bytes().as_slice(),
            &user.id,
            &device.as_slice(),
            &load.amount,
            &load.valid_until,
            &encoded,
            &entry_id,
            &now_ms,
            &load.loss_allowance,
            &reserve,
            &load.settle_by,
        ];
        cached::execute(&tx, INSERT_PURSE, &params).await.map_err(LedgerError::from)?;
        remember(&tx, &scope, &req.idempotency_key, &cert.purse_id.to_hex()).await?;
        let purse = read_purse_tx(&tx, cert.purse_id).await?.ok_or_else(|| storage("new purse", "missing"))?;
        let balance = amount_of(accounts.get(&user.account_id).map_or(0, |a| a.balance))?;
        Ok(Ok(LoadedPurse { purse, balance, replayed: false }))
    });
    loaded?
}

async fn settle_notes(
    pool: Pool,
    notifier: Notifier,
    uploader: UserId,
    notes: Vec<PaymentNote>,
    now_ms: TimestampMs,
) -> Result<Vec<NoteResult>, OfflineError> {
    // Signatures first, outside the transaction: no purse row stays locked while they are checked.
    let (notes, signature_ok) = signatures::check(uploader, notes).await?;
    in_tx!(pool, notifier, |tx, notices| {
        let ids: Vec<PurseId> = notes.iter().map(PaymentNote::purse_id).collect();
        let (plans, purses) = futures_util::join!(tx.batch_execute(cached::INDEX_PLANS), lock_purses(&tx, &ids));
        plans.map_err(LedgerError::from)?;
        let mut snaps = snapshots(&tx, purses?, Some((&notes, uploader))).await?;
        let mut settlements = plan::settle_all(&snaps, &notes, &signature_ok)?;
        let again = plan::read_in_full(&snaps, &settlements);
        if !again.is_empty() {
            let purses: Vec<Purse> = again.iter().filter_map(|id| snaps.remove(id)).map(|s| s.purse).collect();
            snaps.extend(snapshots(&tx, purses, None).await?);
            settlements = plan::settle_all(&snaps, &notes, &signature_ok)?;
        }
        let wanted = plan::users_wanted(&snaps, &notes);
        let users = users(&tx, &wanted).await?;
        let account_ids = lock_order(
            plan::operator_accounts(&snaps, &notes).into_iter().chain(users.values().map(|(u, _)| u.account_id)),
        );
        let (payees, nonces) = request_keys(&plan::requests_of(&notes, &snaps));
        let held_count: usize = snaps.values().map(|s| s.states.iter().filter(|st| st.held > 0).count()).sum();
        let id_count = i64::try_from(notes.len() + held_count).unwrap_or(i64::MAX);
        let owners = plan::owners_of(&snaps);
        let hashes: Vec<Vec<u8>> = notes.iter().map(|n| n.hash().as_bytes().to_vec()).collect();
        let (lock, totals, next_ids, held, refused) = (
            tx.prepare_cached(LOCK_ACCOUNTS).await?,
            tx.prepare_cached(REQUEST_TOTALS).await?,
            tx.prepare_cached(NEXT_ENTRY_IDS).await?,
            tx.prepare_cached(HELD_PURSES).await?,
            tx.prepare_cached(REFUSED).await?,
        );
        // One pipeline, run in this order: the request totals and the payers' held notes are read
        // after the wallet locks are taken, so two uploads paying one request from different
        // purses cannot both miss each other's notes, nor an upload miss notes another just held.
        let (lock_params, totals_params, ids_params, held_params): ([Param; 1], [Param; 2], [Param; 1], [Param; 1]) =
            ([&account_ids], [&payees, &nonces], [&id_count], [&owners]);
        let refused_params: [Param; 1] = [&hashes];
        let answers = cached::in_order(vec![
            cached::pending(&tx, &lock, &lock_params),
            cached::pending(&tx, &totals, &totals_params),
            cached::pending(&tx, &next_ids, &ids_params),
            cached::pending(&tx, &held, &held_params),
            cached::pending(&tx, &refused, &refused_params),
        ])
        .await?;
        let [locked, paid, taken, held_rows, refused_rows] = &answers[..] else {
            return Err(LedgerError::Storage("internal error: a pipeline answer is missing".into()).into());
        };
        let mut accounts = accounts_of(locked)?;
        let requests = totals_of(paid)?;
        let mut ids = ids_of(taken)?;
        let held_pairs = held_rows
            .iter()
            .map(|r| Ok((r.try_get::<_, UserId>(0)?, purse_id_of(&r.try_get::<_, Vec<u8>>(1)?)?)))
            .collect::<Result<Vec<_>, LedgerError>>()?;
        let held_elsewhere = plan::held_elsewhere(held_pairs, &snaps);
        let refused = refused_rows
            .iter()
            .map(|r| note_hash(&r.try_get::<_, Vec<u8>>(0)?))
            .collect::<Result<HashSet<_>, LedgerError>>()?;
        let input = SettleInput {
            batch: &notes,
            snapshots: &mut snaps,
            settlements: &settlements,
            users: &users,
            requests,
            uploader,
            held_elsewhere: &held_elsewhere,
            refused: &refused,
            now_ms,
        };
        let (w, results) = plan::plan_settlement(input, &mut accounts, &mut ids)?;
        apply(&tx, &w, uploader, now_ms, &mut notices).await?;
        Ok(results)
    })
}

/// The payee `user` refuses `note` (`offline/refusal.rs`), under the lock of the note's purse
/// (which an upload of the note takes first too) and then of both wallets.
async fn refuse_note(
    pool: Pool,
    notifier: Notifier,
    user: UserId,
    note: PaymentNote,
    now_ms: TimestampMs,
) -> Result<RefusalOutcome, OfflineError> {
    in_tx!(pool, notifier, |tx, notices| {
        tx.batch_execute(cached::INDEX_PLANS).await.map_err(LedgerError::from)?;
        let purse = lock_purses(&tx, &[note.purse_id()]).await?.into_iter().next();
        let purse = refusal::issued_purse(&note, purse)?;
        let hash = note.hash();
        let key = hash.as_bytes().to_vec();
        if let Some(row) = cached::query(&tx, REFUSAL, &[&key]).await?.first() {
            let (entry_id, amount): (Option<EntryId>, i64) = (row.try_get(0)?, row.try_get(1)?);
            return Ok(RefusalOutcome::again(hash, &purse, entry_id, amount));
        }
        let purse_key = purse.id.as_bytes().to_vec();
        let kept: i64 = match cached::query(&tx, REFUSALS_KEPT, &[&purse_key, &user]).await?.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        refusal::check_room(kept)?;
        let stored = match cached::query(&tx, PAID_NOTE, &[&purse_key, &key]).await?.first() {
            Some(r) => Some(PaidNote {
                payee: r.try_get(0)?,
                from_reserve: r.try_get(1)?,
                from_payer: r.try_get(2)?,
                from_loss: r.try_get(3)?,
                held: r.try_get(4)?,
            }),
            None => None,
        };
        let mut found = users(&tx, &[user, purse.user_id]).await?;
        let (payee, _) = found.get(&user).cloned().ok_or(LedgerError::UnknownUser)?;
        let (payer, _) = found.remove(&purse.user_id).ok_or(LedgerError::UnknownUser)?;
        let mut accounts = lock_accounts(&tx, [payee.account_id, payer.account_id]).await?;
        // The frozen flag as it is under the wallet locks: a freeze takes the account's lock
        // first (`LOCK_USER_ACCOUNT`), so one that committed while this waited is seen.
        let (_, payee_frozen) = users(&tx, &[user]).await?.remove(&user).ok_or(LedgerError::UnknownUser)?;
        let mut ids = entry_ids(&tx, 1).await?;
        let (w, insert, outcome) = refusal::plan_refusal(
            &note,
            &purse,
            stored,
            (&payee, payee_frozen),
            &payer,
            &mut accounts,
            &mut ids,
            now_ms,
        )?;
        apply(&tx, &w, user, now_ms, &mut notices).await?;
        let (note_key, purse_key) = (insert.note.as_bytes().to_vec(), insert.purse_id.as_bytes().to_vec());
        cached::query(
            &tx,
            INSERT_REFUSAL,
            &[&note_key, &purse_key, &insert.payee, &insert.payer, &insert.amount, &insert.entry_id, &now_ms],
        )
        .await?;
        Ok(outcome)
    })
}

/// The parameters of [`REQUEST_TOTALS`] for (payee, request nonce) pairs.
fn request_keys(keys: &[(UserId, Nonce)]) -> (Vec<UserId>, Vec<Vec<u8>>) {
    keys.iter().map(|(payee, nonce)| (*payee, nonce.as_bytes().to_vec())).unzip()
}

/// The rows of [`REQUEST_TOTALS`]: what was paid so far (held money not counted) for each
/// (payee, request nonce), over all purses.
fn totals_of(rows: &[Row]) -> Result<RequestsPaid, LedgerError> {
    let mut totals = HashMap::new();
    for row in rows {
        let payee: UserId = row.try_get(0)?;
        let nonce: Vec<u8> = row.try_get(1)?;
        let nonce: [u8; 16] = nonce.as_slice().try_into().map_err(|e| storage("nonce", e))?;
        let total: i64 = row.try_get(2)?;
        if total > 0 {
            totals.insert((payee, Nonce::from_bytes(nonce)), total);
        }
    }
    Ok(totals)
}

/// Pays held notes from their payers' balances, oldest upload first.
async fn release_held(pool: Pool, notifier: Notifier, now_ms: TimestampMs) -> Result<ReleaseOutcome, OfflineError> {
    in_tx!(pool, notifier, |tx, notices| {
        // Every offline statement is planned as an upload's are (`cached::INDEX_PLANS`): they
        // share the connection's cache of prepared statements, and a plan made here is kept.
        tx.batch_execute(cached::INDEX_PLANS).await.map_err(LedgerError::from)?;
        let limit = RELEASE_MAX as i64;
        let candidates: Vec<PurseId> = cached::query(&tx, RELEASE_CANDIDATES, &[&limit])
            .await
            .map_err(LedgerError::from)?
            .iter()
            .map(|r| purse_id_of(&r.try_get::<_, Vec<u8>>(0)?))
            .collect::<Result<_, LedgerError>>()?;
        if candidates.is_empty() {
            return Ok(ReleaseOutcome::default());
        }
        let mut purses: HashMap<PurseId, Purse> =
            lock_purses(&tx, &candidates).await?.into_iter().map(|p| (p.id, p)).collect();
        let keys: Vec<Vec<u8>> = purses.keys().map(|id| id.as_bytes().to_vec()).collect();
        let mut held = Vec::new();
        for row in cached::query(&tx, HELD_NOTES, &[&keys, &limit]).await.map_err(LedgerError::from)? {
            let hash: Vec<u8> = row.try_get(1).map_err(LedgerError::from)?;
            let hash = note_hash(&hash)?;
            let nonce: Option<Vec<u8>> = row.try_get(6).map_err(LedgerError::from)?;
            let nonce = nonce.map(|n| <[u8; 16]>::try_from(n.as_slice()).map(Nonce::from_bytes)).transpose();
            held.push(HeldNote {
                purse_id: purse_id_of(&row.try_get::<_, Vec<u8>>(0).map_err(LedgerError::from)?)?,
                hash,
                payee: row.try_get(2).map_err(LedgerError::from)?,
                from_payer: row.try_get(3).map_err(LedgerError::from)?,
                held: row.try_get(4).map_err(LedgerError::from)?,
                amount: row.try_get(5).map_err(LedgerError::from)?,
                nonce: nonce.map_err(|e| storage("nonce", e))?,
            });
        }
        let mut wanted: Vec<UserId> = purses.values().map(|p| p.user_id).chain(held.iter().map(|n| n.payee)).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let users: HashMap<UserId, UserRef> =
            users(&tx, &wanted).await?.into_iter().map(|(id, (u, _))| (id, u)).collect();
        let mut accounts = lock_accounts(&tx, users.values().map(|u| u.account_id)).await?;
        let mut ids = entry_ids(&tx, held.len()).await?;
        // Read after the payees' wallet locks, as a settlement paying the same requests does.
        let (payees, nonces) = request_keys(&held::requests_of(&held));
        let requests =
            totals_of(&cached::query(&tx, REQUEST_TOTALS, &[&payees, &nonces]).await.map_err(LedgerError::from)?)?;
        let (w, outcome) = held::plan_release(held, &mut purses, &users, &mut accounts, &mut ids, requests, now_ms)?;
        let system = purses.values().next().map_or(UserId(0), |p| p.user_id);
        apply(&tx, &w, system, now_ms, &mut notices).await?;
        Ok(outcome)
    })
}

async fn close_purse(
    pool: Pool,
    notifier: Notifier,
    user: UserId,
    close: CloseStatement,
    key: IdempotencyKey,
    now_ms: TimestampMs,
) -> Result<CloseOutcome, OfflineError> {
    in_tx!(pool, notifier, |tx, notices| {
        // Every offline statement is planned as an upload's are (`cached::INDEX_PLANS`): they
        // share the connection's cache of prepared statements, and a plan made here is kept.
        tx.batch_execute(cached::INDEX_PLANS).await.map_err(LedgerError::from)?;
        let scope = plan::offline_scope(user);
        let fingerprint = plan::close_fingerprint(&close);
        if let Some(response) = claim(&tx, &scope, &key, &fingerprint, now_ms).await? {
            let mut outcome: CloseOutcome = serde_json::from_str(&response).map_err(|e| storage("close outcome", e))?;
            outcome.replayed = true;
            outcome.balance = wallet_balance(&tx, user).await?;
            return Ok(outcome);
        }
        let purse = lock_purses(&tx, &[close.fields().purse_id]).await?.into_iter().next();
        let purse = plan::check_close(purse, user, &close)?;
        let id = purse.id;
        let mut snaps = snapshots(&tx, vec![purse], None).await?;
        let mut snap = snaps.remove(&id).ok_or(OfflineError::UnknownPurse)?;
        let (owner, _) = users(&tx, &[user]).await?.remove(&user).ok_or(LedgerError::UnknownUser)?;
        let mut accounts = lock_accounts(&tx, [snap.purse.reserve_account, owner.account_id]).await?;
        let mut ids = entry_ids(&tx, 1).await?;
        let (w, outcome) = plan::plan_close(&mut snap, &close, &owner, &mut accounts, &mut ids, now_ms)?;
        apply(&tx, &w, user, now_ms, &mut notices).await?;
        let response =
            serde_json::to_string(&outcome).map_err(|e| LedgerError::storage("cannot encode the close outcome", e))?;
        remember(&tx, &scope, &key, &response).await?;
        Ok(outcome)
    })
}

async fn expire_purses(
    pool: Pool,
    notifier: Notifier,
    now_secs: UnixTime,
    grace_secs: u64,
    now_ms: TimestampMs,
) -> Result<ExpiryOutcome, OfflineError> {
    in_tx!(pool, notifier, |tx, notices| {
        // Every offline statement is planned as an upload's are (`cached::INDEX_PLANS`): they
        // share the connection's cache of prepared statements, and a plan made here is kept.
        tx.batch_execute(cached::INDEX_PLANS).await.map_err(LedgerError::from)?;
        let cutoff = i64::try_from(now_secs.saturating_sub(grace_secs)).unwrap_or(i64::MAX);
        let limit = EXPIRE_MAX as i64;
        let mut purses = cached::query(&tx, EXPIRING, &[&cutoff, &limit])
            .await
            .map_err(LedgerError::from)?
            .iter()
            .map(to_purse)
            .collect::<Result<Vec<_>, _>>()?;
        if purses.is_empty() {
            return Ok(ExpiryOutcome::default());
        }
        let mut owner_ids: Vec<UserId> = purses.iter().map(|p| p.user_id).collect();
        owner_ids.sort_unstable();
        owner_ids.dedup();
        let owners: HashMap<UserId, UserRef> =
            users(&tx, &owner_ids).await?.into_iter().map(|(id, (u, _))| (id, u)).collect();
        let reserves = purses.iter().map(|p| p.reserve_account);
        let mut accounts = lock_accounts(&tx, reserves.chain(owners.values().map(|u| u.account_id))).await?;
        let mut ids = entry_ids(&tx, purses.len()).await?;
        let (w, outcome) = plan::plan_expiry(&mut purses, &owners, &mut accounts, &mut ids, now_ms)?;
        let system = purses.first().map_or(UserId(0), |p| p.user_id);
        apply(&tx, &w, system, now_ms, &mut notices).await?;
        Ok(outcome)
    })
}

/// The offline part of `verify` (see `offline::audit`), in the caller's snapshot.
pub async fn audit(client: &deadpool_postgres::Transaction<'_>) -> Result<Vec<String>, LedgerError> {
    let rows = client
        .query(
            "SELECT p.id, p.amount, p.settled, p.returned, p.recovered, p.fraud_loss,
                    coalesce(sum(n.from_reserve), 0)::bigint, coalesce(sum(n.from_payer), 0)::bigint,
                    coalesce(sum(n.from_loss), 0)::bigint, p.loss_allowance, p.notes_held,
                    coalesce(sum(n.held), 0)::bigint, p.reserve_account
             FROM purses p LEFT JOIN notes n ON n.purse_id = p.id GROUP BY p.id ORDER BY p.id",
            &[],
        )
        .await?;
    let mut purses = Vec::with_capacity(rows.len());
    for r in rows {
        purses.push(PurseTotals {
            id: r.try_get(0)?,
            amount: r.try_get(1)?,
            settled: r.try_get(2)?,
            returned: r.try_get(3)?,
            recovered: r.try_get(4)?,
            fraud_loss: r.try_get(5)?,
            notes_reserve: r.try_get(6)?,
            notes_payer: r.try_get(7)?,
            notes_loss: r.try_get(8)?,
            loss_allowance: r.try_get(9)?,
            notes_held: r.try_get(10)?,
            notes_held_sum: r.try_get(11)?,
            reserve_account: r.try_get::<_, Option<AccountId>>(12)?.unwrap_or(RESERVE_ACCOUNT),
        });
    }
    let mut notes = NoteAudit::default();
    for r in client.query(audit::OVERPAID_NOTES_SQL, &[]).await? {
        notes.overpaid_notes.push(hex::encode(r.try_get::<_, Vec<u8>>(0)?));
    }
    for r in client.query(audit::OVERPAID_REQUESTS_SQL, &[]).await? {
        notes.overpaid_requests.push((r.try_get(0)?, hex::encode(r.try_get::<_, Vec<u8>>(1)?)));
    }
    let mut reserves: Vec<(AccountId, i64)> = Vec::new();
    for r in client.query("SELECT id, balance FROM accounts WHERE kind = 'reserve' ORDER BY id", &[]).await? {
        reserves.push((r.try_get(0)?, r.try_get(1)?));
    }
    let loss: i64 =
        client.query_one("SELECT balance FROM accounts WHERE id = $1", &[&FRAUD_LOSS_ACCOUNT]).await?.try_get(0)?;
    Ok(audit::audit(&purses, &notes, &reserves, loss))
}

#[async_trait]
impl OfflineStore for PostgresStore {
    async fn register_device(
        &self,
        user: UserId,
        public_key: [u8; 32],
        now_ms: TimestampMs,
    ) -> Result<Device, OfflineError> {
        detached(self, move |pool, notifier| register_device(pool, notifier, user, public_key, now_ms)).await
    }

    async fn load_purse(&self, request: &LoadRequest, now_ms: TimestampMs) -> Result<LoadedPurse, OfflineError> {
        let request = request.clone();
        detached(self, move |pool, notifier| load_purse(pool, notifier, request, now_ms)).await
    }

    async fn purse(&self, id: PurseId) -> Result<Option<Purse>, OfflineError> {
        let client = self.pool.get().await?;
        Ok(client.query_opt(PURSE, &[&id.as_bytes().as_slice()]).await?.as_ref().map(to_purse).transpose()?)
    }

    async fn purses(&self, user: Option<UserId>, limit: u32) -> Result<Vec<Purse>, OfflineError> {
        let client = self.pool.get().await?;
        let limit = i64::from(limit.min(LIST_MAX));
        let params: &Params<'_> = &[&user, &limit];
        Ok(client.query(PURSES, params).await?.iter().map(to_purse).collect::<Result<Vec<_>, _>>()?)
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
        detached(self, move |pool, notifier| settle_notes(pool, notifier, uploader, notes, now_ms)).await
    }

    async fn close_purse(
        &self,
        user: UserId,
        close: &CloseStatement,
        key: &IdempotencyKey,
        now_ms: TimestampMs,
    ) -> Result<CloseOutcome, OfflineError> {
        let (close, key) = (close.clone(), key.clone());
        detached(self, move |pool, notifier| close_purse(pool, notifier, user, close, key, now_ms)).await
    }

    async fn expire_purses(
        &self,
        now_secs: UnixTime,
        grace_secs: u64,
        now_ms: TimestampMs,
    ) -> Result<ExpiryOutcome, OfflineError> {
        detached(self, move |pool, notifier| expire_purses(pool, notifier, now_secs, grace_secs, now_ms)).await
    }

    async fn release_held(&self, now_ms: TimestampMs) -> Result<ReleaseOutcome, OfflineError> {
        detached(self, move |pool, notifier| release_held(pool, notifier, now_ms)).await
    }

    async fn unfreeze_unless_held(&self, user: UserId) -> Result<i64, OfflineError> {
        let mut client = self.pool.get().await.map_err(LedgerError::from)?;
        let tx = client.transaction().await.map_err(LedgerError::from)?;
        // The account first, as an upload that holds notes of the user does.
        tx.execute(super::LOCK_USER_ACCOUNT, &[&user]).await.map_err(LedgerError::from)?;
        let owed: i64 = tx
            .query_one("SELECT coalesce(sum(notes_held), 0)::bigint FROM purses WHERE user_id = $1", &[&user])
            .await
            .map_err(LedgerError::from)?
            .try_get(0)
            .map_err(LedgerError::from)?;
        if owed == 0 {
            let n = tx
                .execute("UPDATE users SET frozen = false WHERE id = $1", &[&user])
                .await
                .map_err(LedgerError::from)?;
            if n == 0 {
                return Err(LedgerError::UnknownUser.into());
            }
        }
        tx.commit().await.map_err(LedgerError::from)?;
        Ok(owed)
    }

    async fn held_notes(&self, limit: u32) -> Result<Vec<HeldNoteRecord>, OfflineError> {
        let client = self.pool.get().await?;
        let sql = plan::held_notes_sql("n.upload_order", "$1");
        let limit = i64::from(limit.min(LIST_MAX));
        let mut out = Vec::new();
        for r in client.query(&sql, &[&limit]).await.map_err(LedgerError::from)? {
            let hash: Vec<u8> = r.try_get(1).map_err(LedgerError::from)?;
            let hash = note_hash(&hash)?;
            let get = |i: usize| r.try_get::<_, i64>(i).map_err(LedgerError::from);
            out.push(HeldNoteRecord {
                purse_id: purse_id_of(&r.try_get::<_, Vec<u8>>(0).map_err(LedgerError::from)?)?,
                note: hash,
                payer: UserId(get(2)?),
                payee: UserId(get(3)?),
                amount: get(4)?,
                paid: get(5)?,
                held: get(6)?,
                uploaded_at_ms: get(7)?,
            });
        }
        Ok(out)
    }

    async fn revocations(&self, now_secs: u64) -> Result<RevocationList, OfflineError> {
        let client = self.pool.get().await?;
        let mut list = RevocationList::default();
        let now_secs = i64::try_from(now_secs).unwrap_or(i64::MAX);
        let purses =
            client.prepare_cached("SELECT id FROM purses WHERE state = 'revoked' AND valid_until >= $1").await?;
        for row in client.query(&purses, &[&now_secs]).await? {
            list.purses.insert(purse_id_of(&row.try_get::<_, Vec<u8>>(0)?)?);
        }
        for row in client.query("SELECT public_key FROM devices WHERE revoked", &[]).await? {
            let key: Vec<u8> = row.try_get(0)?;
            list.devices.insert(key.as_slice().try_into().map_err(|e| storage("device key", e))?);
        }
        Ok(list)
    }

    async fn refuse_note(
        &self,
        user: UserId,
        note: PaymentNote,
        now_ms: TimestampMs,
    ) -> Result<RefusalOutcome, OfflineError> {
        // Checked before any lock is taken (the signature, and who may refuse).
        refusal::precheck_refusal(&note, user)?;
        detached(self, move |pool, notifier| refuse_note(pool, notifier, user, note, now_ms)).await
    }

    async fn fraud_proofs(&self, limit: u32) -> Result<Vec<FraudProofRecord>, OfflineError> {
        let client = self.pool.get().await?;
        let limit = i64::from(limit.min(LIST_MAX));
        let mut out = Vec::new();
        for r in client
            .query(
                "SELECT id, purse_id, user_id, kind, first, second, created_at_ms FROM fraud_proofs ORDER BY id DESC LIMIT $1",
                &[&limit],
            )
            .await?
        {
            out.push(FraudProofRecord {
                id: r.try_get(0)?,
                purse_id: purse_id_of(&r.try_get::<_, Vec<u8>>(1)?)?,
                user_id: r.try_get(2)?,
                kind: r.try_get(3)?,
                first: r.try_get(4)?,
                second: r.try_get(5)?,
                created_at_ms: r.try_get(6)?,
            });
        }
        Ok(out)
    }
}

/// Runs an offline command to completion in its own task, even if the caller stops waiting.
async fn detached<T, F>(store: &PostgresStore, work: impl FnOnce(Pool, Notifier) -> F) -> Result<T, OfflineError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, OfflineError>> + Send + 'static,
{
    tokio::spawn(work(store.pool.clone(), store.notifier.clone()))
        .await
        .map_err(|e| LedgerError::storage("ledger task failed", e))?
}

#[cfg(test)]
mod tests {
    use super::super::test_db::{TestResult, explain, migrated};
    use super::*;

    /// The statements of an upload's transaction ([`settle_notes`]).
    fn upload_statements() -> [(&'static str, &'static str); 23] {
        [
            ("NOTES_ALL", NOTES_ALL),
            ("NOTES_AROUND", NOTES_AROUND),
            ("NOTES_NEEDED", NOTES_NEEDED),
            ("HELD_AFTER", HELD_AFTER),
            ("PROOFS", PROOFS),
            ("USERS", USERS),
            ("LOCK_ACCOUNTS", LOCK_ACCOUNTS),
            ("REQUEST_TOTALS", REQUEST_TOTALS),
            ("NEXT_ENTRY_IDS", NEXT_ENTRY_IDS),
            ("HELD_PURSES", HELD_PURSES),
            ("INSERT_JOURNAL", INSERT_JOURNAL),
            ("INSERT_POSTINGS", INSERT_POSTINGS),
            ("UPDATE_ACCOUNTS", UPDATE_ACCOUNTS),
            ("INSERT_NOTES", INSERT_NOTES),
            ("UPDATE_NOTE", UPDATE_NOTE),
            ("UPDATE_PURSE", UPDATE_PURSE),
            ("INSERT_PROOF", INSERT_PROOF),
            ("REVOKE_DEVICE", REVOKE_DEVICE),
            ("FREEZE_USERS", FREEZE_USERS),
            ("INSERT_EVENTS", INSERT_EVENTS),
            ("INSERT_SECURITY_EVENT", INSERT_SECURITY_EVENT),
            ("LOCK_PURSES", LOCK_PURSES),
            ("REFUSED", REFUSED),
        ]
    }

    /// On a new, empty database, as in the first minute of a deployment: every statement of an
    /// upload runs a generic plan (made once per connection, never planned again per call) that
    /// reaches its rows by index, so it stays good however large the tables grow before the plan
    /// is made again. Without `enable_seqscan = off` in [`cached::INDEX_PLANS`] the plans made here
    /// scan whole tables; without `force_generic_plan`, seven of them were planned on every call.
    #[tokio::test]
    async fn an_upload_s_statements_keep_one_plan_by_index_from_an_empty_database() -> TestResult {
        let Some(db) = migrated().await? else { return Ok(()) };
        let client = &db.client;
        client.batch_execute("BEGIN").await?;
        client.batch_execute(cached::INDEX_PLANS).await?;
        for (index, (name, sql)) in upload_statements().iter().enumerate() {
            let params = client.prepare(sql).await?.params().len();
            client.batch_execute(&format!("PREPARE s{index} AS {sql}")).await?;
            let plan = explain(client, &format!("s{index} ({})", vec!["NULL"; params].join(", "))).await?;
            if std::env::var_os("OFFPAY_PRINT_PLANS").is_some() {
                eprintln!("{name}:\n{plan}");
            }
            assert!(!plan.contains("Seq Scan"), "{name} scans a whole table:\n{plan}");
            // A revoked purse's upload reads its notes by hash through the primary key and its
            // held notes through their own index, never every note of the purse (a purse
            // forked many times holds many).
            if *name == "NOTES_NEEDED" {
                assert!(plan.contains("using notes_pkey"), "{name} finds notes by hash some other way:\n{plan}");
            }
            if *name == "NOTES_NEEDED" || *name == "HELD_AFTER" {
                assert!(plan.contains("using notes_held_by_purse"), "{name} walks the purse for held notes:\n{plan}");
            }
            let counts = client
                .query_one(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1",
                    &[&format!("s{index}")],
                )
                .await?;
            let (generic, custom): (i64, i64) = (counts.try_get(0)?, counts.try_get(1)?);
            assert_eq!((generic, custom), (1, 0), "{name} was planned for its arguments, not once");
        }
        client.batch_execute("ROLLBACK").await?;
        db.close().await
    }

    /// The expiry job's read of due purses, as a generic plan (which PostgreSQL may keep for the
    /// pooled connection): it goes through the partial index of unexpired purses in deadline
    /// order and stops at its limit, instead of walking every purse in id order.
    #[tokio::test]
    async fn the_expiry_job_reads_due_purses_through_their_index() -> TestResult {
        let Some(db) = migrated().await? else { return Ok(()) };
        let client = &db.client;
        client.batch_execute("SET plan_cache_mode = force_generic_plan").await?;
        client.batch_execute(&format!("PREPARE expiring AS {EXPIRING}")).await?;
        let plan = explain(client, "expiring (NULL, NULL)").await?;
        assert!(plan.contains("purses_to_expire") && plan.contains("Index Cond"), "{plan}");
        db.close().await
    }
}
