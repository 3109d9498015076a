//! One rendition of a publish: a [`Segmenter`] and the rendition it feeds. A stream
//! carrying several programs has a lane per program.

use crate::config::ContainerChoice;
use crate::feeds::PublishGuard;
use crate::feeds::fmp4::Packaging;
use crate::flv::FlvDemux;
use crate::http::App;
use crate::ingest::Protocol;
use crate::ingest::bitrate::{BitrateMeter, OverLimit};
use crate::ingest::pace::Pacer;
use crate::ingest::session::FlvTag;
use crate::logging::gate::LogGate;
use crate::metrics::probe::IngestProbe;
use crate::playlist::Container;
use crate::segmenter::{Event, Segmenter, SegmenterConfig, SegmenterStats, Track, Warning};
use crate::ts::Ts;
use tracing::{Span, debug, info, info_span, warn};

/// At most one "faster than real time" line per lane in this many milliseconds.
const CAP_LOG_MS: i64 = 60_000;

/// One rendition being published: its hold on the rendition, its segmenter, and where the
/// segmenter's events go (the rendition, the metrics, the log).
pub struct Lane {
    pub guard: PublishGuard,
    seg: Segmenter,
    segment_ticks: i64,
    warnings: u64,
    probe: IngestProbe,
    span: Span,
    /// The retention cap is dropping retired segments (an episode), and the gate that logs
    /// at most one episode a minute (a publisher faster than real time starts one every
    /// few segments).
    capping: bool,
    cap_log: LogGate,
    /// Why the publish must end (the stream's clock is frozen), once known.
    pub refused: Option<&'static str>,
    /// `limits.max_ingest_speed` and `limits.max_ingest_bitrate`, when set (the demo feed
    /// is exempt).
    pacer: Option<Pacer>,
    meter: Option<BitrateMeter>,
    /// The rendition went over `limits.max_ingest_bitrate`: the publish must end (413).
    pub over_bitrate: Option<OverLimit>,
    /// `hls.container`, the program's tracks, the container `media.m3u8` serves, and the
    /// fMP4 packaging once wanted (the feed's default is fMP4, or an fMP4 URL of the feed
    /// was requested): until then no access unit is made.
    container: ContainerChoice,
    tracks: Vec<Track>,
    default_container: Container,
    packaging: Option<Packaging>,
    /// The rendition's `media.m3u8` has been listed in the multivariant playlist.
    listed: bool,
    /// FLV input (RTMP): its demuxer, FLV bytes taken, and refused tags or units (logged
    /// thinly).
    flv: Option<FlvDemux>,
    flv_bytes: u64,
    flv_errors: u64,
}

impl Lane {
    /// A lane for `guard`'s rendition; `program` picks one program of a multi-program stream.
    pub fn new(app: &App, guard: PublishGuard, program: Option<u16>) -> Lane {
        let cfg = app.registry.config();
        let mut seg_cfg = SegmenterConfig::new(cfg.hls.segment_duration, guard.target_duration)
            .with_parts(cfg.hls.part_duration, guard.part_target);
        seg_cfg.program = program;
        // `auto` serves HEVC feeds as fMP4: access units from their first segment.
        seg_cfg.access_units_for_hevc = cfg.hls.container == ContainerChoice::Auto;
        // RTMP brings FLV tags, timed in milliseconds.
        let flv = (guard.protocol == Protocol::Rtmp).then(FlvDemux::new);
        if flv.is_some() {
            seg_cfg.timestamp_resolution = crate::flv::MS;
        }
        let span = match program {
            Some(n) => info_span!("program", number = n, rendition = %guard.rendition.name),
            None => Span::none(),
        };
        let limited = !app.registry.is_demo(&guard.feed.name);
        let burst = Ts::from_secs(cfg.hls.window as f64 * cfg.hls.segment_duration);
        let now_ms = app.registry.clock().now_ms();
        let pacer = limited
            .then(|| Pacer::new(cfg.limits.max_ingest_speed, burst, now_ms))
            .flatten();
        let meter = limited
            .then(|| BitrateMeter::new(cfg.limits.max_ingest_bitrate))
            .flatten();
        Lane {
            segment_ticks: seg_cfg.segment_duration.0,
            seg: Segmenter::new(seg_cfg),
            warnings: 0,
            probe: IngestProbe::new(app.metrics.clone(), guard.rendition.clone()),
            guard,
            span,
            capping: false,
            cap_log: LogGate::new(1, CAP_LOG_MS),
            refused: None,
            pacer,
            meter,
            over_bitrate: None,
            container: cfg.hls.container,
            tracks: Vec::new(),
            default_container: Container::Ts,
            packaging: None,
            listed: false,
            flv,
            flv_bytes: 0,
            flv_errors: 0,
        }
    }

