//! What a rendition's readers see: the immutable [`Snapshot`] published at every change,
//! its rendered playlists, and how it is made from the ingest side's `State`
//! (`snapshot_of`, called by `Rendition::publish` under the state lock).

use super::fmp4::StoredInit;
use super::rendition::{Phase, State};
use crate::codec::MediaInfo;
use crate::playlist::blocking::{Position, advance_part_limit};
use crate::playlist::window::BuildingSegment;
use crate::playlist::{
    Container, RenderParams, Rendering, RenditionReport, StoredPart, StoredSegment,
    render_media_dvr, renders_something,
};
use crate::ts::Ts;
use bytes::Bytes;
use std::io::Write;
use std::sync::{Arc, OnceLock};

/// A rendered playlist, gzip-compressed at most once, on first demand.
#[derive(Debug)]
pub struct Rendered {
    pub text: Bytes,
    gzip: OnceLock<Bytes>,
}

impl Rendered {
    pub fn new(text: String) -> Self {
        Rendered {
            text: Bytes::from(text),
            gzip: OnceLock::new(),
        }
    }

    pub fn gzip(&self) -> &Bytes {
        self.gzip.get_or_init(|| {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(self.text.len() / 3),
                flate2::Compression::fast(),
            );
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(&self.text);
            Bytes::from(enc.finish().unwrap_or_default())
        })
    }
}

/// A media playlist and its delta update (§6.2.5.1), when it advertises CAN-SKIP-UNTIL.
#[derive(Debug, Clone)]
pub struct Playlists {
    pub full: Arc<Rendered>,
    pub delta: Option<Arc<Rendered>>,
}

/// The media playlist files of a rendition (DESIGN.md, HTTP contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaFile {
    /// `media.m3u8`: the feed's default container (`hls.container`).
    Default,
    /// `media.ts.m3u8`, `media.fmp4.m3u8`.
    Forced(Container),
}

impl MediaFile {
    pub fn parse(name: &str) -> Option<MediaFile> {
        match name {
            "media.m3u8" => Some(MediaFile::Default),
            "media.ts.m3u8" => Some(MediaFile::Forced(Container::Ts)),
            "media.fmp4.m3u8" => Some(MediaFile::Forced(Container::Fmp4)),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MediaFile::Default => "media.m3u8",
            MediaFile::Forced(Container::Ts) => "media.ts.m3u8",
            MediaFile::Forced(Container::Fmp4) => "media.fmp4.m3u8",
        }
    }
}

/// Bits of `Rendition::wanted`: a forced file was requested, so it is rendered (when its
/// text differs from `media.m3u8`'s: only its rendition reports do); a delta update was
/// asked for (`_HLS_skip`), so delta updates are rendered.
pub(super) const WANT_TS_FILE: u8 = 1;
pub(super) const WANT_FMP4_FILE: u8 = 2;
pub(super) const WANT_DELTA: u8 = 4;
/// Bit of `Snapshot::rendered`: its playlists were rendered (with the `WANT_*` bits beside
/// it, the wanted ones).
pub(super) const RENDERED: u8 = 0x80;

/// What readers see: replaced whole on every change, never mutated.
#[derive(Debug)]
pub struct Snapshot {
    /// The media playlist (`media.m3u8`, in the default container); `None` until the first
    /// segment is complete (in fMP4: packaged).
    pub playlist: Option<Arc<Rendered>>,
    /// Its delta update (§6.2.5.1), when the playlist advertises CAN-SKIP-UNTIL.
    pub delta: Option<Arc<Rendered>>,
    /// `media.ts.m3u8` and `media.fmp4.m3u8`, when wanted and ready.
    pub ts_file: Option<Playlists>,
    pub fmp4_file: Option<Playlists>,
    /// fMP4 inits that can be fetched.
    pub inits: Arc<[StoredInit]>,
    /// An init hinted with EXT-X-PRELOAD-HINT:TYPE=MAP: a request for it waits.
    pub map_hint: Option<u32>,
    /// `media.m3u8` has a segment to list (the text may not be rendered: `rendered`).
    pub listable: bool,
    /// What was rendered: `RENDERED` and the `WANT_*` bits rendered for; 0 when the
    /// rendition was not watched, so `playlist`, `delta` and the files are `None`.
    rendered: u8,
    pub target_duration: u32,
    pub part_target: Option<Ts>,
    /// Token of the current session.
    pub token: u64,
    /// Finished segments that can be fetched (listed, and retired but not yet expired).
    pub segments: Arc<[StoredSegment]>,
    /// The segment being built, with its finished parts.
    pub building: Option<BuildingSegment>,
    pub position: Position,
    pub phase: Phase,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub media: MediaInfo,
}

impl Snapshot {
    pub fn segment(&self, token: u64, msn: u64) -> Option<&StoredSegment> {
        self.segments
            .iter()
            .find(|s| s.msn == msn && s.token == token)
    }

    pub fn part(&self, token: u64, msn: u64, index: usize) -> Option<&StoredPart> {
        match &self.building {
            Some(b) if b.msn == msn && b.token == token => b.parts.get(index),
            _ => self.segment(token, msn)?.parts.get(index),
        }
    }

    /// Number of parts of a finished segment of the current session.
    pub fn parts_of(&self, msn: u64) -> Option<u64> {
        self.segment(self.token, msn).map(|s| s.parts.len() as u64)
    }

