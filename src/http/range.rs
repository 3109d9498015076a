//! Single byte ranges of the `Range` request header (RFC 9110 §14.2).

use std::ops::Range;

#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve the whole representation (no header, several ranges, or one we do not parse).
    Full,
    Partial(Range<usize>),
    Unsatisfiable,
}

pub fn parse_range(header: Option<&str>, len: usize) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<usize>() else {
            return RangeRequest::Full;
        };
        if n == 0 {
            return RangeRequest::Unsatisfiable;
        }
        len.saturating_sub(n)..len
    } else {
        let Ok(start) = a.parse::<usize>() else {
            return RangeRequest::Full;
        };
        let end = if b.is_empty() {
            len
        } else {
            match b.parse::<usize>() {
                Ok(last) if last >= start => last.saturating_add(1).min(len),
                _ => return RangeRequest::Full,
            }
        };
        start..end
    };
    if range.start >= len {
        RangeRequest::Unsatisfiable
    } else {
        RangeRequest::Partial(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(h: Option<&str>, expect: RangeRequest) {
        assert_eq!(parse_range(h, 1000), expect, "{h:?}");
    }

    #[test]
    fn ranges() {
        check(None, RangeRequest::Full);
        check(Some("bytes=0-99"), RangeRequest::Partial(0..100));
        check(Some("bytes=900-"), RangeRequest::Partial(900..1000));
        check(Some("bytes=-100"), RangeRequest::Partial(900..1000));
        check(Some("bytes=990-5000"), RangeRequest::Partial(990..1000));
        check(Some("bytes=1000-"), RangeRequest::Unsatisfiable);
        check(Some("bytes=-0"), RangeRequest::Unsatisfiable);
        check(Some("bytes=0-1,5-6"), RangeRequest::Full);
        check(Some("items=0-1"), RangeRequest::Full);
        check(Some("bytes=5-2"), RangeRequest::Full);
    }
}
