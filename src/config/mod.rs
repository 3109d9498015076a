//! Configuration: `config.toml`, embedded as the default and overridable key by key.

use serde::Deserialize;
use std::path::Path;

mod record;
pub use record::*;

/// The default configuration, the repository's `config.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../config.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address of the HTTP listener.
    pub listen: String,
    pub hls: HlsConfig,
    pub feeds: FeedsConfig,
    /// HTTPS (HTTP/2 and HTTP/1.1 by ALPN) beside the plain listener.
    #[serde(default)]
    pub tls: TlsConfig,
    /// `[demo]`: the built-in demo feed; absent means disabled.
    #[serde(default)]
    pub demo: crate::demo::DemoConfig,
    /// `[admin]`: access to the JSON API's changing routes; absent means no token.
    #[serde(default)]
    pub admin: AdminConfig,
    /// `[auth]`: publish credentials and signed playback; absent means open publishing and
    /// playback.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// `[limits]`: what one client, one publisher or all of them together may use.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `[srt]`: the SRT ingest listener; absent means off.
    #[serde(default)]
    pub srt: Option<SrtConfig>,
    /// `[rtmp]`: the RTMP ingest listener; absent means off.
    #[serde(default)]
    pub rtmp: Option<RtmpConfig>,
    /// `[record]`: every session kept on disk and playable as VOD; absent means off.
    #[serde(default)]
    pub record: Option<RecordConfig>,
}

/// `[srt]`. Its `Debug` shows no passphrase.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SrtConfig {
    /// Address of the SRT listener (UDP).
    pub listen: String,
    /// Receive latency in milliseconds (the larger of this and the publisher's applies).
    pub latency: u64,
    /// Encryption passphrase every publisher must use (10 to 79 characters); empty = none.
    pub passphrase: String,
}

impl std::fmt::Debug for SrtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let passphrase = if self.passphrase.is_empty() {
            ""
        } else {
            "REDACTED"
        };
        f.debug_struct("SrtConfig")
            .field("listen", &self.listen)
            .field("latency", &self.latency)
            .field("passphrase", &passphrase)
            .finish()
    }
}

impl Default for SrtConfig {
    fn default() -> Self {
        SrtConfig {
            listen: "0.0.0.0:9000".into(),
            latency: 120,
            passphrase: String::new(),
        }
    }
}

/// `[rtmp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtmpConfig {
    /// Address of the RTMP listener (TCP).
    pub listen: String,
}

impl Default for RtmpConfig {
    fn default() -> Self {
        RtmpConfig {
            listen: "0.0.0.0:1935".into(),
        }
    }
}

/// `[auth]`. Every key is optional; with none of the credentials set it changes nothing.
/// Its `Debug` shows no key or secret (see the impl).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// One key for every feed not in `feed_keys` (`Authorization: Bearer KEY` or `?key=KEY`).
    pub publish_key: Option<String>,
    /// When set, this HTTP endpoint alone decides every publish (POST JSON, 2xx allows).
    pub publish_hook: Option<String>,
    /// Seconds to wait for the hook; on time-out or error the publish gets 503.
    pub hook_timeout: f64,
    /// With a secret set, playback needs a signed `/s/{expires}-{sig}/...` URL.
    pub playback_secret: Option<String>,
    /// Per-feed publish keys.
    pub feed_keys: std::collections::BTreeMap<String, String>,
}

