//! Publish authorisation: one decision for every ingest transport, made from what the
//! publisher names and presents (protocol, feed, rendition, key, address) before any media
//! is read.
//!
//! Rules, in order (DESIGN.md `[auth]`):
//! - the server's own in-process token (the demo feed) is always allowed;
//! - without `[auth]`, or with no credential in it, publishing is open;
//! - with `publish_hook` set, the hook alone decides (2xx allows, any other answer refuses,
//!   no answer in `hook_timeout` or an error leaves it undecided: retry later);
//! - otherwise the feed's key is `feed_keys[feed]` if listed, else `publish_key`; no key
//!   presented is [`Refusal::MissingKey`] whatever the feed, and a key presented for a feed
//!   that has none is [`Refusal::WrongKey`] like any wrong key, so the answers say nothing
//!   about which feeds exist.
//!
//! The rules live behind a lock holding an `Arc`, replaced whole on SIGHUP; a decision
//! clones the `Arc` and never holds the lock across an `.await`.

use super::hook::{Hook, HookRequest};
use crate::clock::Clock;
use crate::config::AuthConfig;
use crate::logging::gate::LogGate;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock};
use tracing::{info, warn};

/// The transport a publish came in by, as the hook's `protocol`, `/api/feeds`'s
/// `publisher.protocol` and the `protocol` label of `/metrics` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Srt,
    Rtmp,
}

impl Protocol {
    /// Every transport, in the order `/metrics` lists them.
    pub const ALL: [Protocol; 3] = [Protocol::Http, Protocol::Srt, Protocol::Rtmp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Srt => "srt",
            Protocol::Rtmp => "rtmp",
        }
    }
}

/// What a publisher names and presents.
#[derive(Debug, Clone, Copy)]
pub struct PublishRequest<'a> {
    pub protocol: Protocol,
    pub feed: &'a str,
    pub rendition: &'a str,
    /// The key it presented, if any.
    pub key: Option<&'a str>,
    pub ip: IpAddr,
}

/// Why a publish is refused. Each transport maps these to its own codes (HTTP: 401, 403,
/// 403, 503 + Retry-After). The texts name no feed and no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("a publish key is required: Authorization: Bearer KEY or ?key=KEY")]
    MissingKey,
    #[error("wrong publish key")]
    WrongKey,
    #[error("publish refused")]
    Denied,
    #[error("the publish could not be authorised now; retry later")]
    Unavailable,
}

/// A publish allowed. Dropping it (the publish ended) tells the hook, if one allowed it,
/// with `action: "unpublish"`; that is sent in the background, never awaited.
pub struct Grant {
    /// The publisher proved itself (a key, the hook, or the in-process token), so it may
    /// take over a rendition whose publisher has gone silent.
    pub credentialed: bool,
    unpublish: Option<(Arc<Hook>, HookRequest)>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("credentialed", &self.credentialed)
            .field("hooked", &self.unpublish.is_some())
            .finish()
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        if let Some((hook, mut req)) = self.unpublish.take() {
            req.action = "unpublish";
            hook.notify(req);
        }
    }
}

/// The rules in force.
#[derive(Debug, Default)]
struct Rules {
    config: Option<AuthConfig>,
    hook: Option<Arc<Hook>>,
}

impl Rules {
    fn new(config: Option<AuthConfig>) -> Rules {
        let config = config.filter(AuthConfig::guards_publishing);
        let hook = config.as_ref().and_then(|c| {
            let url = c.publish_hook.as_deref()?;
            match Hook::new(url, c.hook_timeout) {
                Ok(h) => Some(Arc::new(h)),
                // Validated with the configuration; refuse rather than open up.
                Err(e) => {
                    warn!("auth.publish_hook unusable: {e}; every publish will get 503");
                    Some(Arc::new(Hook::broken(c.hook_timeout)))
                }
            }
        });
        Rules { config, hook }
    }
}

/// The publish authoriser shared by every transport.
pub struct Auth {
    rules: RwLock<Arc<Rules>>,
    /// The in-process publishers' (the demo feed's) credential, random per process.
    internal: String,
    /// The hook's refusals and failures, as many as publishers try: logged through a gate
    /// (the refusal itself is counted and logged thinly by the transport).
    hook_log: Mutex<LogGate>,
    clock: Clock,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("rules", &self.rules())
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub fn new(config: Option<AuthConfig>) -> Auth {
        Auth {
            rules: RwLock::new(Arc::new(Rules::new(config))),
            internal: random_token(),
            hook_log: Mutex::new(LogGate::new(
                crate::logging::BURST,
                crate::logging::INTERVAL_MS,
            )),
            clock: Clock::new(),
        }
    }

    /// Whether to log a hook decision now, and how many were not logged in the minute
    /// that ended before it.
    fn hook_log(&self) -> Option<u64> {
        let now = self.clock.now_ms();
        let v = self
            .hook_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .event(now);
        v.log.then(|| v.summary.map_or(0, |s| s.count))
    }

    /// Replaces the rules (SIGHUP); publishes already allowed go on.
    pub fn replace(&self, config: Option<AuthConfig>) {
        let rules = Arc::new(Rules::new(config));
        info!(
            guarded = rules.config.is_some(),
            hook = rules.hook.is_some(),
            "publish auth reloaded"
        );
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = rules;
    }

    fn rules(&self) -> Arc<Rules> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether a publish needs a credential (a key or the hook).
    pub fn guards_publishing(&self) -> bool {
        self.rules().config.is_some()
    }

    /// The key in-process publishers present; allowed whatever `[auth]` says.
    pub fn internal_key(&self) -> &str {
        &self.internal
    }

