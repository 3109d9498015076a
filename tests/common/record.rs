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
