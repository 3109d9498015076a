//! The `hlsd` binary: configuration, logging, signals, listener.

use anyhow::Context;
use clap::Parser;
use hlsd::Config;
use std::path::PathBuf;
use tracing::info;
use tracing_subscriber::EnvFilter;

/// Live HLS origin server for MPEG-TS pushed over HTTP.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Configuration file (default: the embedded config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Listen address, overriding `listen` from the configuration.
    #[arg(long)]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Publish an MPEG-TS file to an hlsd like an encoder would.
    Push(hlsd::push::cli::PushArgs),
    /// Print a signed playback path for a feed (needs auth.playback_secret).
    Sign(SignArgs),
}

#[derive(clap::Args, Debug)]
struct SignArgs {
    /// The feed to sign.
    feed: String,
    /// Seconds the path stays valid.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    ttl: u64,
    /// Configuration file holding the secret (default: the embedded config.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match args.command {
        Some(Command::Push(push)) => return hlsd::push::cli::run(push).await,
        Some(Command::Sign(sign)) => {
            let config = match sign.config.as_ref().or(args.config.as_ref()) {
                Some(path) => Config::load(path)?,
                None => Config::default(),
            };
            let path = hlsd::http::signed::sign_command(&config, &sign.feed, sign.ttl)?;
            println!("{path}");
            return Ok(());
        }
        None => {}
    }
    raise_open_file_limit();
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    let listener = bind_listener(&config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let tls = match (&config.tls.listen, &config.tls.cert, &config.tls.key) {
        (Some(listen), Some(cert), Some(key)) => {
            let read = |p: &PathBuf| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let listener = bind_listener(listen)
                .and_then(|l| Ok(l.into_std()?))
                .with_context(|| format!("cannot listen on {listen}"))?;
            info!("hlsd listening on https://{}", listener.local_addr()?);
            Some(hlsd::TlsListener {
                listener,
                cert_pem: read(cert)?,
                key_pem: read(key)?,
            })
        }
        _ => None,
    };
    info!("hlsd listening on http://{addr}");
    hlsd::run_with_tls(listener, tls, config, shutdown_signal()).await?;
    info!("hlsd stopped");
    Ok(())
}

/// Pending connections the kernel queues per listener (capped by net.core.somaxconn). The
/// usual 128 overflows when thousands of viewers reconnect at once, after an origin restart
/// or a cache flush: a connect whose SYN is dropped waits a second or more to retry.
const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` (the first address it resolves to), with SO_REUSEADDR as
/// `TcpListener::bind` sets it, and a backlog of [`LISTEN_BACKLOG`].
fn bind_listener(addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let addr = addr
        .to_socket_addrs()?
        .next()
        .context("the address resolves to nothing")?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    Ok(socket.listen(LISTEN_BACKLOG)?)
}

/// Every publisher and viewer holds a socket: lift the soft open-file limit (often 1024) to
/// the hard limit, so a thousand feeds do not fail on `accept`.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => info!(limit, "open-file limit raised to the hard limit"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
