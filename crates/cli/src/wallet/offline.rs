//! `offpay wallet` offline subcommands: `purse load|close|status`, `request`, `pay`, `accept`
//! (notes for my requests or my shop card, and server receipts), `shop card`, `sync`. Thin: each command is one `offpay_wallet::Wallet` method (`wallet/offline.rs` of the
//! wallet crate); this file reads the argument and the clock, asks for confirmation, and prints
//! (the wording is in `output/offline.rs`). `sync`
//! prints the outcome of each online payment left pending that it retried, then the offline
//! notes' report.
//!
//! Output rules (docs/OFFLINE.md): `request` and `pay` print the text (`OPR1:…` / `OPN1:…`)
//! alone on stdout, so scripts can capture it; messages go to stderr, and so does the QR code
//! of `--qr` (the text on stdout stays machine-readable). `pay` of a request this device
//! already paid prints the earlier note the same way and says so on stderr. `accept` prints one sentence (or a
//! JSON object with `--json`) and exits non-zero with the protocol's reason when it refuses.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use offpay_wallet::Wallet;
use offpay_wallet::offline::shop::{DEFAULT_CARD_WINDOW_SECS, DEFAULT_RECEIPT_MAX_AGE_SECS};
use offpay_wallet::offline::{Acceptance, CounterLimits, DEFAULT_REQUEST_VALIDITY_SECS, OfflineError, unix_now};
use serde_json::Value;

use super::output::offline::{
    accepted_human, accepted_json, closed_human, closed_json, in_money, loaded_human, loaded_json, paid_message,
    pay_question, purses_human, purses_json, refused_json, repeated_message, requested_message, resumed_load_note,
    side_note, sync_human, sync_json,
};
use super::output::shop::{card_json, card_message, receipt_human, receipt_json};
use super::output::{retried_human, retried_json};