    pub fn ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// Whether it holds what `need` (`RENDERED` and `WANT_*` bits) names.
    pub(super) fn holds(&self, need: u8) -> bool {
        self.rendered & need == need
    }

    /// The playlists a media file name serves, when ready.
    pub fn playlists(&self, file: MediaFile) -> Option<Playlists> {
        match file {
            MediaFile::Default => Some(Playlists {
                full: self.playlist.clone()?,
                delta: self.delta.clone(),
            }),
            MediaFile::Forced(Container::Ts) => self.ts_file.clone(),
            MediaFile::Forced(Container::Fmp4) => self.fmp4_file.clone(),
        }
    }

    /// A part's bytes in a container, when it exists (and, for fMP4, was packaged).
    pub fn part_bytes(
        &self,
        container: Container,
        token: u64,
        msn: u64,
        index: usize,
    ) -> Option<Vec<Bytes>> {
        let p = self.part(token, msn, index)?;
        match container {
            Container::Ts => Some(p.data.pieces().to_vec()),
            Container::Fmp4 => Some(vec![p.mp4.as_ref()?.data.clone()]),
        }
    }

    /// A segment's bytes in a container: its parts' bytes in order.
    pub fn segment_bytes(&self, container: Container, token: u64, msn: u64) -> Option<Vec<Bytes>> {
        let seg = self.segment(token, msn)?;
        match container {
            Container::Ts => Some(
                seg.parts
                    .iter()
                    .flat_map(|p| p.data.pieces().iter().cloned())
                    .collect(),
            ),
            Container::Fmp4 => seg
                .parts
                .iter()
                .map(|p| p.mp4.as_ref().map(|m| m.data.clone()))
                .collect(),
        }
    }

    pub fn init(&self, token: u64, number: u32) -> Option<&StoredInit> {
        self.inits
            .iter()
            .find(|i| i.token == token && i.number == number)
    }
}

pub(super) fn snapshot_of(
    st: &State,
    reports: &[RenditionReport],
    feed_part_target: Option<Ts>,
    wanted: u8,
    render: bool,
) -> Snapshot {
    let w = &st.window;
    let part_target = st.part_target.filter(|_| st.low_latency);
    let params = st.target_duration.map(|td| RenderParams {
        target_duration: td,
        part_target,
        token: st.token,
        feed_part_target,
        window_segments: st.window_segments,
        dvr_window: st.dvr.as_ref().map(super::dvr::Dvr::span),
    });
    let prefix = st.dvr.as_ref().map(|d| &d.prefix);
    let inits = st.fmp4.init_numbers(st.token);
    let default_how = Rendering {
        container: st.default_container,
        file: MediaFile::Default.name(),
        inits: &inits,
        map_hint: st.fmp4.map_hint,
    };
    let listable = params.is_some() && renders_something(w, &default_how);
    let wanted = if render { wanted } else { 0 };
    let rendered = if render { RENDERED | wanted } else { 0 };
    let render = |container: Container, file: MediaFile| -> Option<Playlists> {
        let p = params.filter(|_| render && w.listed().len() > 0)?;
        let how = Rendering {
            container,
            file: file.name(),
            inits: &inits,
            map_hint: st.fmp4.map_hint,
        };
        let full = render_media_dvr(w, prefix, &p, false, reports, &how)?;
        let delta = p
            .skip_until()
            .filter(|_| wanted & WANT_DELTA != 0 && !w.is_ended())
            .and_then(|_| render_media_dvr(w, prefix, &p, true, reports, &how));
        Some(Playlists {
            full: Arc::new(Rendered::new(full)),
            delta: delta.map(|d| Arc::new(Rendered::new(d))),
        })
    };
    let default = render(st.default_container, MediaFile::Default);
    // A forced file is the default one when it is in the same container and carries no
    // rendition reports (their URIs name the file); else it is rendered once asked for
    // (`want`, which publishes at once the first time).
    let forced = |container: Container, bit: u8| -> Option<Playlists> {
        if container == st.default_container && reports.is_empty() {
            return default.clone();
        }
        (wanted & bit != 0)
            .then(|| render(container, MediaFile::Forced(container)))
            .flatten()
    };
    let ts_file = forced(Container::Ts, WANT_TS_FILE);
    let fmp4_file = forced(Container::Fmp4, WANT_FMP4_FILE);
    let building = w.building().cloned();
    Snapshot {
        listable,
        rendered,
        playlist: default.as_ref().map(|p| p.full.clone()),
        delta: default.and_then(|p| p.delta),
        ts_file,
        fmp4_file,
        inits: st.fmp4.shared(),
        map_hint: st.fmp4.map_hint,
        target_duration: st.target_duration.unwrap_or(0),
        part_target,
        token: st.token,
        segments: w.fetchable().cloned().collect(),
        position: Position {
            next_msn: w.next_msn(),
            building_parts: building.as_ref().map_or(0, |b| b.parts.len() as u64),
            ended: w.is_ended(),
            advance_part_limit: advance_part_limit(part_target.map_or(0.0, Ts::secs)),
        },
        building,
        phase: st.phase,
        bandwidth: st.bitrate.bandwidth(),
        average_bandwidth: st.bitrate.average(),
        media: st.media.clone(),
    }
}
