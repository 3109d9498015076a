//! `hlsd check URL`: one plain-HTTP GET, exit status 0 when the answer is 2xx. A container's
//! HEALTHCHECK runs it (slim images have no curl); it needs nothing but the hlsd binary.

use crate::push::Target;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Arguments of `hlsd check`.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// What to fetch, e.g. http://127.0.0.1:8080/healthz
    pub url: String,
    /// Seconds to wait for the whole answer head.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Url(#[from] crate::push::PushError),
    #[error("no answer within {0} s")]
    TimedOut(f64),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not an HTTP answer")]
    BadAnswer,
    #[error("answered {0}")]
    Status(String),
}

/// Fetches `url` and returns its status line when the status is 2xx.
pub async fn check(args: &CheckArgs) -> Result<String, CheckError> {
    let target = Target::parse(&args.url)?;
    let secs = if args.timeout.is_finite() && args.timeout > 0.0 {
        args.timeout
    } else {
        5.0
    };
    timeout(Duration::from_secs_f64(secs), fetch(&target))
        .await
        .map_err(|_| CheckError::TimedOut(secs))?
}

async fn fetch(target: &Target) -> Result<String, CheckError> {
    let mut s = TcpStream::connect(&target.connect).await?;
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hlsd-check/{}\r\nConnection: close\r\n\r\n",
        target.path,
        target.host,
        env!("CARGO_PKG_VERSION")
    );
    s.write_all(head.as_bytes()).await?;
    let mut buf = Vec::with_capacity(256);
    let line_end = loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            break i;
        }
        if buf.len() > 8 * 1024 {
            return Err(CheckError::BadAnswer);
        }
        let mut tmp = [0u8; 1024];
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(CheckError::BadAnswer);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
    let mut words = line.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    }
    .ok_or(CheckError::BadAnswer)?;
    if (200..300).contains(&status) {
        Ok(line)
    } else {
        Err(CheckError::Status(line))
    }
}
