//! PostgreSQL schema and migrations, applied at connect. Several servers may start at once
//! against one database, so migrations run on a dedicated connection holding a session-level
//! `pg_advisory_lock`; the lock goes away with the connection, whatever happens.

use tokio_postgres::{Config, NoTls};

use crate::error::LedgerError;

/// Advisory lock key of the migration step ("offpay" in ASCII).
const MIGRATION_LOCK: i64 = 0x6f66_6670_6179;

const MIGRATIONS: &[&str] = &[
    // 1: accounts, users, journal, postings, idempotency, events, sessions, throttle, security.
    r#"
    CREATE TABLE accounts (
        id            BIGSERIAL PRIMARY KEY,
        kind          TEXT      NOT NULL CHECK (kind IN ('wallet', 'funding', 'reserve', 'fraud_loss')),
        balance       BIGINT    NOT NULL DEFAULT 0,
        head          BYTEA     NOT NULL,
        created_at_ms BIGINT    NOT NULL,
        CHECK (kind <> 'wallet' OR balance >= 0)
    );
    INSERT INTO accounts (id, kind, balance, head, created_at_ms) VALUES
        (1, 'funding',    0, decode(repeat('00', 32), 'hex'), 0),
        (2, 'reserve',    0, decode(repeat('00', 32), 'hex'), 0),
        (3, 'fraud_loss', 0, decode(repeat('00', 32), 'hex'), 0);
    SELECT setval('accounts_id_seq', 3);

    CREATE TABLE users (
        id            BIGSERIAL PRIMARY KEY,
        handle        TEXT      NOT NULL UNIQUE,
        password_hash TEXT      NOT NULL,
        account_id    BIGINT    NOT NULL UNIQUE REFERENCES accounts (id),
        frozen        BOOLEAN   NOT NULL DEFAULT false,
        created_at_ms BIGINT    NOT NULL
    );

    -- Entry ids are taken after the entry's account rows are locked, so per account they
    -- increase in commit order (the hash chains rely on it).
    CREATE SEQUENCE journal_id_seq;
    CREATE TABLE journal (
        id            BIGINT    PRIMARY KEY,
        kind          TEXT      NOT NULL,
        amount        BIGINT    NOT NULL CHECK (amount > 0),
        memo          TEXT,
        from_user     BIGINT    REFERENCES users (id),
        to_user       BIGINT    NOT NULL REFERENCES users (id),
        created_at_ms BIGINT    NOT NULL,
        hash          BYTEA     NOT NULL
    );

    CREATE TABLE postings (
        entry_id   BIGINT NOT NULL REFERENCES journal (id),
        account_id BIGINT NOT NULL REFERENCES accounts (id),
        delta      BIGINT NOT NULL,
        prev_hash  BYTEA  NOT NULL,
        PRIMARY KEY (entry_id, account_id)
    );
    CREATE INDEX postings_by_account ON postings (account_id, entry_id);

    -- entry_id is NULL only inside the transaction that claimed the key (and, from migration
    -- 11, in a row that remembers a refusal).
    CREATE TABLE idempotency (
        scope         TEXT   NOT NULL,
        key           TEXT   NOT NULL,
        request_hash  BYTEA  NOT NULL,
        entry_id      BIGINT REFERENCES journal (id),
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (scope, key)
    );

    CREATE TABLE events (
        seq           BIGSERIAL PRIMARY KEY,
        user_id       BIGINT    NOT NULL REFERENCES users (id),
        kind          TEXT      NOT NULL,
        payload       TEXT      NOT NULL,
        created_at_ms BIGINT    NOT NULL
    );
    CREATE INDEX events_by_user ON events (user_id, seq);

    CREATE TABLE sessions (
        token_hash      BYTEA  PRIMARY KEY,
        user_id         BIGINT NOT NULL REFERENCES users (id),
        created_at_ms   BIGINT NOT NULL,
        last_seen_ms    BIGINT NOT NULL,
        idle_timeout_ms BIGINT NOT NULL,
        expires_at_ms   BIGINT NOT NULL
    );
    CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);

    CREATE TABLE login_throttle (
        key             TEXT   PRIMARY KEY,
        failures        BIGINT NOT NULL,
        locked_until_ms BIGINT NOT NULL
    );

    CREATE TABLE security_events (
        id            BIGSERIAL PRIMARY KEY,
        kind          TEXT      NOT NULL,
        detail        TEXT      NOT NULL,
        created_at_ms BIGINT    NOT NULL
    );
    "#,
    // 2: offline payments (devices, purses, notes, fraud proofs), see `offline.rs`.
    super::offline::MIGRATION,
    // 3: the loss bound: allowances, held notes, request nonces (filled in from the notes).
    super::offline::LOSS_BOUND_MIGRATION,
    // 4: offline journal entries name the note they pay (`HistoryItem::note`).
    "ALTER TABLE journal ADD COLUMN note BYTEA;",
    // 5: login throttling that forgets, guess budgets, device tokens, see `login.rs`.
    super::login::MIGRATION,
    // 6: failure rows say when they may be forgotten, and are pruned, see `login.rs`.
    super::login::FORGET_MIGRATION,
    // 7: the shop card each payment's receipts name (`Store::receipt_card`).
    "CREATE TABLE receipt_cards (
        entry_id      BIGINT PRIMARY KEY REFERENCES journal (id),
        card          BYTEA  NOT NULL CHECK (length(card) = 4),
        created_at_ms BIGINT NOT NULL
    );",
    // 8: notes by (purse, payee), for the partial read of a revoked purse (`NotesNeeded`); it
    //    also serves every look-up by purse, so it replaces that index.
    "CREATE INDEX notes_by_purse_payee ON notes (purse_id, payee);
     DROP INDEX notes_by_purse;",
    // 9: notes by (purse, sequence number), for an upload's read of the notes around its own
    //    (`NotesRead::Around`); fraud proofs by purse, for the read of a revoked purse's proofs.
    "CREATE INDEX notes_by_purse_seq ON notes (purse_id, seq);
     CREATE INDEX fraud_proofs_by_purse ON fraud_proofs (purse_id);",
    // 10: every purse loaded from now on keeps its reserve in its own account, see `offline.rs`.
    super::offline::PURSE_RESERVE_MIGRATION,
    // 11: a transfer's refusal remembered under its idempotency key (`LedgerError::remembered_code`);
    //     such a row has no entry.
    "ALTER TABLE idempotency ADD COLUMN refusal TEXT;",
    // 12: sessions found by account (log out everywhere, the per-account cap).
    "CREATE INDEX sessions_by_user ON sessions (user_id);",
    // 13: each purse's settlement deadline, stored at load (`Purse::settle_by`).
    "ALTER TABLE purses ADD COLUMN settle_by BIGINT;",
    // 14: the revocation list read through partial indexes, not by scanning purses and devices.
    "CREATE INDEX purses_revoked ON purses (valid_until) WHERE state = 'revoked';
     CREATE INDEX devices_revoked ON devices (public_key) WHERE revoked;",
    // 15: a payer's purses that hold notes, read by every upload (`HELD_PURSES`).
    "CREATE INDEX purses_holding ON purses (user_id) WHERE notes_held > 0;",
    // 16: a purse's held notes in upload order, without walking all its notes (`NOTES_NEEDED`,
    //     `HELD_AFTER`).
    "CREATE INDEX notes_held_by_purse ON notes (purse_id, upload_order) WHERE held > 0;",
    // 17: notes refused by their payee at the counter, see `offline.rs` and `offline/refusal.rs`.
    super::offline::REFUSALS_MIGRATION,
];

