//! Configuration: `config.toml`, embedded as the default and overridable key by key.

use serde::Deserialize;
use std::path::Path;

/// The default configuration, the repository's `config.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config.toml");

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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Default for Config {
    fn default() -> Self {
        // The embedded file is part of the build and covered by a unit test.
        Self::from_toml(DEFAULT_TOML).expect("embedded config.toml is valid")
    }
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text)
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
    fn nonsense_values_are_rejected() {
        let text = DEFAULT_TOML.replace("segment_duration = 2.0", "segment_duration = -1.0");
        assert!(matches!(
            Config::from_toml(&text),
            Err(ConfigError::Invalid(_))
        ));
    }
}
