//! Deposits and transfers in PostgreSQL, in two pipelined round trips:
//!
//! 1. `BEGIN`; claim the idempotency key (`INSERT ... ON CONFLICT DO NOTHING`, which waits for a
//!    concurrent transaction holding the same key); lock the account rows with
//!    `SELECT ... ORDER BY id FOR UPDATE` (fixed order: no deadlocks); take the entry id from
//!    `journal_id_seq` (after the locks, so per account ids follow commit order) and, for a
//!    transfer, read the sender's frozen flag again (the lock statement's join read it before it
//!    waited for the lock).
//! 2. One statement writes the entry, postings, balances, chain heads, idempotency result and
//!    events; `COMMIT`. Then the events' notices go to the notifier (`notify.rs`, which explains
//!    why NOTIFY is not sent inside this transaction).
//!
//! Everything in between (funds, arithmetic, hashes, payloads) is computed in Rust by `plan`.
//! A key already claimed by a committed request is answered after `ROLLBACK` by replaying the
//! stored entry (or `IdempotencyConflict`), or the refusal it got. A transfer refused for a
//! reason that depends on the state (`LedgerError::remembered_code`) commits its claimed key
//! with that refusal; any other refusal rolls back and stores nothing.
//! Callers run these functions in a spawned task so a dropped request future can never leave a
//! connection mid-transaction.

use deadpool_postgres::{Object, Pool};
use offpay_protocol::{Amount, Handle};
use tokio_postgres::Row;

use super::notify::Notifier;
use crate::error::LedgerError;
use crate::model::*;
use crate::plan::{
    self, LockedAccount, OPERATOR_SCOPE, Party, Plan, deposit_fingerprint, plan_deposit, plan_transfer,
    transfer_fingerprint, user_scope,
};

const CLAIM: &str = "INSERT INTO idempotency (scope, key, request_hash, entry_id, created_at_ms)
     VALUES ($1, $2, $3, NULL, $4) ON CONFLICT DO NOTHING";

const LOCK_TRANSFER: &str = "SELECT u.id, u.handle, u.frozen, a.id, a.kind, a.balance, a.head
     FROM users u JOIN accounts a ON a.id = u.account_id
     WHERE u.id = $1 OR u.handle = $2
     ORDER BY a.id FOR UPDATE OF a";

const LOCK_DEPOSIT: &str = "SELECT u.id, u.handle, u.frozen, a.id, a.kind, a.balance, a.head
     FROM accounts a LEFT JOIN users u ON u.account_id = a.id
     WHERE a.id = 1 OR u.handle = $1
     ORDER BY a.id FOR UPDATE OF a";

/// Binds a shop counter's payment's receipt to its card ([`Plan::card`]).
const BIND_CARD: &str = "INSERT INTO receipt_cards (entry_id, card, created_at_ms) VALUES ($1, $2, $3)";

const NEXT_ENTRY: &str = "SELECT nextval('journal_id_seq'), false";

/// The entry id, and whether the sender is frozen now. Run after the lock statement, so it sees a
/// freeze committed by whoever held the sender's account before (a fraud upload locks the payer's
/// account, then freezes the payer): the lock statement waits for the account row and reads it
/// again, but keeps the `users` row it joined as it was when it started.
const NEXT_ENTRY_AND_FROZEN: &str =
    "SELECT nextval('journal_id_seq'), COALESCE((SELECT frozen FROM users WHERE id = $1), false)";

const WRITE_PLAN: &str = "WITH j AS (
        INSERT INTO journal (id, kind, amount, memo, from_user, to_user, created_at_ms, hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ), p AS (
        INSERT INTO postings (entry_id, account_id, delta, prev_hash)
        SELECT $1, t.a, t.d, t.h FROM unnest($9::bigint[], $10::bigint[], $11::bytea[]) AS t (a, d, h)
    ), b AS (
        -- `= ANY($12)` keeps the generic plan on the primary key (joined on `unnest` alone, it
        -- scans the whole table).
        UPDATE accounts SET balance = t.bal, head = $8
        FROM unnest($12::bigint[], $13::bigint[]) AS t (id, bal) WHERE accounts.id = t.id AND accounts.id = ANY($12)
    ), i AS (
        UPDATE idempotency SET entry_id = $1 WHERE scope = $14 AND key = $15
    ), e AS (
        INSERT INTO events (user_id, kind, payload, created_at_ms)
        SELECT t.u, t.k, t.pl, $7 FROM unnest($16::bigint[], $17::text[], $18::text[]) AS t (u, k, pl)
        RETURNING seq, user_id
    )
    SELECT e.seq, e.user_id FROM e";

