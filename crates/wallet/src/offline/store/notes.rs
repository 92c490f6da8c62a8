//! Notes and requests in the offline store: my open payment requests, the notes I accepted
//! (with the per-purse tallies), the notes I paid, and what the server said when each note
//! was uploaded.

use offpay_protocol::{
    Accepted, AccountNumber, Amount, Hash256, Nonce, OpenRequest, PaymentNote, PaymentRequest, PurseId, PurseTally,
    UnixTime,
};
use rusqlite::{Connection, OptionalExtension, params};

use super::{OfflineStore, OfflineStoreError, amount_from_sql, corrupt, sql_amount};

/// What the server said about an uploaded note (docs/API-OFFLINE.md, `POST /v1/notes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStatus {
    /// Not uploaded yet, or no answer yet.
    Pending,
    /// The payee was credited by this upload.
    Settled,
    /// Already settled by an earlier upload (from either side): nothing moved this time.
    Duplicate,
    /// The server refused the note (reason in the record).
    Rejected,
    /// The note is part of a fraud proof (a fork): the purse and device are revoked.
    Fraud,
    /// Stored by the server but not (fully) paid: the payer's purse was double-spent beyond
    /// what the operator covers; paid when money is recovered from the payer. Uploaded again
    /// at each sync to learn when.
    Held,
}

impl UploadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Pending => "pending",
            UploadStatus::Settled => "settled",
            UploadStatus::Duplicate => "duplicate",
            UploadStatus::Rejected => "rejected",
            UploadStatus::Fraud => "fraud",
            UploadStatus::Held => "held",
        }
    }

    /// The server's status word; `None` for anything else.
    pub fn from_server(text: &str) -> Option<UploadStatus> {
        Some(match text {
            "settled" => UploadStatus::Settled,
            "duplicate" => UploadStatus::Duplicate,
            "rejected" => UploadStatus::Rejected,
            "fraud" => UploadStatus::Fraud,
            "held" => UploadStatus::Held,
            _ => return None,
        })
    }

    fn from_sql(text: Option<&str>) -> Result<UploadStatus, OfflineStoreError> {
        match text {
            None => Ok(UploadStatus::Pending),
            Some(t) => UploadStatus::from_server(t).ok_or_else(|| corrupt("upload status", t)),
        }
    }
}

/// Which side of a payment this device was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadSide {
    /// I accepted the note (payee).
    Accepted,
    /// I signed the note (payer).
    Paid,
}

/// A payment request this device made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequestRecord {
    pub nonce: Nonce,
    pub amount: Amount,
    pub expires_at: UnixTime,
    pub paid: bool,
    pub text: String,
}

impl OpenRequestRecord {
    pub fn to_open_request(&self) -> OpenRequest {
        OpenRequest { nonce: self.nonce, amount: self.amount, expires_at: self.expires_at, paid: self.paid }
    }
}

/// A note this device accepted as payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedRecord {
    pub note_hash: Hash256,
    pub text: String,
    pub purse_id: PurseId,
    pub seq: u32,
    pub amount: Amount,
    pub payer: AccountNumber,
    pub accepted_at: UnixTime,
    pub status: UploadStatus,
    pub reason: Option<String>,
}

/// A note this device signed as payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidRecord {
    pub note_hash: Hash256,
    pub text: String,
    pub purse_id: PurseId,
    pub seq: u32,
    pub amount: Amount,
    pub payee: AccountNumber,
    pub paid_at: UnixTime,
    pub status: UploadStatus,
    pub reason: Option<String>,
}

fn u64_col(value: i64, what: &'static str) -> Result<u64, OfflineStoreError> {
    u64::try_from(value).map_err(|e| corrupt(what, e))
}

pub(crate) fn insert_request(
    conn: &Connection,
    request: &PaymentRequest,
    text: &str,
    now: UnixTime,
) -> Result<(), OfflineStoreError> {
    let f = request.fields();
    conn.execute(
        "INSERT INTO requests (nonce, amount, expires_at, paid, text, created_at) VALUES (?1, ?2, ?3, 0, ?4, ?5)",
        params![
            f.nonce.to_hex(),
            sql_amount(f.amount),
            i64::try_from(f.expires_at).unwrap_or(i64::MAX),
            text,
            i64::try_from(now).unwrap_or(i64::MAX)
        ],
    )?;
    Ok(())
}

