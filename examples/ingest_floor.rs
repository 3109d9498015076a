//! The ingest stack alone, for bench/ingest.sh: what reading publishers' bytes costs on
//! tokio with no HTTP and no segmenting. Every connection on ADDR goes to one of a few
//! single-threaded tokio runtimes, one per CPU it may run on (as hlsd's ingest runtimes),
//! whose task reads it into a 64 KiB buffer (hlsd's read size) and drops the bytes until
//! the publisher closes; nothing is answered.
//!
//!     cargo run --release --example ingest_floor -- 127.0.0.1:9002

use std::net::TcpListener;
use tokio::io::AsyncReadExt;
use tokio::runtime::Handle;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut runtimes: Vec<Handle> = Vec::new();
    for i in 0..n {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtimes.push(rt.handle().clone());
        std::thread::Builder::new()
            .name(format!("floor-{i}"))
            .spawn(move || rt.block_on(std::future::pending::<()>()))?;
    }
    let listener = TcpListener::bind(&addr)?;
    eprintln!("ingest_floor listening on {}", listener.local_addr()?);
    for (i, stream) in listener.incoming().enumerate() {
        let Ok(stream) = stream else { continue };
        stream.set_nonblocking(true)?;
        runtimes[i % n].spawn(async move {
            let Ok(mut stream) = tokio::net::TcpStream::from_std(stream) else {
                return;
            };
            let mut buf = vec![0u8; 64 << 10];
            while let Ok(1..) = stream.read(&mut buf).await {}
        });
    }
    Ok(())
}
