//! Renders the multivariant playlist of a feed (RFC 8216bis §4.4.6): one
//! EXT-X-STREAM-INF per live rendition carrying video, sorted by bandwidth; renditions that
//! carry audio only are offered next to them as an audio group (EXT-X-MEDIA TYPE=AUDIO,
//! §4.4.6.1), or as variants of their own when no rendition has video.

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
    /// The rendition is known to carry audio only.
    pub audio_only: bool,
}

const AUDIO_GROUP: &str = "audio";

pub fn render_multivariant(variants: &[Variant]) -> String {
    let by_bandwidth = |a: &&Variant, b: &&Variant| {
        b.bandwidth
            .cmp(&a.bandwidth)
            .then_with(|| a.name.cmp(&b.name))
    };
    let (mut audio, mut video): (Vec<&Variant>, Vec<&Variant>) =
        variants.iter().partition(|v| v.audio_only);
    audio.sort_by(by_bandwidth);
    video.sort_by(by_bandwidth);
    let mut out = String::from("#EXTM3U\n");
    if video.is_empty() {
        for v in audio {
            stream_inf(
                &mut out,
                v,
                v.bandwidth,
                v.average_bandwidth,
                v.codecs.clone(),
                None,
            );
        }
        return out;
    }
    // The group's highest rate is added to each video variant's (§4.4.6.2: BANDWIDTH covers
    // every rendition that plays with the variant), and its codecs join the variant's.
    let (audio_peak, audio_avg) = audio
        .first()
        .map_or((0, 0), |a| (a.bandwidth, a.average_bandwidth));
    for (i, a) in audio.iter().enumerate() {
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"{AUDIO_GROUP}\",NAME=\"{0}\",DEFAULT={1},AUTOSELECT=YES,URI=\"{0}/media.m3u8\"",
            a.name,
            if i == 0 { "YES" } else { "NO" }
        );
    }
    let group = (!audio.is_empty()).then_some(AUDIO_GROUP);
    for v in video {
        let mut codecs: Vec<String> = v
            .codecs
            .iter()
            .flat_map(|c| c.split(','))
            .map(str::to_string)
            .collect();
        for c in audio
            .iter()
            .filter_map(|a| a.codecs.as_deref())
            .flat_map(|c| c.split(','))
        {
            if !codecs.iter().any(|x| x == c) {
                codecs.push(c.to_string());
            }
        }
        let codecs = (!codecs.is_empty()).then(|| codecs.join(","));
        stream_inf(
            &mut out,
            v,
            v.bandwidth + audio_peak,
            v.average_bandwidth + audio_avg,
            codecs,
            group,
        );
    }
    out
}

fn stream_inf(
    out: &mut String,
    v: &Variant,
    bandwidth: u64,
    average: u64,
    codecs: Option<String>,
    audio: Option<&str>,
) {
    let _ = write!(
        out,
        "#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},AVERAGE-BANDWIDTH={average}"
    );
    if let Some(c) = codecs {
        let _ = write!(out, ",CODECS=\"{c}\"");
    }
    if let Some((w, h)) = v.resolution {
        let _ = write!(out, ",RESOLUTION={w}x{h}");
    }
    if let Some(f) = v.frame_rate {
        let _ = write!(out, ",FRAME-RATE={f:.3}");
    }
    if let Some(g) = audio {
        let _ = write!(out, ",AUDIO=\"{g}\"");
    }
    let _ = write!(out, "\n{}/media.m3u8\n", v.name);
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
            audio_only: false,
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
    fn audio_only_rendition_is_an_audio_group_next_to_video() {
        let v = |name: &str, bw, codecs: &str, res, audio_only| Variant {
            name: name.into(),
            bandwidth: bw,
            average_bandwidth: bw,
            codecs: Some(codecs.into()),
            resolution: res,
            frame_rate: None,
            audio_only,
        };
        let ladder = [
            v("720p", 3_000_000, "avc1.64001f", Some((1280, 720)), false),
            v("audio", 128_000, "mp4a.40.2", None, true),
            v("360p", 800_000, "avc1.42c01e", Some((640, 360)), false),
        ];
        let text = render_multivariant(&ladder);
        assert_eq!(
            text,
            "#EXTM3U\n\
             #EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",DEFAULT=YES,AUTOSELECT=YES,URI=\"audio/media.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=3128000,AVERAGE-BANDWIDTH=3128000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720,AUDIO=\"audio\"\n720p/media.m3u8\n\
             #EXT-X-STREAM-INF:BANDWIDTH=928000,AVERAGE-BANDWIDTH=928000,CODECS=\"avc1.42c01e,mp4a.40.2\",RESOLUTION=640x360,AUDIO=\"audio\"\n360p/media.m3u8\n"
        );
        let Ok((_, m3u8_rs::Playlist::MasterPlaylist(p))) =
            m3u8_rs::parse_playlist(text.as_bytes())
        else {
            panic!("not a multivariant playlist")
        };
        assert_eq!(p.alternatives.len(), 1);
        assert_eq!(p.variants[0].audio.as_deref(), Some("audio"));
        // Alone, an audio-only rendition is a variant.
        let alone = render_multivariant(&ladder[1..2]);
        assert_eq!(
            alone,
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=128000,AVERAGE-BANDWIDTH=128000,CODECS=\"mp4a.40.2\"\naudio/media.m3u8\n"
        );
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