#[derive(clap::Subcommand)]
pub enum OfflineCommand {
    /// The offline purse: money set aside on this device for paying with no connection.
    Purse {
        #[command(subcommand)]
        command: PurseCommand,
    },
    /// Ask to be paid offline: prints a payment request (OPR1:…) for the payer to scan or paste.
    Request {
        /// How much, in major units (150.00).
        amount: String,
        /// Also draw the request as a QR code (on stderr).
        #[arg(long)]
        qr: bool,
        /// How long the request can be paid, in minutes.
        #[arg(long, default_value_t = DEFAULT_REQUEST_VALIDITY_SECS / 60, value_parser = clap::value_parser!(u64).range(1..=1440))]
        valid_minutes: u64,
    },
    /// Pay a payment request from the offline purse, with no server: prints the payment note
    /// (OPN1:…) for the payee. A request this device already paid prints the same note again
    /// (nothing is paid twice).
    Pay {
        /// The payment request text (OPR1:…) in single quotes (it may contain spaces and $), or -
        /// to read it from stdin.
        request: String,
        /// Pay without asking for confirmation.
        #[arg(long)]
        yes: bool,
        /// Also draw the note as a QR code (on stderr).
        #[arg(long)]
        qr: bool,
    },
    /// Check and accept a payment note (for a request of mine or my shop card) or a server
    /// receipt (OPT2:…) of an online payment to me, with no server; exits non-zero with the
    /// reason if refused.
    Accept {
        /// The payment note (OPN1:…) or receipt (OPT2:…) text in single quotes (it may contain
        /// spaces and $), or - to read it from stdin.
        note: String,
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
        /// A note paying my shop card is refused when its time is further than this from my
        /// clock, in minutes.
        #[arg(long, default_value_t = DEFAULT_CARD_WINDOW_SECS / 60, value_parser = clap::value_parser!(u64).range(1..=1440))]
        window: u64,
        /// A receipt older than this by my clock is refused, in minutes.
        #[arg(long, default_value_t = DEFAULT_RECEIPT_MAX_AGE_SECS / 60, value_parser = clap::value_parser!(u64).range(1..=1440))]
        max_age: u64,
    },
    /// The shop card: one printed QR code (OPS1:…) customers pay online or offline.
    Shop {
        #[command(subcommand)]
        command: ShopCommand,
    },
    /// Retry the pending payments (see `pending`), then upload offline notes for settlement and
    /// download issuer keys, revocations and purse states. Exits 3 if a payment is still
    /// pending, 1 if a retried payment was refused.
    Sync {
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum ShopCommand {
    /// Print this home's shop card (OPS1:…) on stdout; with --name, make a new one first (the
    /// old card is retired: notes paying it are refused and given back at sync).
    Card {
        /// The shop's name as printed on the card (1 to 48 bytes); makes a new card.
        #[arg(long)]
        name: Option<String>,
        /// Print one JSON object instead of the card text.
        #[arg(long)]
        json: bool,
        /// Also draw the card as a QR code (on stderr).
        #[arg(long)]
        qr: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum PurseCommand {
    /// Move money from the balance into an offline purse for this device (online).
    Load {
        /// How much, in major units (500.00).
        amount: String,
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
    /// Close this device's purses: what was not spent goes back to the balance (online).
    Close {
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
    /// Show this device's purses (no server).
    Status {
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one offline subcommand.
pub async fn run(wallet: &mut Wallet, command: OfflineCommand) -> anyhow::Result<ExitCode> {
    match command {
        OfflineCommand::Purse { command: PurseCommand::Load { amount, json } } => {
            let currency = wallet.display_currency();
            let (loaded, offline) = wallet.load_purse(&amount, unix_now()).await.map_err(|e| in_money(&currency, e))?;
            if loaded.resumed {
                eprintln!("{}", resumed_load_note());
            }
            if json {
                println!("{}", loaded_json(&loaded, offline));
            } else {
                println!("{}", loaded_human(&loaded, offline));
            }
        }
        OfflineCommand::Purse { command: PurseCommand::Close { json } } => {
            let closed = wallet.close_purses(unix_now()).await?;
            if json {
                println!("{}", closed_json(&closed));
            } else {
                println!("{}", closed_human(&wallet.display_currency(), &closed));
            }
            if closed.iter().any(|c| c.outcome.is_err()) {
                return Ok(ExitCode::FAILURE);
            }
        }
        OfflineCommand::Purse { command: PurseCommand::Status { json } } => {
            let now = unix_now();
            let purses = wallet.purses()?;
            if json {
                println!("{}", purses_json(&purses, wallet.offline_balance(now)?));
            } else {
                println!("{}", purses_human(&wallet.display_currency(), &purses, now));
            }
        }
        OfflineCommand::Request { amount, qr, valid_minutes } => {
            let (issued, known) = wallet.request_payment(&amount, valid_minutes * 60, unix_now()).await?;
            for note in &known.notes {
                eprintln!("{}", side_note(note));
            }
            println!("{}", issued.text);
            eprintln!("{}", requested_message(&known.identity, &issued, valid_minutes));
            if qr {
                eprintln!("{}", qr_text(&issued.text)?);
            }
        }
        OfflineCommand::Pay { request, yes, qr } => {
            let request = read_arg(&request)?;
            let currency = wallet.display_currency();
            let preview = wallet.preview_payment(&request, unix_now()).map_err(|e| in_money(&currency, e))?;
            // A request this device already paid gets its note again: nothing to confirm.
            if !yes && !preview.repeated {
                confirm(&pay_question(&currency, &preview))?;
            }
            // Also repeated when another `pay` of this request committed since the preview.
            let payment = wallet.pay(&request, unix_now()).map_err(|e| in_money(&currency, e))?;
            // The new purse state is committed (or nothing was signed): the note can be released.
            println!("{}", payment.text);
            let message = if payment.repeated {
                repeated_message(&currency, &payment)
            } else {
                paid_message(&currency, &payment)
            };
            eprintln!("{message}");
            if qr {
                eprintln!("{}", qr_text(&payment.text)?);
            }
        }
        OfflineCommand::Accept { note, json, window, max_age } => {
            let note = read_arg(&note)?;
            let limits = CounterLimits { card_window: window * 60, receipt_max_age: max_age * 60 };
            let (known, accepted) = wallet.accept_shown(&note, limits, unix_now()).await?;
            for note in &known.notes {
                eprintln!("{}", side_note(note));
            }
            let currency = &known.identity.currency;
            match accepted {
                Ok(Acceptance::Note(accepted)) => {
                    if json {
                        println!("{}", accepted_json(&accepted));
                    } else {
                        println!("{}", accepted_human(currency, &accepted));
                    }
                }
                Ok(Acceptance::Receipt(receipt)) => {
                    if json {
                        println!("{}", receipt_json(&receipt));
                    } else {
                        println!("{}", receipt_human(currency, &receipt));
                    }
                }
                Err(OfflineError::Rejected(reason) | OfflineError::ReceiptRejected(reason)) if json => {
                    println!("{}", refused_json(&reason));
                    return Ok(ExitCode::FAILURE);
                }
                Err(e @ OfflineError::RepeatsARefusedCode { .. }) if json => {
                    println!(
                        "{}",
                        serde_json::json!({"accepted": false, "reason": e.reject_code(), "message": e.to_string()})
                    );
                    return Ok(ExitCode::FAILURE);
                }
                // Refused and kept to give back at sync (docs/decisions/counter-refusals.md);
                // shown again, given back unless the server would not take it back.
                Err(e @ (OfflineError::KeptToGiveBack { .. } | OfflineError::RefusedHereBefore { .. })) if json => {
                    let given_back = !matches!(e, OfflineError::RefusedHereBefore { given_back: false, .. });
                    println!(
                        "{}",
                        serde_json::json!({"accepted": false, "reason": e.reject_code(), "message": e.to_string(), "given_back_at_sync": given_back})
                    );
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => return Err(e.into()),
            }
        }
        OfflineCommand::Shop { command: ShopCommand::Card { name, json, qr } } => {
            let (card, known) = wallet.shop_card(name.as_deref(), unix_now()).await?;
            for note in &known.notes {
                eprintln!("{}", side_note(note));
            }
            if json {
                println!("{}", card_json(&card));
            } else {
                println!("{}", card.text);
            }
            eprintln!("{}", card_message(&card, name.is_some()));
            if qr {
                eprintln!("{}", qr_text(&card.text)?);
            }
        }
        OfflineCommand::Sync { json } => {
            let outcome = wallet.sync().await?;
            if !json {
                for retried in &outcome.sends {
                    println!("{}", retried_human(&outcome.send_currency, retried));
                }
            }
            let sends = Value::Array(outcome.sends.iter().map(retried_json).collect());
            let retried = super::retried_exit_code(&outcome.sends);
            let synced = match outcome.offline {
                Ok(synced) => synced,
                // The payments' outcomes still count (a script must not read a pending or paid
                // payment as refused): printed, and the exit status says which (3, 1), else 4.
                Err(error) => {
                    if json {
                        println!("{}", serde_json::json!({ "sends": sends, "offline_error": error.to_string() }));
                    }
                    eprintln!("error: offline notes were not synced: {error}; run `offpay wallet sync` again");
                    let sends_ended_well = retried == std::process::ExitCode::SUCCESS;
                    // Running `sync` again helps only when the server could not be reached or
                    // was busy; a session that ended or another account's identity needs a login.
                    let needs_login = matches!(
                        error,
                        OfflineError::SessionEnded { .. }
                            | OfflineError::NotLoggedIn
                            | OfflineError::IdentityMismatch { .. }
                    );
                    return Ok(match (sends_ended_well, needs_login) {
                        (false, _) => retried,
                        (true, true) => ExitCode::FAILURE,
                        (true, false) => ExitCode::from(super::EXIT_OFFLINE_NOT_SYNCED),
                    });
                }
            };
            if json {
                let mut value = sync_json(&synced.report, synced.offline);
                value["sends"] = sends;
                println!("{value}");
            } else {
                println!("{}", sync_human(&synced.currency, &synced.report, synced.offline));
            }
            return Ok(retried);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The argument, or stdin when it is `-`.
pub(super) fn read_arg(arg: &str) -> anyhow::Result<String> {
    if arg != "-" {
        return Ok(arg.to_string());
    }
    let mut text = String::new();
    std::io::stdin().lock().read_line(&mut text).context("cannot read from stdin")?;
    Ok(text.trim().to_string())
}

/// Asks `question` on the terminal; anything but y/yes cancels. Refuses when stdin is not a
/// terminal (pass `--yes` in scripts).
pub(super) fn confirm(question: &str) -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("{question} — not confirmed: stdin is not a terminal; pass --yes to pay without asking");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer).context("cannot read the answer")?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(OfflineError::Cancelled.into())
    }
}

/// The text as a QR code drawn with Unicode half blocks (two modules per character cell).
pub fn qr_text(text: &str) -> anyhow::Result<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L)
        .context("the text is too long for a QR code")?;
    Ok(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn qr_codes_are_drawn_with_half_blocks() {
        let qr = qr_text("OPR1:ABC").unwrap();
        assert!(qr.lines().count() > 10);
        assert!(qr.contains('█') || qr.contains('▀') || qr.contains('▄'));
    }
}