/// Keys and secrets print as `REDACTED`, so a `{:?}` of the configuration leaks none.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "REDACTED");
        let feeds: Vec<&str> = self.feed_keys.keys().map(String::as_str).collect();
        f.debug_struct("AuthConfig")
            .field("publish_key", &hide(&self.publish_key))
            .field("publish_hook", &self.publish_hook)
            .field("hook_timeout", &self.hook_timeout)
            .field("playback_secret", &hide(&self.playback_secret))
            .field("feed_keys", &feeds)
            .finish()
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            publish_key: None,
            publish_hook: None,
            hook_timeout: 2.0,
            playback_secret: None,
            feed_keys: Default::default(),
        }
    }
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Seconds for a request head, and idle time allowed between keep-alive requests.
    pub header_timeout: f64,
    /// Connections open at once; the effective limit is min(this, open-file limit - 64).
    pub max_connections: usize,
    /// Renditions per feed; a publish beyond it gets 503.
    pub max_renditions: usize,
    /// Times real time (media time) a publish is read at after a burst of one window;
    /// 0 = unlimited.
    pub max_ingest_speed: f64,
    /// Bits per second of media per rendition over at least 10 s; above it the publish is
    /// refused with 413 or closed; 0 = unlimited.
    pub max_ingest_bitrate: u64,
    /// Megabytes of media retained by all feeds together; 0 = 50 % of the machine's (or
    /// the cgroup's) memory.
    pub max_memory_mb: u64,
    /// Proxies whose `X-Forwarded-For` is believed (logs, the publish hook's `ip`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_timeout: 10.0,
            max_connections: 20_000,
            max_renditions: 8,
            max_ingest_speed: 0.0,
            max_ingest_bitrate: 0,
            max_memory_mb: 0,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// When set, `DELETE /api/feeds/{feed}` needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Address of the TLS listener; none when absent.
    pub listen: Option<String>,
    /// PEM certificate chain.
    pub cert: Option<std::path::PathBuf>,
    /// PEM private key.
    pub key: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HlsConfig {
    /// Seconds of media after which a segment is cut at the next keyframe.
    pub segment_duration: f64,
    /// Segments listed in a live media playlist.
    pub window: usize,
    /// LL-HLS part target in seconds; 0 turns LL-HLS off.
    pub part_duration: f64,
    /// A fixed EXT-X-TARGETDURATION; `None` derives it from the first segment.
    #[serde(default)]
    pub target_duration: Option<u32>,
    /// A new feed's media and discontinuity sequences start at the Unix time in
    /// milliseconds instead of 1 and 0, so numbering goes forward when a feed moves between
    /// origins (`feeds::numbering`).
    #[serde(default)]
    pub clock_numbering: bool,
    /// What `index.m3u8` and `media.m3u8` serve (`index.ts.m3u8`, `index.fmp4.m3u8` and
    /// their media playlists force one).
    #[serde(default)]
    pub container: ContainerChoice,
    /// Seconds a live media playlist reaches back (DVR), the segments that left the window
    /// served from the recording; 0 = off. Needs `[record]`.
    #[serde(default)]
    pub dvr_window: f64,
}

/// `hls.container`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerChoice {
    /// Per feed: fMP4 when any rendition is HEVC (Apple requires it), else TS.
    #[default]
    Auto,
    Ts,
    Fmp4,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsConfig {
    /// Feeds that may exist at once.
    pub max_feeds: usize,
    /// Seconds a feed waits for its publisher to return.
    pub reconnect_grace: f64,
    /// Seconds of publisher silence before it is disconnected.
    pub idle_timeout: f64,
    /// Seconds an ended feed stays readable.
    pub linger: f64,
}

/// Lays `given` over `base`: tables merge key by key, any other value replaces the base's.
fn overlay(base: &mut toml::Table, given: toml::Table) {
    for (key, value) in given {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(g)) => overlay(b, g),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid configuration: {}", .0.message())]
    Parse(#[from] toml::de::Error),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// A TOML error in one line: the message, and the line it points at when it has one.
fn describe(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].lines().count().max(1);
            format!("line {line}: {message}")
        }
        None => message.to_string(),
    }
}

impl Default for Config {
    fn default() -> Self {
        // The embedded file is part of the build and covered by a unit test.
        Self::from_toml(DEFAULT_TOML).expect("embedded config.toml is valid")
    }
}

