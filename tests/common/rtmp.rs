//! hlsd with an RTMP listener, and ffmpeg as an RTMP publisher.

use super::*;
use std::process::Stdio;

impl TestServer {
    /// hlsd with its plain listener and an RTMP one (both on 127.0.0.1:0); returns the
    /// server and the RTMP address.
    pub async fn start_with_rtmp(config: Config) -> (TestServer, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let rtmp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rtmp_addr = rtmp.local_addr().unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stop_rx.await;
        };
        let options = hlsd::RunOptions {
            rtmp: Some(rtmp),
            ..hlsd::RunOptions::default()
        };
        let task = tokio::spawn(hlsd::run_with(listener, config, options, shutdown));
        (
            TestServer {
                addr,
                stop_tx: Some(stop_tx),
                task: Some(task),
            },
            rtmp_addr,
        )
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
