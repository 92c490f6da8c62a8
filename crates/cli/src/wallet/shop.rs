//! `offpay wallet` shop subcommands that pay or count: `pay-shop` (pay a scanned shop card,
//! online with a receipt, or offline with a card note) and `takings` (money received per day,
//! or CSV rows). Thin: each is one `offpay_wallet::Wallet` method (`wallet/shop.rs` of the wallet
//! crate); the wording is in `output/shop.rs`. `shop card` and `accept` are in `offline.rs`.
//!
//! Output rules as `send` and `pay`: `pay-shop` prints the text to hand over (the receipt
//! `OPT2:…` online, the note `OPN1:…` offline) alone on stdout, and its sentence on stderr; exit
//! statuses as `send` (3 when an online payment's outcome is unknown).

use std::process::ExitCode;

use offpay_wallet::offline::pay_card::parse_card;
use offpay_wallet::offline::unix_now;
use offpay_wallet::{ShopPaid, Wallet};

use super::offline::{confirm, qr_text, read_arg};
use super::output::shop::{
    paid_offline_json, paid_offline_message, paid_online_json, paid_online_message, pay_shop_question, receipt_missing,
    takings_csv, takings_human,
};
use crate::time::utc_day_ms;

#[derive(clap::Subcommand)]
pub enum ShopCommands {
    /// Pay a shop card (OPS1:…): online when the server can be reached (prints the server's
    /// receipt OPT2:… to show the shop), else offline from the purse (prints the note OPN1:…).
    /// Each run is a new payment; exits 3 if an online payment's outcome is unknown.
    PayShop {
        /// The shop card text in single quotes, or - to read it from stdin.
        card: String,
        /// How much, in major units (250.00).
        amount: String,
        /// Pay without asking for confirmation.
        #[arg(long)]
        yes: bool,
        /// Print one JSON object, amounts in minor units.
        #[arg(long)]
        json: bool,
        /// Pay from the offline purse even when the server can be reached.
        #[arg(long)]
        offline: bool,
        /// Your own key for this payment (8 to 128 of A-Z a-z 0-9 - _): running it again with
        /// the same key never pays twice, online or offline; with another card or amount it is
        /// refused.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Also draw the receipt or note as a QR code (on stderr).
        #[arg(long)]
        qr: bool,
    },
    /// Money received (online payments in and settled offline notes), per day (UTC).
    Takings {
        /// First day, YYYY-MM-DD (UTC).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last day, YYYY-MM-DD (UTC), included.
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        /// Print CSV rows `date,time,amount,from,entry_id` instead.
        #[arg(long)]
        csv: bool,
    },
}

/// Runs one shop subcommand.
pub async fn run(wallet: &mut Wallet, command: ShopCommands) -> anyhow::Result<ExitCode> {
    match command {
        ShopCommands::PayShop { card, amount, yes, json, offline, idempotency_key, qr } => {
            let card = parse_card(&read_arg(&card)?)?;
            let currency = wallet.display_currency();
            let parsed = wallet.card_amount(&card, &amount)?;
            if !yes && idempotency_key.is_none() {
                confirm(&pay_shop_question(&currency, &card, parsed))?;
            }
            match wallet.pay_shop(&card, &amount, offline, idempotency_key.as_deref(), unix_now()).await? {
                ShopPaid::Online { sent, receipt } => {
                    match &receipt {
                        Ok(r) if json => println!("{}", paid_online_json(&sent, Some(r))),
                        Ok(r) => println!("{}", r.receipt),
                        Err(_) if json => println!("{}", paid_online_json(&sent, None)),
                        Err(_) => {}
                    }
                    eprintln!("{}", paid_online_message(&sent, &card));
                    match receipt {
                        Ok(r) if qr => eprintln!("{}", qr_text(&r.receipt)?),
                        Ok(_) => {}
                        Err(e) => eprintln!("{}", receipt_missing(&sent, &e)),
                    }
                }
                ShopPaid::Offline(payment) => {
                    if json {
                        println!("{}", paid_offline_json(&payment));
                    } else {
                        println!("{}", payment.text);
                    }
                    eprintln!("{}", paid_offline_message(&currency, &card, &payment));
                    if qr {
                        eprintln!("{}", qr_text(&payment.text)?);
                    }
                }
            }
        }
        ShopCommands::Takings { from, to, csv } => {
            let from_ms = from.as_deref().map(utc_day_ms).transpose().map_err(anyhow::Error::msg)?.map(|d| d.0);
            let to_ms = to.as_deref().map(utc_day_ms).transpose().map_err(anyhow::Error::msg)?.map(|d| d.1);
            let takings = wallet.takings(from_ms, to_ms).await?;
            if csv {
                print!("{}", takings_csv(&takings));
            } else {
                println!("{}", takings_human(&takings));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
