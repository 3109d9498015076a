//! Reads the publisher's program structure: PAT and PMT (parsed, never forwarded), the
//! stream table, and the unrolled decode time of every PES start
//! (ISO/IEC 13818-1 §2.4.3.6, §2.4.4).

use super::Warning;
use crate::codec::{AudioCodec, StreamKind, VideoCodec};
use crate::ts::pes;
use crate::ts::psi::{self, Pmt, SectionAssembler};
use crate::ts::{Packet, Pid, Ts, Unroller};

/// What a packet is, for the segmenter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The publisher's PAT or PMT: consumed here, never forwarded.
    Psi,
    /// A packet before the program is known: nothing can be done with it.
    Unknown,
    /// A packet of another program than the one served (a multi-program stream whose
    /// programs are served as separate renditions).
    Foreign,
    /// A packet of the program (or any other PID) that passes through untouched.
    Media(Option<PesStart>),
}

/// The start of a PES packet that carries a decode time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesStart {
    pub pid: Pid,
    pub role: Role,
    pub dts: Ts,
    /// Presentation time, unrolled next to `dts` (equal to it when the PES has no DTS).
    pub pts: Ts,
    /// Where the elementary stream bytes begin in the packet payload.
    pub data_offset: usize,
}

impl PesStart {
    /// This PES start as the cutter sees it.
    pub(super) fn frame(&self, key: bool) -> super::cutter::FrameStart {
        super::cutter::FrameStart {
            stream: self.pid,
            dts: self.dts,
            key,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The stream whose access units set segment boundaries: the first video stream, or the
    /// first audio stream of an audio-only program.
    Timeline,
    /// An audio stream next to a timeline video stream.
    Audio,
    Other,
}

/// Something the demuxer noticed about the publisher's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The program's stream table is known or changed.
    Program(Pmt),
    /// An anomaly, passed on as the segmenter's warning.
    Warning(Warning),
}

#[derive(Debug)]
struct Stream {
    pid: Pid,
    kind: StreamKind,
    role: Role,
    unroller: Unroller,
}

#[derive(Debug, Default)]
pub struct Demux {
    pat: SectionAssembler,
    pmt: SectionAssembler,
    /// PMT PIDs of every program in the PAT (all are the publisher's PSI).
    pmt_pids: Vec<Pid>,
    /// PMT PID of the program hlsd serves (the first one listed).
    pmt_pid: Option<Pid>,
    program: Option<Pmt>,
    streams: Vec<Stream>,
    notices: Vec<Notice>,
    /// Last decode time seen on any stream, so that a new stream's first timestamp is
    /// unrolled next to the others.
    last_dts: Option<Ts>,
    /// Serve this program (by number) and drop other programs' packets; `None` serves the
    /// first program listed and passes every other packet through.
    only: Option<u16>,
}

impl Demux {
    pub fn new(only: Option<u16>) -> Self {
        Demux {
            only,
            ..Demux::default()
        }
    }

    pub fn program(&self) -> Option<&Pmt> {
        self.program.as_ref()
    }

    pub fn pmt_pid(&self) -> Option<Pid> {
        self.pmt_pid
    }

    pub fn video_codec(&self) -> Option<VideoCodec> {
        self.streams.iter().find_map(|s| match (s.role, s.kind) {
            (Role::Timeline, StreamKind::Video(c)) => Some(c),
            _ => None,
        })
    }

    /// The timeline video stream.
    pub fn video_stream(&self) -> Option<(Pid, VideoCodec)> {
        self.streams.iter().find_map(|s| match (s.role, s.kind) {
            (Role::Timeline, StreamKind::Video(c)) => Some((s.pid, c)),
            _ => None,
        })
    }

    /// Every audio stream, in PMT order.
    pub fn audio_streams(&self) -> impl Iterator<Item = (Pid, AudioCodec)> + '_ {
        self.streams.iter().filter_map(|s| match s.kind {
            StreamKind::Audio(c) => Some((s.pid, c)),
            _ => None,
        })
    }

    /// The first audio stream.
    pub fn audio_stream(&self) -> Option<(Pid, AudioCodec)> {
        self.streams.iter().find_map(|s| match s.kind {
            StreamKind::Audio(c) => Some((s.pid, c)),
            _ => None,
        })
    }

