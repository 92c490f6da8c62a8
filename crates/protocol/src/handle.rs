//! User handles: the public name a person is paid by (`alice`, `chai_shop`).

use std::fmt;

/// A user handle: 3 to 32 characters, lower-case ASCII letters, digits and `_`, starting with a
/// letter. Input is trimmed and lower-cased before the check, so "Alice" is "alice".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Handle(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("a username must be 3 to 32 characters long")]
    Length,
    #[error("a username may contain only letters, digits and _, and must start with a letter")]
    Characters,
}

impl Handle {
    pub const MAX_LEN: usize = 32;

    pub fn parse(text: &str) -> Result<Handle, HandleError> {
        let text = text.trim().to_ascii_lowercase();
        if text.len() < 3 || text.len() > Self::MAX_LEN {
            return Err(HandleError::Length);
        }
        let mut bytes = text.bytes();
        let first_is_letter = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
        if !first_is_letter || !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(HandleError::Characters);
        }
        Ok(Handle(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Handle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Handle::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        assert_eq!(Handle::parse(" Alice ").map(|h| h.0), Ok("alice".to_string()));
        assert!(Handle::parse("chai_shop_2").is_ok());
    }

    #[test]
    fn refuses_bad_handles() {
        assert_eq!(Handle::parse("ab"), Err(HandleError::Length));
        assert_eq!(Handle::parse(&"a".repeat(33)), Err(HandleError::Length));
        assert_eq!(Handle::parse("1abc"), Err(HandleError::Characters));
        assert_eq!(Handle::parse("al ice"), Err(HandleError::Characters));
        assert_eq!(Handle::parse("alicé"), Err(HandleError::Characters));
    }
}
