//! Checks that ARCHITECTURE.md and docs/DESIGN.md stay true: every folder of the repository is on
//! the code map and every path they name exists, with the test names they cite; the protocol
//! crate does no I/O; the HTTP layer has no SQL; crates depend only downwards; and nothing cites a
//! file outside the repository.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
}

/// Every file git tracks, relative to the root.
fn tracked_files() -> Vec<String> {
    let out = Command::new("git").arg("ls-files").current_dir(root()).output().expect("git ls-files runs");
    assert!(out.status.success(), "git ls-files failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

/// The text between backticks, in order.
fn backticked(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

fn looks_like_a_path(text: &str) -> bool {
    const TOP: [&str; 7] = ["crates/", "web/", "docs/", "fuzz/", "testdata/", "scripts/", ".ci/"];
    TOP.iter().any(|top| text.starts_with(top)) && !text.contains(' ') && !text.contains('*')
}

fn is_test_name(text: &str) -> bool {
    text.contains('_') && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text.find(heading).unwrap_or_else(|| panic!("no section {heading:?}"));
    let rest = &text[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    &rest[..end]
}

/// The `[dependencies]` names of a crate's Cargo.toml (dev-dependencies excluded).
fn dependencies(crate_dir: &str) -> BTreeSet<String> {
    let manifest = read(&format!("{crate_dir}/Cargo.toml"));
    let mut names = BTreeSet::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.']).next().unwrap().trim();
            names.insert(name.to_string());
        }
    }
    names
}

/// Rust source files under `dir`, relative to the root, with their text.
fn rust_sources(dir: &str) -> Vec<(String, String)> {
    tracked_files()
        .into_iter()
        .filter(|f| f.starts_with(dir) && f.ends_with(".rs"))
        .map(|f| {
            let text = read(&f);
            (f, text)
        })
        .collect()
}

#[test]
fn every_folder_is_on_the_code_map() {
    let architecture = read("ARCHITECTURE.md");
    let map = section(&architecture, "## Code map");
    let on_map: BTreeSet<&str> = map.lines().flat_map(backticked).filter(|t| t.ends_with('/')).collect();
    let folders: BTreeSet<String> = tracked_files()
        .iter()
        .filter_map(|f| Path::new(f).parent().map(|p| p.to_string_lossy().into_owned()))
        .filter(|d| !d.is_empty())
        .map(|d| format!("{d}/"))
        .collect();
    // Folders that only hold other folders (crates/, web/public/js/ ...) count too when they hold files.
    let missing: Vec<&String> = folders.iter().filter(|d| !on_map.contains(d.as_str())).collect();
    assert!(missing.is_empty(), "folders missing from the ARCHITECTURE.md code map: {missing:?}");
    let gone: Vec<&&str> = on_map.iter().filter(|d| !root().join(d).is_dir()).collect();
    assert!(gone.is_empty(), "the code map names folders that do not exist: {gone:?}");
}

/// Every repository path in ARCHITECTURE.md and docs/DESIGN.md exists, every test name cited
/// after a file or folder (in the same paragraph or list item) is a function in it, and every
/// relative link resolves.
#[test]
fn cited_paths_exist() {
    let mut problems = Vec::new();
    for doc in ["ARCHITECTURE.md", "docs/DESIGN.md"] {
        let text = read(doc);
        let mut cited: Option<String> = None;
        for line in text.lines() {
            // A blank line, a heading or a new list item ends the paragraph a file was cited in.
            // A table row (the code map) names modules and programs, not tests.
            let trimmed = line.trim_start();
            let table_row = trimmed.starts_with('|');
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("- ") || table_row {
                cited = None;
            }
            for item in backticked(line) {
                if looks_like_a_path(item) {
                    let path = root().join(item);
                    if !path.exists() {
                        problems.push(format!("{doc}: `{item}` does not exist"));
                    }
                    cited = (path.exists() && !table_row).then(|| item.to_string());
                } else if let Some(place) = cited.as_ref().filter(|_| is_test_name(item))
                    && !defines_function(place, item)
                {
                    problems.push(format!("{doc}: no `fn {item}` in {place}"));
                }
            }
            for link in line.split("](").skip(1) {
                let target = link.split(')').next().unwrap().split('#').next().unwrap();
                if target.is_empty() || target.contains("://") {
                    continue;
                }
                let base = Path::new(doc).parent().unwrap();
                if !root().join(base).join(target).exists() {
                    problems.push(format!("{doc}: link {target} does not resolve"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Whether the file `place`, or a tracked file under the folder `place`, defines `fn name`.
fn defines_function(place: &str, name: &str) -> bool {
    let defines = |text: &str| {
        text.match_indices(&format!("fn {name}"))
            .any(|(at, found)| matches!(text[at + found.len()..].chars().next(), Some('(' | '<')))
    };
    if root().join(place).is_file() {
        return defines(&read(place));
    }
    let folder = format!("{}/", place.trim_end_matches('/'));
    tracked_files().iter().filter(|f| f.starts_with(&folder) && f.ends_with(".rs")).any(|f| defines(&read(f)))
}

#[test]
fn docs_cite_only_this_repository() {
    // Built from pieces so that this file does not match itself.
    let outside = [format!("{}/shared", ".."), format!("shared/{}", "DESIGN.md"), format!("shared/{}", "NOTES.md")];
    let texts = ["rs", "md", "js", "mjs", "toml", "json", "html", "css"];
    let mut problems = Vec::new();
    for file in tracked_files() {
        let is_text =
            file.rsplit_once('.').is_some_and(|(_, ext)| texts.contains(&ext)) || file.starts_with("scripts/");
        if !is_text {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root().join(&file)) else { continue };
        for needle in &outside {
            if text.contains(needle.as_str()) {
                problems.push(format!("{file} cites {needle}"));
            }
        }
    }
    assert!(problems.is_empty(), "files citing something outside the repository: {problems:#?}");
}

/// Every module sits where its name says: no Rust file pulls another in by a path attribute.
#[test]
fn no_module_is_pulled_in_by_path() {
    // Built from pieces so that this file does not match itself.
    let attribute = format!("#[{} =", "path");
    let found: Vec<String> =
        tracked_files().into_iter().filter(|f| f.ends_with(".rs") && read(f).contains(&attribute)).collect();
    assert!(found.is_empty(), "files with a path attribute on a module: {found:?}");
}

#[test]
fn the_protocol_crate_does_no_io() {
    let allowed: BTreeSet<String> =
        ["ed25519-dalek", "curve25519-dalek", "sha2", "base45", "hex", "thiserror", "serde", "rand"]
            .into_iter()
            .map(String::from)
            .collect();
    let deps = dependencies("crates/protocol");
    let extra: Vec<&String> = deps.difference(&allowed).collect();
    assert!(extra.is_empty(), "offpay-protocol gained dependencies that may do I/O: {extra:?}");
    // `rand` is there for a seeded generator the caller seeds; drawing fresh randomness is not allowed.
    let forbidden = [
        "std::fs",
        "std::net",
        "std::io",
        "std::env",
        "std::process",
        "std::thread",
        "SystemTime",
        "Instant::now",
        "rand::rng()",
        "thread_rng",
        "OsRng",
        "from_entropy",
        "from_os_rng",
        "getrandom",
        "tokio",
        "println!",
        "eprintln!",
    ];
    let sources = rust_sources("crates/protocol/src/");
    assert!(sources.len() > 10, "found the protocol sources");
    let mut problems = Vec::new();
    for (file, text) in &sources {
        for name in forbidden {
            if text.contains(name) {
                problems.push(format!("{file} uses {name}"));
            }
        }
    }
    assert!(problems.is_empty(), "the protocol crate must do no I/O, read no clock, draw no randomness: {problems:#?}");
}

#[test]
fn the_http_layer_never_touches_sql() {
    let deps = dependencies("crates/server");
    for database in ["rusqlite", "tokio-postgres", "deadpool-postgres", "postgres", "sqlx", "diesel"] {
        assert!(!deps.contains(database), "offpay-server depends on {database}; it must go through the Store trait");
    }
    let sources = rust_sources("crates/server/src/");
    assert!(sources.len() > 10, "found the server sources");
    let mut problems = Vec::new();
    for (file, text) in &sources {
        for sql in ["SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM", "BEGIN IMMEDIATE"] {
            if text.contains(sql) {
                problems.push(format!("{file} contains {sql:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "SQL in the HTTP layer: {problems:#?}");
}

#[test]
fn crates_depend_only_downwards() {
    let ours = |dir: &str| -> BTreeSet<String> {
        dependencies(dir).into_iter().filter(|d| d.starts_with("offpay-")).collect()
    };
    let set = |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    assert_eq!(ours("crates/protocol"), set(&[]), "the protocol crate depends on nothing of ours");
    assert!(
        ours("crates/ledger").is_subset(&set(&["offpay-protocol", "offpay-api"])),
        "ledger: {:?}",
        ours("crates/ledger")
    );
    assert!(
        ours("crates/server").is_subset(&set(&["offpay-protocol", "offpay-ledger", "offpay-api"])),
        "server: {:?}",
        ours("crates/server")
    );
    let wallet = ours("crates/wallet");
    assert!(wallet.is_subset(&set(&["offpay-protocol", "offpay-api"])), "the wallet speaks HTTP only: {wallet:?}");
}
