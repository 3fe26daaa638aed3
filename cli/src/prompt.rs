//! Asking for a username and a password: from stdin when told so (`--password-stdin`), else on the
//! terminal, the password without echo. A password never comes from a flag's value, which `ps` and shell
//! history show.

use std::io::{BufRead, IsTerminal, Write};

use crate::Failure;

/// A password read from stdin: everything up to its end, less one trailing line break (spaces are
/// part of a password).
pub fn password_from_stdin() -> Result<String, Failure> {
    let text = std::io::read_to_string(std::io::stdin())
        .map_err(|e| Failure::Usage(format!("cannot read the password from stdin: {e}")))?;
    let password = strip_line_break(&text);
    if password.is_empty() {
        return Err(Failure::Usage("stdin holds no password".into()));
    }
    Ok(password.to_string())
}

fn strip_line_break(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

/// A password typed on the terminal, not echoed; `confirm` asks twice (a new password).
pub fn password_from_terminal(label: &str, confirm: bool) -> Result<String, Failure> {
    let no_terminal = |e: std::io::Error| {
        Failure::Usage(format!(
            "cannot ask for the password ({e}): pass --password-stdin and write it to stdin"
        ))
    };
    let password = rpassword::prompt_password(format!("{label}: ")).map_err(no_terminal)?;
    if password.is_empty() {
        return Err(Failure::Usage("no password given".into()));
    }
    if confirm {
        let again =
            rpassword::prompt_password(format!("{label} (again): ")).map_err(no_terminal)?;
        if again != password {
            return Err(Failure::Usage("the passwords differ".into()));
        }
    }
    Ok(password)
}

/// The password from stdin when `from_stdin`, else from the terminal.
pub fn password(from_stdin: bool, label: &str, confirm: bool) -> Result<String, Failure> {
    if from_stdin {
        password_from_stdin()
    } else {
        password_from_terminal(label, confirm)
    }
}

/// A username typed on the terminal (stdin must be one).
pub fn username() -> Result<String, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "--username is needed when stdin is not a terminal".into(),
        ));
    }
    eprint!("Username: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::Usage(format!("cannot read the username: {e}")))?;
    let name = line.trim().to_string();
    if name.is_empty() {
        return Err(Failure::Usage("no username given".into()));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_break_is_stripped_and_spaces_kept() {
        assert_eq!(strip_line_break("pass word \n"), "pass word ");
        assert_eq!(strip_line_break("secret\r\n"), "secret");
        assert_eq!(strip_line_break("secret"), "secret");
        assert_eq!(strip_line_break("two\n\n"), "two\n");
    }
}
