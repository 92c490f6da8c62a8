//! PostgreSQL reads and the audit. `verify` streams the journal from one REPEATABLE READ, READ
//! ONLY snapshot into the shared `Verifier`, so memory stays bounded by the number of accounts.

use std::pin::pin;

use deadpool_postgres::Pool;
use futures_util::TryStreamExt;
use offpay_protocol::Amount;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use crate::chain::{EntryFields, PostingFields};
use crate::error::LedgerError;
use crate::model::*;
use crate::model::{amount_of, entry_kind, handle_of, note_hash};
use crate::verify::{StoredAccount, Verifier};

/// A user by `column` (`id` or `handle`).
pub async fn user(pool: &Pool, column: &'static str, value: &(dyn ToSql + Sync)) -> Result<Option<User>, LedgerError> {
    let client = pool.get().await?;
    let sql =
        format!("SELECT id, handle, password_hash, account_id, frozen, created_at_ms FROM users WHERE {column} = $1");
    let statement = client.prepare_cached(&sql).await?;
    client.query_opt(&statement, &[value]).await?.map(|row| user_from_row(&row)).transpose()
}

/// The user of a row whose first six columns are the user's.
fn user_from_row(row: &tokio_postgres::Row) -> Result<User, LedgerError> {
    let handle: String = row.try_get(1)?;
    Ok(User {
        id: row.try_get(0)?,
        handle: handle_of(&handle)?,
        password_hash: row.try_get(2)?,
        account_id: row.try_get(3)?,
        frozen: row.try_get(4)?,
        created_at_ms: row.try_get(5)?,
    })
}

/// The stored session with this token hash and its user, as they are (no expiry check, no
/// write): the one read of a signed-in request.
pub async fn session_user(pool: &Pool, token_hash: &[u8; 32]) -> Result<Option<(Session, User)>, LedgerError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT u.id, u.handle, u.password_hash, u.account_id, u.frozen, u.created_at_ms,
                s.user_id, s.created_at_ms, s.last_seen_ms, s.idle_timeout_ms, s.expires_at_ms
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1",
        )
        .await?;
    let Some(row) = client.query_opt(&statement, &[&&token_hash[..]]).await? else {
        return Ok(None);
    };
    Ok(Some((super::session_from_row(&row, token_hash, 6)?, user_from_row(&row)?)))
}

pub async fn security_events(pool: &Pool, limit: u32) -> Result<Vec<SecurityEvent>, LedgerError> {
    let client = pool.get().await?;
    let limit = i64::from(limit.min(crate::SECURITY_EVENTS_MAX));
    let rows = client
        .query("SELECT id, kind, detail, created_at_ms FROM security_events ORDER BY id DESC LIMIT $1", &[&limit])
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SecurityEvent {
                id: r.try_get(0)?,
                kind: r.try_get(1)?,
                detail: r.try_get(2)?,
                created_at_ms: r.try_get(3)?,
            })
        })
        .collect()
}

pub async fn balance(pool: &Pool, user: UserId) -> Result<Amount, LedgerError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached("SELECT a.balance FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = $1")
        .await?;
    let row = client.query_opt(&statement, &[&user]).await?.ok_or(LedgerError::UnknownUser)?;
    amount_of(row.try_get(0)?)
}

pub async fn transfer_entry(
    pool: &Pool,
    user: UserId,
    entry_id: EntryId,
) -> Result<Option<TransferEntry>, LedgerError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT j.from_user, f.handle, j.to_user, t.handle, j.amount, j.created_at_ms
         FROM journal j JOIN users f ON f.id = j.from_user JOIN users t ON t.id = j.to_user
         WHERE j.id = $1 AND j.kind = 'transfer' AND (j.from_user = $2 OR j.to_user = $2)",
        )
        .await?;
    let Some(r) = client.query_opt(&statement, &[&entry_id, &user]).await? else { return Ok(None) };
    let from_handle: String = r.try_get(1)?;
    let to_handle: String = r.try_get(3)?;
    Ok(Some(TransferEntry {
        entry_id,
        from: r.try_get(0)?,
        from_handle: handle_of(&from_handle)?,
        to: r.try_get(2)?,
        to_handle: handle_of(&to_handle)?,
        amount: amount_of(r.try_get(4)?)?,
        created_at_ms: r.try_get(5)?,
    }))
}

