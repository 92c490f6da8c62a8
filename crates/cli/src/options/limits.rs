//! `offpay serve`'s connection limits, checked before anything starts: how long a client may
//! take to send its request head (`--header-read-timeout`, `OFFPAY_HEADER_READ_TIMEOUT`) and its
//! body (`--body-read-timeout`, `OFFPAY_BODY_READ_TIMEOUT`), how long an answer may make no
//! progress towards a client that stopped reading (`--write-timeout`, `OFFPAY_WRITE_TIMEOUT`),
//! and how many WebSockets one account
//! may hold (`--ws-per-user`, `OFFPAY_WS_PER_USER`), how long a silent WebSocket stays open
//! (`--ws-idle-timeout`, `OFFPAY_WS_IDLE_TIMEOUT`) and the server in all
//! (`--max-connections`, `OFFPAY_MAX_CONNECTIONS`) and per client network
//! (`--max-connections-per-address`, `OFFPAY_MAX_CONNECTIONS_PER_ADDRESS`); and the request rates, each as
//! `PER_MINUTE/BURST`: per client address (`--rate-per-ip`, `OFFPAY_RATE_PER_IP`), per signed-in
//! account (`--rate-per-account`, `OFFPAY_RATE_PER_ACCOUNT`), and register/login attempts per
//! address (`--rate-auth-per-ip`, `OFFPAY_RATE_AUTH_PER_IP`), and new accounts per server from all
//! addresses together (`--rate-register`, `OFFPAY_RATE_REGISTER`); and how long security events are
//! kept (`--security-log-keep`, `OFFPAY_SECURITY_LOG_KEEP`, 1 to 3650 days).
//! Durations are read as for the purse options (`10s`, `2m`); a refused value is a usage error
//! naming the option and its variable (exit status 2). The defaults are `Config::default()`'s.

use std::time::Duration;

use offpay_server::Config;
use offpay_server::config::RateLimit;

use super::offline::{BadOption, bad, parse_duration};

pub const HEADER_READ_TIMEOUT_ENV: &str = "OFFPAY_HEADER_READ_TIMEOUT";
pub const BODY_READ_TIMEOUT_ENV: &str = "OFFPAY_BODY_READ_TIMEOUT";
pub const WRITE_TIMEOUT_ENV: &str = "OFFPAY_WRITE_TIMEOUT";
pub const WS_PER_USER_ENV: &str = "OFFPAY_WS_PER_USER";
pub const MAX_CONNECTIONS_ENV: &str = "OFFPAY_MAX_CONNECTIONS";
pub const MAX_CONNECTIONS_PER_ADDRESS_ENV: &str = "OFFPAY_MAX_CONNECTIONS_PER_ADDRESS";
pub const WS_IDLE_TIMEOUT_ENV: &str = "OFFPAY_WS_IDLE_TIMEOUT";
pub const RATE_PER_IP_ENV: &str = "OFFPAY_RATE_PER_IP";
pub const RATE_PER_ACCOUNT_ENV: &str = "OFFPAY_RATE_PER_ACCOUNT";
pub const RATE_AUTH_PER_IP_ENV: &str = "OFFPAY_RATE_AUTH_PER_IP";
pub const RATE_REGISTER_ENV: &str = "OFFPAY_RATE_REGISTER";
pub const SECURITY_LOG_KEEP_ENV: &str = "OFFPAY_SECURITY_LOG_KEEP";

/// Longest accepted timeout: beyond it the limit protects nothing.
const MAX_TIMEOUT_SECS: u64 = 3_600;

