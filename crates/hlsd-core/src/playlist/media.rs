//! Renders a media playlist (RFC 8216bis §4.4.2–§4.4.5), LL-HLS tags included (§4.4.3.7–8,
//! §4.4.4.9, §4.4.5.2), and its delta update (§6.2.5.1). Written by hand: m3u8-rs cannot
//! write LL-HLS tags. Rendering happens once per change, not per request.

use super::date::write_iso8601;
use super::dvr::DvrPrefix;
use super::window::{Container, Window, init_uri, part_packaged, part_uri_in};
use crate::ts::Ts;
use std::fmt::Write;

/// What the playlist advertises besides its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderParams {
    pub target_duration: u32,
    /// PART-TARGET when LL-HLS is on.
    pub part_target: Option<Ts>,
    /// Token of the current session (for the preload hint).
    pub token: u64,
    /// The longest PART-TARGET among the feed's renditions, when longer than this one's:
    /// PART-HOLD-BACK is three of those, so every rendition's SERVER-CONTROL is the same.
    pub feed_part_target: Option<Ts>,
    /// Segments a full window lists (`hls.window`). The same for every rendition of a feed
    /// and for its whole life, so CAN-SKIP-UNTIL is too.
    pub window_segments: usize,
    /// `hls.dvr_window`, when on: the playlist reaches that far back, so delta updates are
    /// advertised once it is longer than CAN-SKIP-UNTIL.
    pub dvr_window: Option<Ts>,
}

impl RenderParams {
    fn td(&self) -> Ts {
        Ts(i64::from(self.target_duration) * Ts::HZ)
    }

    /// CAN-SKIP-UNTIL (6 × TD, the least §4.4.3.8 allows), advertised exactly when a full
    /// window holds 7 segments or more, so that a delta update of a full window can skip
    /// at least one. It depends on the configuration and TD alone, not on how full the
    /// window is now: SERVER-CONTROL must not change over time or differ between the
    /// renditions of a feed. While the window is shorter, a delta update is the full
    /// playlist. With a DVR window longer than 6 × TD it is advertised too, LL-HLS or not
    /// (a DVR playlist is long: reloading it whole is what delta updates avoid).
    pub fn skip_until(&self) -> Option<Ts> {
        let until = Ts(6 * self.td().0);
        let ll = self.part_target.is_some() && self.window_segments >= 7;
        let dvr = self.dvr_window.is_some_and(|d| d > until);
        (ll || dvr).then_some(until)
    }
}

fn secs(t: Ts) -> f64 {
    t.secs()
}

/// PART-HOLD-BACK for a PART-TARGET, as whole seconds and milliseconds: the smallest value
/// with three decimals that is at least three times the PART-TARGET as printed (five
/// decimals), so a player comparing the two printed numbers finds it ≥ 3 × PART-TARGET
/// (§4.4.3.8). Integer arithmetic: no float rounding can land it a hair below.
pub fn part_hold_back_millis(part_target: Ts) -> (i64, i64) {
    // PART-TARGET in units of 10 µs, rounded as `{:.5}` prints it.
    let printed = (part_target.0 * 100_000 + Ts::HZ / 2).div_euclid(Ts::HZ);
    let millis = (3 * printed + 99).div_euclid(100);
    (millis / 1000, millis % 1000)
}

/// Where a sibling rendition stands, for EXT-X-RENDITION-REPORT (§4.4.5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionReport {
    pub name: String,
    pub last_msn: u64,
    pub last_part: u64,
}

/// The last segment and part listed by `window` (for other renditions' reports).
pub fn last_position(window: &Window) -> Option<(u64, u64)> {
    match window.building() {
        Some(b) if !b.parts.is_empty() => Some((b.msn, b.parts.len() as u64 - 1)),
        _ => window
            .listed()
            .last()
            .map(|s| (s.msn, s.parts.len().saturating_sub(1) as u64)),
    }
}

