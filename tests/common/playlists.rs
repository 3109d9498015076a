//! Playlists: fetched, parsed with m3u8-rs, waited for, checked against the LL-HLS rules.

use super::*;

pub fn resolve(base: &str, uri: &str) -> String {
    Url::parse(base).unwrap().join(uri).unwrap().to_string()
}

pub fn parse_media(raw: &str) -> MediaPlaylist {
    match m3u8_rs::parse_playlist_res(raw.as_bytes()) {
        Ok(Playlist::MediaPlaylist(pl)) => pl,
        Ok(Playlist::MasterPlaylist(_)) => {
            panic!("expected a media playlist, got a multivariant one:\n{raw}")
        }
        Err(e) => panic!("media playlist does not parse ({e:?}):\n{raw}"),
    }
}

pub fn has_endlist(raw: &str) -> bool {
    raw.lines().any(|l| l.trim() == "#EXT-X-ENDLIST")
}

/// GETs the multivariant playlist, checks it and returns the media playlist URL it names.
pub async fn variant_url(server: &TestServer, feed: &str) -> String {
    let index = server.index_url(feed);
    let r = get(&index).await;
    assert_eq!(r.status, 200, "GET {index}: {}", r.text());
    let raw = r.text();
    let master = match m3u8_rs::parse_playlist_res(raw.as_bytes()) {
        Ok(Playlist::MasterPlaylist(m)) => m,
        other => panic!("{index} is not a multivariant playlist ({other:?}):\n{raw}"),
    };
    assert_eq!(
        master.variants.len(),
        1,
        "one EXT-X-STREAM-INF expected:\n{raw}"
    );
    let v = &master.variants[0];
    assert!(v.bandwidth > 0, "BANDWIDTH missing or 0:\n{raw}");
    let url = resolve(&index, &v.uri);
    assert_eq!(
        Url::parse(&url).unwrap().path(),
        format!("/live/{feed}/main/media.m3u8"),
        "variant URI {}",
        v.uri
    );
    url
}

/// A media playlist as fetched: parsed, raw, and with each segment's absolute URL and MSN.
#[derive(Debug, Clone)]
pub struct Media {
    pub url: String,
    pub raw: String,
    pub pl: MediaPlaylist,
}

impl Media {
    pub fn endlist(&self) -> bool {
        has_endlist(&self.raw)
    }

    /// (MSN, absolute URL, EXTINF) of every listed segment.
    pub fn segments(&self) -> Vec<(u64, String, f64)> {
        let durations = extinf_values(&self.raw);
        assert_eq!(
            durations.len(),
            self.pl.segments.len(),
            "EXTINF count vs segments:\n{}",
            self.raw
        );
        self.pl
            .segments
            .iter()
            .zip(durations)
            .enumerate()
            .map(|(i, (s, d))| {
                (
                    self.pl.media_sequence + i as u64,
                    resolve(&self.url, &s.uri),
                    d,
                )
            })
            .collect()
    }

    pub fn last_msn(&self) -> Option<u64> {
        self.segments().last().map(|s| s.0)
    }

    pub fn discontinuities(&self) -> usize {
        self.pl.segments.iter().filter(|s| s.discontinuity).count()
    }

    pub fn total_duration(&self) -> f64 {
        self.segments().iter().map(|s| s.2).sum()
    }
}

/// EXTINF durations as written (exactly, from the text), in order.
pub fn extinf_values(raw: &str) -> Vec<f64> {
    raw.lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| {
            v.split(',')
                .next()
                .unwrap()
                .trim()
                .parse::<f64>()
                .expect("EXTINF number")
        })
        .collect()
}

/// GETs a media playlist; `None` unless the answer is 200.
pub async fn try_media(url: &str) -> Option<Media> {
    let r = get(url).await;
    if r.status != 200 {
        return None;
    }
    let raw = r.text();
    let pl = parse_media(&raw);
    Some(Media {
        url: url.to_string(),
        raw,
        pl,
    })
}

pub async fn fetch_media(url: &str) -> Media {
    let r = get(url).await;
    assert_eq!(r.status, 200, "GET {url}: {}", r.text());
    let raw = r.text();
    let pl = parse_media(&raw);
    Media {
        url: url.to_string(),
        raw,
        pl,
    }
}

/// Polls a media playlist until `pred` holds.
pub async fn wait_media(
    url: &str,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&Media) -> bool,
) -> Media {
    eventually(timeout, what, || async {
        let m = try_media(url).await?;
        pred(&m).then_some(m)
    })
    .await
}

pub async fn wait_endlist(server: &TestServer, feed: &str, timeout: Duration) -> Media {
    wait_media(
        &server.media_url(feed),
        timeout,
        &format!("EXT-X-ENDLIST on {feed}"),
        |m| m.endlist(),
    )
    .await
}