#[derive(clap::Args, Debug, Clone)]
pub struct ConnectionLimitArgs {
    /// A connection that has not sent complete request headers within this is closed
    /// (units s, m, h)
    #[arg(long, value_name = "DURATION", default_value = "10s", env = HEADER_READ_TIMEOUT_ENV)]
    pub header_read_timeout: String,
    /// A request body that has not arrived in full within this is answered 408
    /// request_timeout (units s, m, h)
    #[arg(long, value_name = "DURATION", default_value = "30s", env = BODY_READ_TIMEOUT_ENV)]
    pub body_read_timeout: String,
    /// A connection whose answer has not moved a byte towards the client for this long (a
    /// client that stopped reading) is closed (units s, m, h)
    #[arg(long, value_name = "DURATION", default_value = "30s", env = WRITE_TIMEOUT_ENV)]
    pub write_timeout: String,
    /// Most WebSockets one account may have open at once on this server (1 to 1000)
    #[arg(long, value_name = "COUNT", default_value = "8", env = WS_PER_USER_ENV, allow_negative_numbers = true)]
    pub ws_per_user: String,
    /// A WebSocket that sent nothing, not even a pong, for this long is closed (units s, m, h)
    #[arg(long, value_name = "DURATION", default_value = "5m", env = WS_IDLE_TIMEOUT_ENV)]
    pub ws_idle_timeout: String,
    /// Most connections (HTTP and WebSocket) held open at once; beyond, new ones wait until one
    /// ends. Keep it under the descriptor limit (ulimit -n) (1 to 1000000)
    #[arg(long, value_name = "COUNT", default_value = "10000", env = MAX_CONNECTIONS_ENV, allow_negative_numbers = true)]
    pub max_connections: String,
    /// Most of those one client address (an IPv6 /64) holds at once; one more from it is closed
    /// at once. Behind a reverse proxy, set it to --max-connections (1 to 1000000)
    #[arg(
        long,
        value_name = "COUNT",
        default_value = "1000",
        env = MAX_CONNECTIONS_PER_ADDRESS_ENV,
        allow_negative_numbers = true
    )]
    pub max_connections_per_address: String,
    /// Requests per client address, all routes: sustained per minute / burst (per server process)
    #[arg(long, value_name = "PER_MINUTE/BURST", default_value = "600/120", env = RATE_PER_IP_ENV)]
    pub rate_per_ip: String,
    /// Requests per signed-in account: sustained per minute / burst (per server process)
    #[arg(long, value_name = "PER_MINUTE/BURST", default_value = "300/60", env = RATE_PER_ACCOUNT_ENV)]
    pub rate_per_account: String,
    /// Register and login attempts per client address (each costs a password hash):
    /// sustained per minute / burst
    #[arg(long, value_name = "PER_MINUTE/BURST", default_value = "30/10", env = RATE_AUTH_PER_IP_ENV)]
    pub rate_auth_per_ip: String,
    /// New accounts this server opens, from all addresses together (a botnet brings a new
    /// address for every attempt); beyond it registration answers 503 busy
    #[arg(long, value_name = "PER_MINUTE/BURST", default_value = "120/60", env = RATE_REGISTER_ENV)]
    pub rate_register: String,
    /// Security events (`offpay admin security-events`) older than this are deleted
    /// (units d, h; from 1d to 3650d)
    #[arg(long, value_name = "DURATION", default_value = "90d", env = SECURITY_LOG_KEEP_ENV)]
    pub security_log_keep: String,
}

