//! Typed settings kept in the `settings` key/value table: the server URL, the logged-in handle
//! and session token, the deployment's currency, the last known balance and the live-event
//! cursor. Values that belong to one account (balance, cursor) are forgotten when the wallet
//! logs in to a different account or server.

use offpay_protocol::{Amount, Currency, Handle};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{Store, StoreError};

const SERVER_URL: &str = "server_url";
const HANDLE: &str = "handle";
const TOKEN: &str = "token";
const CURRENCY_CODE: &str = "currency_code";
const CURRENCY_DECIMALS: &str = "currency_decimals";
const BALANCE: &str = "balance";
const BALANCE_AS_OF_MS: &str = "balance_as_of_ms";
const LAST_EVENT_SEQ: &str = "last_event_seq";

/// Keys that describe one account's state on one server.
const ACCOUNT_SCOPED: &[&str] = &[BALANCE, BALANCE_AS_OF_MS, LAST_EVENT_SEQ];

/// A logged-in session: where, who, and the bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub server_url: String,
    pub handle: Handle,
    pub token: String,
}

/// The balance the device last saw, and when (milliseconds since the epoch, device clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownBalance {
    pub amount: Amount,
    pub as_of_ms: i64,
}

/// Everything in the settings table, read at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub server_url: Option<String>,
    pub handle: Option<Handle>,
    pub token: Option<String>,
    pub currency: Option<Currency>,
    pub balance: Option<KnownBalance>,
    pub last_event_seq: u64,
}

impl Settings {
    /// The session, if the wallet is logged in.
    pub fn session(&self) -> Option<Session> {
        Some(Session { server_url: self.server_url.clone()?, handle: self.handle.clone()?, token: self.token.clone()? })
    }
}

