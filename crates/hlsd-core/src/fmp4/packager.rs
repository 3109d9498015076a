//! A rendition's fMP4 packager: its tracks' configurations, the current init and the next
//! decode time of every track.

use std::sync::Arc;

use bytes::Bytes;

use super::Fmp4Error;
use super::fragment::{self, Fragment, FragmentPieces, TrackRuns};
use super::init::{self, InitTrack};
use super::sample::{self, TrackState};
use crate::codec::CodecConfig;
use crate::segmenter::{AccessUnit, Part, Track, TrackCodec};
use crate::ts::Ts;

/// An init segment (`ftyp` + `moov`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Init {
    /// 0 for a rendition's first, then one more for every configuration change.
    pub number: u32,
    pub data: Bytes,
}

/// A part's runs per track, and the tracks' states after them.
type Runs<'a> = (Vec<TrackRuns<'a>>, Vec<(u32, TrackState)>);

#[derive(Debug)]
struct PackTrack {
    /// The segmenter's id (the PID for TS input).
    id: u16,
    codec: TrackCodec,
    /// The MP4 track_id: 1 for video, then the audio tracks in the order given.
    track_id: u32,
    config: Option<Arc<CodecConfig>>,
    state: TrackState,
}

/// Packages one rendition's parts as fMP4. Feed it every part of a feed session in order
/// ([`Packager::fragment`]); [`Packager::init`] is the init the last fragment needs.
///
/// Tracks: the first video track and every audio track of the list given; units of other
/// tracks are left out. A track is in the init once a unit brought its configuration, or
/// the part's `configs` (for a track with none yet: its first unit may come in a later
/// part than the first keyframe's). When
/// a unit brings a new configuration (`AccessUnit::config` not `Arc::ptr_eq` the previous
/// one and not equal to it), a new init is made, numbered one more, and the fragment whose
/// part brought it says so (`new_init`); its samples all use the new init.
#[derive(Debug)]
pub struct Packager {
    tracks: Vec<PackTrack>,
    origin: Ts,
    /// The last init made (checked as soon as a configuration comes; see `settled`).
    init: Option<Init>,
    /// The first init is final: every track has a configuration, or [`FIRST_INIT_WAIT`]
    /// went by. Before, [`Packager::init`] is `None` and the init is made again, still
    /// number 0, as configurations come.
    settled: bool,
    /// The start of the first part packaged.
    first_start: Option<Ts>,
    /// The init number the last fragment needed.
    announced: Option<u32>,
}

/// How long the first init waits for every track's configuration, in media time from the
/// first part: the first parts of a publish often hold no audio (muxers send audio up to
/// 0.7 s behind the video, ffmpeg's default max_delay), and an init without the audio track
/// would be followed by one with it, a change of tracks players take badly.
pub const FIRST_INIT_WAIT: Ts = Ts(2 * Ts::HZ);

impl Packager {
    /// `origin`: the decode time 0 of every track, on the segmenter's 90 kHz timeline; the
    /// caller keeps it at or below the earliest DTS of the session (audio may start before
    /// the first keyframe), one per feed session, the same for every rendition. A DTS below
    /// it all the same (an origin too high, or timestamps that jump back past the session's
    /// start) cannot be a decode time: such samples go on from where their track stands.
    pub fn new(tracks: &[Track], origin: Ts) -> Packager {
        let video = tracks
            .iter()
            .find(|t| matches!(t.codec, TrackCodec::Video(_)));
        let audio = tracks
            .iter()
            .filter(|t| matches!(t.codec, TrackCodec::Audio(_)));
        let tracks = video
            .into_iter()
            .chain(audio)
            .enumerate()
            .map(|(i, t)| PackTrack {
                id: t.id,
                codec: t.codec,
                track_id: i as u32 + 1,
                config: None,
                state: TrackState::default(),
            })
            .collect();
        Packager {
            tracks,
            origin,
            init: None,
            settled: false,
            first_start: None,
            announced: None,
        }
    }

    pub fn origin(&self) -> Ts {
        self.origin
    }

    /// The init the fragments made so far need: `None` until every track's configuration
    /// is known or [`FIRST_INIT_WAIT`] went by since the first part (the fragments made
    /// meanwhile need init 0, which this will then be; the caller lists them once it is
    /// `Some`).
    pub fn init(&self) -> Option<&Init> {
        self.init.as_ref().filter(|_| self.settled)
    }

    /// The part as `moof` + `mdat` in one buffer. `sequence` is the mfhd sequence number
    /// (the caller's, growing per rendition).
    pub fn fragment(&mut self, part: &Part, sequence: u32) -> Result<Fragment, Fmp4Error> {
        let (data, init_number, new_init) = self.build(part, sequence, fragment::copied)?;
        Ok(Fragment {
            data,
            init_number,
            new_init,
        })
    }

    /// The part as [`FragmentPieces`]: the boxes, then slices of the access units.
    pub fn fragment_pieces(
        &mut self,
        part: &Part,
        sequence: u32,
    ) -> Result<FragmentPieces, Fmp4Error> {
        let (data, init_number, new_init) = self.build(part, sequence, fragment::pieces)?;
        Ok(FragmentPieces {
            data,
            init_number,
            new_init,
        })
    }

