//! `hlsd push --reconnect`: ride out a dropped connection as an encoder does, by publishing
//! again after a pause that doubles with each failure in a row (1 s up to 30 s; back to 1 s
//! after a push that lasted 10 s). The next attempt starts with the next pass of the
//! file, whose timestamps continue; the server marks the join with a discontinuity.
//! Refusals that another try cannot change (400, 401, 403, 404, 410, 413, 415) end the push.

use super::client::{Outcome, PushError, PushOptions, Target, push};
use super::rewrite::LoopRewriter;
use std::future::Future;
use std::time::Duration;
use tokio::time::{Instant, sleep};
use tracing::{info, warn};

const FIRST_PAUSE: Duration = Duration::from_secs(1);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);
/// A push that lasted this long was taken by the server, not a failure in a row: the pause
/// starts again at 1 s (a server that accepts and drops at once is still backed off from,
/// while an origin lost every few minutes costs its publisher 1 s each time).
const STEADY: Duration = Duration::from_secs(10);

/// Like [`push`], publishing again whenever the connection drops or the server answers with
/// a refusal that may pass (409 while it still holds the old connection, 408, 5xx), until
/// the file has been sent (without `looped`), a lasting refusal, or `stop`.
pub async fn push_reconnecting(
    rw: &mut LoopRewriter,
    target: &Target,
    opts: &PushOptions,
    stop: impl Future<Output = ()>,
) -> Result<Outcome, PushError> {
    tokio::pin!(stop);
    let mut pause = FIRST_PAUSE;
    let mut bytes = 0;
    loop {
        let started = Instant::now();
        let error = match push(rw, target, opts, stop.as_mut()).await {
            Ok(Outcome::Stopped { bytes: b, .. }) => {
                return Ok(Outcome::Stopped {
                    passes: rw.passes(),
                    bytes: bytes + b,
                });
            }
            Ok(Outcome::Done {
                status, bytes: b, ..
            }) if !opts.looped => {
                return Ok(Outcome::Done {
                    status,
                    passes: rw.passes(),
                    bytes: bytes + b,
                });
            }
            // A looped push never ends on its own: the server ended it.
            Ok(Outcome::Done {
                status, bytes: b, ..
            }) => {
                bytes += b;
                format!("the server ended the push with {status}")
            }
            Err(e) if lasting(&e) => return Err(e),
            Err(e) => e.to_string(),
        };
        if started.elapsed() >= STEADY {
            pause = FIRST_PAUSE;
        }
        warn!(
            error,
            retry_in_s = pause.as_secs(),
            "push interrupted; publishing again"
        );
        tokio::select! {
            () = sleep(pause) => {}
            () = stop.as_mut() => {
                return Ok(Outcome::Stopped { passes: rw.passes(), bytes });
            }
        }
        info!(url = %target.path, "reconnecting");
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// A refusal another try cannot change.
fn lasting(e: &PushError) -> bool {
    match e {
        PushError::BadUrl(_) => true,
        PushError::Refused { status, .. } => {
            !(*status == 408 || *status == 409 || *status == 429 || *status >= 500)
        }
        PushError::Connect { .. } | PushError::Io(_) | PushError::BadAnswer => false,
    }
}
