//! PES reassembly for TS input with access units on (`SegmenterConfig::access_units`): the
//! payload of each PES packet of the timeline video stream and of every audio stream is
//! gathered into one [`AccessUnit`] (ISO/IEC 13818-1 §2.4.3.6), with its configuration
//! (`codec::config`). This is the one place media bytes are copied a second time: the TS
//! packets still go to the parts untouched.
//!
//! A video unit ends where the next PES of its stream starts (video PES have no length in
//! practice). An audio unit ends there too, or as soon as its `PES_packet_length` is
//! reached, so it is not held back until the next PES.

use super::Core;
use super::demux::{Demux, PesStart, Role};
use super::units::{AccessUnit, AudioFrames, TrackCodec, TrackConfig};
use crate::codec::audio::{adts_frames, count_frames};
use crate::codec::config::{audio_config, video_config};
use crate::codec::{AudioCodec, CodecConfig};
use crate::ts::{Packet, Pid, Ts};
use bytes::BytesMut;
use std::sync::Arc;

/// The least room made in a unit's buffer at a time.
const MIN_RESERVE: usize = 16 << 10;

#[derive(Default)]
pub(super) struct Reassembly {
    streams: Vec<Assembly>,
    /// What [`Reassembly::configs`] last returned; `None` once a stream or a configuration
    /// changed since.
    configs: Option<Arc<[TrackConfig]>>,
}

struct Assembly {
    pid: Pid,
    codec: TrackCodec,
    buf: BytesMut,
    /// The PES being gathered: its times, keyframe flag, and the payload bytes still
    /// expected when its length is known (audio).
    open: Option<Open>,
    config: Option<Arc<CodecConfig>>,
    /// `config` was assigned since [`Reassembly::configs`] last looked.
    config_changed: bool,
}

#[derive(Clone, Copy)]
struct Open {
    dts: Ts,
    pts: Ts,
    key: bool,
    remaining: Option<usize>,
}

impl Reassembly {
    /// The program changed: gather the timeline video stream and every audio stream. A
    /// stream that stays keeps its unit in progress and its configuration.
    pub fn reset(&mut self, demux: &Demux) {
        let mut old = std::mem::take(&mut self.streams);
        self.configs = None;
        let wanted = demux
            .video_stream()
            .map(|(pid, c)| (pid, TrackCodec::Video(c)))
            .into_iter()
            .chain(
                demux
                    .audio_streams()
                    .map(|(pid, c)| (pid, TrackCodec::Audio(c))),
            );
        for (pid, codec) in wanted {
            let kept = old
                .iter()
                .position(|a| a.pid == pid && a.codec == codec)
                .map(|i| old.swap_remove(i));
            self.streams.push(kept.unwrap_or(Assembly {
                pid,
                codec,
                buf: BytesMut::new(),
                open: None,
                config: None,
                config_changed: false,
            }));
        }
    }

    /// Before a packet of the program is acted on: at a PES start, the previous unit of its
    /// stream is complete (it belongs where the packets before this one went), and a new one
    /// opens, so the packet's frame start can mark it a keyframe ([`Reassembly::set_key`]).
    pub fn before(&mut self, pkt: &Packet<'_>, start: Option<&PesStart>) -> Option<AccessUnit> {
        let s = start?;
        let pid = pkt.pid();
        let a = self.streams.iter_mut().find(|a| a.pid == pid)?;
        let done = a.complete();
        let remaining = match a.codec {
            // PES_packet_length counts the bytes after it: header fields and data.
            TrackCodec::Audio(_) => pkt
                .payload()
                .and_then(|p| p.get(4..6))
                .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
                .filter(|&l| l > 0)
                .map(|l| (6 + l).saturating_sub(s.data_offset)),
            TrackCodec::Video(_) => None,
        };
        a.open = Some(Open {
            dts: s.dts,
            pts: s.pts,
            key: matches!(a.codec, TrackCodec::Audio(_)),
            remaining,
        });
        done
    }

