//! What a live DVR playlist (`hls.dvr_window`) asks of the recording: whether a segment that
//! left a rendition's window was recorded or lost (EXT-X-GAP), and where its file is, found
//! by the rendition's live token and the segment's MSN (its live URI), and where an fMP4
//! init is, by its number.

use super::index::SegmentEntry;
use super::library::{Library, Session};
use crate::playlist::Container;
use std::path::PathBuf;
use std::sync::Arc;

/// The recording session holding a rendition's segments made under `token`, newest first
/// (a rendition's token is in at most one session).
pub fn session_of(
    library: &Library,
    feed: &str,
    rendition: &str,
    token: u64,
) -> Option<Arc<Session>> {
    library.sessions(feed).into_iter().rev().find(|s| {
        s.lock()
            .renditions
            .get(rendition)
            .is_some_and(|r| r.info.token == token)
    })
}

/// A segment's index entry in `session`, once it is indexed.
pub fn entry(session: &Session, rendition: &str, msn: u64) -> Option<SegmentEntry> {
    let st = session.lock();
    let segments = &st.renditions.get(rendition)?.segments;
    let i = segments.binary_search_by_key(&msn, |e| e.msn).ok()?;
    Some(segments[i].clone())
}

/// The file of a recorded segment (not a gap) in `container`, as the index lists it (a
/// rendition is recorded in the container it was served in by default).
pub fn segment_file(
    session: &Session,
    rendition: &str,
    token: u64,
    msn: u64,
    container: Container,
) -> Option<PathBuf> {
    let st = session.lock();
    let r = st
        .renditions
        .get(rendition)
        .filter(|r| r.info.token == token)?;
    let s = r.segment(msn)?;
    // Recorded in the container the URI names (it may have changed within the session).
    (!s.gap && s.init.is_some() == (container == Container::Fmp4))
        .then(|| session.dir.join(rendition).join(r.segment_file(s)))
}

/// The file of an fMP4 init a listed segment of the recording needs.
pub fn init_file(session: &Session, rendition: &str, token: u64, number: u32) -> Option<PathBuf> {
    let st = session.lock();
    let r = st
        .renditions
        .get(rendition)
        .filter(|r| r.info.token == token && r.info.fmp4)?;
    r.segments
        .iter()
        .any(|s| s.init == Some(number) && !s.gap)
        .then(|| session.dir.join(rendition).join(r.init_name(number)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::task::Job;
    use crate::record::task::tests::{entry as seg_entry, info, recorder, segment};

    #[test]
    fn segments_are_found_by_rendition_token_and_msn() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut rec, library, _) = recorder(tmp.path());
        let (hi, lo) = (0x1000_0000_000a, 0x1000_0000_000b);
        rec.handle(segment("hi", hi, 1, false));
        rec.handle(segment("lo", lo, 1, false));
        rec.handle(Job::Lost {
            info: info("lo", lo),
            entry: seg_entry("lo", 2, false),
            why: "test",
        });
        rec.handle(segment("lo", lo, 3, false));
        let s = session_of(&library, "cam", "lo", lo).expect("lo joined hi's session");
        assert_eq!(s.id, hi);
        assert!(session_of(&library, "cam", "lo", hi).is_none());
        assert!(entry(&s, "lo", 2).unwrap().gap);
        assert!(!entry(&s, "lo", 3).unwrap().gap);
        assert!(entry(&s, "lo", 4).is_none());
        let f = segment_file(&s, "lo", lo, 3, Container::Ts).unwrap();
        assert_eq!(std::fs::read(&f).unwrap().len(), 188 * 4);
        assert!(
            segment_file(&s, "lo", lo, 2, Container::Ts).is_none(),
            "a gap has no file"
        );
        assert!(
            segment_file(&s, "lo", hi, 3, Container::Ts).is_none(),
            "another token"
        );
        assert!(
            segment_file(&s, "lo", lo, 3, Container::Fmp4).is_none(),
            "recorded as TS"
        );
        assert!(init_file(&s, "lo", lo, 0).is_none(), "TS has no init");
    }
}
