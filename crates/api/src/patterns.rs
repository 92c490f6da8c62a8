//! The regular expressions and limits the schemas state, in one place (the server enforces
//! each of them: `offpay-protocol` for handles and amounts, the server for keys and bodies).

/// A handle as a client may type it: 3 to 32 of a-z, 0-9, `_`, starting with a letter; the
/// server ignores case and surrounding spaces.
pub const HANDLE_INPUT: &str = r"^\s*[A-Za-z][A-Za-z0-9_]{2,31}\s*$";
/// A handle as the server answers it (lowercase, trimmed).
pub const HANDLE: &str = "^[a-z][a-z0-9_]{2,31}$";
/// The `Idempotency-Key` header: 8 to 128 characters of `A-Z a-z 0-9 - _`.
pub const IDEMPOTENCY_KEY: &str = "^[A-Za-z0-9_-]{8,128}$";
/// 32 bytes, lowercase hex: keys and hashes.
pub const HEX32: &str = "^[0-9a-f]{64}$";
/// 16 bytes, lowercase hex: purse ids.
pub const HEX16: &str = "^[0-9a-f]{32}$";
/// 4 bytes, lowercase hex: issuer key ids.
pub const HEX4: &str = "^[0-9a-f]{8}$";
/// The largest amount in minor units (2^53 - 1, exact in every JSON reader).
pub const AMOUNT_MAX: u64 = 9_007_199_254_740_991;
/// The longest memo, in characters.
pub const MEMO_MAX: usize = 140;
/// The shortest password, in characters.
pub const PASSWORD_MIN: usize = 8;
/// The longest password, in bytes.
pub const PASSWORD_MAX: usize = 1024;
/// The most notes one upload may carry.
pub const NOTES_MAX: usize = 500;
/// The most history items one page may carry.
pub const HISTORY_MAX: u32 = 200;
