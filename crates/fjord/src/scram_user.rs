//! `fjord user add|remove|list`: SCRAM users in a data dir, managed without
//! a running broker (the first admin has no client to create it with).
//! A running broker keeps its own copy of the credentials and rewrites the
//! file on its next change, so changes are refused while one holds the data
//! dir's lock: stop it first, or use AlterUserScramCredentials
//! (kafka-configs, an admin client) against it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use fjord_broker::security::scram_admin::check_iterations;
use fjord_broker::security::scram_credentials::{ScramCredential, ScramMechanism, MIN_ITERATIONS};
use fjord_storage::data_dir_lock::DataDirLock;
use fjord_storage::scram::{LocalScramStore, ScramStore, ScramUsers};

/// The SCRAM user commands (`fjord user …`).
#[derive(Subcommand, Debug)]
pub enum ScramUserCommand {
    /// Add a SCRAM user, or replace its credential for the mechanism. The
    /// password is read from stdin (the first line), or prompted for on a
    /// terminal.
    Add {
        name: String,
        /// SCRAM-SHA-256 or SCRAM-SHA-512.
        #[arg(long, default_value = "SCRAM-SHA-512")]
        mechanism: String,
        /// PBKDF2 iterations, 4096 to 16384 as Kafka accepts them.
        #[arg(long, default_value_t = MIN_ITERATIONS)]
        iterations: i32,
        #[command(flatten)]
        data: DataDir,
    },
    /// Remove a SCRAM user's credential for one mechanism, or all of them.
    Remove {
        name: String,
        #[arg(long)]
        mechanism: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List SCRAM users: name, mechanism and iterations, one per line.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Args, Debug)]
pub struct DataDir {
    /// The broker's data directory (its `log.dirs`).
    #[arg(long, default_value = "./fjord-data")]
    data_dir: PathBuf,
}

pub fn run(command: ScramUserCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match command {
        ScramUserCommand::Add {
            name,
            mechanism,
            iterations,
            data,
        } => {
            let _lock = lock_for_change(&data.data_dir)?;
            let mechanism = mechanism_named(&mechanism)?;
            check_iterations(iterations).map_err(|e| anyhow::anyhow!("--iterations: {e}"))?;
            if name.is_empty() {
                bail!("the user name must not be empty");
            }
            let password = read_password(&name)?;
            let credential =
                ScramCredential::from_password(mechanism, password.as_bytes(), iterations)
                    .map_err(|_| anyhow::anyhow!("no randomness available for a salt"))?;
            drop(password);
            let store = open(&data.data_dir)?;
            let stored = credential.to_stored();
            let user = name.clone();
            runtime.block_on(store.update(Box::new(move |users: &mut ScramUsers| {
                users
                    .entry(user)
                    .or_default()
                    .insert(mechanism.name().to_string(), stored);
            })))?;
            eprintln!("SCRAM user {name} stored for {}", mechanism.name());
        }
        ScramUserCommand::Remove {
            name,
            mechanism,
            data,
        } => {
            let _lock = lock_for_change(&data.data_dir)?;
            let mechanism = mechanism.as_deref().map(mechanism_named).transpose()?;
            let store = open(&data.data_dir)?;
            let has = |users: &ScramUsers| {
                users.get(&name).is_some_and(|mechanisms| match mechanism {
                    Some(m) => mechanisms.contains_key(m.name()),
                    None => !mechanisms.is_empty(),
                })
            };
            if !has(&store.users()) {
                match mechanism {
                    Some(m) => bail!("no {} credential for user {name}", m.name()),
                    None => bail!("no SCRAM user {name}"),
                }
            }
            let user = name.clone();
            runtime.block_on(store.update(Box::new(move |users: &mut ScramUsers| {
                if let Some(mechanisms) = users.get_mut(&user) {
                    match mechanism {
                        Some(m) => {
                            mechanisms.remove(m.name());
                        }
                        None => mechanisms.clear(),
                    }
                }
            })))?;
            eprintln!("SCRAM user {name} removed");
        }
        ScramUserCommand::List { data } => {
            let store = open(&data.data_dir)?;
            let mut out = std::io::stdout().lock();
            for (user, mechanisms) in store.users() {
                for (mechanism, credential) in mechanisms {
                    writeln!(out, "{user}\t{mechanism}\t{}", credential.iterations)?;
                }
            }
        }
    }
    Ok(())
}

fn mechanism_named(name: &str) -> anyhow::Result<ScramMechanism> {
    ScramMechanism::from_name(&name.to_ascii_uppercase()).with_context(|| {
        format!("unknown SCRAM mechanism {name}: use SCRAM-SHA-256 or SCRAM-SHA-512")
    })
}

fn lock_for_change(data_dir: &Path) -> anyhow::Result<DataDirLock> {
    DataDirLock::acquire(data_dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::ResourceBusy => anyhow::anyhow!(
            "{e}\nStop the broker first, or change SCRAM users through it with \
             AlterUserScramCredentials (kafka-configs --alter --entity-type users)"
        ),
        _ => anyhow::Error::new(e).context(format!("locking {}", data_dir.display())),
    })
}

fn open(data_dir: &Path) -> anyhow::Result<LocalScramStore> {
    LocalScramStore::open(data_dir)
        .with_context(|| format!("opening SCRAM credentials in {}", data_dir.display()))
}

/// The first line of stdin, without its line end; on a terminal, prompted
/// for twice with echo off.
fn read_password(name: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = prompt(&format!("Password for {name}: "))?;
        let again = prompt("Again: ")?;
        if first != again {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        bail!("the password must not be empty");
    }
    Ok(password)
}

fn prompt(text: &str) -> anyhow::Result<String> {
    eprint!("{text}");
    std::io::stderr().flush()?;
    let _quiet = EchoOff::new();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    eprintln!();
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turns the terminal's echo off until dropped.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: tcgetattr/tcsetattr read and write a termios we own, on
        // stdin's descriptor, which lives as long as the process.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut saved) != 0 {
                return EchoOff(None);
            }
            let mut quiet = saved;
            quiet.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &quiet) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: as in `new`.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved);
            }
        }
    }
}
