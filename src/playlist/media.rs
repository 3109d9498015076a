//! Renders a media playlist (RFC 8216bis §4.4.2–§4.4.4) by hand: m3u8-rs cannot write the
//! LL-HLS tags hlsd will need, and rendering happens once per change, not per request.

use super::date::write_iso8601;
use super::window::Window;
use std::fmt::Write;

/// Renders the live (or ended) media playlist of `window`.
pub fn render_media(window: &Window, target_duration: u32) -> String {
    let mut out = String::with_capacity(256 + 128 * window.listed().len());
    out.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target_duration}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", window.media_sequence());
    let _ = writeln!(
        out,
        "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
        window.discontinuity_sequence()
    );
    // §4.4.2.1: claimed only while every listed segment starts with a keyframe.
    if window.listed().all(|s| s.independent) {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    for s in window.listed() {
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        write_iso8601(&mut out, s.pdt_ms);
        let _ = write!(out, "\n#EXTINF:{:.3},\n", s.duration.secs());
        out.push_str(&s.uri());
        out.push('\n');
    }
    if window.is_ended() {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segmenter::Segment;
    use crate::ts::Ts;
    use bytes::Bytes;

    fn seg(secs: f64, disc: bool, independent: bool) -> Segment {
        Segment {
            data: Bytes::from_static(b"x"),
            start: Ts(0),
            duration: Ts::from_secs(secs),
            independent,
            discontinuity: disc,
            pdt_ms: 1_795_629_414_123,
        }
    }

    #[test]
    fn renders_and_parses() {
        let mut w = Window::new(3);
        w.push(seg(2.0, false, true), 0xab, 0);
        w.push(seg(2.002, false, true), 0xab, 0);
        w.mark_discontinuity();
        w.push(seg(1.5, false, true), 0xab, 0);
        w.end();
        let text = render_media(&w, 2);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n\
             #EXT-X-DISCONTINUITY-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-25T17:56:54.123Z\n#EXTINF:2.000,\nseg-ab-1.ts\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-25T17:56:56.123Z\n#EXTINF:2.002,\nseg-ab-2.ts\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-25T17:56:58.125Z\n#EXTINF:1.500,\nseg-ab-3.ts\n\
             #EXT-X-ENDLIST\n"
        );
        let Ok((_, m3u8_rs::Playlist::MediaPlaylist(p))) = m3u8_rs::parse_playlist(text.as_bytes())
        else {
            panic!("not a media playlist")
        };
        assert_eq!(p.target_duration, 2);
        assert_eq!(p.media_sequence, 1);
        assert!(p.end_list);
        assert_eq!(p.segments.len(), 3);
        assert!(p.segments[2].discontinuity);
        assert!(p.segments.iter().all(|s| s.program_date_time.is_some()));
    }

    #[test]
    fn no_independent_claim_while_a_segment_is_not() {
        let mut w = Window::new(2);
        w.push(seg(2.0, false, true), 1, 0);
        w.push(seg(2.0, false, false), 1, 0);
        assert!(!render_media(&w, 2).contains("INDEPENDENT"));
        w.push(seg(2.0, false, true), 1, 0);
        w.push(seg(2.0, false, true), 1, 0);
        assert!(render_media(&w, 2).contains("#EXT-X-INDEPENDENT-SEGMENTS\n"));
    }
}