    /// What `media.m3u8` of this feed serves (`hls.container`).
    fn wanted_default(&self) -> Container {
        match self.container {
            ContainerChoice::Ts => Container::Ts,
            ContainerChoice::Fmp4 => Container::Fmp4,
            ContainerChoice::Auto if self.guard.rendition.siblings().hevc() => Container::Fmp4,
            ContainerChoice::Auto => Container::Ts,
        }
    }

    /// Follows the feed's default container and whether fMP4 is wanted (two atomic loads
    /// per chunk); turns access units and packaging on, from the next segment start, the
    /// first time it is.
    fn follow_containers(&mut self) {
        let default = self.wanted_default();
        if default != self.default_container {
            self.default_container = default;
            self.guard.rendition.set_default_container(default);
            // Its `media.m3u8` may wait for a packaged segment now: listed again then.
            self.listed = false;
            self.guard.feed.update_multivariant();
        }
        if self.packaging.is_none()
            && (default == Container::Fmp4 || self.guard.rendition.siblings().fmp4_wanted())
        {
            self.seg.start_access_units();
            // Units are freed once their part is packaged, not at the segment's end.
            self.seg.drop_segment_units();
            let mut p = Packaging::default();
            p.set_tracks(self.tracks.clone());
            self.packaging = Some(p);
        }
    }

    /// How long to stop reading the publish after a chunk read at `now_ms`
    /// (`limits.max_ingest_speed`), in milliseconds.
    pub fn pace(&mut self, now_ms: i64) -> Option<u64> {
        let pacer = self.pacer.as_mut()?;
        pacer.delay(self.seg.media_time(), now_ms)
    }

    /// Feeds a body chunk received at `now_ms`.
    pub fn push(&mut self, app: &App, data: &[u8], now_ms: i64) {
        let span = self.span.clone();
        let _entered = span.enter();
        self.probe.chunk_arrived();
        self.follow_containers();
        self.seg.push(data, now_ms);
        self.drain(app, now_ms);
        self.account();
    }

    /// Feeds an FLV tag received at `now_ms` (a lane made for RTMP; others ignore it).
    /// A tag or unit refused is logged (thinly) and skipped.
    pub fn push_flv(&mut self, app: &App, tag: &FlvTag, now_ms: i64) {
        let Some(flv) = &mut self.flv else { return };
        let span = self.span.clone();
        let _entered = span.enter();
        self.probe.chunk_arrived();
        self.flv_bytes += tag.body.len() as u64;
        let demuxed = if tag.video {
            flv.video(tag.timestamp, &tag.body)
        } else {
            flv.audio(tag.timestamp, &tag.body)
        };
        let res = demuxed.map_err(|e| e.to_string()).and_then(|d| {
            if let Some(tracks) = d.tracks {
                self.seg.set_tracks(&tracks).map_err(|e| e.to_string())?;
            }
            self.follow_containers();
            match d.unit {
                Some(u) => self
                    .seg
                    .push_access_unit(u, now_ms)
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            }
        });
        if let Some(info) = self.flv.as_mut().and_then(FlvDemux::take_media_info) {
            info!(codecs = info.codecs().unwrap_or_default(), resolution = ?info.resolution(), frame_rate = ?info.frame_rate(), "streams");
            if self.guard.rendition.set_media_info(info) {
                self.guard.feed.update_multivariant();
            }
        }
        if let Err(e) = res {
            self.flv_errors += 1;
            if self.flv_errors <= 10 || self.flv_errors.is_power_of_two() {
                warn!(count = self.flv_errors, "FLV tag not taken: {e}");
            }
        }
        self.drain(app, now_ms);
        self.account();
    }

