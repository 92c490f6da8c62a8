//! Where `register` and `login` get the password: the `OFFPAY_PASSWORD` environment variable
//! (for scripts and tests), else a prompt on the terminal that does not echo.

/// The environment variable that supplies the password without a prompt.
pub const PASSWORD_ENV: &str = "OFFPAY_PASSWORD";

/// Reads the password. With `confirm`, a prompted password must be typed twice.
pub fn read(confirm: bool) -> anyhow::Result<String> {
    if let Some(password) = std::env::var_os(PASSWORD_ENV) {
        return password
            .into_string()
            .map_err(|_| anyhow::anyhow!("{PASSWORD_ENV} is not valid UTF-8"));
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