const REPLAY: &str = "SELECT request_hash, entry_id, refusal FROM idempotency WHERE scope = $1 AND key = $2";

/// Keeps the claimed key with the refusal it got (`LedgerError::remembered_code`).
const REMEMBER_REFUSAL: &str = "UPDATE idempotency SET refusal = $3 WHERE scope = $1 AND key = $2";

const POSTED: &str = "SELECT j.kind, j.amount, j.created_at_ms, f.handle, t.handle
     FROM journal j LEFT JOIN users f ON f.id = j.from_user JOIN users t ON t.id = j.to_user
     WHERE j.id = $1";

/// A locked row of the lock queries.
struct LockedRow {
    user: Option<(UserId, String, bool)>,
    account: LockedAccount,
}

fn locked_row(row: &Row) -> Result<LockedRow, LedgerError> {
    let user_id: Option<UserId> = row.try_get(0)?;
    let user = match user_id {
        Some(id) => Some((id, row.try_get::<_, String>(1)?, row.try_get::<_, bool>(2)?)),
        None => None,
    };
    let kind: String = row.try_get(4)?;
    let account = LockedAccount {
        account_id: row.try_get(3)?,
        kind: crate::model::account_kind(&kind)?,
        balance: row.try_get(5)?,
        head: row.try_get(6)?,
    };
    Ok(LockedRow { user, account })
}

fn party(row: &LockedRow) -> Result<Party, LedgerError> {
    let (user_id, handle, _) = row.user.as_ref().ok_or(LedgerError::UnknownUser)?;
    Ok(Party { user_id: *user_id, handle: crate::model::handle_of(handle)?, account: row.account.clone() })
}

/// What step 1 decided.
enum Step {
    /// The key is taken by a committed request.
    Replay,
    Write(Box<Plan>),
}

/// Ends an open transaction without effect. A connection that cannot even roll back is
/// detached from the pool and closed.
async fn roll_back(client: Object) {
    if client.batch_execute("ROLLBACK").await.is_err() {
        drop(Object::take(client));
    }
}

/// Writes the plan and commits; returns the notices of the events written.
async fn write_and_commit(
    client: Object,
    plan: &Plan,
    scope: &str,
    key: &IdempotencyKey,
) -> Result<Vec<EventNotice>, LedgerError> {
    let write = match client.prepare_cached(WRITE_PLAN).await {
        Ok(statement) => statement,
        Err(e) => {
            roll_back(client).await;
            return Err(e.into());
        }
    };
    let e = &plan.entry;
    let posting_accounts: Vec<AccountId> = plan.postings.iter().map(|p| p.account_id).collect();
    let deltas: Vec<i64> = plan.postings.iter().map(|p| p.delta).collect();
    let prevs: Vec<Vec<u8>> = plan.postings.iter().map(|p| p.prev_hash.clone()).collect();
    let balance_accounts: Vec<AccountId> = plan.balances.iter().map(|b| b.0).collect();
    let balances: Vec<i64> = plan.balances.iter().map(|b| b.1).collect();
    let event_users: Vec<UserId> = plan.events.iter().map(|ev| ev.user_id).collect();
    let event_kinds: Vec<&str> = plan.events.iter().map(|ev| ev.kind).collect();
    let payloads: Vec<&str> = plan.events.iter().map(|ev| ev.payload.as_str()).collect();
    let hash = &plan.hash[..];
    let key = key.as_str();
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 18] = [
        &e.id,
        &e.kind,
        &e.amount,
        &e.memo,
        &e.from_user,
        &e.to_user,
        &e.created_at_ms,
        &hash,
        &posting_accounts,
        &deltas,
        &prevs,
        &balance_accounts,
        &balances,
        &scope,
        &key,
        &event_users,
        &event_kinds,
        &payloads,
    ];
    // A shop counter's payment binds its receipt to the card in the same transaction, prepared
    // before the pipeline so that it is sent before the COMMIT.
    let bind = match plan.card {
        None => None,
        Some(card) => match client.prepare_cached(BIND_CARD).await {
            Ok(statement) => Some((statement, card.to_vec())),
            Err(e) => {
                roll_back(client).await;
                return Err(e.into());
            }
        },
    };
    let (written, bound, committed) = futures_util::join!(
        client.query(&write, &params),
        async {
            match &bind {
                Some((statement, card)) => {
                    client.execute(statement, &[&e.id, card, &e.created_at_ms]).await.map(|_| ())
                }
                None => Ok(()),
            }
        },
        // A failed write aborts the transaction, and COMMIT of an aborted transaction rolls back.
        client.batch_execute("COMMIT"),
    );
    match (written.and_then(|rows| bound.map(|()| rows)), committed) {
        (Ok(rows), Ok(())) => {
            rows.iter().map(|r| Ok(EventNotice { seq: r.try_get(0)?, user_id: r.try_get(1)? })).collect()
        }
        (Err(e), Ok(())) => Err(e.into()),
        (_, Err(e)) => {
            // Unknown connection state (the commit may or may not have happened; a retry with
            // the same key finds out).
            drop(Object::take(client));
            Err(e.into())
        }
    }
}