/// The migration after which stored notes get their request nonce (`fill_note_nonces`).
const NONCES_MIGRATION: i64 = 3;

/// Applies every migration the database has not seen yet.
pub async fn migrate(config: &Config) -> Result<(), LedgerError> {
    let (mut client, connection) = config.connect(NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = async {
        client.query_one("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
        client.batch_execute("CREATE TABLE IF NOT EXISTS offpay_schema (version BIGINT PRIMARY KEY)").await?;
        let current: i64 =
            client.query_one("SELECT coalesce(max(version), 0) FROM offpay_schema", &[]).await?.try_get(0)?;
        if current > MIGRATIONS.len() as i64 {
            return Err(LedgerError::Storage(
                format!(
                    "the database has schema version {current}, newer than this program knows ({})",
                    MIGRATIONS.len()
                )
                .into(),
            ));
        }
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let version = index as i64 + 1;
            if version <= current {
                continue;
            }
            let tx = client.transaction().await?;
            tx.batch_execute(sql).await?;
            if version == NONCES_MIGRATION {
                super::offline::fill_note_nonces(&tx).await?;
            }
            tx.execute("INSERT INTO offpay_schema (version) VALUES ($1)", &[&version]).await?;
            tx.commit().await?;
        }
        client.query_one("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
        Ok(())
    }
    .await;
    drop(client);
    let _ = driver.await;
    result
}
