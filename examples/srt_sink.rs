//! The SRT stack alone, for bench/srt.sh: takes every SRT caller on ADDR with srt-tokio (the
//! listener and socket hlsd uses, the same receive latency and UDP buffer), reads what it
//! sends and drops it; prints the bytes of each caller when it ends.
//!
//!     cargo run --release --example srt_sink -- 127.0.0.1:9001 [LATENCY_MS]

use futures_util::StreamExt;
use srt_tokio::SrtListener;
use std::time::Duration;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9001".into());
    let latency: u64 = args.next().and_then(|l| l.parse().ok()).unwrap_or(120);
    let socket = hlsd::srt::bind(&addr).await?;
    let local = socket.local_addr()?;
    socket.set_nonblocking(true)?;
    let (_listener, mut incoming) = SrtListener::builder()
        .socket(tokio::net::UdpSocket::from_std(socket)?)
        .latency(Duration::from_millis(latency))
        .bind(local)
        .await?;
    eprintln!("srt_sink listening on {local}");
    while let Some(request) = incoming.incoming().next().await {
        tokio::spawn(async move {
            let sid = request
                .stream_id()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let Ok(mut socket) = request.accept(None).await else {
                return;
            };
            let mut bytes = 0usize;
            while let Some(Ok((_, payload))) = socket.next().await {
                bytes += payload.len();
            }
            println!("{sid} {bytes}");
        });
    }
    Ok(())
}
