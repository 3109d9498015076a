//! Follows what the streams are (SPS, audio frame headers) for the multivariant playlist's
//! CODECS, RESOLUTION and FRAME-RATE (RFC 8216bis §4.4.6.2), without slowing the hot path:
//! only the first packets of each video PES and the first audio PES are looked at.

use super::demux::{Demux, PesStart};
use crate::codec::{AudioInfoSniffer, InfoError, MediaInfo, VideoInfoSniffer};
use crate::ts::{Packet, Pid};

/// Packets of each video PES scanned for an SPS (it comes before the first slice).
const VIDEO_PACKETS: u8 = 3;

#[derive(Default)]
pub struct InfoTracker {
    video: Option<(Pid, VideoInfoSniffer)>,
    audio: Option<(Pid, AudioInfoSniffer)>,
    video_budget: u8,
    info: MediaInfo,
}

/// What a packet taught about the streams.
pub enum InfoChange {
    Info(MediaInfo),
    Error(InfoError),
}

impl InfoTracker {
    /// The program changed: follow its first video and first audio stream.
    pub fn reset(&mut self, demux: &Demux) {
        self.video = demux
            .video_stream()
            .map(|(pid, c)| (pid, VideoInfoSniffer::new(c)));
        self.audio = demux
            .audio_stream()
            .map(|(pid, c)| (pid, AudioInfoSniffer::new(c)));
        self.video_budget = 0;
        self.info = MediaInfo {
            has_video_stream: self.video.is_some(),
            ..MediaInfo::default()
        };
    }

    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    /// Inlined into the segmenter's packet path (it shares the packet's parsing there).
    #[inline(always)]
    pub fn on_packet(&mut self, pkt: &Packet<'_>, start: Option<&PesStart>) -> Option<InfoChange> {
        let pid = pkt.pid();
        let payload = pkt.payload()?;
        let es = match start {
            Some(s) => payload.get(s.data_offset..)?,
            None => payload,
        };
        if let Some((vpid, sniffer)) = &mut self.video
            && *vpid == pid
        {
            if start.is_some() {
                self.video_budget = VIDEO_PACKETS;
            }
            if self.video_budget == 0 {
                return None;
            }
            self.video_budget -= 1;
            return match sniffer.push(es)? {
                Ok(v) if self.info.video.as_ref() != Some(&v) => {
                    self.info.video = Some(v);
                    Some(InfoChange::Info(self.info.clone()))
                }
                Ok(_) => None,
                Err(e) => Some(InfoChange::Error(e)),
            };
        }
        if let Some((apid, sniffer)) = &mut self.audio
            && *apid == pid
        {
            return match sniffer.push(es)? {
                Ok(a) => {
                    self.info.audio = Some(a);
                    Some(InfoChange::Info(self.info.clone()))
                }
                Err(e) => Some(InfoChange::Error(e)),
            };
        }
        None
    }
}