impl ConnectionLimitArgs {
    /// `config` with these limits in force.
    pub fn apply(&self, config: Config) -> Result<Config, BadOption> {
        let header_read_timeout = timeout("header-read-timeout", HEADER_READ_TIMEOUT_ENV, &self.header_read_timeout)?;
        let body_read_timeout = timeout("body-read-timeout", BODY_READ_TIMEOUT_ENV, &self.body_read_timeout)?;
        let write_timeout = timeout("write-timeout", WRITE_TIMEOUT_ENV, &self.write_timeout)?;
        let ws_per_user = count("ws-per-user", WS_PER_USER_ENV, &self.ws_per_user, 1_000)?;
        let ws_idle_timeout = timeout("ws-idle-timeout", WS_IDLE_TIMEOUT_ENV, &self.ws_idle_timeout)?;
        let max_connections = count("max-connections", MAX_CONNECTIONS_ENV, &self.max_connections, 1_000_000)?;
        let max_connections_per_address = count(
            "max-connections-per-address",
            MAX_CONNECTIONS_PER_ADDRESS_ENV,
            &self.max_connections_per_address,
            1_000_000,
        )?;
        let rate_per_ip = rate("rate-per-ip", RATE_PER_IP_ENV, &self.rate_per_ip)?;
        let rate_per_account = rate("rate-per-account", RATE_PER_ACCOUNT_ENV, &self.rate_per_account)?;
        let rate_auth_per_ip = rate("rate-auth-per-ip", RATE_AUTH_PER_IP_ENV, &self.rate_auth_per_ip)?;
        let rate_register = rate("rate-register", RATE_REGISTER_ENV, &self.rate_register)?;
        let security_log_keep = retention("security-log-keep", SECURITY_LOG_KEEP_ENV, &self.security_log_keep)?;
        Ok(Config {
            header_read_timeout,
            body_read_timeout,
            write_timeout,
            ws_per_user,
            ws_idle_timeout,
            max_connections,
            max_connections_per_address,
            rate_per_ip,
            rate_per_account,
            rate_auth_per_ip,
            rate_register,
            security_log_keep,
            ..config
        })
    }
}

/// `PER_MINUTE/BURST`, each a whole number from 1 to 1,000,000.
fn rate(option: &str, env: &str, value: &str) -> Result<RateLimit, BadOption> {
    let number = |text: &str| text.trim().parse::<u32>().ok().filter(|n| (1..=1_000_000).contains(n));
    value
        .split_once('/')
        .and_then(|(per_minute, burst)| Some(RateLimit { per_minute: number(per_minute)?, burst: number(burst)? }))
        .ok_or_else(|| {
            bad(option, env, value, "PER_MINUTE/BURST, two whole numbers from 1 to 1000000, for example 600/120")
        })
}

fn count(option: &str, env: &str, value: &str, max: usize) -> Result<usize, BadOption> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| bad(option, env, value, format!("a whole number from 1 to {max}")))
}

fn timeout(option: &str, env: &str, value: &str) -> Result<Duration, BadOption> {
    let secs = parse_duration(value).map_err(|why| bad(option, env, value, why))?;
    if secs == 0 {
        return Err(bad(option, env, value, "must be more than zero"));
    }
    if secs > MAX_TIMEOUT_SECS {
        return Err(bad(option, env, value, "at most 1h"));
    }
    Ok(Duration::from_secs(secs))
}