    /// What came in, to the metrics and the API: FLV input counts its tags' bytes.
    fn account(&mut self) {
        let mut stats = self.seg.stats();
        stats.bytes += self.flv_bytes;
        self.probe.account(&stats);
    }

    /// The publisher is gone: the last segment is flushed.
    pub fn finish(&mut self, app: &App, now_ms: i64) {
        let span = self.span.clone();
        let _entered = span.enter();
        self.seg.finish(now_ms);
        self.drain(app, now_ms);
        self.account();
    }

    pub fn stats(&self) -> SegmenterStats {
        let mut stats = self.seg.stats();
        stats.bytes += self.flv_bytes;
        stats
    }

    fn drain(&mut self, app: &App, now_ms: i64) {
        while let Some(ev) = self.seg.poll_event() {
            match ev {
                Event::Part(p) => {
                    if let Some(e) = self.guard.rendition.push_part(&p, self.packaging.as_mut())
                        && let Some(pk) = &mut self.packaging
                    {
                        pk.failures += 1;
                        if pk.failures <= 3 || pk.failures.is_power_of_two() {
                            warn!(failures = pk.failures, "part not packaged as fMP4: {e}");
                        }
                    }
                    self.note_listed();
                    self.probe.part();
                    if let Some(m) = &mut self.meter
                        && let Some(over) = m.part(p.part.duration, p.part.data.len())
                        && self.over_bitrate.is_none()
                    {
                        self.over_bitrate = Some(over);
                        self.probe.refused("bitrate");
                        self.guard.rendition.stats.set_warning(
                            format!(
                                "{} bit/s of media over {:.1} s, above limits.max_ingest_bitrate ({} bit/s): publisher disconnected",
                                over.measured_bps, over.span_secs, over.allowed_bps
                            ),
                            now_ms,
                        );
                        warn!(
                            measured_bps = over.measured_bps,
                            allowed_bps = over.allowed_bps,
                            over_s = over.span_secs,
                            "publisher over limits.max_ingest_bitrate: disconnected"
                        );
                    }
                }
                Event::MediaInfo(info) => {
                    let codecs = info.codecs().unwrap_or_default();
                    info!(codecs, resolution = ?info.resolution(), frame_rate = ?info.frame_rate(), "streams");
                    if self.guard.rendition.set_media_info(info) {
                        self.guard.feed.update_multivariant();
                    }
                }
                Event::PartTarget(pt) => {
                    info!(part_target = pt.secs(), "part target fixed");
                    app.registry.fix_part_target(&self.guard.rendition, pt);
                }
                Event::Segment(s) => {
                    let (duration, bytes, independent) =
                        (s.duration.secs(), s.len(), s.independent);
                    let pushed = self
                        .guard
                        .rendition
                        .push_segment(s, self.segment_ticks, now_ms);
                    self.probe.segment();
                    debug!(msn = pushed.msn, duration, bytes, independent, "segment");
                    if pushed.variants_changed {
                        self.guard.feed.update_multivariant();
                    }
                    self.note_listed();
                    self.note_cap(pushed.capped, now_ms);
                }
                Event::TargetDuration(td) => {
                    info!(target_duration = td, "target duration fixed");
                    app.registry.fix_target_duration(&self.guard.rendition, td);
                }
                Event::Program(pmt) => {
                    let streams: Vec<String> = pmt
                        .streams
                        .iter()
                        .map(|s| format!("{:#x}:{:#04x}", s.pid.0, s.stream_type))
                        .collect();
                    info!(program = pmt.program_number, streams = ?streams, "program (pid:stream_type)");
                    self.tracks = Track::of_program(&pmt);
                    if Packaging::has_hevc(&self.tracks) {
                        // Known before the first keyframe: `auto` packages from the start.
                        self.guard.rendition.siblings().set_hevc();
                    }
                    if let Some(p) = &mut self.packaging {
                        p.set_tracks(self.tracks.clone());
                    }
                    self.follow_containers();
                }
                Event::NewConfiguration => {
                    debug!("new codec configuration at the segment start");
                    self.guard.rendition.hint_new_init(self.packaging.as_ref());
                }
                Event::Warning(w) => {
                    self.probe.warning(&w, now_ms);
                    self.warn(w);
                }
            }
        }
    }