impl Store {
    /// Reads all settings.
    pub fn settings(&self) -> Result<Settings, StoreError> {
        let get = |key: &str| -> Result<Option<String>, StoreError> {
            Ok(self
                .conn()
                .query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0))
                .optional()?)
        };
        let handle = match get(HANDLE)? {
            Some(text) => Some(Handle::parse(&text).map_err(|_| bad(HANDLE, &text))?),
            None => None,
        };
        let currency = match (get(CURRENCY_CODE)?, get(CURRENCY_DECIMALS)?) {
            (Some(code), Some(decimals)) => {
                let d: u8 = decimals.parse().map_err(|_| bad(CURRENCY_DECIMALS, &decimals))?;
                Some(Currency::new(&code, d).ok_or_else(|| bad(CURRENCY_CODE, &code))?)
            }
            _ => None,
        };
        let balance = match (get(BALANCE)?, get(BALANCE_AS_OF_MS)?) {
            (Some(minor), Some(as_of)) => {
                let amount =
                    minor.parse::<u64>().ok().and_then(Amount::from_minor).ok_or_else(|| bad(BALANCE, &minor))?;
                let as_of_ms = as_of.parse().map_err(|_| bad(BALANCE_AS_OF_MS, &as_of))?;
                Some(KnownBalance { amount, as_of_ms })
            }
            _ => None,
        };
        let last_event_seq = match get(LAST_EVENT_SEQ)? {
            Some(text) => text.parse().map_err(|_| bad(LAST_EVENT_SEQ, &text))?,
            None => 0,
        };
        Ok(Settings { server_url: get(SERVER_URL)?, handle, token: get(TOKEN)?, currency, balance, last_event_seq })
    }

    /// Remembers the server URL (without logging in).
    pub fn set_server_url(&mut self, url: &str) -> Result<(), StoreError> {
        put(self.conn(), SERVER_URL, url)
    }

    /// Records a new session. When the server or the handle differ from the stored ones, the
    /// previous account's balance and event cursor are forgotten in the same transaction.
    pub fn begin_session(&mut self, session: &Session) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        let old = |key: &str| -> rusqlite::Result<Option<String>> {
            tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |row| row.get(0)).optional()
        };
        let same_account = old(SERVER_URL)?.as_deref() == Some(session.server_url.as_str())
            && old(HANDLE)?.as_deref() == Some(session.handle.as_str());
        if !same_account {
            for key in ACCOUNT_SCOPED {
                tx.execute("DELETE FROM settings WHERE key = ?1", [key])?;
            }
        }
        put(&tx, SERVER_URL, &session.server_url)?;
        put(&tx, HANDLE, session.handle.as_str())?;
        put(&tx, TOKEN, &session.token)?;
        tx.commit()?;
        Ok(())
    }

    /// The device token `server_url` gave this wallet for `handle` at an earlier sign-in (sent
    /// with the next login, so that strangers' guesses never lock this device out).
    pub fn device_token(&self, server_url: &str, handle: &Handle) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [device_key(server_url, handle)], |row| row.get(0))
            .optional()?)
    }

    /// Keeps the device token of `handle` on `server_url` (it survives logout).
    pub fn set_device_token(&mut self, server_url: &str, handle: &Handle, token: &str) -> Result<(), StoreError> {
        put(self.conn(), &device_key(server_url, handle), token)
    }

    /// Forgets the session token (the handle and server stay, for the next login).
    pub fn end_session(&mut self) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM settings WHERE key = ?1", [TOKEN])?;
        Ok(())
    }

    pub fn set_currency(&mut self, currency: Currency) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        put(&tx, CURRENCY_CODE, currency.code())?;
        put(&tx, CURRENCY_DECIMALS, &currency.decimals().to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// Remembers the balance the server reported at `as_of_ms`.
    pub fn set_known_balance(&mut self, amount: Amount, as_of_ms: i64) -> Result<(), StoreError> {
        let tx = self.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        put(&tx, BALANCE, &amount.minor().to_string())?;
        put(&tx, BALANCE_AS_OF_MS, &as_of_ms.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// Advances the live-event cursor; never moves it backwards.
    pub fn advance_event_seq(&mut self, seq: u64) -> Result<(), StoreError> {
        let current = self.settings()?.last_event_seq;
        if seq > current {
            put(self.conn(), LAST_EVENT_SEQ, &seq.to_string())?;
        }
        Ok(())
    }
}

fn put(conn: &rusqlite::Connection, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// One device token per server and handle: `device_token <server> <handle>`.
fn device_key(server_url: &str, handle: &Handle) -> String {
    format!("device_token {server_url} {}", handle.as_str())
}

fn bad(key: &str, value: &str) -> StoreError {
    StoreError::BadValue { key: key.to_string(), value: value.to_string() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn session(server: &str, handle: &str, token: &str) -> Session {
        Session { server_url: server.into(), handle: Handle::parse(handle).unwrap(), token: token.into() }
    }

    #[test]
    fn device_tokens_are_kept_per_server_and_handle_across_logout() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let alice = Handle::parse("alice").unwrap();
        assert_eq!(store.device_token("http://a", &alice).unwrap(), None);
        store.set_device_token("http://a", &alice, "d1").unwrap();
        store.begin_session(&session("http://a", "alice", "t1")).unwrap();
        store.end_session().unwrap();
        assert_eq!(store.device_token("http://a", &alice).unwrap().as_deref(), Some("d1"));
        assert_eq!(store.device_token("http://b", &alice).unwrap(), None);
        assert_eq!(store.device_token("http://a", &Handle::parse("bob").unwrap()).unwrap(), None);
        // It is not mistaken for another setting.
        assert_eq!(store.settings().unwrap().token, None);
    }

    #[test]
    fn empty_store_has_no_session() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let settings = store.settings().unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.session(), None);
    }

    #[test]
    fn settings_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.begin_session(&session("http://h:1", "alice", "tok")).unwrap();
            store.set_currency(Currency::new("EUR", 2).unwrap()).unwrap();
            store.set_known_balance(Amount::from_minor(125_000).unwrap(), 42).unwrap();
            store.advance_event_seq(7).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let s = store.settings().unwrap();
        assert_eq!(s.session(), Some(session("http://h:1", "alice", "tok")));
        assert_eq!(s.currency, Currency::new("EUR", 2));
        assert_eq!(s.balance, Some(KnownBalance { amount: Amount::from_minor(125_000).unwrap(), as_of_ms: 42 }));
        assert_eq!(s.last_event_seq, 7);
    }

    #[test]
    fn event_cursor_never_goes_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.advance_event_seq(10).unwrap();
        store.advance_event_seq(3).unwrap();
        assert_eq!(store.settings().unwrap().last_event_seq, 10);
        store.advance_event_seq(11).unwrap();
        assert_eq!(store.settings().unwrap().last_event_seq, 11);
    }

    #[test]
    fn relogin_as_same_account_keeps_balance_other_account_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.begin_session(&session("http://h:1", "alice", "t1")).unwrap();
        store.set_known_balance(Amount::from_minor(500).unwrap(), 1).unwrap();
        store.advance_event_seq(5).unwrap();

        store.begin_session(&session("http://h:1", "alice", "t2")).unwrap();
        let s = store.settings().unwrap();
        assert_eq!(s.token.as_deref(), Some("t2"));
        assert_eq!(s.balance.map(|b| b.amount.minor()), Some(500));
        assert_eq!(s.last_event_seq, 5);

        store.begin_session(&session("http://h:1", "bob", "t3")).unwrap();
        let s = store.settings().unwrap();
        assert_eq!(s.handle.as_ref().map(Handle::as_str), Some("bob"));
        assert_eq!(s.balance, None);
        assert_eq!(s.last_event_seq, 0);

        store.set_known_balance(Amount::from_minor(9).unwrap(), 1).unwrap();
        store.begin_session(&session("http://other:2", "bob", "t4")).unwrap();
        assert_eq!(store.settings().unwrap().balance, None);
    }

    #[test]
    fn logout_forgets_only_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.begin_session(&session("http://h:1", "alice", "t1")).unwrap();
        store.set_known_balance(Amount::from_minor(500).unwrap(), 1).unwrap();
        store.end_session().unwrap();
        let s = store.settings().unwrap();
        assert_eq!(s.token, None);
        assert_eq!(s.session(), None);
        assert_eq!(s.handle.as_ref().map(Handle::as_str), Some("alice"));
        assert_eq!(s.server_url.as_deref(), Some("http://h:1"));
        assert!(s.balance.is_some());
    }

    #[test]
    fn corrupt_values_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        put(store.conn(), BALANCE, "-3").unwrap();
        put(store.conn(), BALANCE_AS_OF_MS, "1").unwrap();
        assert!(matches!(store.settings(), Err(StoreError::BadValue { .. })));
        store.set_known_balance(Amount::from_minor(1).unwrap(), 1).unwrap();
        put(store.conn(), HANDLE, "X!").unwrap();
        assert!(matches!(store.settings(), Err(StoreError::BadValue { .. })));
    }
}