pub(crate) fn read_request(conn: &Connection, nonce: Nonce) -> Result<Option<OpenRequestRecord>, OfflineStoreError> {
    let row: Option<(i64, i64, i64, String)> = conn
        .query_row("SELECT amount, expires_at, paid, text FROM requests WHERE nonce = ?1", [nonce.to_hex()], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .optional()?;
    row.map(|(amount, expires_at, paid, text)| {
        Ok(OpenRequestRecord {
            nonce,
            amount: amount_from_sql(amount, "request amount")?,
            expires_at: u64_col(expires_at, "request expiry")?,
            paid: paid != 0,
            text,
        })
    })
    .transpose()
}

pub(crate) fn read_tally(conn: &Connection, purse_id: PurseId) -> Result<Option<PurseTally>, OfflineStoreError> {
    let text: Option<String> = conn
        .query_row("SELECT tally FROM tallies WHERE purse_id = ?1", [purse_id.to_hex()], |r| r.get(0))
        .optional()?;
    text.map(|t| {
        let tally: PurseTally = serde_json::from_str(&t).map_err(|e| corrupt("purse tally", e))?;
        if tally.purse_id != purse_id {
            return Err(corrupt("purse tally", "stored under another purse id"));
        }
        Ok(tally)
    })
    .transpose()
}

/// Stores an accepted note and its purse's new tally (a note paying my shop card has no request
/// to mark paid). Call inside the transaction that ran the acceptance check.
pub(crate) fn record_card_acceptance(
    conn: &Connection,
    note_text: &str,
    accepted: &Accepted,
    now: UnixTime,
) -> Result<(), OfflineStoreError> {
    conn.execute(
        "INSERT INTO accepted (note_hash, text, purse_id, seq, amount, payer, nonce, accepted_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            accepted.note_hash.to_hex(),
            note_text,
            accepted.purse_id.to_hex(),
            i64::from(accepted.seq),
            sql_amount(accepted.amount),
            i64::try_from(accepted.payer.0).unwrap_or(i64::MAX),
            accepted.nonce.to_hex(),
            i64::try_from(now).unwrap_or(i64::MAX)
        ],
    )?;
    write_tally(conn, accepted)
}

/// Stores the purse's new tally after `accepted` (also of a card note kept to give back,
/// `counter_refusals.rs`: a fork of it is then refused like a fork of an accepted note).
pub(crate) fn write_tally(conn: &Connection, accepted: &Accepted) -> Result<(), OfflineStoreError> {
    let tally = serde_json::to_string(&accepted.tally).map_err(|e| corrupt("purse tally", e))?;
    conn.execute(
        "INSERT INTO tallies (purse_id, tally) VALUES (?1, ?2) ON CONFLICT (purse_id) DO UPDATE SET tally = excluded.tally",
        params![accepted.purse_id.to_hex(), tally],
    )?;
    Ok(())
}

/// Stores an accepted note and its purse's new tally, and marks its request paid. Call inside
/// the transaction that ran the acceptance check.
pub(crate) fn record_acceptance(
    conn: &Connection,
    note_text: &str,
    accepted: &Accepted,
    now: UnixTime,
) -> Result<(), OfflineStoreError> {
    record_card_acceptance(conn, note_text, accepted, now)?;
    let changed =
        conn.execute("UPDATE requests SET paid = 1 WHERE nonce = ?1 AND paid = 0", [accepted.nonce.to_hex()])?;
    if changed != 1 {
        return Err(corrupt("payment request", "the request was paid while the note was being accepted"));
    }
    Ok(())
}

pub(crate) fn insert_paid(
    conn: &Connection,
    note: &PaymentNote,
    text: &str,
    now: UnixTime,
) -> Result<(), OfflineStoreError> {
    let f = note.fields();
    conn.execute(
        "INSERT INTO paid (note_hash, text, purse_id, seq, amount, payee, paid_at, nonce)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            note.hash().to_hex(),
            text,
            note.purse_id().to_hex(),
            i64::from(f.seq),
            sql_amount(f.amount),
            i64::try_from(f.payee.0).unwrap_or(i64::MAX),
            i64::try_from(now).unwrap_or(i64::MAX),
            f.nonce.to_hex()
        ],
    )?;
    Ok(())
}

/// The text of the note this device paid for the request with `nonce` (the oldest, should a
/// store from before schema 2 hold several), or `None`.
pub(crate) fn paid_text_for_nonce(conn: &Connection, nonce: Nonce) -> Result<Option<String>, OfflineStoreError> {
    Ok(conn
        .query_row(
            "SELECT text FROM paid WHERE nonce = ?1 ORDER BY paid_at, purse_id, seq LIMIT 1",
            [nonce.to_hex()],
            |r| r.get(0),
        )
        .optional()?)
}

type NoteRow = (String, String, String, i64, i64, i64, i64, Option<String>, Option<String>);

fn note_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NoteRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

struct NoteCols {
    hash: Hash256,
    text: String,
    purse_id: PurseId,
    seq: u32,
    amount: Amount,
    party: AccountNumber,
    at: UnixTime,
    status: UploadStatus,
    reason: Option<String>,
}

fn parse_note_row(row: NoteRow) -> Result<NoteCols, OfflineStoreError> {
    let (hash, text, purse_id, seq, amount, party, at, status, reason) = row;
    Ok(NoteCols {
        hash: Hash256::from_hex(&hash).map_err(|e| corrupt("note hash", e))?,
        text,
        purse_id: PurseId::from_hex(&purse_id).map_err(|e| corrupt("note purse id", e))?,
        seq: u32::try_from(seq).map_err(|e| corrupt("note sequence number", e))?,
        amount: amount_from_sql(amount, "note amount")?,
        party: AccountNumber(u64_col(party, "note account")?),
        at: u64_col(at, "note time")?,
        status: UploadStatus::from_sql(status.as_deref())?,
        reason,
    })
}

