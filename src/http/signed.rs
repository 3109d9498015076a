//! Signed playback (DESIGN.md, `/s/{expires}-{sig}/...`): with `auth.playback_secret` set,
//! the playback trees (`/live`, `/watch`, `/vod`) are served only under a path prefix
//! carrying an expiry and an HMAC-SHA256 of `"{feed}:{expires}"`. The token sits in the
//! path, not the query, so every relative URI of a playlist resolves under it: rendered
//! playlists stay the same bytes for every viewer and players need no configuration.
//!
//! [`gate`] decides, from the path alone and before any feed lookup, whether a request is
//! open, refused (401 unsigned, 403 bad or expired token, 404 no tree after the token) or
//! signed; `http::service::Dispatch` then strips the prefix and serves the tree as usual.
//! [`Signer::path`] is what `hlsd sign` prints.

use crate::Config;
use crate::ingest::valid_name;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use ring::hmac;
use std::time::{SystemTime, UNIX_EPOCH};

/// The playback trees a signature may open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tree {
    Live,
    Watch,
    Vod,
}

impl Tree {
    /// The tree `path` is in (`/live`, `/live/...` and so on).
    pub fn of(path: &str) -> Option<Tree> {
        let tree = match path.strip_prefix('/')?.split('/').next()? {
            "live" => Tree::Live,
            "watch" => Tree::Watch,
            "vod" => Tree::Vod,
            _ => return None,
        };
        Some(tree)
    }
}

/// What [`gate`] decided about a request path.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    /// No secret, or not a playback path: serve it as it is.
    Open,
    /// A playback tree without the prefix while a secret is set: 401.
    Unsigned(Tree),
    /// A valid token: serve `tree` from byte `skip` of the path on (`/live/...`).
    Signed { tree: Tree, skip: usize },
    /// `/s/...` whose token is malformed, expired or does not sign this feed: 403.
    Forbidden,
    /// `/s/...` without a tree and a feed after the token: 404.
    NotFound,
}

/// The playback secret as an HMAC key (its padded states computed once).
pub struct Signer {
    key: hmac::Key,
}

/// Why `hlsd sign` cannot sign.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("auth.playback_secret is not set in the configuration: playback is not signed")]
    NoSecret,
    #[error("bad feed name: 1 to 64 characters of A-Z a-z 0-9 _ -")]
    BadName,
    #[error("the expiry is past the year 292 billion")]
    TooLate,
}

/// A feed name (64) + `:` + the expiry's digits (at most 20).
const MAX_MESSAGE: usize = 64 + 1 + 20;

impl Signer {
    pub fn new(secret: &str) -> Signer {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()),
        }
    }

    /// The signer of `config`'s `auth.playback_secret`, if it has one.
    pub fn from_config(config: &Config) -> Option<Signer> {
        let secret = config.auth.as_ref()?.playback_secret.as_deref()?;
        Some(Signer::new(secret))
    }

    /// Lowercase hex HMAC-SHA256(secret, `"{feed}:{expires}"`).
    pub fn sig(&self, feed: &str, expires: u64) -> String {
        let tag = hmac::sign(&self.key, format!("{feed}:{expires}").as_bytes());
        tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// `/s/{expires}-{sig}/live/{feed}/index.m3u8`, what `hlsd sign` prints.
    pub fn path(&self, feed: &str, expires: u64) -> Result<String, SignError> {
        if !valid_name(feed) {
            return Err(SignError::BadName);
        }
        let sig = self.sig(feed, expires);
        Ok(format!("/s/{expires}-{sig}/live/{feed}/index.m3u8"))
    }

    /// [`Signer::path`] for a token valid `ttl` seconds from now.
    pub fn path_for(&self, feed: &str, ttl: u64) -> Result<String, SignError> {
        let expires = unix_now().checked_add(ttl).ok_or(SignError::TooLate)?;
        self.path(feed, expires)
    }

    /// Whether `sig` is the signature of `feed` and `expires` (its digits as in the URL,
    /// canonical), compared in constant time by ring.
    fn verify(&self, feed: &str, expires: &str, sig: &[u8; 32]) -> bool {
        let mut buf = [0u8; MAX_MESSAGE];
        let len = feed.len() + 1 + expires.len();
        let Some(msg) = buf.get_mut(..len) else {
            return false;
        };
        msg[..feed.len()].copy_from_slice(feed.as_bytes());
        msg[feed.len()] = b':';
        msg[feed.len() + 1..].copy_from_slice(expires.as_bytes());
        hmac::verify(&self.key, msg, sig).is_ok()
    }
}

/// `hlsd sign FEED --ttl SECS`: the signed path for `config`'s secret.
pub fn sign_command(config: &Config, feed: &str, ttl: u64) -> Result<String, SignError> {
    Signer::from_config(config)
        .ok_or(SignError::NoSecret)?
        .path_for(feed, ttl)
}