    pub fn take_notices(&mut self) -> std::vec::Drain<'_, Notice> {
        self.notices.drain(..)
    }

    pub fn has_notices(&self) -> bool {
        !self.notices.is_empty()
    }

    pub fn classify(&mut self, pkt: &Packet<'_>) -> Class {
        let pid = pkt.pid();
        if pid == Pid::PAT {
            self.on_pat(pkt);
            return Class::Psi;
        }
        if self.pmt_pids.contains(&pid) {
            if Some(pid) == self.pmt_pid {
                self.on_pmt(pkt);
            }
            return Class::Psi;
        }
        if self.program.is_none() {
            return Class::Unknown;
        }
        if self.only.is_some()
            && !self.streams.iter().any(|s| s.pid == pid)
            && self.program.as_ref().is_none_or(|p| p.pcr_pid != pid)
        {
            return Class::Foreign;
        }
        if !pkt.pusi() {
            return Class::Media(None);
        }
        let Some(i) = self.streams.iter().position(|s| s.pid == pid) else {
            return Class::Media(None);
        };
        let Some(payload) = pkt.payload() else {
            return Class::Media(None);
        };
        let header = match pes::parse_header(payload) {
            Ok(h) => h,
            Err(error) => {
                self.notices
                    .push(Notice::Warning(Warning::BadPes { pid, error }));
                return Class::Media(None);
            }
        };
        let Some(raw) = header.decode_time() else {
            return Class::Media(None);
        };
        let stream = &mut self.streams[i];
        let dts = stream.unroller.unroll(raw);
        self.last_dts = Some(dts);
        // PTS − DTS, taken modulo 2^33 into −2^32..2^32.
        let pts = match header.pts {
            Some(p) if p != raw => {
                let wrap = 1i64 << 33;
                let mut d = (p as i64 - raw as i64).rem_euclid(wrap);
                if d >= wrap / 2 {
                    d -= wrap;
                }
                Ts(dts.0 + d)
            }
            _ => dts,
        };
        Class::Media(Some(PesStart {
            pid,
            role: stream.role,
            dts,
            pts,
            data_offset: header.data_offset,
        }))
    }

    fn on_pat(&mut self, pkt: &Packet<'_>) {
        match self.pat.push(pkt) {
            None => {}
            Some(Err(e)) => self.notices.push(Notice::Warning(Warning::BadPsi(e))),
            Some(Ok(section)) => match psi::parse_pat(&section) {
                Err(e) => self.notices.push(Notice::Warning(Warning::BadPsi(e))),
                Ok(pat) => {
                    self.pmt_pids = pat.programs.iter().map(|p| p.pmt_pid).collect();
                    let chosen = match self.only {
                        Some(n) => pat.programs.iter().find(|p| p.number == n),
                        None => pat.programs.first(),
                    };
                    let first = chosen.map(|p| p.pmt_pid);
                    if first != self.pmt_pid {
                        self.pmt_pid = first;
                        self.pmt = SectionAssembler::default();
                    }
                }
            },
        }
    }

    fn on_pmt(&mut self, pkt: &Packet<'_>) {
        match self.pmt.push(pkt) {
            None => {}
            Some(Err(e)) => self.notices.push(Notice::Warning(Warning::BadPsi(e))),
            Some(Ok(section)) => match psi::parse_pmt(&section) {
                Err(e) => self.notices.push(Notice::Warning(Warning::BadPsi(e))),
                Ok(pmt) if self.program.as_ref() == Some(&pmt) => {}
                Ok(pmt) => self.set_program(pmt),
            },
        }
    }

    fn set_program(&mut self, pmt: Pmt) {
        let kinds: Vec<(Pid, StreamKind)> = pmt
            .streams
            .iter()
            .map(|es| (es.pid, StreamKind::from_stream_type(es.stream_type)))
            .collect();
        let video = kinds
            .iter()
            .find(|(_, k)| matches!(k, StreamKind::Video(_)));
        let timeline = video
            .or_else(|| {
                kinds
                    .iter()
                    .find(|(_, k)| matches!(k, StreamKind::Audio(_)))
            })
            .map(|(pid, _)| *pid);
        let old = std::mem::take(&mut self.streams);
        for (pid, kind) in kinds {
            if let StreamKind::Other(stream_type) = kind {
                self.notices
                    .push(Notice::Warning(Warning::UnknownStream { pid, stream_type }));
            }
            let role = if Some(pid) == timeline {
                Role::Timeline
            } else if matches!(kind, StreamKind::Audio(_)) {
                Role::Audio
            } else {
                Role::Other
            };
            // A stream that stays keeps its timeline; a new one starts next to the others.
            let unroller = old
                .iter()
                .find(|s| s.pid == pid && s.kind == kind)
                .map(|s| s.unroller.clone())
                .unwrap_or_else(|| Unroller::near(self.last_dts));
            self.streams.push(Stream {
                pid,
                kind,
                role,
                unroller,
            });
        }
        self.notices.push(Notice::Program(pmt.clone()));
        self.program = Some(pmt);
    }
}
