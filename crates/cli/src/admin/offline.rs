//! The operator's offline-payment commands (`offpay admin ...`):
//!
//! - `rotate-issuer-key [--issuer-keys FILE] [--purse-validity D] [--purse-grace D]`: adds a new
//!   issuer key; the old one stops issuing a few minutes later (running servers reload the file
//!   every minute) and stays published until its purses are past validity plus grace, so it
//!   takes the same two options (and variables) as `serve`. Default file:
//!   `DATA/issuer-keys.json` (`./offpay-data` with `--database-url`), or `OFFPAY_ISSUER_KEYS`.
//! - `fraud [--limit N] [--json]`: the stored fraud proofs, each with both signed objects.
//! - `purses [--handle H] [--limit N] [--json]`: purses with their state and totals.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use offpay_ledger::Store;
use offpay_ledger::offline::Purse;
use offpay_protocol::text::to_text;
use offpay_protocol::{Handle, Kind};
use offpay_server::config::CURRENCY;
use serde_json::json;

use crate::options::store::{ISSUER_KEYS_ENV, StoreArgs, default_issuer_keys};
use crate::time::utc;

#[derive(clap::Subcommand)]
pub enum OfflineAdminCommand {
    /// Add a new issuer key (old keys keep verifying until their purses expire)
    RotateIssuerKey {
        /// The issuer key file [default: DATA/issuer-keys.json]
        #[arg(long, value_name = "FILE", env = ISSUER_KEYS_ENV)]
        issuer_keys: Option<PathBuf>,
        /// The purse validity and grace the servers use (old keys stay published that long)
        #[command(flatten)]
        window: crate::options::offline::PurseWindowArgs,
        #[arg(long)]
        json: bool,
    },
    /// List offline fraud proofs, newest first
    Fraud {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// List offline notes held beyond the loss bound (paid from the payer when money reaches it),
    /// oldest upload first
    Held {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// List offline purses, newest first
    Purses {
        /// Only this user's purses
        #[arg(long)]
        handle: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub async fn run(store_args: &StoreArgs, command: OfflineAdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        OfflineAdminCommand::RotateIssuerKey { issuer_keys, window, json } => {
            let window = match window.window() {
                Ok(window) => window,
                Err(bad) => return Ok(bad.refuse()),
            };
            let path = issuer_keys.unwrap_or_else(|| default_issuer_keys(store_args));
            let id = offpay_server::issuer::rotate_file(&path, now_secs(), window.validity_secs, window.grace_secs)
                .with_context(|| format!("cannot rotate the issuer key in {}", path.display()))?;
            if json {
                println!("{}", json!({"key_id": id.to_hex(), "file": path.display().to_string()}));
            } else {
                println!(
                    "New issuer key {id} in {}; the previous key stops issuing in {} seconds and stays published until its purses expire (validity {} + grace {}).",
                    path.display(),
                    offpay_server::issuer::ROTATION_OVERLAP_SECS,
                    crate::options::offline::format_duration(window.validity_secs),
                    crate::options::offline::format_duration(window.grace_secs),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        OfflineAdminCommand::Fraud { limit, json } => {
            let (store, _) = store_args.open().await?;
            fraud(store.as_ref(), limit, json).await
        }
        OfflineAdminCommand::Purses { handle, limit, json } => {
            let (store, _) = store_args.open().await?;
            purses(store.as_ref(), handle.as_deref(), limit, json).await
        }
        OfflineAdminCommand::Held { limit, json } => {
            let (store, _) = store_args.open().await?;
            held(store.as_ref(), limit, json).await
        }
    }
}

/// The store-backed commands when the store is already open (`fraud`, `purses`).
pub async fn run_on_store(store: &dyn Store, command: OfflineAdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        OfflineAdminCommand::Fraud { limit, json } => fraud(store, limit, json).await,
        OfflineAdminCommand::Purses { handle, limit, json } => purses(store, handle.as_deref(), limit, json).await,
        OfflineAdminCommand::Held { limit, json } => held(store, limit, json).await,
        OfflineAdminCommand::RotateIssuerKey { .. } => {
            anyhow::bail!("rotate-issuer-key works on the key file, not the store")
        }
    }
}

fn object_text(bytes: &[u8]) -> String {
    match bytes.first() {
        Some(b'X') => to_text(Kind::Close, bytes),
        _ => to_text(Kind::Note, bytes),
    }
}

async fn handle_of(store: &dyn Store, user: offpay_ledger::UserId) -> String {
    match store.user_by_id(user).await {
        Ok(Some(u)) => u.handle.to_string(),
        _ => format!("#{user}"),
    }
}

async fn fraud(store: &dyn Store, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    let proofs = store.offline().fraud_proofs(limit).await.context("cannot read fraud proofs")?;
    let mut purses = std::collections::BTreeMap::new();
    for p in &proofs {
        if !purses.contains_key(&p.purse_id)
            && let Some(purse) = store.offline().purse(p.purse_id).await.context("cannot read a purse")?
        {
            purses.insert(p.purse_id, purse);
        }
    }
    if json {
        let mut rows = Vec::new();
        for p in &proofs {
            rows.push(json!({
                "id": p.id,
                "purse_id": p.purse_id.to_hex(),
                "user": handle_of(store, p.user_id).await,
                "kind": p.kind,
                "first": object_text(&p.first),
                "second": object_text(&p.second),
                "created_at_ms": p.created_at_ms,
                "purse": purses.get(&p.purse_id).map(money_json),
            }));
        }
        println!("{}", json!({"fraud_proofs": rows}));
        return Ok(ExitCode::SUCCESS);
    }
    if proofs.is_empty() {
        println!("No fraud proofs.");
    }
    let mut shown = std::collections::BTreeSet::new();
    for p in &proofs {
        println!(
            "#{} {} purse {} of {} at {}",
            p.id,
            p.kind,
            p.purse_id,
            handle_of(store, p.user_id).await,
            utc(p.created_at_ms)
        );
        if shown.insert(p.purse_id)
            && let Some(purse) = purses.get(&p.purse_id)
        {
            println!("  purse:  {}", money_line(purse));
        }
        println!("  first:  {}", object_text(&p.first));
        println!("  second: {}", object_text(&p.second));
    }
    Ok(ExitCode::SUCCESS)
}

/// A purse's money, as `admin fraud` and `admin purses` show it: its reserve, what was paid from
/// the reserve, recovered from the payer, booked as the operator's loss (against its allowance),
/// and held on notes beyond the bound.
fn money_line(p: &Purse) -> String {
    let m = |v: i64| CURRENCY.format_signed(v);
    let amount = i64::try_from(p.certificate.fields().amount.minor()).unwrap_or(i64::MAX);
    format!(
        "reserve {} (left {}), paid from reserve {}, returned {}, recovered from payer {}, operator loss {} of allowance {}, held for notes {}",
        m(amount),
        m(p.held()),
        m(p.settled),
        m(p.returned),
        m(p.recovered),
        m(p.fraud_loss),
        m(p.loss_allowance),
        m(p.notes_held)
    )
}

fn money_json(p: &Purse) -> serde_json::Value {
    let mut row = json!(p.money());
    row["state"] = json!(p.state.as_str());
    row
}

async fn held(store: &dyn Store, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    let notes = store.offline().held_notes(limit).await.context("cannot read held notes")?;
    if json {
        let mut rows = Vec::new();
        for n in &notes {
            rows.push(json!({
                "purse_id": n.purse_id.to_hex(),
                "note": n.note.to_hex(),
                "payer": handle_of(store, n.payer).await,
                "payee": handle_of(store, n.payee).await,
                "amount": n.amount,
                "paid": n.paid,
                "held": n.held,
                "reason": "loss_allowance_exhausted",
                "uploaded_at_ms": n.uploaded_at_ms,
            }));
        }
        println!("{}", json!({"held_notes": rows}));
        return Ok(ExitCode::SUCCESS);
    }
    if notes.is_empty() {
        println!("No held notes.");
    }
    let m = |v: i64| CURRENCY.format_signed(v);
    for n in &notes {
        println!(
            "note {} of purse {}: {} owes {} {} (paid {} of {}), uploaded {}; held: the purse was double-spent beyond the operator's loss allowance (loss_allowance_exhausted), paid when money reaches the payer",
            n.note,
            n.purse_id,
            handle_of(store, n.payer).await,
            handle_of(store, n.payee).await,
            m(n.held),
            m(n.paid),
            m(n.amount),
            utc(n.uploaded_at_ms),
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn purses(store: &dyn Store, handle: Option<&str>, limit: u32, json: bool) -> anyhow::Result<ExitCode> {
    let user = match handle {
        Some(h) => {
            let h = Handle::parse(h).with_context(|| format!("invalid username {h:?}"))?;
            Some(store.user_by_handle(&h).await?.with_context(|| format!("no user {h}"))?.id)
        }
        None => None,
    };
    let list: Vec<Purse> = store.offline().purses(user, limit).await.context("cannot read purses")?;
    if json {
        let mut rows = Vec::new();
        for p in &list {
            let mut row = money_json(p);
            row["purse_id"] = json!(p.id.to_hex());
            row["user"] = json!(handle_of(store, p.user_id).await);
            row["valid_until"] = json!(p.valid_until());
            row["issuer_key_id"] = json!(p.issuer_key_id().to_hex());
            rows.push(row);
        }
        println!("{}", json!({"purses": rows}));
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("No purses.");
    }
    for p in &list {
        let f = p.certificate.fields();
        println!(
            "{} {:<8} {:<10} until {}: {}",
            p.id,
            handle_of(store, p.user_id).await,
            p.state.as_str(),
            utc(i64::try_from(f.valid_until).unwrap_or(0).saturating_mul(1000)),
            money_line(p),
        );
    }
    Ok(ExitCode::SUCCESS)
}