/// Seconds since the Unix epoch (0 for a clock set before it).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Decides what `path` may see. Without a signer everything is open (and `/s/...` is
/// left to the router, which has no such route: 404). With one, the playback trees are
/// 401 unless reached through a valid `/s/{expires}-{sig}` prefix. `now` is read only
/// for a signed path.
pub fn gate(signer: Option<&Signer>, path: &str, now: impl FnOnce() -> u64) -> Gate {
    let Some(signer) = signer else {
        return Gate::Open;
    };
    let Some(rest) = path.strip_prefix("/s/") else {
        return match Tree::of(path) {
            Some(tree) => Gate::Unsigned(tree),
            None => Gate::Open,
        };
    };
    // `/s/{token}/{tree}/{feed}[/...]`: the shape first (404), then the token (403).
    let Some((token, _)) = rest.split_once('/') else {
        return Gate::NotFound;
    };
    let skip = "/s/".len() + token.len();
    let tail = &path[skip..];
    let Some(tree) = Tree::of(tail) else {
        return Gate::NotFound;
    };
    let Some(feed) = tail[1..].split('/').nth(1).filter(|f| !f.is_empty()) else {
        return Gate::NotFound;
    };
    let Some((expires, expires_at, sig)) = parse_token(token) else {
        return Gate::Forbidden;
    };
    if expires_at < now() {
        return Gate::Forbidden;
    }
    // Feed names need no escaping, but the playback routes decode escapes: so does this,
    // so that the feed served is the feed signed.
    let Ok(feed) = percent_decode_str(feed).decode_utf8() else {
        return Gate::Forbidden;
    };
    if !valid_name(&feed) || !signer.verify(&feed, expires, &sig) {
        return Gate::Forbidden;
    }
    Gate::Signed { tree, skip }
}

/// `{expires}-{sig}`: `expires` 1 to 20 digits without a leading zero that fit a `u64`,
/// `sig` exactly 64 lowercase hex digits. Returns the digits, their value and the bytes.
fn parse_token(token: &str) -> Option<(&str, u64, [u8; 32])> {
    let (expires, hex) = token.split_once('-')?;
    let digits = expires.as_bytes();
    if digits.is_empty()
        || digits.len() > 20
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
    {
        return None;
    }
    let value = expires.parse::<u64>().ok()?;
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut sig = [0u8; 32];
    for (byte, pair) in sig.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some((expires, value, sig))
}

