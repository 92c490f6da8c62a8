//! Prints the Ed25519 verification vectors the web wallet checks its verifier against
//! (Wycheproof and "Taming the many EdDSAs", with this crate's verdicts):
//! `cargo run -p offpay-protocol --example gen_ed25519_vectors > testdata/ed25519-verify-vectors.json`
#![allow(clippy::panic)]

#[path = "../tests/support/ed25519_vectors_gen.rs"]
mod ed25519_vectors_gen;

fn main() {
    match serde_json::to_string_pretty(&ed25519_vectors_gen::generate()) {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("gen_ed25519_vectors: {e}");
            std::process::exit(1);
        }
    }
}