/// Which rendering of the window: its container, the playlist's own file name (its
/// EXT-X-RENDITION-REPORT URIs name the same file in the sibling renditions), and for fMP4
/// the numbers of the inits that can be fetched (parts needing another are not listed) and
/// the init the next segment's first part will need when it is a new one (`map_hint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendering<'a> {
    pub container: Container,
    pub file: &'a str,
    pub inits: &'a [u32],
    /// Hinted with EXT-X-PRELOAD-HINT:TYPE=MAP while the hinted part is a segment's first
    /// and this init cannot be fetched yet.
    pub map_hint: Option<u32>,
}

impl Rendering<'_> {
    /// TS at `media.m3u8`.
    pub const TS: Rendering<'static> = Rendering {
        container: Container::Ts,
        file: "media.m3u8",
        inits: &[],
        map_hint: None,
    };
}

/// Renders the full playlist, or the delta update when `delta` (only meaningful when
/// [`RenderParams::skip_until`] is `Some`), with a report on each sibling rendition: TS at
/// `media.m3u8`.
pub fn render_media(
    window: &Window,
    p: &RenderParams,
    delta: bool,
    reports: &[RenditionReport],
) -> String {
    render_media_as(window, p, delta, reports, &Rendering::TS).unwrap_or_default()
}

/// [`render_media`] in either container. The window is container-neutral: both renderings
/// carry the same MSNs, durations, PROGRAM-DATE-TIMEs, parts, INDEPENDENT flags and
/// discontinuities. fMP4 lists the segments from the first one whose every part was
/// packaged (with its init) up to the end, EXT-X-MAP before the first and wherever the init
/// changes at a segment start, `.m4s` URIs and EXT-X-VERSION 6 (§4.4.4.5, EXT-X-MAP
/// without I-FRAMES-ONLY); `None` when no listed segment is packaged yet. A new init at a
/// part that does not start a segment cannot be expressed (EXT-X-MAP applies to segments);
/// the segment carries its first part's init (ARCHITECTURE.md, `fmp4` serving).
pub fn render_media_as(
    window: &Window,
    p: &RenderParams,
    delta: bool,
    reports: &[RenditionReport],
    how: &Rendering<'_>,
) -> Option<String> {
    render_media_dvr(window, None, p, delta, reports, how)
}

/// Whether [`render_media_as`] renders a playlist for `window` (`Some`): it lists a
/// segment, and in fMP4 its last one is packaged.
pub fn renders_something(window: &Window, how: &Rendering<'_>) -> bool {
    window
        .listed()
        .last()
        .is_some_and(|s| how.container == Container::Ts || s.packaged(how.inits))
}

