//! `hlsd push FILE URL [--loop] [--fast] [--reconnect] [--chunk BYTES [--exact]]`: the command line of the push client.

use super::{LoopRewriter, Outcome, PushOptions, Target, push, push_reconnecting};
use anyhow::Context;
use std::path::PathBuf;
use tracing::info;

/// Publish an MPEG-TS file to an hlsd (or any server taking chunked POSTs) like an encoder.
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The MPEG-TS file.
    pub file: PathBuf,
    /// Where to publish, e.g. http://127.0.0.1:8080/ingest/cam1
    pub url: String,
    /// Play the file again and again, with timestamps and continuity counters continued.
    #[arg(long = "loop")]
    pub looped: bool,
    /// Send as fast as possible instead of in real time (by PCR, or video DTS).
    #[arg(long)]
    pub fast: bool,
    /// When the connection drops (or the server answers 408, 409 or 5xx), publish again
    /// after 1 s, then 2, 4... up to 30 s; the feed continues with a discontinuity.
    #[arg(long)]
    pub reconnect: bool,
    /// Largest HTTP chunk in bytes.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    pub chunk: u32,
    /// Every chunk exactly --chunk bytes (the last may be shorter): due bytes wait until a
    /// chunk is full, like an encoder writing a fixed-size buffer.
    #[arg(long)]
    pub exact: bool,
    /// Publish key, sent as `Authorization: Bearer KEY` (default: $HLSD_PUBLISH_KEY).
    #[arg(long, env = "HLSD_PUBLISH_KEY", hide_env_values = true)]
    pub key: Option<String>,
}

pub async fn run(args: PushArgs) -> anyhow::Result<()> {
    let mut target = Target::parse(&args.url)?;
    target.key = args.key.clone();
    // Read once; the rewriter keeps its packets, and the file itself is let go.
    let mut rw = {
        let file = std::fs::read(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?;
        LoopRewriter::new(&file).with_context(|| format!("{}", args.file.display()))?
    };
    let opts = PushOptions {
        looped: args.looped,
        fast: args.fast,
        chunk: args.chunk as usize,
        exact: args.exact,
    };
    info!(
        file = %args.file.display(),
        url = %crate::http::redact::redact_query(&args.url),
        seconds = rw.duration().secs(),
        "pushing"
    );
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let outcome = if args.reconnect {
        push_reconnecting(&mut rw, &target, &opts, stop).await?
    } else {
        push(&mut rw, &target, &opts, stop).await?
    };
    match outcome {
        Outcome::Done {
            status,
            passes,
            bytes,
        } => info!(status, passes, bytes, "push done"),
        Outcome::Stopped { passes, bytes } => info!(passes, bytes, "push stopped"),
    }
    Ok(())
}
