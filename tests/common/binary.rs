//! The hlsd binary as a child process, with a config file written from a `Config`.

use super::*;

/// A config file for the binary: the embedded `config.toml` with the keys the tests set
/// replaced, so that keys added later keep their defaults.
pub fn config_toml(c: &Config) -> String {
    let mut values = vec![
        ("", "listen", format!("{:?}", c.listen)),
        (
            "hls",
            "segment_duration",
            format!("{:?}", c.hls.segment_duration),
        ),
        ("hls", "window", c.hls.window.to_string()),
        ("hls", "part_duration", format!("{:?}", c.hls.part_duration)),
        ("hls", "clock_numbering", c.hls.clock_numbering.to_string()),
        ("feeds", "max_feeds", c.feeds.max_feeds.to_string()),
        (
            "feeds",
            "reconnect_grace",
            format!("{:?}", c.feeds.reconnect_grace),
        ),
        (
            "feeds",
            "idle_timeout",
            format!("{:?}", c.feeds.idle_timeout),
        ),
        ("feeds", "linger", format!("{:?}", c.feeds.linger)),
    ];
    if let Some(td) = c.hls.target_duration {
        values.push(("hls", "target_duration", td.to_string()));
    }
    let mut section = String::new();
    let mut out = String::new();
    let mut pending = values;
    let flush = |section: &str, out: &mut String, pending: &mut Vec<(&str, &str, String)>| {
        // Keys of this section that the file does not set (e.g. target_duration).
        for (_, k, v) in pending.iter().filter(|(s, _, _)| *s == section) {
            out.push_str(&format!("{k} = {v}\n"));
        }
        pending.retain(|(s, _, _)| *s != section);
    };
    for line in hlsd::config::DEFAULT_TOML.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            flush(&section, &mut out, &mut pending);
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if let Some((k, _)) = t.split_once('=')
            && !t.starts_with('#')
            && let Some(i) = pending
                .iter()
                .position(|(s, key, _)| *s == section && *key == k.trim())
        {
            let (_, k, v) = pending.remove(i);
            out.push_str(&format!("{k} = {v}\n"));
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    flush(&section, &mut out, &mut pending);
    assert!(pending.is_empty(), "config keys not placed: {pending:?}");
    let parsed =
        Config::from_toml(&out).unwrap_or_else(|e| panic!("generated config invalid: {e}\n{out}"));
    assert_eq!(parsed.feeds.reconnect_grace, c.feeds.reconnect_grace);
    out
}

/// Spawns the `hlsd` binary on 127.0.0.1:0 and waits for its `listening on http://ADDR` line.
/// Its stderr is forwarded to the test's stderr.
pub async fn spawn_binary(config_file: &Path) -> (tokio::process::Child, SocketAddr) {
    let (child, addr, _) = spawn_binary_logged(config_file).await;
    (child, addr)
}

/// What a spawned hlsd wrote to stderr so far, line by line.
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Log {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// [`spawn_binary`], keeping its stderr lines.
pub async fn spawn_binary_logged(config_file: &Path) -> (tokio::process::Child, SocketAddr, Log) {
    spawn_binary_logged_env(config_file, &[]).await
}

/// [`spawn_binary_logged`] with these environment variables set (e.g. `RUST_LOG`).
pub async fn spawn_binary_logged_env(
    config_file: &Path,
    env: &[(&str, &str)],
) -> (tokio::process::Child, SocketAddr, Log) {
    use tokio::io::AsyncBufReadExt;
    let log = Log::default();
    let kept = log.clone();
    let mut child = tool(env!("CARGO_BIN_EXE_hlsd"))
        .envs(env.iter().copied())
        .arg("--config")
        .arg(config_file)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hlsd");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = oneshot::channel::<SocketAddr>();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("[hlsd] {line}");
            kept.0.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                if let Ok(a) = addr.parse::<SocketAddr>()
                    && let Some(t) = tx.take()
                {
                    let _ = t.send(a);
                }
            }
        }
    });
    let addr = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .expect("hlsd printed no `listening on http://ADDR` line within 20 s")
        .expect("hlsd exited before listening");
    (child, addr, log)
}