impl OfflineStore {
    /// My payment requests, newest first.
    pub fn requests(&self) -> Result<Vec<OpenRequestRecord>, OfflineStoreError> {
        let mut stmt = self.conn().prepare("SELECT nonce FROM requests ORDER BY created_at DESC, nonce")?;
        let nonces = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(nonces.len());
        for nonce in nonces {
            let nonce = Nonce::from_hex(&nonce).map_err(|e| corrupt("request nonce", e))?;
            out.extend(read_request(self.conn(), nonce)?);
        }
        Ok(out)
    }

    /// What I accepted from one purse (`None` if nothing).
    pub fn tally(&self, purse_id: PurseId) -> Result<Option<PurseTally>, OfflineStoreError> {
        read_tally(self.conn(), purse_id)
    }

    /// Notes I accepted, oldest first.
    pub fn accepted_notes(&self) -> Result<Vec<AcceptedRecord>, OfflineStoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT note_hash, text, purse_id, seq, amount, payer, accepted_at, sync_status, sync_reason
             FROM accepted ORDER BY accepted_at, purse_id, seq",
        )?;
        let rows = stmt.query_map([], note_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|row| {
                let c = parse_note_row(row)?;
                Ok(AcceptedRecord {
                    note_hash: c.hash,
                    text: c.text,
                    purse_id: c.purse_id,
                    seq: c.seq,
                    amount: c.amount,
                    payer: c.party,
                    accepted_at: c.at,
                    status: c.status,
                    reason: c.reason,
                })
            })
            .collect()
    }

    /// Notes I paid, oldest first.
    pub fn paid_notes(&self) -> Result<Vec<PaidRecord>, OfflineStoreError> {
        let mut stmt = self.conn().prepare(
            "SELECT note_hash, text, purse_id, seq, amount, payee, paid_at, sync_status, sync_reason
             FROM paid ORDER BY purse_id, seq",
        )?;
        let rows = stmt.query_map([], note_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|row| {
                let c = parse_note_row(row)?;
                Ok(PaidRecord {
                    note_hash: c.hash,
                    text: c.text,
                    purse_id: c.purse_id,
                    seq: c.seq,
                    amount: c.amount,
                    payee: c.party,
                    paid_at: c.at,
                    status: c.status,
                    reason: c.reason,
                })
            })
            .collect()
    }

    /// Notes to upload at the next sync (accepted and paid), as (side, hash, text): those the
    /// server has not answered, those it holds, and those it refused for a reason a later upload
    /// may change ([`offpay_api::offline::REFUSALS_JUDGED_AGAIN`]).
    pub fn pending_uploads(&self) -> Result<Vec<(UploadSide, Hash256, String)>, OfflineStoreError> {
        let mut out = Vec::new();
        let again = offpay_api::offline::REFUSALS_JUDGED_AGAIN;
        let placeholders = vec!["?"; again.len()].join(", ");
        for (side, table, order) in [
            (UploadSide::Accepted, "accepted", "accepted_at, purse_id, seq"),
            (UploadSide::Paid, "paid", "purse_id, seq"),
        ] {
            let mut stmt = self.conn().prepare(&format!(
                "SELECT note_hash, text FROM {table}
                 WHERE sync_status IS NULL OR sync_status = 'held'
                    OR (sync_status = 'rejected' AND sync_reason IN ({placeholders}))
                 ORDER BY {order}"
            ))?;
            let rows = stmt.query_map(rusqlite::params_from_iter(again), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            for row in rows {
                let (hash, text) = row?;
                out.push((side, Hash256::from_hex(&hash).map_err(|e| corrupt("note hash", e))?, text));
            }
        }
        Ok(out)
    }

    /// Notes the server has not answered definitely yet, and notes it holds, as
    /// (unanswered, held).
    pub fn upload_counts(&self) -> Result<(usize, usize), OfflineStoreError> {
        let mut counts = (0usize, 0usize);
        for table in ["accepted", "paid"] {
            let (unanswered, held): (i64, i64) = self.conn().query_row(
                &format!(
                    "SELECT count(*) FILTER (WHERE sync_status IS NULL), count(*) FILTER (WHERE sync_status = 'held') FROM {table}"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            counts.0 += usize::try_from(unanswered).unwrap_or(0);
            counts.1 += usize::try_from(held).unwrap_or(0);
        }
        Ok(counts)
    }

    /// Records the server's answer for an uploaded note (in whichever table holds it).
    pub fn record_upload(
        &mut self,
        hash: Hash256,
        status: UploadStatus,
        reason: Option<&str>,
    ) -> Result<(), OfflineStoreError> {
        let status = (status != UploadStatus::Pending).then(|| status.as_str());
        for table in ["accepted", "paid"] {
            self.conn().execute(
                &format!("UPDATE {table} SET sync_status = ?2, sync_reason = ?3 WHERE note_hash = ?1"),
                params![hash.to_hex(), status, reason],
            )?;
        }
        Ok(())
    }
}