async fn replay(
    client: &Object,
    scope: &str,
    key: &IdempotencyKey,
    fingerprint: &[u8; 32],
) -> Result<Posted, LedgerError> {
    let statement = client.prepare_cached(REPLAY).await?;
    let row = client
        .query_opt(&statement, &[&scope, &key.as_str()])
        .await?
        .ok_or_else(|| LedgerError::Storage("idempotency record vanished during replay".into()))?;
    let hash: Vec<u8> = row.try_get(0)?;
    if hash.as_slice() != fingerprint.as_slice() {
        return Err(LedgerError::IdempotencyConflict);
    }
    let refusal: Option<String> = row.try_get(2)?;
    if let Some(code) = refusal {
        return Err(LedgerError::remembered(&code));
    }
    let entry_id: Option<EntryId> = row.try_get(1)?;
    let entry_id = entry_id.ok_or_else(|| LedgerError::Storage("idempotency record has no entry".into()))?;
    let mut posted = posted_by_entry(client, entry_id).await?;
    posted.replayed = true;
    Ok(posted)
}

pub async fn posted_by_entry(client: &Object, entry_id: EntryId) -> Result<Posted, LedgerError> {
    let statement = client.prepare_cached(POSTED).await?;
    let row = client.query_one(&statement, &[&entry_id]).await?;
    let kind: String = row.try_get(0)?;
    let from: Option<String> = row.try_get(3)?;
    let to: String = row.try_get(4)?;
    Ok(Posted {
        entry_id,
        kind: crate::model::entry_kind(&kind)?,
        from: from.as_deref().map(crate::model::handle_of).transpose()?,
        to: crate::model::handle_of(&to)?,
        amount: crate::model::amount_of(row.try_get(1)?)?,
        created_at_ms: row.try_get(2)?,
        replayed: false,
    })
}

/// The idempotency record a request claims.
struct Claim<'a> {
    scope: &'a str,
    key: &'a IdempotencyKey,
    fingerprint: &'a [u8; 32],
    now_ms: TimestampMs,
}

/// What [`run`] did.
enum Ran {
    Written(Box<Plan>),
    Replayed(Posted),
}

impl Ran {
    fn posted(self) -> Posted {
        match self {
            Ran::Written(plan) => plan.posted,
            Ran::Replayed(posted) => posted,
        }
    }
}

/// A statement and its parameters.
type Sql<'a> = (&'a str, &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)]);