pub async fn fetch_segments(m: &Media) -> Vec<Bytes> {
    let mut out = Vec::new();
    for (msn, url, _) in m.segments() {
        let r = get(&url).await;
        assert_eq!(r.status, 200, "GET segment {msn} {url}");
        out.push(r.body);
    }
    out
}

/// The rules every media playlist obeys, whatever the test (HLS-RULES.md).
pub fn check_media_rules(m: &Media) {
    let raw = &m.raw;
    let pl = &m.pl;
    assert!(raw.starts_with("#EXTM3U"), "no #EXTM3U:\n{raw}");
    assert!(
        pl.media_sequence >= 1,
        "EXT-X-MEDIA-SEQUENCE starts at 1:\n{raw}"
    );
    assert!(pl.target_duration >= 1, "EXT-X-TARGETDURATION >= 1:\n{raw}");
    assert!(
        pl.playlist_type.is_none(),
        "no EXT-X-PLAYLIST-TYPE on live playlists:\n{raw}"
    );
    let td_line = raw
        .lines()
        .find(|l| l.starts_with("#EXT-X-TARGETDURATION:"))
        .expect("TARGETDURATION");
    assert!(
        td_line["#EXT-X-TARGETDURATION:".len()..]
            .trim()
            .parse::<u64>()
            .is_ok(),
        "TARGETDURATION is an integer: {td_line}"
    );
    for l in raw.lines().filter(|l| l.starts_with("#EXTINF:")) {
        let v = l["#EXTINF:".len()..].split(',').next().unwrap();
        let decimals = v.split_once('.').map(|(_, d)| d.len());
        assert_eq!(decimals, Some(3), "EXTINF with 3 decimals: {l}");
    }
    for (i, d) in extinf_values(raw).iter().enumerate() {
        assert!(*d > 0.0, "segment {i} has EXTINF {d}");
        assert!(
            d.round() as u64 <= pl.target_duration,
            "EXTINF {d} rounds above TARGETDURATION {}:\n{raw}",
            pl.target_duration
        );
    }
    for (i, s) in pl.segments.iter().enumerate() {
        assert!(
            s.program_date_time.is_some(),
            "segment {i} has no EXT-X-PROGRAM-DATE-TIME:\n{raw}"
        );
    }
    let endlists = raw.lines().filter(|l| l.trim() == "#EXT-X-ENDLIST").count();
    assert!(endlists <= 1, "EXT-X-ENDLIST at most once");
    // PDT = first keyframe wall clock + media time: consecutive PDTs follow EXTINF.
    let durations = extinf_values(raw);
    for i in 1..pl.segments.len() {
        if pl.segments[i].discontinuity {
            continue;
        }
        let a = pl.segments[i - 1].program_date_time.unwrap();
        let b = pl.segments[i].program_date_time.unwrap();
        let gap = (b.timestamp_millis() - a.timestamp_millis()) as f64 / 1000.0;
        assert!(
            (gap - durations[i - 1]).abs() <= 0.011,
            "PDT of segment {i} is {gap:.3} s after the previous one whose EXTINF is {:.3}:\n{raw}",
            durations[i - 1]
        );
    }
}

/// Alphanumeric parts of a URI (the per-session token is one of them).
pub fn uri_parts(uri: &str) -> Vec<String> {
    uri.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Positions of URI parts that are the same in every URI of `uris` (all of one shape).
pub fn constant_parts(uris: &[String]) -> BTreeMap<usize, String> {
    let parts: Vec<Vec<String>> = uris.iter().map(|u| uri_parts(u)).collect();
    let n = parts[0].len();
    assert!(
        parts.iter().all(|p| p.len() == n),
        "segment URIs of different shapes: {uris:?}"
    );
    (0..n)
        .filter(|&i| parts.iter().all(|p| p[i] == parts[0][i]))
        .map(|i| (i, parts[0][i].clone()))
        .collect()
}

/// Positions constant within each group whose values differ between the groups: where a
/// session token lives. Each group needs at least two segments, so that MSNs vary.
pub fn token_changes(a: &[String], b: &[String]) -> Vec<(usize, String, String)> {
    assert!(
        a.len() >= 2 && b.len() >= 2,
        "need two segments per group: {a:?} {b:?}"
    );
    let ca = constant_parts(a);
    let cb = constant_parts(b);
    ca.iter()
        .filter_map(|(i, va)| {
            cb.get(i)
                .filter(|vb| *vb != va)
                .map(|vb| (*i, va.clone(), vb.clone()))
        })
        .collect()
}
