//! fMP4 beside TS for one rendition: the packager an ingest lane drives (only once fMP4 is
//! wanted), and the inits, init numbers and fragment sequence the rendition keeps across
//! its publishers, so no URI is reused with other bytes and mfhd sequence numbers grow.

use super::siblings::SharedSiblings;
use crate::fmp4::Packager;
use crate::playlist::{Mp4Part, Window};
use crate::segmenter::{PartEvent, Track, TrackCodec};
use crate::ts::Ts;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

/// Inits a rendition keeps (a configuration change makes one; each is ~1 KB). Segments
/// whose init is gone are no longer listed in fMP4.
const INITS_KEPT: usize = 8;

/// An init segment that can be fetched: `init-{token}-{number}.mp4`.
#[derive(Debug, Clone)]
pub struct StoredInit {
    pub token: u64,
    pub number: u32,
    pub data: Bytes,
}

/// What a rendition keeps of its fMP4 output (under its state lock).
#[derive(Debug, Default)]
pub struct Fmp4State {
    /// Session token the numbers below belong to.
    token: u64,
    pub inits: VecDeque<StoredInit>,
    /// `inits` as snapshots share it (made again only when an init comes).
    shared: Option<Arc<[StoredInit]>>,
    /// The number the next packager's first init gets.
    next_init: u32,
    /// mfhd sequence number of the next fragment.
    sequence: u32,
    /// The init the next segment's first part will need, hinted until a part is packaged
    /// (EXT-X-PRELOAD-HINT:TYPE=MAP).
    pub map_hint: Option<u32>,
}

impl Fmp4State {
    /// Numbers of the inits of session `token` that can be fetched.
    pub fn init_numbers(&self, token: u64) -> Vec<u32> {
        self.inits
            .iter()
            .filter(|i| i.token == token)
            .map(|i| i.number)
            .collect()
    }

    /// The inits for a snapshot.
    pub fn shared(&self) -> Arc<[StoredInit]> {
        static NONE: LazyLock<Arc<[StoredInit]>> = LazyLock::new(|| Arc::from([]));
        self.shared.clone().unwrap_or_else(|| NONE.clone())
    }

    pub fn bytes(&self) -> usize {
        self.inits.iter().map(|i| i.data.len()).sum()
    }
}

/// An ingest lane's fMP4 packaging: the program's tracks and, from the first segment start
/// with access units, the packager of this publish.
#[derive(Debug, Default)]
pub struct Packaging {
    tracks: Vec<Track>,
    packager: Option<Packager>,
    /// Added to the packager's init numbers (they start at 0 for every packager).
    base: u32,
    /// Parts that could not be packaged (logged sparingly).
    pub failures: u64,
}

impl Packaging {
    /// The program's tracks changed: a new packager starts at the next segment.
    pub fn set_tracks(&mut self, tracks: Vec<Track>) {
        if tracks != self.tracks {
            self.tracks = tracks;
            self.packager = None;
        }
    }

    /// The number the packager's next init will have: the one a new codec configuration
    /// makes. `None` before the first init.
    pub fn next_init(&self) -> Option<u32> {
        let init = self.packager.as_ref()?.init()?;
        Some(self.base + init.number + 1)
    }

    pub fn has_hevc(tracks: &[Track]) -> bool {
        tracks
            .iter()
            .any(|t| t.codec == TrackCodec::Video(crate::codec::VideoCodec::H265))
    }

    /// Packages the part the window just took as its building segment's last, attaching
    /// the fragment; keeps the init it needs. Returns the error of a part that could not
    /// be packaged.
    pub fn package(
        &mut self,
        ev: &PartEvent,
        token: u64,
        window: &mut Window,
        state: &mut Fmp4State,
        siblings: &SharedSiblings,
    ) -> Result<(), crate::fmp4::Fmp4Error> {
        if ev.part.units.is_none() || self.tracks.is_empty() {
            return Ok(());
        }
        if state.token != token {
            // A new session: its own URIs, numbering from 0 again.
            *state = Fmp4State {
                token,
                ..Fmp4State::default()
            };
        }
        let packager = match &mut self.packager {
            Some(p) => p,
            None => {
                // Only from a segment start, whose first part holds its keyframe.
                let Some(pdt_ms) = window
                    .building()
                    .map(|b| b.pdt_ms)
                    .filter(|_| ev.index == 0)
                else {
                    return Ok(());
                };
                let zero = siblings.lock().fmp4_zero_ms(pdt_ms);
                let origin = ev.part.start - Ts((pdt_ms - zero) * 90);
                self.base = state.next_init;
                // Reserved even if this packager never settles an init.
                state.next_init += 1;
                self.packager.insert(Packager::new(&self.tracks, origin))
            }
        };
        let sequence = state.sequence;
        state.sequence = state.sequence.wrapping_add(1);
        // A segment's first part, made or failed: the hinted part is here, its init listed or
        // not at all.
        if ev.index == 0 {
            state.map_hint = None;
        }
        let fragment = packager.fragment(&ev.part, sequence)?;
        window.attach_mp4(Mp4Part {
            data: fragment.data,
            init: self.base + fragment.init_number,
        });
        if let Some(init) = packager.init() {
            let number = self.base + init.number;
            if !state
                .inits
                .iter()
                .any(|i| i.token == token && i.number == number)
            {
                state.inits.push_back(StoredInit {
                    token,
                    number,
                    data: init.data.clone(),
                });
                state.next_init = state.next_init.max(number + 1);
                while state.inits.len() > INITS_KEPT {
                    state.inits.pop_front();
                }
                state.shared = Some(state.inits.iter().cloned().collect());
            }
        }
        Ok(())
    }
}
