//! The `offpay admin` commands themselves, over an open store.

use std::process::ExitCode;

use anyhow::{Context, bail};
use offpay_ledger::{IdempotencyKey, LedgerError, Store};
use offpay_protocol::Handle;
use serde_json::json;

use offpay_server::config::CURRENCY;

use super::AdminCommand;
use crate::time::utc;

pub async fn run(store: &dyn Store, command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Deposit { handle, amount, idempotency_key, json } => {
            deposit(store, &handle, &amount, idempotency_key, json).await
        }
        AdminCommand::Verify { json } => verify(store, json).await,
        AdminCommand::SecurityEvents { limit, json } => security_events(store, limit, json).await,
        AdminCommand::Freeze { handle } => set_frozen(store, &handle, true, false).await,
        AdminCommand::Unfreeze { handle, force } => set_frozen(store, &handle, false, force).await,
        AdminCommand::Offline(command) => super::offline::run_on_store(store, command).await,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn parse_handle(text: &str) -> anyhow::Result<Handle> {
    Handle::parse(text).with_context(|| format!("invalid username {text:?}"))
}

async fn deposit(
    store: &dyn Store,
    handle: &str,
    amount: &str,
    key: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let handle = parse_handle(handle)?;
    let amount = CURRENCY.parse_major(amount).with_context(|| format!("invalid amount {amount:?}"))?;
    let key_text = key.unwrap_or_else(|| {
        use rand::RngCore;
        let mut random = [0u8; 16];
        rand::rng().fill_bytes(&mut random);
        format!("admin-deposit-{}", hex::encode(random))
    });
    let Some(key) = IdempotencyKey::parse(&key_text) else {
        bail!("invalid idempotency key {key_text:?}: use 8 to 128 characters of A-Z, a-z, 0-9, - and _");
    };
    let posted = match store.deposit(&handle, amount, &key, now_ms()).await {
        Ok(posted) => posted,
        Err(LedgerError::Storage(cause)) => {
            let cause = offpay_ledger::ErrorChain(&cause);
            bail!(
                "the deposit may not have happened ({cause}); retry with --idempotency-key {key_text} to be sure it happens once"
            )
        }
        Err(other) => return Err(other).with_context(|| format!("cannot deposit to {handle}")),
    };
    if json {
        let out = json!({
            "entry_id": posted.entry_id,
            "to": posted.to,
            "amount": posted.amount,
            "currency": CURRENCY.code(),
            "replayed": posted.replayed,
            "idempotency_key": key_text,
        });
        println!("{out}");
    } else {
        let verb = if posted.replayed { "Already deposited" } else { "Deposited" };
        println!(
            "{verb} {} {} to {} (entry {})",
            CURRENCY.format(posted.amount),
            CURRENCY.code(),
            posted.to,
            posted.entry_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(store: &dyn Store, json: bool) -> anyhow::Result<ExitCode> {
    let report = store.verify().await.context("cannot run the verification")?;
    let ok = report.problems.is_empty();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        let money = CURRENCY.format_signed(report.money_in_system);
        if ok {
            println!(
                "Ledger verified: {} entries, {} accounts, {money} {} in the system. No problems.",
                report.entries,
                report.accounts,
                CURRENCY.code()
            );
        } else {
            println!(
                "Ledger verification FAILED: {} problem(s) in {} entries, {} accounts:",
                report.problems.len(),
                report.entries,
                report.accounts
            );
            for problem in &report.problems {
                println!("problem: {problem}");
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn security_events(store: &dyn Store, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    let events = store.security_events(limit.min(offpay_ledger::SECURITY_EVENTS_MAX)).await?;
    if json {
        println!("{}", serde_json::to_string(&json!({"events": events}))?);
    } else if events.is_empty() {
        println!("No security events.");
    } else {
        for event in &events {
            println!("{}  {:<16} {}", utc(event.created_at_ms), event.kind, event.detail);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Freezes or unfreezes `handle`. An account that owes held notes (a double spender's payees not
/// paid yet, docs/OFFLINE.md) is not unfrozen without `force`: once unfrozen it could send away,
/// online, money that reaches it before the server's pass (every minute) pays those payees.
async fn set_frozen(store: &dyn Store, handle: &str, frozen: bool, force: bool) -> anyhow::Result<ExitCode> {
    let handle = parse_handle(handle)?;
    let user = store.user_by_handle(&handle).await?.with_context(|| format!("no user is called {handle}"))?;
    if !frozen && !force {
        let owed = store.offline().unfreeze_unless_held(user.id).await?;
        if owed > 0 {
            bail!(
                "{handle} owes {} on held notes to payees of a double-spent purse (offpay admin held); \
                 unfrozen, it could send away money they are owed before the server pays them. \
                 Run again with --force to unfreeze anyway",
                CURRENCY.format_signed(owed)
            );
        }
    } else {
        store.set_frozen(user.id, frozen).await?;
    }
    let what = if frozen { "frozen" } else { "unfrozen" };
    store.record_security_event(&format!("account_{what}"), &format!("account={handle} by=admin"), now_ms()).await?;
    println!("Account {handle} {what}.");
    Ok(ExitCode::SUCCESS)
}
