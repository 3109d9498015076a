//! What an SRT caller names in its stream ID (DESIGN.md, "SRT ingest"):
//! - `#!::` and `key=value` pairs separated by commas, in any order: `r={feed}[/{rendition}]`
//!   (required), `m=publish` or no `m`, optionally `s={key}`; other keys are ignored;
//! - `publish:{feed}[/{rendition}][:{key}]`;
//! - a bare `{feed}[/{rendition}]`.
//!
//! The names themselves are checked by the publish session (`[A-Za-z0-9_-]{1,64}`).

use crate::ingest::session::MAIN_RENDITION;

/// A publish's feed, rendition and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub feed: String,
    pub rendition: String,
    pub key: Option<String>,
}

/// Why a stream ID names no publish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    /// No stream ID, no `r=`, a pair without `=`, a key given twice.
    #[error(
        "the stream ID names no feed: #!::r=FEED[/RENDITION][,s=KEY], publish:FEED[/RENDITION][:KEY] or FEED[/RENDITION]"
    )]
    BadName,
    /// `m=` other than `publish` (`request`, `bidirectional`): hlsd only takes publishes.
    #[error("mode m={0} refused: hlsd takes publishes only (m=publish), play over HLS")]
    BadMode(String),
}

/// The access-control syntax's prefix.
const ACCESS_CONTROL: &str = "#!::";
/// The prefix of the `publish:` form.
const PUBLISH: &str = "publish:";

/// `{feed}[/{rendition}]` as feed and rendition (`main` when none is named).
fn resource(r: &str) -> (String, String) {
    match r.split_once('/') {
        Some((feed, rendition)) => (feed.to_string(), rendition.to_string()),
        None => (r.to_string(), MAIN_RENDITION.to_string()),
    }
}

/// The target a stream ID names.
pub fn parse(stream_id: Option<&str>) -> Result<Target, StreamIdError> {
    let sid = stream_id.unwrap_or_default();
    if let Some(pairs) = sid.strip_prefix(ACCESS_CONTROL) {
        return access_control(pairs);
    }
    let (name, key) = match sid.strip_prefix(PUBLISH) {
        Some(rest) => match rest.split_once(':') {
            Some((name, key)) => (name, (!key.is_empty()).then(|| key.to_string())),
            None => (rest, None),
        },
        None => (sid, None),
    };
    if name.is_empty() {
        return Err(StreamIdError::BadName);
    }
    let (feed, rendition) = resource(name);
    Ok(Target {
        feed,
        rendition,
        key,
    })
}

/// The `#!::` form's pairs.
fn access_control(pairs: &str) -> Result<Target, StreamIdError> {
    let (mut r, mut m, mut s) = (None, None, None);
    for pair in pairs.split(',') {
        let (k, v) = pair.split_once('=').ok_or(StreamIdError::BadName)?;
        let slot = match k {
            "r" => &mut r,
            "m" => &mut m,
            "s" => &mut s,
            _ => continue,
        };
        if slot.replace(v).is_some() {
            return Err(StreamIdError::BadName);
        }
    }
    if let Some(mode) = m
        && mode != "publish"
    {
        return Err(StreamIdError::BadMode(mode.to_string()));
    }
    let r = r.filter(|r| !r.is_empty()).ok_or(StreamIdError::BadName)?;
    let (feed, rendition) = resource(r);
    Ok(Target {
        feed,
        rendition,
        key: s.filter(|s| !s.is_empty()).map(String::from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(feed: &str, rendition: &str, key: Option<&str>) -> Result<Target, StreamIdError> {
        Ok(Target {
            feed: feed.into(),
            rendition: rendition.into(),
            key: key.map(String::from),
        })
    }

    #[test]
    fn access_control_form() {
        assert_eq!(parse(Some("#!::r=cam1,m=publish")), t("cam1", "main", None));
        assert_eq!(parse(Some("#!::m=publish,r=cam1")), t("cam1", "main", None));
        assert_eq!(parse(Some("#!::r=cam1")), t("cam1", "main", None));
        assert_eq!(
            parse(Some("#!::u=alice,r=cam1/hd,s=k=1,t=stream,m=publish")),
            t("cam1", "hd", Some("k=1"))
        );
        assert_eq!(parse(Some("#!::r=cam1,s=")), t("cam1", "main", None));
        for mode in ["request", "bidirectional", "play"] {
            assert_eq!(
                parse(Some(&format!("#!::r=cam1,m={mode}"))),
                Err(StreamIdError::BadMode(mode.into()))
            );
        }
        for bad in [
            "#!::",
            "#!::m=publish",
            "#!::r=",
            "#!::r=cam1,m",
            "#!::r=a,r=b",
            "#!::r=a,s=x,s=y",
        ] {
            assert_eq!(parse(Some(bad)), Err(StreamIdError::BadName), "{bad}");
        }
    }

    #[test]
    fn publish_and_bare_forms() {
        assert_eq!(parse(Some("cam1")), t("cam1", "main", None));
        assert_eq!(parse(Some("cam1/hd")), t("cam1", "hd", None));
        assert_eq!(parse(Some("publish:cam1")), t("cam1", "main", None));
        assert_eq!(
            parse(Some("publish:cam1/hd:se:cret")),
            t("cam1", "hd", Some("se:cret"))
        );
        assert_eq!(parse(Some("publish:cam1:")), t("cam1", "main", None));
        assert_eq!(parse(None), Err(StreamIdError::BadName));
        assert_eq!(parse(Some("")), Err(StreamIdError::BadName));
        assert_eq!(parse(Some("publish:")), Err(StreamIdError::BadName));
        // Bad names reach the session as they are, which refuses them.
        assert_eq!(parse(Some("a b")), t("a b", "main", None));
        assert_eq!(parse(Some("a/b/c")), t("a", "b/c", None));
    }
}