impl Config {
    /// Parses a configuration. Every key is optional: what the text leaves out, section by
    /// section and key by key, comes from the embedded `config.toml`, so that file stays the
    /// one place where defaults are written.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let mut merged: toml::Table = toml::from_str(DEFAULT_TOML)?;
        let given: toml::Table = toml::from_str(text)?;
        overlay(&mut merged, given);
        let config = Config::deserialize(toml::Value::Table(merged))?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse(e) => ConfigError::File {
                path: path.display().to_string(),
                message: describe(&e, &text),
            },
            ConfigError::Invalid(message) => ConfigError::File {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: &str| Err(ConfigError::Invalid(msg.to_string()));
        let h = &self.hls;
        if !(h.segment_duration.is_finite()
            && h.segment_duration > 0.0
            && h.segment_duration <= 60.0)
        {
            return bad("hls.segment_duration must be in (0, 60] seconds");
        }
        if h.window < 3 {
            return bad("hls.window must be at least 3 segments");
        }
        if !(h.part_duration.is_finite()
            && h.part_duration >= 0.0
            && h.part_duration < h.segment_duration)
        {
            return bad("hls.part_duration must be 0 or less than hls.segment_duration");
        }
        if let Some(td) = h.target_duration
            && (f64::from(td) < h.segment_duration.ceil() || td > 60)
        {
            return bad(
                "hls.target_duration must be at least ceil(segment_duration) and at most 60",
            );
        }
        if !(h.dvr_window.is_finite() && h.dvr_window >= 0.0) {
            return bad("hls.dvr_window must be 0 (off) or a positive number of seconds");
        }
        if h.dvr_window > 0.0 && self.record.is_none() {
            return bad(
                "hls.dvr_window needs [record]: the segments a DVR playlist lists beyond the window are read from the recording (add a [record] section, or set hls.dvr_window = 0)",
            );
        }
        let f = &self.feeds;
        if f.max_feeds == 0 {
            return bad("feeds.max_feeds must be at least 1");
        }
        for (name, v) in [
            ("feeds.reconnect_grace", f.reconnect_grace),
            ("feeds.idle_timeout", f.idle_timeout),
            ("feeds.linger", f.linger),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be a non-negative number of seconds"
                )));
            }
        }
        if self.tls.listen.is_some() && (self.tls.cert.is_none() || self.tls.key.is_none()) {
            return bad("tls.listen needs tls.cert and tls.key");
        }
        if f.idle_timeout == 0.0 {
            return bad("feeds.idle_timeout must be positive");
        }
        if self
            .admin
            .token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return bad("admin.token must not be empty (remove it to turn it off)");
        }
        self.demo.validate().map_err(ConfigError::Invalid)?;
        if let Some(auth) = &self.auth {
            auth.validate()?;
        }
        self.limits.validate()?;
        if let Some(r) = &self.record {
            r.validate()?;
        }
        if let Some(s) = &self.srt {
            s.validate()?;
        }
        Ok(())
    }
}

impl SrtConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if !(self.passphrase.is_empty() || (10..=79).contains(&self.passphrase.len())) {
            return Err(ConfigError::Invalid(
                "srt.passphrase must be 10 to 79 characters (or empty: no encryption)".into(),
            ));
        }
        if self.latency > 60_000 {
            return Err(ConfigError::Invalid(
                "srt.latency must be at most 60000 ms".into(),
            ));
        }
        Ok(())
    }
}

