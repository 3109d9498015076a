//! Recording tests' shared set-up: a `[record]` configuration and live segment URIs' tokens.

use super::*;

/// The test configuration with `[record] dir = DIR` and the other keys at their defaults.
pub fn record_config(dir: &Path) -> Config {
    let mut c = config();
    c.record = Some(hlsd::config::RecordConfig {
        dir: dir.to_path_buf(),
        ..Default::default()
    });
    c
}

/// The token of a live segment URI (`.../seg-{token}-{msn}.ts`).
pub fn token_of(uri: &str) -> String {
    let name = uri.rsplit('/').next().unwrap_or(uri);
    name.strip_prefix("seg-")
        .and_then(|r| r.split('-').next())
        .unwrap_or_else(|| panic!("not a segment URI: {uri}"))
        .to_string()
}

/// The feed's first ended recording in the recordings API, once listed (20 s at most).
pub async fn ended_recording(server: &TestServer, feed: &str) -> serde_json::Value {
    let api = server.url(&format!("/api/feeds/{feed}/recordings"));
    eventually(Duration::from_secs(20), "the ended recording", || {
        let api = api.clone();
        async move {
            let v: serde_json::Value = serde_json::from_str(&get(&api).await.text()).ok()?;
            v["recordings"]
                .as_array()?
                .iter()
                .find(|r| r["end_ms"].is_i64())
                .cloned()
        }
    })
    .await
}

/// A window of 3 one-second segments, LL-HLS, recording to `dir`, DVR of 60 s.
pub fn dvr_config(dir: &Path) -> Config {
    let mut c = config();
    c.hls.window = 3;
    c.hls.part_duration = 0.25;
    c.hls.dvr_window = 60.0;
    c.feeds.reconnect_grace = 8.0;
    c.record = Some(hlsd::config::RecordConfig {
        dir: dir.to_path_buf(),
        // An unpaced push outruns a small queue of fsynced segments: none is lost here.
        queue_segments: 1024,
        ..Default::default()
    });
    c
}
