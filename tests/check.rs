//! `hlsd check URL`, the container health check: exit 0 on a 2xx answer, 1 otherwise, run
//! as the real binary against a real server.

mod common;

use common::*;

async fn check(url: &str) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hlsd"))
        .args(["check", url, "--timeout", "3"])
        .output()
        .await
        .expect("run hlsd check");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_on_2xx_and_fails_otherwise() {
    let server = TestServer::start(config()).await;
    let (code, out, err) = check(&server.url("/healthz")).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");

    let (code, _, err) = check(&server.url("/live/nobody/index.m3u8")).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("404"), "{err}");

    let (code, _, err) = check("ftp://127.0.0.1/healthz").await;
    assert_eq!(code, 1, "{err}");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (code, _, err) = check(&format!("http://{closed}/healthz")).await;
    assert_eq!(code, 1, "{err}");

    // A server that accepts and never answers: the check gives up at its time-out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let (s, _) = silent.accept().await.unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        drop(s);
    });
    let (code, _, err) = check(&format!("http://{addr}/healthz")).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no answer within"), "{err}");
    holder.abort();
    server.stop().await;
}
