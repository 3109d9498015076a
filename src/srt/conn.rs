//! One SRT caller, from its handshake's conclusion to the end of its publish. The stream ID,
//! the encryption the caller offers and the publish session (names, auth, claim) decide
//! before the handshake completes: a refused caller gets a rejection code in the handshake
//! and never a connection. An accepted one is its session's [`Source`]: each SRT message
//! (MPEG-TS, any size: 1316 bytes from most encoders, 1264 from Larix) is a chunk of the
//! stream, as an HTTP body chunk is.

use super::names::{self, StreamIdError};
use crate::http::App;
use crate::ingest::Protocol;
use crate::ingest::auth::Refusal;
use crate::ingest::session::{self, IngestError, Input, Publish, Source};
use futures_util::StreamExt;
use srt_protocol::options::{KeySize, Passphrase};
use srt_protocol::packet::CoreRejectReason;
use srt_protocol::settings::KeySettings;
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::{ConnectionRequest, SrtSocket};
use tracing::{Instrument, debug, info};

/// The rejection code of a refused caller. libsrt reports these as 1000 less than their
/// value on the wire (`srt_getrejectreason`: 1400 for `BadRequest`), which is how
/// DESIGN.md and ffmpeg name them.
pub fn rejection(e: &IngestError) -> RejectReason {
    use crate::feeds::ClaimError;
    RejectReason::Server(match e {
        IngestError::BadName | IngestError::NotTs => ServerRejectReason::BadRequest,
        IngestError::Refused(Refusal::MissingKey) => ServerRejectReason::Unauthorized,
        IngestError::Refused(Refusal::WrongKey | Refusal::Denied) => ServerRejectReason::Forbidden,
        IngestError::Claim(ClaimError::Busy { .. }) => ServerRejectReason::Conflict,
        IngestError::Refused(Refusal::Unavailable) | IngestError::Claim(_) => {
            ServerRejectReason::Down
        }
    })
}

/// The code libsrt callers report for `r` (`SRT_REJX_*`, `SRT_REJ_*`).
pub fn code(r: RejectReason) -> i32 {
    i32::from(r) - 1000
}

/// The passphrase every caller must encrypt with, if any.
pub type Secret = Option<Passphrase>;

/// Decides a caller's handshake and, when it is accepted, runs its publish.
pub async fn run(app: App, request: ConnectionRequest, secret: Secret) {
    let peer = request.remote();
    let sid = request.stream_id().map(|s| s.as_str().to_owned());
    let target = match names::parse(sid.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            let (reason, why) = match &e {
                StreamIdError::BadName => (ServerRejectReason::BadRequest, "bad_name"),
                StreamIdError::BadMode(_) => (ServerRejectReason::BadMode, "bad_mode"),
            };
            let reason = RejectReason::Server(reason);
            if session::count_refusal(&app, why) {
                info!(stream_id = ?sid, code = code(reason), "SRT caller refused: {e}");
            }
            reject(request, reason).await;
            return;
        }
    };
    // With a passphrase, every caller is held to it: the stack refuses one that does not
    // encrypt (SRT_REJ_UNSECURE) or uses another passphrase (SRT_REJ_BADSECRET) when it
    // completes the handshake. Without one, a caller announcing a key length is refused
    // here; libsrt callers with the default key length announce none, and the stack
    // refuses them (SRT_REJ_UNSECURE) when it sees their keying material (ARCHITECTURE.md).
    let offered = request.key_size();
    let keys = match &secret {
        Some(passphrase) => Some(KeySettings {
            key_size: offered,
            passphrase: passphrase.clone(),
        }),
        None if offered == KeySize::Unspecified => None,
        None => {
            let reason = RejectReason::Core(CoreRejectReason::Unsecure);
            if session::count_refusal(&app, "unsecure") {
                info!(
                    code = code(reason),
                    "SRT caller refused: it encrypts and [srt] has no passphrase"
                );
            }
            reject(request, reason).await;
            return;
        }
    };
    let publish = Publish {
        protocol: Protocol::Srt,
        feed: &target.feed,
        rendition: &target.rendition,
        key: target.key.as_deref(),
        addr: peer,
    };
    let span = publish.span();
    let session = match session::open(&app, publish).instrument(span.clone()).await {
        Ok(s) => s,
        Err(e) => {
            let reason = rejection(&e);
            span.in_scope(|| session::note_refusal(&app, &e, code(reason)));
            reject(request, reason).await;
            return;
        }
    };
    let socket = match request.accept(keys).await {
        Ok(s) => s,
        Err(e) => {
            // A wrong passphrase shows only here: the handshake was rejected (BadSecret).
            span.in_scope(|| info!("SRT handshake did not complete: {e}"));
            return;
        }
    };
    let mut source = Caller { socket };
    match session.run(&mut source).instrument(span.clone()).await {
        Ok(_) => {}
        Err(e) => span.in_scope(|| info!("publish ended: {e}")),
    }
}

async fn reject(request: ConnectionRequest, reason: RejectReason) {
    if let Err(e) = request.reject(reason).await {
        debug!("cannot reject the SRT caller: {e}");
    }
}

/// An accepted caller's messages.
struct Caller {
    socket: SrtSocket,
}

impl Source for Caller {
    async fn next(&mut self) -> Option<Result<Input, String>> {
        match self.socket.next().await? {
            Ok((_, payload)) => Some(Ok(Input::Ts(payload))),
            Err(e) => Some(Err(format!("SRT: {e}"))),
        }
    }
}