/// How long security events are kept: at least a day (an operator needs time to read them), at
/// most ten years.
fn retention(option: &str, env: &str, value: &str) -> Result<Duration, BadOption> {
    const DAY: u64 = 86_400;
    let secs = parse_duration(value).map_err(|why| bad(option, env, value, why))?;
    if !(DAY..=3_650 * DAY).contains(&secs) {
        return Err(bad(option, env, value, "from 1d to 3650d"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn args(header: &str) -> ConnectionLimitArgs {
        ConnectionLimitArgs {
            header_read_timeout: header.into(),
            body_read_timeout: "30s".into(),
            write_timeout: "30s".into(),
            ws_per_user: "8".into(),
            ws_idle_timeout: "5m".into(),
            max_connections: "10000".into(),
            max_connections_per_address: "1000".into(),
            rate_per_ip: "600/120".into(),
            rate_per_account: "300/60".into(),
            rate_auth_per_ip: "30/10".into(),
            rate_register: "120/60".into(),
            security_log_keep: "90d".into(),
        }
    }

    #[test]
    fn the_defaults_are_the_servers_defaults() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            limits: ConnectionLimitArgs,
        }
        let parsed = Cli::try_parse_from(["offpay"]).unwrap();
        let config = parsed.limits.apply(Config::default()).unwrap();
        assert_eq!(config.header_read_timeout, Config::default().header_read_timeout);
        assert_eq!(config.body_read_timeout, Config::default().body_read_timeout);
        assert_eq!(config.write_timeout, Config::default().write_timeout);
        assert_eq!(config.ws_per_user, Config::default().ws_per_user);
        assert_eq!(config.max_connections, Config::default().max_connections);
        assert_eq!(config.max_connections_per_address, Config::default().max_connections_per_address);
        assert_eq!(config.ws_idle_timeout, Config::default().ws_idle_timeout);
        assert_eq!(config.security_log_keep, Config::default().security_log_keep);
        let defaults = Config::default();
        for (got, want) in [
            (config.rate_per_ip, defaults.rate_per_ip),
            (config.rate_per_account, defaults.rate_per_account),
            (config.rate_auth_per_ip, defaults.rate_auth_per_ip),
            (config.rate_register, defaults.rate_register),
        ] {
            assert_eq!((got.per_minute, got.burst), (want.per_minute, want.burst));
        }
    }

    #[test]
    fn values_are_read_and_nonsense_refused() {
        assert_eq!(args("2m").apply(Config::default()).unwrap().header_read_timeout, Duration::from_secs(120));
        let refused = args("0s").apply(Config::default()).unwrap_err().0;
        assert_eq!(
            refused,
            "invalid --header-read-timeout \"0s\" (or OFFPAY_HEADER_READ_TIMEOUT): must be more than zero"
        );
        assert!(args("10").apply(Config::default()).is_err());
        assert!(args("2h").apply(Config::default()).is_err());
        let sockets = |n: &str| ConnectionLimitArgs { ws_per_user: n.into(), ..args("10s") }.apply(Config::default());
        assert_eq!(sockets("3").unwrap().ws_per_user, 3);
        let refused = sockets("0").unwrap_err().0;
        assert_eq!(refused, "invalid --ws-per-user \"0\" (or OFFPAY_WS_PER_USER): a whole number from 1 to 1000");
        assert!(sockets("-1").is_err());
        assert!(sockets("many").is_err());
        let cap = |n: &str| ConnectionLimitArgs { max_connections: n.into(), ..args("10s") }.apply(Config::default());
        assert_eq!(cap("500").unwrap().max_connections, 500);
        assert!(cap("0").is_err());
        assert!(cap("2000000").is_err());
        let share = |n: &str| {
            ConnectionLimitArgs { max_connections_per_address: n.into(), ..args("10s") }.apply(Config::default())
        };
        assert_eq!(share("64").unwrap().max_connections_per_address, 64);
        assert!(share("0").is_err());
        let rates =
            |r: &str| ConnectionLimitArgs { rate_auth_per_ip: r.into(), ..args("10s") }.apply(Config::default());
        let set = rates("5/2").unwrap().rate_auth_per_ip;
        assert_eq!((set.per_minute, set.burst), (5, 2));
        for nonsense in ["5", "0/2", "5/0", "a/b", "5/2/1", "-5/2", ""] {
            assert!(rates(nonsense).is_err(), "{nonsense:?}");
        }
        let refused = rates("600").unwrap_err().0;
        assert!(refused.starts_with("invalid --rate-auth-per-ip \"600\" (or OFFPAY_RATE_AUTH_PER_IP)"), "{refused}");
        let register =
            |r: &str| ConnectionLimitArgs { rate_register: r.into(), ..args("10s") }.apply(Config::default());
        let set = register("10/5").unwrap().rate_register;
        assert_eq!((set.per_minute, set.burst), (10, 5));
        assert!(register("0/5").is_err());
        let keep =
            |k: &str| ConnectionLimitArgs { security_log_keep: k.into(), ..args("10s") }.apply(Config::default());
        assert_eq!(keep("30d").unwrap().security_log_keep, Duration::from_secs(30 * 86_400));
        assert_eq!(keep("24h").unwrap().security_log_keep, Duration::from_secs(86_400));
        for nonsense in ["23h", "3651d", "0d", "90", "forever", ""] {
            assert!(keep(nonsense).is_err(), "{nonsense:?}");
        }
        let refused = keep("1h").unwrap_err().0;
        assert_eq!(refused, "invalid --security-log-keep \"1h\" (or OFFPAY_SECURITY_LOG_KEEP): from 1d to 3650d");
    }
}
