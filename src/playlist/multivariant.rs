//! Renders the multivariant playlist of a feed (RFC 8216bis §4.4.6): one
//! EXT-X-STREAM-INF per live rendition, sorted by bandwidth.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Rendition name; its media playlist is `{name}/media.m3u8` relative to this one.
    pub name: String,
    /// Peak segment bit rate, bits/s (§4.4.6.2).
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    /// RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: Option<String>,
    pub resolution: Option<(u32, u32)>,
    pub frame_rate: Option<f64>,
}

pub fn render_multivariant(variants: &[Variant]) -> String {
    let mut sorted: Vec<&Variant> = variants.iter().collect();
    sorted.sort_by(|a, b| {
        b.bandwidth
            .cmp(&a.bandwidth)
            .then_with(|| a.name.cmp(&b.name))
    });
    let mut out = String::from("#EXTM3U\n");
    for v in sorted {
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={}",
            v.bandwidth, v.average_bandwidth
        );
        if let Some(c) = &v.codecs {
            let _ = write!(out, ",CODECS=\"{c}\"");
        }
        if let Some((w, h)) = v.resolution {
            let _ = write!(out, ",RESOLUTION={w}x{h}");
        }
        if let Some(f) = v.frame_rate {
            let _ = write!(out, ",FRAME-RATE={f:.3}");
        }
        let _ = write!(out, "\n{}/media.m3u8\n", v.name);
    }
    out
}

/// Tracks the bit rates a rendition advertises. BANDWIDTH only rises, and only when a
/// segment's rate exceeds it, so the multivariant playlist changes rarely.
#[derive(Debug, Default, Clone)]
pub struct BitrateTracker {
    peak: u64,
    bytes: u64,
    ticks: i64,
}

impl BitrateTracker {
    /// Accounts one segment; returns true when the advertised BANDWIDTH rose.
    /// Segments shorter than `min_ticks` (cut short by a discontinuity or an end) count
    /// towards the average only: their rate says little about the peak.
    pub fn add(&mut self, bytes: usize, ticks: i64, min_ticks: i64) -> bool {
        self.bytes += bytes as u64;
        self.ticks += ticks.max(0);
        if ticks <= 0 || (ticks < min_ticks && self.peak > 0) {
            return false;
        }
        let rate = bytes as u64 * 8 * 90_000 / ticks as u64;
        // 10 % headroom, rounded up to whole kbit/s.
        let advertised = (rate * 11 / 10).div_ceil(1000) * 1000;
        if advertised > self.peak {
            self.peak = advertised;
            true
        } else {
            false
        }
    }

    pub fn bandwidth(&self) -> u64 {
        self.peak
    }

    pub fn average(&self) -> u64 {
        if self.ticks <= 0 {
            return 0;
        }
        (self.bytes * 8 * 90_000 / self.ticks as u64).div_ceil(1000) * 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_by_bandwidth_and_parses() {
        let v = |name: &str, bw| Variant {
            name: name.into(),
            bandwidth: bw,
            average_bandwidth: bw / 2,
            codecs: None,
            resolution: None,
            frame_rate: None,
        };
        let text = render_multivariant(&[v("low", 500_000), v("main", 2_000_000)]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1000000\nmain/media.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=500000,AVERAGE-BANDWIDTH=250000\nlow/media.m3u8\n"
        );
        let Ok((_, m3u8_rs::Playlist::MasterPlaylist(p))) =
            m3u8_rs::parse_playlist(text.as_bytes())
        else {
            panic!("not a multivariant playlist")
        };
        assert_eq!(p.variants.len(), 2);
        assert_eq!(p.variants[0].uri, "main/media.m3u8");
        assert_eq!(p.variants[0].bandwidth, 2_000_000);
    }

    #[test]
    fn bandwidth_only_rises() {
        let mut t = BitrateTracker::default();
        assert!(t.add(250_000, 180_000, 90_000)); // 1 Mbit/s → 1.1 Mbit/s advertised
        assert_eq!(t.bandwidth(), 1_100_000);
        assert!(!t.add(200_000, 180_000, 90_000));
        assert!(
            !t.add(100_000, 9_000, 90_000),
            "a short segment does not set the peak"
        );
        assert!(t.add(500_000, 180_000, 90_000));
        assert_eq!(t.bandwidth(), 2_200_000);
    }
}