pub async fn history(
    pool: &Pool,
    user: UserId,
    before: Option<EntryId>,
    limit: u32,
) -> Result<Vec<HistoryItem>, LedgerError> {
    let client = pool.get().await?;
    let (account, page) = futures_util::try_join!(
        client.prepare_cached("SELECT account_id FROM users WHERE id = $1"),
        client.prepare_cached(
            "SELECT j.id, j.kind, p.delta, c.handle, j.memo, j.created_at_ms, j.note
             FROM postings p JOIN journal j ON j.id = p.entry_id
             LEFT JOIN users c ON c.id = (CASE WHEN j.from_user = $1 THEN j.to_user ELSE j.from_user END)
             WHERE p.account_id = $2 AND p.entry_id < $3
             ORDER BY p.entry_id DESC LIMIT $4",
        ),
    )?;
    let account: AccountId = client.query_opt(&account, &[&user]).await?.ok_or(LedgerError::UnknownUser)?.try_get(0)?;
    let limit = i64::from(limit.min(crate::HISTORY_MAX));
    let rows = client.query(&page, &[&user, &account, &before.unwrap_or(EntryId(i64::MAX)), &limit]).await?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let kind: String = r.try_get(1)?;
        let counterparty: Option<String> = r.try_get(3)?;
        let note: Option<Vec<u8>> = r.try_get(6)?;
        items.push(HistoryItem {
            entry_id: r.try_get(0)?,
            kind: entry_kind(&kind)?,
            delta: r.try_get(2)?,
            counterparty: counterparty.as_deref().map(handle_of).transpose()?,
            memo: r.try_get(4)?,
            created_at_ms: r.try_get(5)?,
            note: note.as_deref().map(note_hash).transpose()?,
        });
    }
    Ok(items)
}

pub async fn events_after(pool: &Pool, user: UserId, after: i64, limit: u32) -> Result<Vec<Event>, LedgerError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT seq, kind, payload, created_at_ms FROM events WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .await?;
    let limit = i64::from(limit.min(crate::EVENTS_MAX));
    let rows = client.query(&statement, &[&user, &after, &limit]).await?;
    let mut events = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = r.try_get(0)?;
        let payload: String = r.try_get(2)?;
        let payload =
            serde_json::from_str(&payload).map_err(|e| LedgerError::storage(format!("event {seq}: bad payload"), e))?;
        events.push(Event { seq, user_id: user, kind: r.try_get(1)?, payload, created_at_ms: r.try_get(3)? });
    }
    Ok(events)
}

pub async fn verify(pool: &Pool) -> Result<VerifyReport, LedgerError> {
    let mut client = pool.get().await?;
    let tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    let accounts = tx
        .query("SELECT id, kind, balance, head FROM accounts ORDER BY id", &[])
        .await?
        .iter()
        .map(|r| {
            Ok(StoredAccount { id: r.try_get(0)?, kind: r.try_get(1)?, balance: r.try_get(2)?, head: r.try_get(3)? })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
    let mut verifier = Verifier::new(accounts);
    let none: [i64; 0] = [];
    let rows = tx
        .query_raw(
            "SELECT j.id, j.kind, j.amount, j.memo, j.from_user, j.to_user, j.created_at_ms, j.hash,
                    p.account_id, p.delta, p.prev_hash
             FROM journal j LEFT JOIN postings p ON p.entry_id = j.id
             ORDER BY j.id, p.account_id",
            none,
        )
        .await?;
    let mut rows = pin!(rows);
    let mut current: Option<(EntryFields, Vec<u8>, Vec<PostingFields>)> = None;
    while let Some(r) = rows.try_next().await? {
        let id: EntryId = r.try_get(0)?;
        if current.as_ref().is_none_or(|(e, _, _)| e.id != id) {
            if let Some((e, h, p)) = current.take() {
                verifier.entry(&e, &h, &p);
            }
            let entry = EntryFields {
                id,
                kind: r.try_get(1)?,
                amount: r.try_get(2)?,
                memo: r.try_get(3)?,
                from_user: r.try_get(4)?,
                to_user: r.try_get(5)?,
                created_at_ms: r.try_get(6)?,
            };
            current = Some((entry, r.try_get(7)?, Vec::new()));
        }
        let account: Option<AccountId> = r.try_get(8)?;
        if let (Some(account_id), Some((_, _, postings))) = (account, current.as_mut()) {
            postings.push(PostingFields { account_id, delta: r.try_get(9)?, prev_hash: r.try_get(10)? });
        }
    }
    if let Some((e, h, p)) = current.take() {
        verifier.entry(&e, &h, &p);
    }
    let orphans: i64 = tx
        .query_one(
            "SELECT count(*) FROM postings p WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE j.id = p.entry_id)",
            &[],
        )
        .await?
        .try_get(0)?;
    verifier.orphan_postings(u64::try_from(orphans).unwrap_or(0));
    let offline_problems = super::offline::audit(&tx).await?;
    tx.commit().await?;
    let mut report = verifier.finish();
    report.problems.extend(offline_problems);
    Ok(report)
}
