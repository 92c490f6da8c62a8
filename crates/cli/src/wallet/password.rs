//! Where `register`, `login` and `password` get passwords: the `OFFPAY_PASSWORD` (and, for a new
//! password, `OFFPAY_NEW_PASSWORD`) environment variables (for scripts and tests), else a prompt
//! on the terminal that does not echo.

/// The environment variable that supplies the password without a prompt.
pub const PASSWORD_ENV: &str = "OFFPAY_PASSWORD";

/// Reads the password. With `confirm`, a prompted password must be typed twice.
pub fn read(confirm: bool) -> anyhow::Result<String> {
    if let Some(password) = std::env::var_os(PASSWORD_ENV) {
        return password.into_string().map_err(|_| anyhow::anyhow!("{PASSWORD_ENV} is not valid UTF-8"));
    }
    let no_terminal = |e: std::io::Error| {
        anyhow::anyhow!("cannot ask for the password ({e}); set {PASSWORD_ENV} or run in a terminal")
    };
    let password = rpassword::prompt_password("Password: ").map_err(no_terminal)?;
    if confirm {
        let again = rpassword::prompt_password("Repeat password: ").map_err(no_terminal)?;
        if again != password {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
    }
    Ok(password)
}

/// The environment variable that supplies the new password of `offpay wallet password`.
pub const NEW_PASSWORD_ENV: &str = "OFFPAY_NEW_PASSWORD";

/// The current and the new password for a password change. A prompted new password must be
/// typed twice.
pub fn read_change() -> anyhow::Result<(String, String)> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .map(|v| v.into_string().map_err(|_| anyhow::anyhow!("{name} is not valid UTF-8")))
            .transpose()
    };
    let no_terminal = |e: std::io::Error| {
        anyhow::anyhow!(
            "cannot ask for the password ({e}); set {PASSWORD_ENV} and {NEW_PASSWORD_ENV} or run in a terminal"
        )
    };
    let current = match from_env(PASSWORD_ENV)? {
        Some(p) => p,
        None => rpassword::prompt_password("Current password: ").map_err(no_terminal)?,
    };
    let new = match from_env(NEW_PASSWORD_ENV)? {
        Some(p) => p,
        None => {
            let new = rpassword::prompt_password("New password: ").map_err(no_terminal)?;
            let again = rpassword::prompt_password("Repeat new password: ").map_err(no_terminal)?;
            if again != new {
                anyhow::bail!("the two new passwords differ; nothing was changed");
            }
            new
        }
    };
    Ok((current, new))
}
