//! Prints the protocol test vectors (deterministic):
//! `cargo run -p offpay-protocol --example gen_vectors > testdata/protocol-vectors.json`
#![allow(clippy::panic)]

#[path = "../tests/support/vectors_gen.rs"]
mod vectors_gen;

fn main() {
    let value = vectors_gen::generate();
    match serde_json::to_string_pretty(&value) {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("gen_vectors: {e}");
            std::process::exit(1);
        }
    }
}
