//! One RTMP connection: the handshake and the RTMP session (`rml_rtmp`, sans-I/O: bytes in,
//! packets to send and events out) driven over the socket. Up to the publish it answers
//! `connect` (app `live` only) and decides the publish through the publish session
//! (names, auth, claim); then it is that session's [`Source`]: each video or audio
//! message an FLV tag, acknowledgements and other answers sent as they come.

use super::guard::{ChunkGuard, MEDIA_LIMIT};
use super::names;
use crate::http::App;
use crate::ingest::Protocol;
use crate::ingest::session::{self, FlvTag, IngestError, Input, Publish, Session, Source};
use bytes::BytesMut;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use std::collections::VecDeque;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{Instrument, Span, debug, info};

/// Status codes sent to a refused publisher (DESIGN.md).
pub const BAD_NAME: &str = "NetStream.Publish.BadName";
pub const REJECTED: &str = "NetConnection.Connect.Rejected";

/// Bytes read from the socket at a time.
const READ_SIZE: usize = 64 * 1024;

/// An RTMP connection past its handshake.
pub struct Conn {
    sock: TcpStream,
    session: ServerSession,
    buf: BytesMut,
    out: Vec<u8>,
    events: VecDeque<ServerSessionEvent>,
    /// Checks the bytes before `rml_rtmp` reassembles them (`guard`).
    guard: ChunkGuard,
}

impl Conn {
    /// Performs the server side of the handshake.
    pub async fn handshake(mut sock: TcpStream) -> Result<Conn, String> {
        let mut hs = Handshake::new(PeerType::Server);
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        let rest = loop {
            buf.clear();
            let n = sock.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed during the handshake".into());
            }
            match hs
                .process_bytes(&buf)
                .map_err(|e| format!("handshake: {e:?}"))?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    sock.write_all(&response_bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    sock.write_all(&response_bytes)
                        .await
                        .map_err(|e| e.to_string())?;
                    break remaining_bytes;
                }
            }
        };
        let (session, first) =
            ServerSession::new(ServerSessionConfig::new()).map_err(|e| format!("{e:?}"))?;
        let mut conn = Conn {
            sock,
            session,
            buf,
            out: Vec::new(),
            events: VecDeque::new(),
            guard: ChunkGuard::new(),
        };
        conn.absorb(first);
        if !rest.is_empty() {
            conn.guard.check(&rest).map_err(|e| e.to_string())?;
            let results = conn
                .session
                .handle_input(&rest)
                .map_err(|e| format!("{e:?}"))?;
            conn.absorb(results);
        }
        Ok(conn)
    }

    fn absorb(&mut self, results: Vec<ServerSessionResult>) {
        for r in results {
            match r {
                ServerSessionResult::OutboundResponse(p) => self.out.extend_from_slice(&p.bytes),
                ServerSessionResult::RaisedEvent(e) => self.events.push_back(e),
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
    }

    async fn flush(&mut self) -> Result<(), String> {
        if !self.out.is_empty() {
            self.sock
                .write_all(&self.out)
                .await
                .map_err(|e| e.to_string())?;
            self.out.clear();
        }
        Ok(())
    }

    /// The next event, answers so far sent first; `None` when the peer closed.
    async fn next_event(&mut self) -> Result<Option<ServerSessionEvent>, String> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            self.flush().await?;
            self.buf.clear();
            let n = self
                .sock
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(None);
            }
            self.guard.check(&self.buf).map_err(|e| e.to_string())?;
            let results = self
                .session
                .handle_input(&self.buf)
                .map_err(|e| format!("RTMP: {e:?}"))?;
            self.absorb(results);
        }
    }

    /// Answers a request with an error status, sends it, and gives the connection up.
    async fn refuse(mut self, request_id: u32, code: &str, text: &str) {
        match self.session.reject_request(request_id, code, text) {
            Ok(results) => self.absorb(results),
            Err(e) => debug!("cannot refuse: {e:?}"),
        }
        let _ = self.flush().await;
        let _ = self.sock.shutdown().await;
    }

    fn accept(&mut self, request_id: u32) -> Result<(), String> {
        let results = self
            .session
            .accept_request(request_id)
            .map_err(|e| format!("{e:?}"))?;
        self.absorb(results);
        Ok(())
    }

    /// Runs the connection up to an allowed publish: the session and its log span, or
    /// `None` when the publisher went away or was refused (and told why).
    pub async fn until_publish(
        mut self,
        app: &App,
        peer: SocketAddr,
    ) -> Result<Option<(Conn, Session, Span)>, String> {
        loop {
            let Some(event) = self.next_event().await? else {
                return Ok(None);
            };
            match event {
                ServerSessionEvent::ConnectionRequested {
                    request_id,
                    app_name,
                } => {
                    if names::app_feed(&app_name).is_none() {
                        info!(app = %app_name, "RTMP connect refused: the app must be live");
                        self.refuse(request_id, REJECTED, "the app must be live")
                            .await;
                        return Ok(None);
                    }
                    self.accept(request_id)?;
                }
                ServerSessionEvent::PublishStreamRequested {
                    request_id,
                    app_name,
                    stream_key,
                    ..
                } => {
                    let Some(target) = names::target(&app_name, &stream_key) else {
                        self.refuse(request_id, REJECTED, "the app must be live")
                            .await;
                        return Ok(None);
                    };
                    let publish = Publish {
                        protocol: Protocol::Rtmp,
                        feed: &target.feed,
                        rendition: &target.rendition,
                        key: target.key.as_deref(),
                        addr: peer,
                    };
                    let span = publish.span();
                    match session::open(app, publish).instrument(span.clone()).await {
                        Ok(s) => {
                            self.guard.set_limit(MEDIA_LIMIT);
                            self.accept(request_id)?;
                            self.flush().await?;
                            return Ok(Some((self, s, span)));
                        }
                        Err(e) => {
                            let code = refusal_code(&e);
                            span.in_scope(|| session::note_refusal(app, &e, code));
                            self.refuse(request_id, code, &e.to_string()).await;
                            return Ok(None);
                        }
                    }
                }
                ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                    self.refuse(
                        request_id,
                        "NetStream.Play.Failed",
                        "hlsd takes publishes only: play over HLS",
                    )
                    .await;
                    return Ok(None);
                }
                _ => {}
            }
        }
    }
}

/// The status a refused publish gets: `BadName` for a name taken or not allowed, else
/// `Connect.Rejected` (auth, capacity) with the reason.
pub fn refusal_code(e: &IngestError) -> &'static str {
    match e {
        IngestError::BadName | IngestError::Claim(crate::feeds::ClaimError::Busy { .. }) => {
            BAD_NAME
        }
        _ => REJECTED,
    }
}

impl Source for Conn {
    async fn next(&mut self) -> Option<Result<Input, String>> {
        loop {
            let event = match self.next_event().await {
                Ok(Some(e)) => e,
                Ok(None) => return Some(Err("connection closed without unpublishing".into())),
                Err(e) => return Some(Err(e)),
            };
            let (video, data, timestamp) = match event {
                ServerSessionEvent::VideoDataReceived {
                    data, timestamp, ..
                } => (true, data, timestamp),
                ServerSessionEvent::AudioDataReceived {
                    data, timestamp, ..
                } => (false, data, timestamp),
                ServerSessionEvent::PublishStreamFinished { .. } => return None,
                _ => continue,
            };
            return Some(Ok(Input::Flv(FlvTag {
                video,
                timestamp: timestamp.value,
                body: data,
            })));
        }
    }
}
