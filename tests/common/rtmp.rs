//! hlsd with an RTMP listener, and ffmpeg as an RTMP publisher.

use super::*;
use std::process::Stdio;

impl TestServer {
    /// hlsd with its plain listener and an RTMP one (both on 127.0.0.1:0); returns the
    /// server and the RTMP address.
    pub async fn start_with_rtmp(config: Config) -> (TestServer, SocketAddr) {
        let rtmp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rtmp_addr = rtmp.local_addr().unwrap();
        let options = hlsd::RunOptions {
            rtmp: Some(rtmp),
            ..hlsd::RunOptions::default()
        };
        (Self::start_with_options(config, options).await, rtmp_addr)
    }
}

/// `ffmpeg [-re] -i INPUT -c copy -f flv URL`, its stderr captured.
pub fn ffmpeg_rtmp(input: &Path, url: &str, realtime: bool) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-nostdin", "-hide_banner", "-v", "error"]);
    if realtime {
        cmd.arg("-re");
    }
    cmd.arg("-i")
        .arg(input)
        .args(["-c", "copy", "-f", "flv"])
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd.spawn().expect("ffmpeg not found: install ffmpeg")
}

/// Waits (bounded) for a publisher to exit; its status and stderr.
pub async fn finished(child: tokio::process::Child) -> (std::process::ExitStatus, String) {
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("ffmpeg did not exit within 30 s")
        .expect("ffmpeg output");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// How a raw RTMP publish attempt went.
pub enum Attempt {
    /// `NetStream.Publish.Start`: the connection, still open.
    Publishing(TcpStream),
    /// The server closed the connection; everything it sent, as text (AMF0 strings are
    /// plain).
    Closed(String),
}

/// Handshake, `connect` to `app`, `publish` `stream` (rml_rtmp's client), no media.
pub async fn rtmp_publish(addr: SocketAddr, app: &str, stream: &str) -> Attempt {
    match publish_session(addr, app, stream).await {
        Ok(p) => Attempt::Publishing(p.sock),
        Err(text) => Attempt::Closed(text),
    }
}

/// A publish in progress with rml_rtmp's client: FLV tag bodies sent as RTMP video and
/// audio messages, as an encoder sends them.
pub struct RtmpPublisher {
    pub sock: TcpStream,
    session: rml_rtmp::sessions::ClientSession,
}

impl RtmpPublisher {
    async fn send(&mut self, packet: rml_rtmp::chunk_io::Packet) -> std::io::Result<()> {
        self.sock.write_all(&packet.bytes).await
    }

    /// One video message: an FLV video tag body at `ms`.
    pub async fn video(&mut self, ms: u32, body: Bytes) -> std::io::Result<()> {
        use rml_rtmp::sessions::ClientSessionResult;
        use rml_rtmp::time::RtmpTimestamp;
        match self
            .session
            .publish_video_data(body, RtmpTimestamp::new(ms), false)
        {
            Ok(ClientSessionResult::OutboundResponse(p)) => self.send(p).await,
            other => panic!("publish_video_data: {:?}", other.err()),
        }
    }

    /// One audio message: an FLV audio tag body at `ms`.
    pub async fn audio(&mut self, ms: u32, body: Bytes) -> std::io::Result<()> {
        use rml_rtmp::sessions::ClientSessionResult;
        use rml_rtmp::time::RtmpTimestamp;
        match self
            .session
            .publish_audio_data(body, RtmpTimestamp::new(ms), false)
        {
            Ok(ClientSessionResult::OutboundResponse(p)) => self.send(p).await,
            other => panic!("publish_audio_data: {:?}", other.err()),
        }
    }

    /// Unpublishes (`deleteStream`) and closes the connection.
    pub async fn finish(mut self) {
        use rml_rtmp::sessions::ClientSessionResult;
        for r in self.session.stop_publishing().unwrap_or_default() {
            if let ClientSessionResult::OutboundResponse(p) = r {
                let _ = self.send(p).await;
            }
        }
        let _ = self.sock.shutdown().await;
    }
}

/// The client side of the RTMP handshake: the connection and the bytes the server sent
/// after it.
pub async fn handshake(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    let mut sock = TcpStream::connect(addr).await.unwrap();
    let mut hs = Handshake::new(PeerType::Client);
    sock.write_all(&hs.generate_outbound_p0_and_p1().unwrap())
        .await
        .unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = sock.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed during the handshake");
        match hs.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                sock.write_all(&response_bytes).await.unwrap()
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                sock.write_all(&response_bytes).await.unwrap();
                return (sock, remaining_bytes);
            }
        }
    }
}

/// Handshake, `connect`, `publish`: the publisher once `NetStream.Publish.Start` came, or
/// everything the server sent (as text: AMF0 strings are plain) when it closed instead.
pub async fn publish_session(
    addr: SocketAddr,
    app: &str,
    stream: &str,
) -> Result<RtmpPublisher, String> {
    use rml_rtmp::sessions::{
        ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
        PublishRequestType,
    };
    let (mut sock, rest) = handshake(addr).await;
    let mut buf = vec![0u8; 65536];
    let (mut session, _) = ClientSession::new(ClientSessionConfig::new()).unwrap();
    let mut received = rest.clone();
    let mut pending = vec![session.request_connection(app.to_string()).unwrap()];
    if !rest.is_empty() {
        pending.extend(session.handle_input(&rest).unwrap());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut out = Vec::new();
        let (mut publish, mut accepted) = (false, false);
        for r in pending.drain(..) {
            match r {
                ClientSessionResult::OutboundResponse(p) => out.extend_from_slice(&p.bytes),
                ClientSessionResult::RaisedEvent(ClientSessionEvent::ConnectionRequestAccepted) => {
                    publish = true
                }
                ClientSessionResult::RaisedEvent(ClientSessionEvent::PublishRequestAccepted) => {
                    accepted = true
                }
                _ => {}
            }
        }
        if publish {
            match session.request_publishing(stream.to_string(), PublishRequestType::Live) {
                Ok(ClientSessionResult::OutboundResponse(p)) => out.extend_from_slice(&p.bytes),
                other => panic!("request_publishing: {:?}", other.err()),
            }
        }
        if !out.is_empty() && sock.write_all(&out).await.is_err() {
            return Err(String::from_utf8_lossy(&received).into_owned());
        }
        if accepted {
            return Ok(RtmpPublisher { sock, session });
        }
        let n = tokio::time::timeout_at(deadline, sock.read(&mut buf))
            .await
            .expect("the server neither accepted nor closed within 10 s")
            .unwrap_or(0);
        if n == 0 {
            return Err(String::from_utf8_lossy(&received).into_owned());
        }
        received.extend_from_slice(&buf[..n]);
        // A refusal may not parse as a client session expects it: the bytes tell.
        pending = session.handle_input(&buf[..n]).unwrap_or_default();
    }
}
