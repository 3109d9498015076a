//! What an RTMP publisher names (DESIGN.md, "RTMP ingest"): app `live` with the stream name
//! `{feed}` or `{feed}/{rendition}`, or app `live/{feed}` with the stream name
//! `{rendition}`; either may end in `?key={key}`. The names themselves are checked by the
//! publish session (`[A-Za-z0-9_-]{1,64}`).

use crate::ingest::session::MAIN_RENDITION;

/// The only application hlsd serves.
pub const APP: &str = "live";

/// A publish's feed, rendition and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub feed: String,
    pub rendition: String,
    pub key: Option<String>,
}

/// `s` without its `?query`, and the value of `key=` in the query.
fn split_key(s: &str) -> (&str, Option<String>) {
    let Some((path, query)) = s.split_once('?') else {
        return (s, None);
    };
    let key = query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == "key" && !value.is_empty()).then(|| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
    });
    (path, key)
}

/// The feed an app names beyond `live` (`live/{feed}`), `Some(None)` for `live` itself, and
/// `None` for any other app.
pub fn app_feed(app: &str) -> Option<Option<&str>> {
    let (app, _) = split_key(app);
    let app = app.trim_end_matches('/');
    if app == APP {
        return Some(None);
    }
    app.strip_prefix(APP)?.strip_prefix('/').map(Some)
}

/// The target of a publish on `app` with `stream`; `None` when the app is not `live`.
pub fn target(app: &str, stream: &str) -> Option<Target> {
    let (_, app_key) = split_key(app);
    let (name, key) = split_key(stream);
    let key = key.or(app_key);
    let (feed, rendition) = match app_feed(app)? {
        Some(feed) => (feed.to_string(), name.to_string()),
        None => match name.split_once('/') {
            Some((feed, rendition)) => (feed.to_string(), rendition.to_string()),
            None => (name.to_string(), MAIN_RENDITION.to_string()),
        },
    };
    Some(Target {
        feed,
        rendition,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(feed: &str, rendition: &str, key: Option<&str>) -> Option<Target> {
        Some(Target {
            feed: feed.into(),
            rendition: rendition.into(),
            key: key.map(String::from),
        })
    }

    #[test]
    fn names_as_designed() {
        assert_eq!(target("live", "cam2"), t("cam2", "main", None));
        assert_eq!(target("live", "cam2/hd"), t("cam2", "hd", None));
        assert_eq!(
            target("live", "cam2?key=s%20k"),
            t("cam2", "main", Some("s k"))
        );
        assert_eq!(
            target("live", "cam2/hd?x=1&key=k"),
            t("cam2", "hd", Some("k"))
        );
        assert_eq!(target("live/cam2", "hd"), t("cam2", "hd", None));
        assert_eq!(target("live/cam2", "hd?key=k"), t("cam2", "hd", Some("k")));
        assert_eq!(target("live/", "cam2"), t("cam2", "main", None));
        assert_eq!(target("vod", "cam2"), None);
        assert_eq!(target("livex", "cam2"), None);
        assert_eq!(app_feed("live"), Some(None));
        assert_eq!(app_feed("live/cam2"), Some(Some("cam2")));
        assert_eq!(app_feed("other"), None);
        // Bad names reach the session as they are, which refuses them.
        assert_eq!(target("live", "a/b/c"), t("a", "b/c", None));
        assert_eq!(target("live", ""), t("", "main", None));
    }
}