    /// Decides a publish.
    pub async fn decide(&self, req: &PublishRequest<'_>) -> Result<Grant, Refusal> {
        let open = |credentialed| Grant {
            credentialed,
            unpublish: None,
        };
        if req
            .key
            .is_some_and(|k| constant_time_eq(k.as_bytes(), self.internal.as_bytes()))
        {
            return Ok(open(true));
        }
        let rules = self.rules();
        let Some(config) = &rules.config else {
            return Ok(open(false));
        };
        if let Some(hook) = &rules.hook {
            let hreq = HookRequest {
                action: "publish",
                protocol: req.protocol.as_str(),
                feed: req.feed.to_string(),
                rendition: req.rendition.to_string(),
                key: req.key.map(str::to_string),
                ip: req.ip.to_string(),
            };
            return match hook.ask(&hreq).await {
                Ok(status) if status.is_success() => Ok(Grant {
                    credentialed: true,
                    unpublish: Some((hook.clone(), hreq)),
                }),
                Ok(status) => {
                    if let Some(not_logged) = self.hook_log() {
                        info!(
                            status = status.as_u16(),
                            not_logged, "the publish hook refused"
                        );
                    }
                    Err(Refusal::Denied)
                }
                Err(e) => {
                    if let Some(not_logged) = self.hook_log() {
                        warn!(not_logged, "the publish hook could not decide: {e}");
                    }
                    Err(Refusal::Unavailable)
                }
            };
        }
        let Some(given) = req.key else {
            return Err(Refusal::MissingKey);
        };
        let expected = config
            .feed_keys
            .get(req.feed)
            .or(config.publish_key.as_ref());
        match expected {
            Some(k) if constant_time_eq(given.as_bytes(), k.as_bytes()) => Ok(open(true)),
            _ => Err(Refusal::WrongKey),
        }
    }
}

/// Compares in time independent of where the first differing byte is, so the time taken
/// does not tell how much of a guessed key was right (the length is not hidden). subtle's
/// comparison keeps the optimiser from turning the loop into an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// 128 random bits in hex: from the kernel, else from the process's hash seeds.
fn random_token() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    let from_kernel = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !from_kernel {
        let (a, b) = (crate::clock::new_token(), crate::clock::new_token());
        buf[..8].copy_from_slice(&a.to_le_bytes());
        buf[8..].copy_from_slice(&b.to_le_bytes());
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn cfg(text: &str) -> Option<AuthConfig> {
        let toml = format!("{}\n{text}\n", crate::config::DEFAULT_TOML);
        crate::config::Config::from_toml(&toml).unwrap().auth
    }

    async fn decide(auth: &Auth, feed: &str, key: Option<&str>) -> Result<bool, Refusal> {
        let req = PublishRequest {
            protocol: Protocol::Http,
            feed,
            rendition: "main",
            key,
            ip: Ipv4Addr::LOCALHOST.into(),
        };
        auth.decide(&req).await.map(|g| g.credentialed)
    }

    #[tokio::test]
    async fn keys() {
        let open = Auth::new(None);
        assert_eq!(decide(&open, "a", None).await, Ok(false));
        assert_eq!(decide(&open, "a", Some("x")).await, Ok(false));
        let empty = Auth::new(cfg("[auth]\nhook_timeout = 1.0"));
        assert!(!empty.guards_publishing());
        assert_eq!(decide(&empty, "a", None).await, Ok(false));

        let a = Auth::new(cfg(
            "[auth]\npublish_key = \"pk\"\n[auth.feed_keys]\ncam1 = \"c1\"",
        ));
        assert!(a.guards_publishing());
        assert_eq!(decide(&a, "a", None).await, Err(Refusal::MissingKey));
        assert_eq!(decide(&a, "a", Some("pk")).await, Ok(true));
        assert_eq!(decide(&a, "a", Some("pk2")).await, Err(Refusal::WrongKey));
        assert_eq!(decide(&a, "cam1", Some("c1")).await, Ok(true));
        assert_eq!(decide(&a, "cam1", Some("pk")).await, Err(Refusal::WrongKey));
        assert_eq!(decide(&a, "cam1", None).await, Err(Refusal::MissingKey));
        let key = a.internal_key().to_string();
        assert_eq!(key.len(), 32);
        assert_eq!(decide(&a, "demo", Some(&key)).await, Ok(true));

        // Only per-feed keys: other feeds cannot be published, and say so like a wrong key.
        let f = Auth::new(cfg("[auth.feed_keys]\ncam1 = \"c1\""));
        assert_eq!(
            decide(&f, "other", Some("c1")).await,
            Err(Refusal::WrongKey)
        );
        assert_eq!(decide(&f, "other", None).await, Err(Refusal::MissingKey));
        assert_eq!(decide(&f, "cam1", Some("c1")).await, Ok(true));

        f.replace(cfg("[auth]\npublish_key = \"new\""));
        assert_eq!(decide(&f, "cam1", Some("c1")).await, Err(Refusal::WrongKey));
        assert_eq!(decide(&f, "cam1", Some("new")).await, Ok(true));
        f.replace(None);
        assert_eq!(decide(&f, "cam1", None).await, Ok(false));
    }

    #[test]
    fn compare_and_debug() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
        assert_ne!(random_token(), random_token());
        let a = Auth::new(cfg(
            "[auth]\npublish_key = \"pk-S3CRET\"\n[auth.feed_keys]\ncam1 = \"c1-S3CRET\"",
        ));
        let text = format!("{a:?}");
        assert!(
            !text.contains("S3CRET") && !text.contains(a.internal_key()),
            "{text}"
        );
        assert!(text.contains("cam1"), "{text}");
    }
}