/// Runs step 1 and hands its outcome to `decide`, then finishes the transaction accordingly.
/// `lock` locks the accounts; `next` runs after it and selects the entry id and a flag that
/// `decide` gets with them (the sender frozen, read after the locks). With `remember_refusals`,
/// a refusal that depends on the state (`LedgerError::remembered_code`) is committed with the
/// claimed key, so every later attempt with that key gets it too.
async fn run(
    pool: &Pool,
    notifier: &Notifier,
    Claim { scope, key, fingerprint, now_ms }: Claim<'_>,
    remember_refusals: bool,
    (lock_sql, lock_params): Sql<'_>,
    (next_sql, next_params): Sql<'_>,
    decide: impl FnOnce(Vec<LockedRow>, EntryId, bool) -> Result<Plan, LedgerError>,
) -> Result<Ran, LedgerError> {
    let client = pool.get().await?;
    let (claim, lock, next) = futures_util::try_join!(
        client.prepare_cached(CLAIM),
        client.prepare_cached(lock_sql),
        client.prepare_cached(next_sql)
    )?;
    let fingerprint_bytes = &fingerprint[..];
    let key_text = key.as_str();
    let claim_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&scope, &key_text, &fingerprint_bytes, &now_ms];
    let (begun, claimed, locked, next_id) = futures_util::join!(
        client.batch_execute("BEGIN"),
        client.execute(&claim, &claim_params),
        client.query(&lock, lock_params),
        client.query_one(&next, next_params),
    );
    let step: Result<Step, LedgerError> = (|| {
        begun?;
        if claimed? == 0 {
            return Ok(Step::Replay);
        }
        let rows = locked?.iter().map(locked_row).collect::<Result<Vec<_>, _>>()?;
        let next = next_id?;
        let entry_id: EntryId = next.try_get(0)?;
        let flag: bool = next.try_get(1)?;
        Ok(Step::Write(Box::new(decide(rows, entry_id, flag)?)))
    })();
    match step {
        Err(e) if remember_refusals && e.remembered_code().is_some() => {
            // `decide` refused, so this transaction holds the claimed key.
            let code = e.remembered_code();
            let remembered = async {
                let statement = client.prepare_cached(REMEMBER_REFUSAL).await?;
                client.execute(&statement, &[&scope, &key_text, &code]).await?;
                client.batch_execute("COMMIT").await
            };
            match remembered.await {
                Ok(()) => Err(e),
                Err(failure) => {
                    // Unknown state: the same key, tried again, finds out.
                    drop(Object::take(client));
                    Err(failure.into())
                }
            }
        }
        Err(e) => {
            roll_back(client).await;
            Err(e)
        }
        Ok(Step::Replay) => {
            let outcome = client.batch_execute("ROLLBACK").await;
            match outcome {
                Ok(()) => replay(&client, scope, key, fingerprint).await.map(Ran::Replayed),
                Err(e) => {
                    drop(Object::take(client));
                    Err(e.into())
                }
            }
        }
        Ok(Step::Write(plan)) => {
            let notices = write_and_commit(client, &plan, scope, key).await?;
            notifier.send(&notices);
            Ok(Ran::Written(plan))
        }
    }
}

pub async fn transfer(
    pool: &Pool,
    notifier: &Notifier,
    request: &TransferRequest,
    now_ms: TimestampMs,
) -> Result<(Posted, Amount), LedgerError> {
    let minor = plan::check_transfer(request)?;
    let scope = user_scope(request.from);
    let fingerprint = transfer_fingerprint(request);
    let to = request.to.as_str();
    let claim = Claim { scope: &scope, key: &request.idempotency_key, fingerprint: &fingerprint, now_ms };
    let mut sender_account = None;
    let lock: Sql<'_> = (LOCK_TRANSFER, &[&request.from, &to]);
    let next: Sql<'_> = (NEXT_ENTRY_AND_FROZEN, &[&request.from]);
    let ran = run(pool, notifier, claim, true, lock, next, |rows, entry_id, sender_frozen| {
        let sender = rows.iter().find(|r| r.user.as_ref().is_some_and(|u| u.0 == request.from));
        let receiver = rows.iter().find(|r| r.user.as_ref().is_some_and(|u| u.1 == to));
        let (Some(sender), Some(receiver)) = (sender, receiver) else {
            return Err(LedgerError::UnknownUser);
        };
        if sender.account.account_id == receiver.account.account_id {
            return Err(LedgerError::SameAccount);
        }
        if sender_frozen || sender.user.as_ref().is_some_and(|u| u.2) {
            return Err(LedgerError::AccountFrozen);
        }
        sender_account = Some(sender.account.account_id);
        plan_transfer(
            entry_id,
            &party(sender)?,
            &party(receiver)?,
            minor,
            request.memo.as_deref(),
            request.card,
            now_ms,
        )
    })
    .await?;
    match ran {
        Ran::Written(plan) => {
            let balance =
                sender_account.and_then(|account| plan.balance_after(account)).ok_or(LedgerError::UnknownUser)?;
            Ok((plan.posted, crate::model::amount_of(balance)?))
        }
        Ran::Replayed(posted) => Ok((posted, super::reads::balance(pool, request.from).await?)),
    }
}

