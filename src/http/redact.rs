//! Publish keys never reach a log line: the value of every `key` query parameter is
//! replaced by [`REDACTED`] wherever a URI is logged or put in an error. (`Authorization`
//! is never logged at all.)

use axum::http::Uri;
use std::borrow::Cow;
use std::fmt;

/// What a redacted value reads as.
pub const REDACTED: &str = "REDACTED";

/// `text` (a URI, a path with a query, or a whole URL) with the value of every `key`
/// query parameter replaced by [`REDACTED`]. The parameter's name is matched after
/// percent-decoding and regardless of case, as a server might read it.
pub fn redact_query(text: &str) -> Cow<'_, str> {
    let Some((before, query)) = text.split_once('?') else {
        return Cow::Borrowed(text);
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, f)) => (q, Some(f)),
        None => (query, None),
    };
    let is_key = |name: &str| {
        percent_encoding::percent_decode_str(name)
            .decode_utf8_lossy()
            .eq_ignore_ascii_case("key")
    };
    if !query
        .split(['&', ';'])
        .any(|p| is_key(p.split_once('=').map_or(p, |(n, _)| n)))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(before);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        // `;` separates pairs for some parsers: redact within such a run as well.
        for (j, p) in pair.split(';').enumerate() {
            if j > 0 {
                out.push(';');
            }
            match p.split_once('=') {
                Some((name, _)) if is_key(name) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(p),
            }
        }
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Cow::Owned(out)
}

/// A URI displayed with its keys redacted; formats only when a log line is written.
pub struct Redacted<'a>(pub &'a Uri);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.query() {
            None => fmt::Display::fmt(self.0, f),
            Some(_) => f.write_str(&redact_query(&self.0.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_redacted() {
        let r = |s| redact_query(s).into_owned();
        assert_eq!(r("/ingest/a"), "/ingest/a");
        assert_eq!(r("/ingest/a?x=1"), "/ingest/a?x=1");
        assert_eq!(r("/ingest/a?key=S3CRET"), "/ingest/a?key=REDACTED");
        assert_eq!(
            r("http://h:1/ingest/a?x=1&key=S3CRET&y=2"),
            "http://h:1/ingest/a?x=1&key=REDACTED&y=2"
        );
        assert_eq!(r("/i?KEY=a&Key=b"), "/i?KEY=REDACTED&Key=REDACTED");
        assert_eq!(r("/i?%6Bey=S3CRET"), "/i?%6Bey=REDACTED");
        assert_eq!(r("/i?a=1;key=S3CRET"), "/i?a=1;key=REDACTED");
        assert_eq!(r("/i?key=S3CRET#frag"), "/i?key=REDACTED#frag");
        assert_eq!(r("/i?keys=1&monkey=2"), "/i?keys=1&monkey=2");
        assert_eq!(r("/i?key"), "/i?key");
        let uri: Uri = "/ingest/a?key=S3CRET".parse().unwrap();
        assert_eq!(Redacted(&uri).to_string(), "/ingest/a?key=REDACTED");
        let uri: Uri = "/ingest/a".parse().unwrap();
        assert_eq!(Redacted(&uri).to_string(), "/ingest/a");
    }
}