    /// The part's fragment as `write` lays it out, with its init number and whether that
    /// init is new.
    fn build<D>(
        &mut self,
        part: &Part,
        sequence: u32,
        write: impl FnOnce(u32, &[TrackRuns<'_>]) -> Result<D, Fmp4Error>,
    ) -> Result<(D, u32, bool), Fmp4Error> {
        let units = self.prepare(part)?;
        let (tracks, states) = self.runs(&units, part)?;
        let data = write(sequence, &tracks)?;
        let (init_number, new_init) = self.commit(states)?;
        Ok((data, init_number, new_init))
    }

    /// The part's units, after taking the configurations they bring (and making a new
    /// init when one changed).
    fn prepare(&mut self, part: &Part) -> Result<Arc<[AccessUnit]>, Fmp4Error> {
        let units = part.units.clone().ok_or(Fmp4Error::NoUnits)?;
        let before: Vec<Option<Arc<CodecConfig>>> =
            self.tracks.iter().map(|t| t.config.clone()).collect();
        let mut changed = false;
        for u in units.iter() {
            let (Some(t), Some(config)) =
                (self.tracks.iter_mut().find(|t| t.id == u.track), &u.config)
            else {
                continue;
            };
            match &t.config {
                Some(old) if Arc::ptr_eq(old, config) => {}
                Some(old) if **old == **config => t.config = Some(config.clone()),
                _ => {
                    t.config = Some(config.clone());
                    changed = true;
                }
            }
        }
        // A track with no configuration yet takes the one the segmenter knew when the part
        // was cut (an audio PES still in progress): its first init then holds every track.
        for c in part.configs.as_deref().unwrap_or_default() {
            if let Some(t) = self
                .tracks
                .iter_mut()
                .find(|t| t.id == c.track && t.config.is_none())
            {
                t.config = Some(c.config.clone());
                changed = true;
            }
        }
        if changed && let Err(e) = self.make_init() {
            // Try again with the next configuration a unit brings.
            for (t, c) in self.tracks.iter_mut().zip(before) {
                t.config = c;
            }
            return Err(e);
        }
        let first = *self.first_start.get_or_insert(part.start);
        if !self.settled
            && (self.tracks.iter().all(|t| t.config.is_some())
                || part.start + part.duration - first >= FIRST_INIT_WAIT)
        {
            self.settled = true;
        }
        Ok(units)
    }

    fn make_init(&mut self) -> Result<(), Fmp4Error> {
        let tracks: Vec<InitTrack<'_>> = self
            .tracks
            .iter()
            .filter_map(|t| {
                Some(InitTrack {
                    track_id: t.track_id,
                    source: t.id,
                    config: t.config.as_deref()?,
                })
            })
            .collect();
        let data = init::build(&tracks)?;
        let number = match &self.init {
            Some(i) if self.settled => i.number + 1,
            _ => 0,
        };
        self.init = Some(Init { number, data });
        Ok(())
    }

    /// Keeps the tracks' new states (the fragment is made) and says which init it needs.
    fn commit(&mut self, states: Vec<(u32, TrackState)>) -> Result<(u32, bool), Fmp4Error> {
        for (track_id, state) in states {
            if let Some(t) = self.tracks.iter_mut().find(|t| t.track_id == track_id) {
                t.state = state;
            }
        }
        let number = self.init.as_ref().ok_or(Fmp4Error::NoConfig)?.number;
        let new = self.announced != Some(number);
        self.announced = Some(number);
        Ok((number, new))
    }

    /// Every track's samples in the part, in runs; tracks with no configuration yet or no
    /// sample in the part are left out.
    fn runs<'a>(&self, units: &'a [AccessUnit], part: &Part) -> Result<Runs<'a>, Fmp4Error> {
        if self.init.is_none() {
            return Err(Fmp4Error::NoConfig);
        }
        let origin = self.origin;
        let part_end = part.start + part.duration;
        let (mut tracks, mut states) = (Vec::new(), Vec::new());
        for t in &self.tracks {
            let Some(config) = t.config.as_deref() else {
                continue;
            };
            let mine: Vec<&AccessUnit> = units.iter().filter(|u| u.track == t.id).collect();
            // Work on a copy of the state: it is kept only when the whole part succeeds.
            let mut state = t.state;
            let runs = match (t.codec, config) {
                (TrackCodec::Video(codec), _) => {
                    sample::video(&mine, codec, origin, part_end, &mut state)?
                }
                (TrackCodec::Audio(codec), CodecConfig::Audio { sample_rate, .. }) => {
                    sample::audio(&mine, codec, *sample_rate, origin, &mut state)?
                }
                (TrackCodec::Audio(_), CodecConfig::Video { .. }) => Vec::new(),
            };
            if !runs.is_empty() {
                states.push((t.track_id, state));
                tracks.push(TrackRuns {
                    track_id: t.track_id,
                    video: matches!(t.codec, TrackCodec::Video(_)),
                    runs,
                });
            }
        }
        Ok((tracks, states))
    }
}
