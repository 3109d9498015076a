//! `hlsd push` and the demo feed: publishing a TS file to an hlsd like an encoder would.
//! [`rewrite`] is sans-I/O (loop passes, pacing schedule); [`client`] does the HTTP.

pub mod cli;
pub mod client;
pub mod reconnect;
pub mod rewrite;

pub use client::{Outcome, PushError, PushOptions, Target, push};
pub use reconnect::push_reconnecting;
pub use rewrite::{LoopRewriter, RewriteError};