/// [`render_media_as`] with a DVR prefix listed before the window's segments: its text is
/// copied, not formatted again (`dvr`). Used only when it is in the rendering's container
/// and ends right before the window's first listed segment. fMP4: the prefix's first
/// segment copied gets its init's EXT-X-MAP, and the window's first segment gets one only
/// where its init differs from the prefix's last.
pub fn render_media_dvr(
    window: &Window,
    prefix: Option<&DvrPrefix>,
    p: &RenderParams,
    delta: bool,
    reports: &[RenditionReport],
    how: &Rendering<'_>,
) -> Option<String> {
    let fmp4 = how.container == Container::Fmp4;
    let all: Vec<_> = window.listed().collect();
    // fMP4: the packaged tail of the window.
    let first = if fmp4 {
        let tail = all
            .iter()
            .rev()
            .take_while(|s| s.packaged(how.inits))
            .count();
        if tail == 0 {
            return None;
        }
        all.len() - tail
    } else {
        0
    };
    let listed = &all[first..];
    let hidden = all[..first].iter().fold(Ts(0), |a, s| a + s.duration);
    let prefix = prefix.filter(|d| {
        d.container() == how.container
            && !d.is_empty()
            && d.last_msn().map(|m| m + 1) == listed.first().map(|s| s.msn)
    });
    let prefix_len = prefix.map_or(0, DvrPrefix::len);
    let prefix_duration = prefix.map_or(Ts(0), DvrPrefix::duration);
    let ext = how.container.extension();
    let prefix_text = prefix.map_or(0, |d| d.text_from(0).len());
    let mut out = String::with_capacity(512 + 160 * listed.len() + prefix_text);
    let skip_until = p.skip_until();
    // §6.2.5.1: _HLS_skip is ignored once the playlist has ENDLIST.
    let (skipped_prefix, skipped) = match (delta && !window.is_ended(), skip_until) {
        (true, Some(until)) => {
            // Skip the segments (the prefix's, then the window's) that end before the skip
            // boundary.
            let boundary = prefix_duration + window.duration() - hidden - until;
            let mut at = Ts(0);
            let mut before = |d: Ts| {
                at = at + d;
                at <= boundary
            };
            let in_prefix = prefix
                .into_iter()
                .flat_map(DvrPrefix::durations)
                .take_while(|d| before(*d))
                .count();
            let in_window = if in_prefix == prefix_len {
                listed.iter().take_while(|s| before(s.duration)).count()
            } else {
                0
            };
            (in_prefix, in_window)
        }
        _ => (0, 0),
    };
    let version = match (skipped_prefix + skipped > 0, fmp4) {
        (true, _) => 9,
        (false, true) => 6,
        (false, false) => 3,
    };
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:{version}\n#EXT-X-TARGETDURATION:{}\n",
        p.target_duration
    );
    if let (None, Some(until)) = (p.part_target, skip_until) {
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL={:.1}",
            secs(until)
        );
    }
    if let Some(pt) = p.part_target {
        let _ = write!(out, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");
        if let Some(until) = skip_until {
            let _ = write!(out, ",CAN-SKIP-UNTIL={:.1}", secs(until));
        }
        let (whole, millis) = part_hold_back_millis(p.feed_part_target.map_or(pt, |f| f.max(pt)));
        let _ = writeln!(
            out,
            ",PART-HOLD-BACK={whole}.{millis:03},HOLD-BACK={:.1}",
            3.0 * secs(p.td())
        );
        let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={:.5}", secs(pt));
    }
    let media_sequence = prefix
        .and_then(DvrPrefix::first_msn)
        .or(listed.first().map(|s| s.msn))
        .unwrap_or(window.media_sequence());
    // Discontinuities of the segments the fMP4 rendering leaves out have left it; those
    // of the DVR prefix, which the window counts as gone, are still listed.
    let discontinuity_sequence = (window.discontinuity_sequence()
        + all[..first].iter().filter(|s| s.discontinuity).count() as u64)
        .saturating_sub(prefix.map_or(0, DvrPrefix::discontinuities));
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{media_sequence}");
    let _ = writeln!(
        out,
        "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
    );
    // Parts are listed for the segments ending in the last three target durations (§6.2.2).
    let building_dur = window
        .building()
        .map_or(Ts(0), |b| b.parts.iter().fold(Ts(0), |a, x| a + x.duration));
    let total = prefix_duration + window.duration() + building_dur;
    let parts_from = total - Ts(3 * p.td().0);
    let skipped = skipped.min(listed.len());
    // §4.4.2.1: claimed only while every listed segment starts with a keyframe, and, with
    // LL-HLS, while no listed part lacks one: video.js reads the tag as saying every part is
    // independent and starts playback on whichever part it picks (HLS-RULES.md).
    let dependent_parts = p.part_target.is_some() && {
        let mut at = prefix_duration + hidden;
        let segment_parts = listed.iter().flat_map(|s| {
            at = at + s.duration;
            let shown = at > parts_from;
            s.parts.iter().filter(move |_| shown)
        });
        let building = window.building().into_iter().flat_map(|b| b.parts.iter());
        segment_parts.chain(building).any(|part| !part.independent)
    };
    if listed.iter().all(|s| s.independent)
        && prefix.is_none_or(DvrPrefix::independent)
        && !dependent_parts
    {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    if skipped_prefix + skipped > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-SKIP:SKIPPED-SEGMENTS={}",
            skipped_prefix + skipped
        );
    }
    if let Some(d) = prefix {
        d.write_from(&mut out, skipped_prefix);
    }
    let mut at =
        prefix_duration + hidden + listed[..skipped].iter().fold(Ts(0), |a, s| a + s.duration);
    // The init the segments written so far use (fMP4): the prefix's last, if it wrote any.
    let mut map: Option<(u64, u32)> = prefix
        .filter(|d| skipped_prefix < d.len())
        .and_then(|d| d.token().zip(d.last_init()));
    let mut write_map = |out: &mut String, token: u64, init: Option<u32>| {
        if let Some(n) = init.filter(|_| fmp4)
            && map != Some((token, n))
        {
            map = Some((token, n));
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_uri(token, n));
        }
    };
    for s in &listed[skipped..] {
        at = at + s.duration;
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        write_map(&mut out, s.token, s.init());
        out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
        write_iso8601(&mut out, s.pdt_ms);
        out.push('\n');
        if p.part_target.is_some() && at > parts_from {
            for (i, part) in s.parts.iter().enumerate() {
                write_part(
                    &mut out,
                    ext,
                    s.token,
                    s.msn,
                    i,
                    part.duration,
                    part.independent,
                );
            }
        }
        out.push_str("#EXTINF:");
        write_decimal(&mut out, s.duration, 3);
        let _ = writeln!(out, ",\nseg-{:x}-{}.{ext}", s.token, s.msn);
    }
    if p.part_target.is_some() && !window.is_ended() {
        let (msn, next_index) = match window.building() {
            Some(b) => {
                // fMP4: the parts packaged so far (all of them, but for a failed one).
                let shown = if fmp4 {
                    b.parts
                        .iter()
                        .take_while(|x| part_packaged(x, how.inits))
                        .count()
                } else {
                    b.parts.len()
                };
                if b.discontinuity {
                    out.push_str("#EXT-X-DISCONTINUITY\n");
                }
                if shown > 0 {
                    let init = b.parts[0].mp4.as_ref().map(|m| m.init);
                    write_map(&mut out, b.token, init);
                }
                out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
                write_iso8601(&mut out, b.pdt_ms);
                out.push('\n');
                for (i, part) in b.parts[..shown].iter().enumerate() {
                    write_part(
                        &mut out,
                        ext,
                        b.token,
                        b.msn,
                        i,
                        part.duration,
                        part.independent,
                    );
                }
                (b.msn, shown)
            }
            None => (window.next_msn(), 0),
        };
        // §4.4.5.3: the hinted part opens a segment that needs an init not made yet (its
        // keyframe brought a new codec configuration), so that init is hinted too.
        if let Some(n) = how
            .map_hint
            .filter(|n| fmp4 && next_index == 0 && !how.inits.contains(n))
        {
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=MAP,URI=\"{}\"",
                init_uri(p.token, n)
            );
        }
        let _ = writeln!(
            out,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
            part_uri_in(how.container, p.token, msn, next_index)
        );
    }
    if p.part_target.is_some() {
        for r in reports {
            let _ = writeln!(
                out,
                "#EXT-X-RENDITION-REPORT:URI=\"../{}/{}\",LAST-MSN={},LAST-PART={}",
                r.name, how.file, r.last_msn, r.last_part
            );
        }
    }
    if window.is_ended() {
        out.push_str("#EXT-X-ENDLIST\n");
    }
    Some(out)
}

fn write_part(
    out: &mut String,
    ext: &str,
    token: u64,
    msn: u64,
    index: usize,
    duration: Ts,
    independent: bool,
) {
    out.push_str("#EXT-X-PART:DURATION=");
    write_decimal(out, duration, 5);
    let _ = write!(out, ",URI=\"part-{token:x}-{msn}.{index}.{ext}\"");
    if independent {
        out.push_str(",INDEPENDENT=YES");
    }
    out.push('\n');
}

/// Writes `t` in seconds with `places` decimals, from integer ticks: playlists are rendered
/// at every part, and integer formatting is several times cheaper than float formatting.
pub(crate) fn write_decimal(out: &mut String, t: Ts, places: u32) {
    let scale = 10i64.pow(places);
    let v = (t.0.max(0) * scale + Ts::HZ / 2) / Ts::HZ;
    let _ = write!(
        out,
        "{}.{:0width$}",
        v / scale,
        v % scale,
        width = places as usize
    );
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod dvr_tests;
