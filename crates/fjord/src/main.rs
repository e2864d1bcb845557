//! `fjord`: with no arguments (or `fjord serve`) a single-node broker on
//! 127.0.0.1:9092 with data under ./fjord-data.

mod scram_user;
mod settings;
mod user;

/// Fetches and produces allocate megabyte buffers per request; mimalloc
/// keeps freed pages for reuse where the system allocator returns them to
/// the kernel, so every request paid for fresh zeroed pages again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "fjord", version, about = "A Kafka-compatible message broker")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: settings::ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a broker (the default).
    Serve(settings::ServeArgs),
    /// Credentials for SASL users.
    #[command(subcommand)]
    User(user::UserCommand),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FJORD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::User(command)) => return user::run(command),
        None => cli.serve,
    };
    let config = settings::load(&args)?;
    raise_fd_limit();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(config))
}

/// Every connection and every open segment takes a descriptor, and the
/// default soft limit (often 1024) is far below what a broker with many
/// partitions and clients needs; the hard limit is ours to use.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we own.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    if !raised {
        tracing::warn!("could not raise the open-file limit; many partitions or clients may fail");
    }
}

async fn serve(config: fjord_broker::BrokerConfig) -> anyhow::Result<()> {
    let broker = fjord_broker::start(config).await?;
    wait_for_signal().await?;
    tracing::info!("shutting down");
    broker.shutdown().await
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