impl AuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: String| Err(ConfigError::Invalid(msg));
        let empty = |v: &Option<String>| v.as_ref().is_some_and(|k| k.trim().is_empty());
        if empty(&self.publish_key) {
            return bad("auth.publish_key must not be empty (remove it to turn it off)".into());
        }
        if empty(&self.playback_secret) {
            return bad("auth.playback_secret must not be empty (remove it to turn it off)".into());
        }
        if let Some(hook) = &self.publish_hook
            && let Err(e) = crate::ingest::hook::parse(hook)
        {
            return bad(format!(
                "auth.publish_hook must be an http://HOST[:PORT][/PATH] URL: {e}"
            ));
        }
        if !(self.hook_timeout.is_finite() && self.hook_timeout > 0.0 && self.hook_timeout <= 60.0)
        {
            return bad("auth.hook_timeout must be in (0, 60] seconds".into());
        }
        for (feed, key) in &self.feed_keys {
            if !crate::ingest::valid_name(feed) {
                return bad(format!(
                    "auth.feed_keys: {feed:?} is not a feed name ([A-Za-z0-9_-]{{1,64}})"
                ));
            }
            if key.trim().is_empty() {
                return bad(format!("auth.feed_keys.{feed} must not be empty"));
            }
        }
        Ok(())
    }

    /// Whether any publish credential is configured (a key or the hook).
    pub fn guards_publishing(&self) -> bool {
        self.publish_key.is_some() || self.publish_hook.is_some() || !self.feed_keys.is_empty()
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: &str| Err(ConfigError::Invalid(msg.to_string()));
        if !(self.header_timeout.is_finite()
            && self.header_timeout > 0.0
            && self.header_timeout <= 3600.0)
        {
            return bad("limits.header_timeout must be in (0, 3600] seconds");
        }
        if self.max_connections == 0 {
            return bad("limits.max_connections must be at least 1");
        }
        if self.max_renditions == 0 {
            return bad("limits.max_renditions must be at least 1");
        }
        if !(self.max_ingest_speed == 0.0
            || (self.max_ingest_speed.is_finite() && self.max_ingest_speed >= 1.0))
        {
            return bad("limits.max_ingest_speed must be 0 (unlimited) or at least 1.0");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_parses() {
        let c = Config::default();
        assert_eq!(c.listen, "0.0.0.0:8080");
        assert_eq!(c.hls.window, 6);
        assert_eq!(c.hls.segment_duration, 2.0);
        assert_eq!(c.feeds.max_feeds, 1000);
        assert!(c.auth.is_none());
        assert_eq!(c.limits.header_timeout, 10.0);
        assert_eq!(c.limits.max_connections, 20_000);
        assert_eq!(c.limits.max_renditions, 8);
        assert_eq!(c.limits.max_ingest_speed, 0.0);
        assert_eq!(c.limits.max_ingest_bitrate, 0);
        assert_eq!(c.limits.max_memory_mb, 0);
    }

    #[test]
    fn auth_and_limits_take_defaults_for_missing_keys() {
        let text = format!(
            "{DEFAULT_TOML}\n[auth]\npublish_key = \"k\"\n[auth.feed_keys]\ncam1 = \"c\"\n"
        );
        let c = Config::from_toml(&text).unwrap();
        let auth = c.auth.unwrap();
        assert_eq!(auth.publish_key.as_deref(), Some("k"));
        assert_eq!(auth.feed_keys["cam1"], "c");
        assert_eq!(auth.hook_timeout, 2.0);
        assert!(auth.guards_publishing());
        for bad in [
            "[auth]\npublish_key = \" \"",
            "[auth]\npublish_hook = \"ftp://x\"",
            "[auth.feed_keys]\n\"bad name\" = \"k\"",
        ] {
            let text = format!("{DEFAULT_TOML}\n{bad}\n");
            assert!(
                matches!(Config::from_toml(&text), Err(ConfigError::Invalid(_))),
                "{bad} was accepted"
            );
        }
        for (key, bad) in [
            ("max_ingest_speed = 0\n", "max_ingest_speed = 0.5\n"),
            ("header_timeout = 10.0\n", "header_timeout = 0.0\n"),
            ("max_renditions = 8\n", "max_renditions = 0\n"),
        ] {
            assert!(DEFAULT_TOML.contains(key), "{key}");
            let text = DEFAULT_TOML.replace(key, bad);
            assert!(
                matches!(Config::from_toml(&text), Err(ConfigError::Invalid(_))),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn srt_takes_defaults_and_checks_its_passphrase() {
        assert!(Config::default().srt.is_none());
        let c = Config::from_toml("[srt]\nlatency = 500\n").unwrap();
        let srt = c.srt.unwrap();
        assert_eq!(srt.listen, "0.0.0.0:9000");
        assert_eq!(srt.latency, 500);
        assert!(srt.passphrase.is_empty());
        assert!(Config::from_toml("[srt]\npassphrase = \"0123456789\"\n").is_ok());
        for bad in [
            "[srt]\npassphrase = \"short\"\n",
            "[srt]\nlatency = 60001\n",
            "[srt]\nport = 1\n",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn dvr_window_needs_record() {
        assert_eq!(Config::default().hls.dvr_window, 0.0);
        let e = Config::from_toml("[hls]\ndvr_window = 60\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hls.dvr_window needs [record]"), "{e}");
        let c = Config::from_toml("[hls]\ndvr_window = 60\n[record]\n").unwrap();
        assert_eq!(c.hls.dvr_window, 60.0);
        assert!(Config::from_toml("[hls]\ndvr_window = -1\n[record]\n").is_err());
        assert!(Config::from_toml("[hls]\ndvr_window = 0\n").is_ok());
    }

    #[test]
    fn record_is_off_unless_its_section_is_given() {
        assert!(Config::default().record.is_none());
        let c = Config::from_toml("[record]\n").unwrap();
        let r = c.record.expect("[record] turns recording on");
        assert_eq!(r.dir, std::path::Path::new("recordings"));
        assert_eq!(r.retention_hours, 168.0);
        assert_eq!(r.max_gb, 0.0);
        assert_eq!(r.queue_segments, RECORD_QUEUE_SEGMENTS);
        let c = Config::from_toml("[record]\ndir = \"/srv/rec\"\nmax_gb = 2.5\n").unwrap();
        let r = c.record.unwrap();
        assert_eq!(r.dir, std::path::Path::new("/srv/rec"));
        assert_eq!(r.max_gb, 2.5);
        for bad in [
            "[record]\ndir = \"\"",
            "[record]\nretention_hours = 0",
            "[record]\nmax_gb = -1",
            "[record]\nqueue_segments = 3",
        ] {
            assert!(Config::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let text = DEFAULT_TOML.replace("window = 6", "window = 6\nwindoe = 7");
        assert!(matches!(
            Config::from_toml(&text),
            Err(ConfigError::Parse(_))
        ));
    }

    #[test]
    fn a_section_with_some_keys_takes_the_rest_from_the_defaults() {
        let c = Config::from_toml("[feeds]\nmax_feeds = 5000\n").unwrap();
        assert_eq!(c.feeds.max_feeds, 5000);
        assert_eq!(c.feeds.reconnect_grace, 10.0);
        assert_eq!(c.hls.window, 6);
        assert!(c.demo.enabled);
        let c = Config::from_toml("[demo]\nenabled = false\n[hls]\nwindow = 9\n").unwrap();
        assert!(!c.demo.enabled);
        assert_eq!(c.hls.window, 9);
        assert_eq!(c.hls.part_duration, 0.25);
        assert_eq!(Config::from_toml("").unwrap().listen, "0.0.0.0:8080");
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let dir = std::env::temp_dir().join(format!("hlsd-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "[hls]\nwindow = 6\nwindoe = 7\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("windoe"), "{e}");
        std::fs::write(&path, "[hls]\nwindow = \n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("bad.toml: line 2"), "{e}");
        std::fs::write(&path, "[hls]\nwindow = 1\n").unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("hls.window"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn nonsense_values_are_rejected() {
        let text = DEFAULT_TOML.replace("segment_duration = 2.0", "segment_duration = -1.0");
        assert!(matches!(
            Config::from_toml(&text),
            Err(ConfigError::Invalid(_))
        ));
    }
}
