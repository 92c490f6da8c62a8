//! [`ErrorChain`]: an error and each of its `source()`s in turn on one line, "outer: inner:
//! innermost", for log lines (the server's 500 log, background tasks) that would otherwise show
//! only the outermost message.
//!
//! Two things keep the line readable: a source whose text the previous message already ends with
//! is skipped (rusqlite, for one, prints its cause and returns it as `source()` too), and line
//! breaks inside a message (PostgreSQL's `DETAIL:` lines) become spaces, so one error stays one
//! log line.

use std::error::Error;
use std::fmt::{self, Write};

/// Displays `0` and every error under it, separated by ": ".
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut previous = self.0.to_string();
        write_one_line(f, &previous)?;
        let mut next = self.0.source();
        while let Some(error) = next {
            let text = error.to_string();
            if !text.is_empty() && !previous.ends_with(&text) {
                f.write_str(": ")?;
                write_one_line(f, &text)?;
            }
            previous = text;
            next = error.source();
        }
        Ok(())
    }
}

fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        f.write_char(if c == '\n' || c == '\r' { ' ' } else { c })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer {
        text: &'static str,
        source: Option<Box<Layer>>,
    }

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.text)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.source.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    fn chain(texts: &[&'static str]) -> Layer {
        let mut layer: Option<Box<Layer>> = None;
        for text in texts.iter().rev() {
            layer = Some(Box::new(Layer { text, source: layer }));
        }
        layer.map(|l| *l).unwrap_or(Layer { text: "", source: None })
    }

    #[test]
    fn every_source_is_printed_in_order() {
        let error = chain(&["storage error", "sqlite commit failed", "disk I/O error"]);
        assert_eq!(ErrorChain(&error).to_string(), "storage error: sqlite commit failed: disk I/O error");
        let alone = chain(&["no data directory or database URL given"]);
        assert_eq!(ErrorChain(&alone).to_string(), "no data directory or database URL given");
    }

    #[test]
    fn a_source_already_printed_by_its_parent_is_skipped() {
        let error = chain(&["storage error: sqlite", "Error code 5: busy", "Error code 5: busy", "deep cause"]);
        assert_eq!(ErrorChain(&error).to_string(), "storage error: sqlite: Error code 5: busy: deep cause");
        let suffix = chain(&["Conversion error at index 2, bad utf-8", "bad utf-8"]);
        assert_eq!(ErrorChain(&suffix).to_string(), "Conversion error at index 2, bad utf-8");
    }

    #[test]
    fn line_breaks_become_spaces() {
        let error = chain(&["postgres 23505", "db error", "ERROR: duplicate key\nDETAIL: Key (id)=(1) exists."]);
        let line = ErrorChain(&error).to_string();
        assert_eq!(line, "postgres 23505: db error: ERROR: duplicate key DETAIL: Key (id)=(1) exists.");
        assert!(!line.contains('\n'));
    }
}