/// A refused playback request: 401, 403 or 404, never stored by a shared cache (the
/// same URL may be allowed for another viewer or after a key change).
pub fn refusal(status: StatusCode) -> Response {
    let text = match status {
        StatusCode::UNAUTHORIZED => "playback needs a signed URL: /s/{expires}-{sig}/...\n",
        StatusCode::FORBIDDEN => "the playback signature is malformed, wrong or expired\n",
        _ => "not found\n",
    };
    let mut res = (status, text).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn signer() -> Signer {
        Signer::new("s3cret")
    }

    fn gate_at(path: &str) -> Gate {
        gate(Some(&signer()), path, || NOW)
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256("s3cret", "cam:1800000060"), from an independent implementation
        // (Python's hmac module).
        assert_eq!(
            signer().sig("cam", NOW + 60),
            "8dfba45390e4d40eb0d7c9a9cbeffa9a9f25bb913d9d79f5f392ff9902f29ffd"
        );
    }

    #[test]
    fn a_signed_path_opens_its_trees() {
        let s = signer();
        let path = s.path("cam", NOW + 60).unwrap();
        let skip = path.find("/live/").unwrap();
        assert_eq!(
            gate_at(&path),
            Gate::Signed {
                tree: Tree::Live,
                skip
            }
        );
        let token = &path[..skip];
        for (tail, tree) in [
            ("/live/cam/main/media.m3u8", Tree::Live),
            ("/live/cam/main/seg-ab-3.ts", Tree::Live),
            ("/live/c%61m/index.m3u8", Tree::Live),
            ("/watch/cam", Tree::Watch),
            ("/vod/cam/x", Tree::Vod),
        ] {
            assert_eq!(
                gate_at(&format!("{token}{tail}")),
                Gate::Signed { tree, skip },
                "{tail}"
            );
        }
        // Valid through the second it names.
        assert_eq!(
            gate(Some(&s), &path, || NOW + 60),
            Gate::Signed {
                tree: Tree::Live,
                skip
            }
        );
    }

    #[test]
    fn wrong_expired_or_tampered_tokens_are_forbidden() {
        let s = signer();
        let path = s.path("cam", NOW + 60).unwrap();
        assert_eq!(gate(Some(&s), &path, || NOW + 61), Gate::Forbidden);
        // Another secret, another feed, another expiry.
        assert_eq!(
            gate(Some(&Signer::new("other")), &path, || NOW),
            Gate::Forbidden
        );
        assert_eq!(
            gate_at(&path.replace("/live/cam/", "/live/cam2/")),
            Gate::Forbidden
        );
        assert_eq!(
            gate_at(&path.replace(&(NOW + 60).to_string(), &(NOW + 61).to_string())),
            Gate::Forbidden
        );
        // Every single flipped hex digit.
        let start = path.find('-').unwrap() + 1;
        for i in start..start + 64 {
            let mut b = path.clone().into_bytes();
            b[i] = if b[i] == b'0' { b'1' } else { b'0' };
            let p = String::from_utf8(b).unwrap();
            assert_eq!(gate_at(&p), Gate::Forbidden, "{p}");
        }
    }

    #[test]
    fn odd_tokens_are_forbidden_without_panicking() {
        let s = signer();
        let sig = s.sig("cam", NOW + 60);
        let exp = NOW + 60;
        let tokens = [
            String::new(),
            "-".into(),
            format!("{exp}"),
            format!("{exp}-"),
            format!("-{sig}"),
            format!("{exp}-{}", sig.to_uppercase()),
            format!("{exp}-{}", &sig[..63]),
            format!("{exp}-{sig}0"),
            format!("{exp}-{sig}-"),
            format!("+{exp}-{sig}"),
            format!("0{exp}-{sig}"),
            format!(" {exp}-{sig}"),
            format!("{exp}.0-{sig}"),
            format!("{exp}-{}g", &sig[..63]),
            format!("{exp}-{}é", &sig[..62]),
            format!("{exp}-{}", "é".repeat(32)),
            format!("{exp}%2D{sig}"),
            format!("{exp}--{sig}"),
            format!("99999999999999999999-{sig}"),
            format!("184467440737095516160-{sig}"),
            format!("{}-{sig}", "9".repeat(400)),
            format!("{exp}-{}", "f".repeat(4096)),
            format!("0x{exp:x}-{sig}"),
            "\u{0}-\u{0}".into(),
        ];
        for t in &tokens {
            let p = format!("/s/{t}/live/cam/index.m3u8");
            assert_eq!(gate_at(&p), Gate::Forbidden, "{p:?}");
        }
        // Feeds no one could have signed.
        let token = format!("{exp}-{sig}");
        for feed in ["c%FF", "%", "a.b", "ca%2Fm", &"a".repeat(65), "c%00m"] {
            let p = format!("/s/{token}/live/{feed}/index.m3u8");
            assert_eq!(gate_at(&p), Gate::Forbidden, "{p:?}");
        }
    }

    #[test]
    fn paths_without_a_tree_are_not_found() {
        let path = signer().path("cam", NOW + 60).unwrap();
        let token = &path[..path.find("/live/").unwrap()];
        for p in [
            "/s/".to_string(),
            "/s/x".into(),
            token.to_string(),
            format!("{token}/"),
            format!("{token}/live"),
            format!("{token}/live/"),
            format!("{token}/live//index.m3u8"),
            format!("{token}/watch"),
            format!("{token}/static/watch.js"),
            format!("{token}/api/feeds"),
            format!("{token}/s/{token}/live/cam/index.m3u8"),
        ] {
            assert_eq!(gate_at(&p), Gate::NotFound, "{p:?}");
        }
    }

    #[test]
    fn unsigned_trees_need_a_signature_when_a_secret_is_set() {
        for (p, tree) in [
            ("/live", Tree::Live),
            ("/live/cam/index.m3u8", Tree::Live),
            ("/watch/cam", Tree::Watch),
            ("/vod/cam/index.m3u8", Tree::Vod),
        ] {
            assert_eq!(gate_at(p), Gate::Unsigned(tree), "{p}");
            assert_eq!(gate(None, p, || NOW), Gate::Open, "{p}");
        }
        for p in [
            "/",
            "/api/feeds",
            "/static/watch.js",
            "/livex",
            "/healthz",
            "/s",
        ] {
            assert_eq!(gate_at(p), Gate::Open, "{p}");
        }
        // Without a secret, /s/ is nothing special (the router answers 404).
        let path = signer().path("cam", NOW + 60).unwrap();
        assert_eq!(gate(None, &path, || NOW), Gate::Open);
    }

    #[test]
    fn the_clock_is_read_only_for_signed_paths() {
        let s = signer();
        let path = s.path("cam", NOW + 60).unwrap();
        for p in [
            "/live/cam/index.m3u8",
            "/",
            "/s/x",
            "/s/1-2/live/cam/index.m3u8",
        ] {
            gate(Some(&s), p, || panic!("clock read for {p}"));
        }
        assert!(matches!(gate(Some(&s), &path, || NOW), Gate::Signed { .. }));
    }

    #[test]
    fn sign_command_needs_a_secret_and_a_valid_name() {
        let mut c = Config::default();
        assert!(matches!(
            sign_command(&c, "cam", 60),
            Err(SignError::NoSecret)
        ));
        c.auth = Some(crate::config::AuthConfig {
            playback_secret: Some("s3cret".into()),
            ..Default::default()
        });
        let p = sign_command(&c, "cam", 60).unwrap();
        assert!(matches!(
            gate(Some(&signer()), &p, unix_now),
            Gate::Signed {
                tree: Tree::Live,
                ..
            }
        ));
        assert!(matches!(
            sign_command(&c, "a/b", 60),
            Err(SignError::BadName)
        ));
        assert!(matches!(
            sign_command(&c, "cam", u64::MAX),
            Err(SignError::TooLate)
        ));
    }
}
