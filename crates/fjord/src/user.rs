//! `fjord user …`: credentials for SASL users, made without a running
//! broker.

use std::io::Read;

use anyhow::{bail, Context};
use clap::Subcommand;
use fjord_broker::security::plain::{PasswordHash, DEFAULT_ITERATIONS, MIN_ITERATIONS};

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Read a password from stdin (up to the first newline) and print the
    /// hash a PLAIN user's `sasl.plain.users.<name>` config takes.
    Hash {
        /// PBKDF2 iterations (at least 10000).
        #[arg(long, default_value_t = DEFAULT_ITERATIONS)]
        iterations: u32,
    },
    /// SCRAM users in a data dir: add, remove, list.
    #[command(flatten)]
    Scram(crate::scram_user::ScramUserCommand),
}

pub fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Scram(command) => crate::scram_user::run(command),
        UserCommand::Hash { iterations } => {
            if iterations < MIN_ITERATIONS {
                bail!("--iterations must be at least {MIN_ITERATIONS}");
            }
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .context("reading the password from stdin")?;
            let password = first_line(&input);
            if password.is_empty() {
                bail!("no password on stdin");
            }
            let hash = PasswordHash::create(password, iterations).map_err(anyhow::Error::msg)?;
            input.fill(0);
            println!("{hash}");
            Ok(())
        }
    }
}

/// The password: stdin up to its first line end (`\n` or `\r\n`).
fn first_line(input: &[u8]) -> &[u8] {
    let line = input.split(|b| *b == b'\n').next().unwrap_or_default();
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn the_password_is_the_first_line_without_its_end() {
        assert_eq!(first_line(b"pw\n"), b"pw");
        assert_eq!(first_line(b"pw\r\nmore\n"), b"pw");
        assert_eq!(first_line(b"p w"), b"p w");
        assert_eq!(first_line(b""), b"");
    }
}