pub async fn deposit(
    pool: &Pool,
    notifier: &Notifier,
    to: &Handle,
    amount: Amount,
    key: &IdempotencyKey,
    now_ms: TimestampMs,
) -> Result<Posted, LedgerError> {
    let minor = plan::check_amount(amount)?;
    let fingerprint = deposit_fingerprint(to, amount);
    let handle = to.as_str();
    let claim = Claim { scope: OPERATOR_SCOPE, key, fingerprint: &fingerprint, now_ms };
    run(pool, notifier, claim, true, (LOCK_DEPOSIT, &[&handle]), (NEXT_ENTRY, &[]), |rows, entry_id, _| {
        let funding = rows
            .iter()
            .find(|r| r.account.kind == AccountKind::Funding)
            .ok_or_else(|| LedgerError::Storage("the funding account is missing".into()))?;
        let receiver = rows
            .iter()
            .find(|r| r.account.kind == AccountKind::Wallet && r.user.as_ref().is_some_and(|u| u.1 == handle))
            .ok_or(LedgerError::UnknownUser)?;
        plan_deposit(entry_id, &funding.account, &party(receiver)?, minor, now_ms)
    })
    .await
    .map(Ran::posted)
}

#[cfg(test)]
mod tests {
    use super::super::test_db::{TestResult, explain, migrated};
    use super::WRITE_PLAN;

    /// Values for every parameter of [`WRITE_PLAN`], as SQL literals.
    const CALL: &str = r#"write_plan (1, 'transfer', 5, NULL, 1, 2, 0, '\x00', '{11,12}', '{-5,5}', '{"\\x00","\\x00"}',
        '{11,12}', '{1,2}', 'u:1', 'k', '{1,2}', '{a,b}', '{x,y}')"#;

    /// PostgreSQL keeps using the write's generic plan, made once per connection, only if that
    /// plan is cheap: it plans the statement again on every call otherwise (a tenth of its CPU per
    /// transfer, docs/PERFORMANCE.md). So the generic plan must reach accounts by primary key,
    /// and, on a table of a thousand accounts, be the plan PostgreSQL chooses by itself.
    #[tokio::test]
    async fn the_write_keeps_one_generic_plan_that_reaches_accounts_by_key() -> TestResult {
        let Some(db) = migrated().await? else { return Ok(()) };
        let client = &db.client;
        client
            .batch_execute(&format!(
                "INSERT INTO accounts (kind, balance, head, created_at_ms)
                   SELECT 'wallet', 0, '\\x00', 0 FROM generate_series(1, 1000);
                 ANALYZE accounts;
                 PREPARE write_plan AS {WRITE_PLAN}"
            ))
            .await?;

        client.batch_execute("SET plan_cache_mode = force_generic_plan").await?;
        let generic = explain(client, CALL).await?;
        assert!(generic.contains("Index Cond: (id = ANY ($12))"), "{generic}");
        assert!(!generic.contains("Seq Scan on accounts"), "{generic}");

        client.batch_execute("SET plan_cache_mode = auto").await?;
        let mut chosen = String::new();
        for _ in 0..6 {
            chosen = explain(client, CALL).await?;
        }
        assert!(chosen.contains("$12"), "after five custom plans, the generic one:\n{chosen}");
        db.close().await
    }
}
