//! The `hlsd` binary: configuration, logging, signals (SIGTERM/SIGINT stop, SIGHUP reloads
//! `[auth]`), listener.

use anyhow::Context;
use clap::Parser;
use hlsd::Config;
use std::path::PathBuf;
use tracing::{info, warn};
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
    /// Fetch a URL; exit 0 when the answer is 2xx (a container's health check).
    Check(hlsd::check::CheckArgs),
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

/// The log filter without RUST_LOG. The SRT stack logs every connection's course at INFO
/// and every odd datagram at WARN, ungated, as any peer can send them: only its errors.
const DEFAULT_LOG: &str = "info,srt_protocol=error,srt_tokio=error";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG)),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match args.command {
        Some(Command::Push(push)) => return hlsd::push::cli::run(push).await,
        Some(Command::Check(check)) => match hlsd::check::check(&check).await {
            Ok(line) => {
                println!("{line}");
                return Ok(());
            }
            Err(e) => {
                eprintln!("hlsd check {}: {e}", check.url);
                std::process::exit(1);
            }
        },
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
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            // A mistake in the file, not a crash: one line, no backtrace.
            Err(e) => {
                eprintln!("hlsd: {e}");
                std::process::exit(2);
            }
        },
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
    let (auth_tx, auth_rx) = tokio::sync::watch::channel(config.auth.clone());
    match args.config {
        Some(path) => {
            tokio::spawn(reload_on_hangup(path, config.clone(), auth_tx));
        }
        None => drop(auth_tx),
    }
    let rtmp = match &config.rtmp {
        Some(r) => {
            let listener = bind_listener(&r.listen)
                .with_context(|| format!("cannot listen on {}", r.listen))?;
            info!("hlsd listening on rtmp://{}", listener.local_addr()?);
            Some(listener)
        }
        None => None,
    };
    let srt = match &config.srt {
        Some(s) => {
            let socket = hlsd::srt::bind(&s.listen)
                .await
                .with_context(|| format!("cannot listen on {} (UDP)", s.listen))?;
            info!("hlsd listening on srt://{}", socket.local_addr()?);
            Some(socket)
        }
        None => None,
    };
    let options = hlsd::RunOptions {
        tls,
        auth_updates: Some(auth_rx),
        rtmp,
        srt,
    };
    hlsd::run_with(listener, config, options, shutdown_signal()).await?;
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

/// On each SIGHUP, reads the configuration file again and hands its `[auth]` to the
/// server; feeds and publishes in progress go on. Other changed sections are named in the
/// log and ignored until a restart. A file that does not load changes nothing.
#[cfg(unix)]
async fn reload_on_hangup(
    path: PathBuf,
    running: Config,
    auth: tokio::sync::watch::Sender<Option<hlsd::config::AuthConfig>>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot watch SIGHUP: {e}; [auth] will not be reloaded");
            return;
        }
    };
    while hup.recv().await.is_some() {
        let mut new = match Config::load(&path) {
            Ok(c) => c,
            Err(e) => {
                warn!(
                    "SIGHUP: {} not reloaded, keeping the running [auth]: {}",
                    path.display(),
                    describe(&e)
                );
                continue;
            }
        };
        new.listen.clone_from(&running.listen);
        let ignored = changed_sections(&running, &new);
        if !ignored.is_empty() {
            warn!(
                sections = ?ignored,
                "SIGHUP: changes outside [auth] are ignored until a restart"
            );
        }
        info!(file = %path.display(), "SIGHUP: reloading [auth]");
        auth.send_replace(new.auth);
    }
}

#[cfg(not(unix))]
async fn reload_on_hangup(
    _path: PathBuf,
    _running: Config,
    _auth: tokio::sync::watch::Sender<Option<hlsd::config::AuthConfig>>,
) {
}

/// A configuration error fit for the log: a TOML syntax error's own text may quote the
/// line it is on, which can be a key, so only its position is given.
fn describe(e: &hlsd::config::ConfigError) -> String {
    match e {
        hlsd::config::ConfigError::Parse(p) => match p.span() {
            Some(span) => format!("invalid TOML at byte {}", span.start),
            None => "invalid TOML".to_string(),
        },
        other => other.to_string(),
    }
}

/// Sections other than `[auth]` that differ between two configurations.
fn changed_sections(a: &Config, b: &Config) -> Vec<&'static str> {
    let differ =
        |x: &dyn std::fmt::Debug, y: &dyn std::fmt::Debug| format!("{x:?}") != format!("{y:?}");
    [
        ("hls", differ(&a.hls, &b.hls)),
        ("feeds", differ(&a.feeds, &b.feeds)),
        ("tls", differ(&a.tls, &b.tls)),
        ("demo", differ(&a.demo, &b.demo)),
        ("admin", differ(&a.admin, &b.admin)),
        ("limits", differ(&a.limits, &b.limits)),
        ("srt", a.srt != b.srt),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
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
