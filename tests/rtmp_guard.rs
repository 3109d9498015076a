//! What one RTMP connection can make hlsd hold, over real sockets: a message declared at
//! RTMP's 16 MiB before any publish, and a chunk stream interleaved into an incomplete
//! message after one, each close the connection at once, without a panic anywhere in the
//! process, and the server publishes on. Runs in plain `cargo test` (rml_rtmp's client, no
//! outside tool); one test in its own file, because it watches the process's panics.

mod common;

use common::rtmp::{Attempt, handshake, rtmp_publish};
use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A type 0 chunk: chunk stream `csid` (2–63), message `length` of `type_id` on message
/// stream 1, and the first bytes of its payload.
fn chunk0(csid: u8, length: u32, type_id: u8, payload: &[u8]) -> Vec<u8> {
    let mut c = vec![csid, 0, 0, 0];
    c.extend_from_slice(&length.to_be_bytes()[1..]);
    c.push(type_id);
    c.extend_from_slice(&1u32.to_le_bytes());
    c.extend_from_slice(payload);
    c
}

/// Whether the server closes the connection within 5 s (it would hold it for
/// `limits.header_timeout`, 60 s here, or for the publish, otherwise).
async fn closed_soon(sock: &mut tokio::net::TcpStream) -> bool {
    let mut buf = vec![0u8; 65536];
    let to_end = async {
        loop {
            match sock.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), to_end)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_interleaved_messages_close_the_connection_without_a_panic() {
    let panics = Arc::new(AtomicUsize::new(0));
    let seen = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let mut config = config();
    config.limits.header_timeout = 60.0;
    config.feeds.reconnect_grace = 0.5;
    let (server, rtmp) = TestServer::start_with_rtmp(config).await;

    // Before a publish: a command declared at 16 MiB.
    let (mut sock, _) = handshake(rtmp).await;
    sock.write_all(&chunk0(3, 0xFF_FFFF, 20, &[2; 128]))
        .await
        .unwrap_or(());
    assert!(closed_soon(&mut sock).await, "a 16 MiB command is refused");

    // Publishing: 128 bytes of a 1 000-byte video message, then an audio message on
    // another chunk stream before the video message is complete.
    let mut held = match rtmp_publish(rtmp, "live", "cam1").await {
        Attempt::Publishing(s) => s,
        Attempt::Closed(got) => panic!("refused: {got}"),
    };
    let mut bytes = chunk0(6, 1000, 9, &[0x17; 128]);
    bytes.extend(chunk0(4, 4, 8, &[0xaf, 1, 0, 0]));
    held.write_all(&bytes).await.unwrap_or(());
    assert!(
        closed_soon(&mut held).await,
        "interleaving ends the publish"
    );

    // A video message over the media limit, from a publisher.
    let mut big = match rtmp_publish(rtmp, "live", "cam2").await {
        Attempt::Publishing(s) => s,
        Attempt::Closed(got) => panic!("refused: {got}"),
    };
    big.write_all(&chunk0(6, 12 << 20, 9, &[0x17; 128]))
        .await
        .unwrap_or(());
    assert!(closed_soon(&mut big).await, "a 12 MiB frame is refused");

    assert_eq!(panics.load(Ordering::SeqCst), 0, "nothing panicked");
    assert_eq!(get(&server.url("/healthz")).await.status, 200);
    // The rendition was released: the name publishes again once the grace is over.
    let again = eventually(Duration::from_secs(10), "cam1 publishes again", || async {
        match rtmp_publish(rtmp, "live", "cam1").await {
            Attempt::Publishing(s) => Some(s),
            Attempt::Closed(_) => None,
        }
    })
    .await;
    drop(again);
    server.stop().await;
}