    /// After a packet of the program was acted on: its payload joins the unit in progress;
    /// returns the unit when its PES length is reached.
    pub fn after(&mut self, pkt: &Packet<'_>, start: Option<&PesStart>) -> Option<AccessUnit> {
        let pid = pkt.pid();
        let a = self.streams.iter_mut().find(|a| a.pid == pid)?;
        let open = a.open.as_mut()?;
        let payload = pkt.payload()?;
        let es = match start {
            Some(s) => payload.get(s.data_offset..).unwrap_or(&[]),
            None => payload,
        };
        let es = match &mut open.remaining {
            Some(r) => {
                let take = (*r).min(es.len());
                *r -= take;
                &es[..take]
            }
            None => es,
        };
        if a.buf.capacity() - a.buf.len() < es.len() {
            // Doubling: `BytesMut` alone would grow a buffer shared with the units split
            // off it by exactly what is asked, copying the unit so far at every packet.
            a.buf.reserve(a.buf.len().max(es.len()).max(MIN_RESERVE));
        }
        a.buf.extend_from_slice(es);
        // An audio stream's first configuration is read from the first packet of its first
        // PES (a unit ends up to a PES later), for the parts cut meanwhile (`configs`).
        if let (TrackCodec::Audio(codec), None, Some(_)) = (a.codec, &a.config, start)
            && let Ok(config) = audio_config(codec, &a.buf)
        {
            a.config = Some(Arc::new(config));
            a.config_changed = true;
        }
        if open.remaining == Some(0) {
            return a.complete();
        }
        None
    }

    /// Every stream's configuration known so far (the same `Arc` until one changes).
    pub fn configs(&mut self) -> Arc<[TrackConfig]> {
        let mut changed = false;
        for a in &mut self.streams {
            changed |= std::mem::take(&mut a.config_changed);
        }
        if changed {
            self.configs = None;
        }
        let streams = &self.streams;
        self.configs
            .get_or_insert_with(|| {
                streams
                    .iter()
                    .filter_map(|a| {
                        Some(TrackConfig {
                            track: a.pid.0,
                            config: a.config.clone()?,
                        })
                    })
                    .collect()
            })
            .clone()
    }

    /// The keyframe flag of the video unit in progress on `pid`, once its kind is known.
    pub fn set_key(&mut self, pid: Pid, key: bool) {
        if let Some(open) = self
            .streams
            .iter_mut()
            .find(|a| a.pid == pid)
            .and_then(|a| a.open.as_mut())
        {
            open.key = key;
        }
    }

    /// The publisher is gone: the units in progress, complete or not.
    pub fn flush(&mut self) -> Vec<AccessUnit> {
        self.streams
            .iter_mut()
            .filter_map(Assembly::complete)
            .collect()
    }
}

impl Assembly {
    fn complete(&mut self) -> Option<AccessUnit> {
        let open = self.open.take()?;
        let data = self.buf.split().freeze();
        let (config, frames) = match self.codec {
            TrackCodec::Video(c) => (video_config(c, &data), None),
            TrackCodec::Audio(c) => {
                let frames = match c {
                    AudioCodec::Aac => adts_frames(&data),
                    AudioCodec::Mpeg | AudioCodec::Ac3 => count_frames(c, &data),
                }
                .map(|(count, samples)| AudioFrames { count, samples });
                (audio_config(c, &data).ok(), frames)
            }
        };
        if let Some(c) = config
            && self.config.as_deref() != Some(&c)
        {
            self.config = Some(Arc::new(c));
            self.config_changed = true;
        }
        Some(AccessUnit {
            track: self.pid.0,
            codec: self.codec,
            dts: open.dts,
            pts: open.pts,
            key: open.key,
            data,
            frames,
            config: self.config.clone(),
        })
    }
}

impl Core {
    /// A packet of the program with access units on: the unit a PES start completes goes
    /// into the part its packets went to (for the timeline, once the frame it belongs to
    /// was settled), and a unit completed by its length into the part being built.
    pub(super) fn on_media_with_units(&mut self, pkt: Packet<'_>, start: Option<PesStart>) {
        let prev = self
            .reasm
            .as_mut()
            .and_then(|r| r.before(&pkt, start.as_ref()));
        let deferred = match prev {
            Some(u) if start.is_some_and(|s| s.role == Role::Timeline) => Some(u),
            Some(u) => {
                self.add_unit(u);
                None
            }
            None => None,
        };
        self.on_media(pkt, start, deferred);
        if let Some(u) = self
            .reasm
            .as_mut()
            .and_then(|r| r.after(&pkt, start.as_ref()))
        {
            self.add_unit(u);
        }
    }
}
