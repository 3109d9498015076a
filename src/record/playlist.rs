//! A recorded session's playlists: the multivariant one (its renditions, as the live one
//! lists them) and each rendition's media playlist, EVENT while recording, VOD with
//! EXT-X-ENDLIST once ended; EXT-X-PROGRAM-DATE-TIME on every segment, EXT-X-DISCONTINUITY
//! where the publisher changed (or the timestamps jumped), EXT-X-GAP for segments lost to
//! the recording. Segment URIs are relative: the file names on disk.

use super::library::{RecordedRendition, SessionState};
use crate::playlist::date::write_iso8601;
use crate::playlist::{Variant, render_multivariant};
use std::fmt::Write;

pub fn multivariant(st: &SessionState) -> String {
    let variants: Vec<Variant> = st
        .renditions
        .values()
        .filter(|r| !r.segments.is_empty())
        .map(|r| Variant {
            name: r.info.name.clone(),
            bandwidth: r.info.bandwidth,
            average_bandwidth: r.info.average_bandwidth,
            codecs: r.info.codecs.clone(),
            resolution: r.info.resolution,
            frame_rate: r.info.frame_rate,
            audio_only: r.info.audio_only,
        })
        .collect();
    render_multivariant(&variants)
}

/// The target duration a rendition's playlist declares: its own, or more if a segment's
/// rounded duration exceeds it.
pub fn target_duration(r: &RecordedRendition) -> u32 {
    let longest = r
        .segments
        .iter()
        .map(|s| s.secs().round() as u32)
        .max()
        .unwrap_or(0);
    r.info.target_duration.max(longest).max(1)
}

pub fn media(r: &RecordedRendition, ended: bool) -> String {
    let mut out = String::with_capacity(64 + r.segments.len() * 96);
    let first = r.segments.first().map_or(r.head.max(1), |s| s.msn);
    let independent = r.segments.iter().filter(|s| !s.gap).all(|s| s.independent);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{first}\n",
        target_duration(r),
    );
    if r.discontinuity_sequence > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            r.discontinuity_sequence
        );
    }
    // EVENT and VOD promise a head that never moves: a rendition retention trimmed has
    // neither (its head moves as retention goes on).
    if r.head == 0 {
        let _ = writeln!(
            out,
            "#EXT-X-PLAYLIST-TYPE:{}",
            if ended { "VOD" } else { "EVENT" }
        );
    }
    if independent {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    let mut map = None;
    for (i, s) in r.segments.iter().enumerate() {
        if s.discontinuity && i > 0 {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        // fMP4: the init of the segments that follow, again where it changes.
        if let Some(n) = s.init.filter(|n| map != Some(*n)) {
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", r.init_name(n));
            map = Some(n);
        }
        out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        write_iso8601(&mut out, s.pdt_ms);
        out.push('\n');
        if s.gap {
            out.push_str("#EXT-X-GAP\n");
        }
        let _ = writeln!(out, "#EXTINF:{:.5},\n{}", s.secs(), r.segment_file(s));
    }
    if ended {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::index::Record;
    use crate::record::task::tests::{entry, info};

    #[test]
    fn event_then_vod_with_discontinuities_gaps_and_dates() {
        let mut st = SessionState::default();
        st.apply(&Record::Rendition(info("main", 0xabc)));
        for (msn, disc) in [(1, false), (2, false), (3, true)] {
            st.apply(&Record::Segment(entry("main", msn, disc)));
        }
        let mut gap = entry("main", 4, false);
        gap.gap = true;
        st.apply(&Record::Segment(gap));
        let r = &st.renditions["main"];
        let live = media(r, false);
        assert!(live.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"));
        assert!(!live.contains("ENDLIST"));
        let vod = media(r, true);
        assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(vod.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(vod.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 4);
        assert_eq!(vod.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert!(vod.contains("#EXT-X-GAP\n#EXTINF:2.00000,\nseg-abc-4.ts\n"));
        assert!(vod.contains("#EXT-X-MEDIA-SEQUENCE:1\n"));
        let m = m3u8_rs::parse_media_playlist_res(vod.as_bytes()).unwrap();
        assert_eq!(m.segments.len(), 4);
        assert!(m.end_list);
        assert!(m.segments[2].discontinuity);
        let mv = multivariant(&st);
        assert!(mv.contains("main/media.m3u8"), "{mv}");
    }

    /// A rendition that turned fMP4 within the session (`auto`, an HEVC sibling joined):
    /// its earlier segments keep their `.ts` names, the later ones are `.m4s` under their
    /// init's EXT-X-MAP.
    #[test]
    fn a_container_change_within_a_session_keeps_each_segments_name() {
        let mut st = SessionState::default();
        st.apply(&Record::Rendition(info("main", 0xabc)));
        for msn in [1, 2] {
            st.apply(&Record::Segment(entry("main", msn, false)));
        }
        let mut fmp4 = info("main", 0xabc);
        fmp4.fmp4 = true;
        st.apply(&Record::Rendition(fmp4));
        for (msn, disc) in [(3, true), (4, false)] {
            let mut e = entry("main", msn, disc);
            e.init = Some(0);
            st.apply(&Record::Segment(e));
        }
        let r = &st.renditions["main"];
        let vod = media(r, true);
        let uris: Vec<&str> = vod.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            uris,
            [
                "seg-abc-1.ts",
                "seg-abc-2.ts",
                "seg-abc-3.m4s",
                "seg-abc-4.m4s"
            ],
            "{vod}"
        );
        let map = format!("#EXT-X-MAP:URI=\"{}\"\n", r.init_name(0));
        assert_eq!(vod.matches(&map).count(), 1, "{vod}");
        assert!(vod.find(&map) > vod.find("seg-abc-2.ts"), "{vod}");
        assert_eq!(
            r.segment(2).map(|s| r.segment_file(s)).as_deref(),
            Some("seg-abc-2.ts")
        );
        m3u8_rs::parse_media_playlist_res(vod.as_bytes()).unwrap();
    }
}