    /// The multivariant playlist lists renditions whose `media.m3u8` is ready; in fMP4 that
    /// may come a part after the first segment (its init waits for every track's
    /// configuration), so it is rendered again then.
    fn note_listed(&mut self) {
        if !self.listed && self.guard.rendition.peek().listable {
            self.listed = true;
            self.guard.feed.update_multivariant();
        }
    }

    /// Counts retired segments the retention cap dropped; logs the first episode, then at
    /// most one a minute with the number of episodes not logged.
    fn note_cap(&mut self, (segments, bytes): (u64, u64), now_ms: i64) {
        if segments == 0 {
            self.capping = false;
            return;
        }
        self.probe.capped(segments);
        if self.capping {
            return;
        }
        self.capping = true;
        let verdict = self.cap_log.event(now_ms);
        if verdict.log {
            let (not_logged, over_s) = verdict
                .summary
                .map_or((0, 0.0), |s| (s.count, s.over_ms as f64 / 1000.0));
            warn!(
                segments,
                bytes,
                not_logged,
                over_s,
                "publisher faster than real time: retired segments dropped before their time to keep memory under twice the window's bytes (hlsd_retired_segments_capped_total counts them; at most one line a minute)"
            );
        }
    }

    /// Logs stream anomalies; the noisy kinds (one per bad packet) are thinned out.
    fn warn(&mut self, w: Warning) {
        match w {
            Warning::FrozenClock { bytes } => {
                warn!(
                    bytes,
                    "the stream's clock is frozen: its media time did not advance while this many bytes arrived; publisher disconnected"
                );
                self.refused = Some("the stream's clock is frozen: its timestamps do not advance");
            }
            Warning::BadPsi(_) | Warning::BadPes { .. } => {
                self.warnings += 1;
                if self.warnings <= 10 || self.warnings.is_power_of_two() {
                    warn!(count = self.warnings, "bad stream data: {w:?}");
                }
            }
            Warning::UnknownStream { pid, stream_type } => {
                info!(
                    pid = pid.0,
                    stream_type, "stream type not understood: passed through untouched"
                )
            }
            Warning::GopOverrun { target_duration } => warn!(
                target_duration,
                "the encoder's GOP is longer than the target duration: segment cut without a keyframe"
            ),
            Warning::NoKeyframe { waited } => {
                // Repeats at every segment while the encoder sends none: thinned out.
                self.warnings += 1;
                if self.warnings <= 3 || self.warnings.is_power_of_two() {
                    warn!(
                        "no keyframe for {:.0} s: segments are cut without keyframes (players may not start on them)",
                        waited.secs()
                    )
                }
            }
            Warning::ForcedCut {
                reason,
                bytes,
                duration,
            } => {
                warn!(
                    reason,
                    bytes,
                    duration = duration.secs(),
                    "segment cut at a ceiling"
                )
            }
            Warning::CodecInfo(e) => warn!("cannot read codec information: {e}"),
            Warning::PartTargetMismatch { target, frame } => warn!(
                part_target = target.secs(),
                frame = frame.secs(),
                "this stream's frames cannot fill parts of the feed's PART-TARGET: it gets its own (a new session if it had one)"
            ),
            Warning::TimestampJump { from, to } => {
                warn!(
                    from = from.secs(),
                    to = to.secs(),
                    "timestamp jump: discontinuity"
                )
            }
        }
    }
}
