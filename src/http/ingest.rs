//! Ingest: `POST`/`PUT /ingest/{feed}[/{rendition}]`. The body (chunked or with a length)
//! is fed chunk by chunk to a [`Segmenter`]; finished segments go to the rendition. The
//! request lasts as long as the publisher sends; silence longer than `feeds.idle_timeout`
//! disconnects it.

use super::App;
use super::error::HttpError;
use crate::feeds::PublishGuard;
use crate::metrics::probe::IngestProbe;
use crate::segmenter::{Event, Segmenter, SegmenterConfig, Warning};
use crate::ts::framer::{SNIFF_LEN, looks_like_ts};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::time::Duration;
use tracing::{Instrument, debug, info, info_span, warn};

pub const MAIN_RENDITION: &str = "main";

pub async fn ingest_main(
    State(app): State<App>,
    Path(feed): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    ingest(app, feed, MAIN_RENDITION.to_string(), peer, body).await
}

pub async fn ingest_rendition(
    State(app): State<App>,
    Path((feed, rendition)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Body,
) -> Response {
    ingest(app, feed, rendition, peer, body).await
}

/// Feed and rendition names: `[A-Za-z0-9_-]{1,64}`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn ingest(
    app: App,
    feed: String,
    rendition: String,
    peer: SocketAddr,
    body: Body,
) -> Response {
    if !valid_name(&feed) || !valid_name(&rendition) {
        warn!(%peer, "publish refused: bad feed or rendition name");
        return HttpError::BadName.into_response();
    }
    let span = info_span!("ingest", feed = %feed, rendition = %rendition, %peer);
    match publish(app, &feed, &rendition, peer, body)
        .instrument(span.clone())
        .await
    {
        Ok(res) => res,
        Err(e) => {
            span.in_scope(|| warn!(status = e.status().as_u16(), "publish refused: {e}"));
            e.into_response()
        }
    }
}

/// How an ingest request ended.
enum End {
    Done,
    Idle,
    Shutdown,
    /// An operator stopped the feed (DELETE /api/feeds/{feed}).
    Stopped,
    Broken(String),
}

async fn publish(
    app: App,
    feed: &str,
    rendition: &str,
    peer: SocketAddr,
    body: Body,
) -> Result<Response, HttpError> {
    let guard = app.registry.claim(feed, rendition, peer)?;
    info!(resumed = guard.resumed, "publisher connected");
    // The body is read in a task of its own: when the publisher's connection drops, hyper
    // drops this handler, but the task still sees the body end and flushes the last segment.
    let task = tokio::spawn(pump(app, guard, body).in_current_span());
    match task.await {
        Ok(r) => {
            let (status, text) = r?;
            Ok((status, text).into_response())
        }
        Err(e) => {
            warn!("ingest task failed: {e}");
            Err(HttpError::ShuttingDown)
        }
    }
}

/// Reads the body into the segmenter until it ends, goes silent, or the server stops.
async fn pump(
    app: App,
    guard: PublishGuard,
    mut body: Body,
) -> Result<(StatusCode, String), HttpError> {
    let cfg = app.registry.config();
    let idle = Duration::from_secs_f64(cfg.feeds.idle_timeout);
    let seg_cfg = SegmenterConfig::new(cfg.hls.segment_duration, guard.target_duration)
        .with_parts(cfg.hls.part_duration, guard.part_target);
    let segment_ticks = seg_cfg.segment_duration.0;
    let mut seg = Segmenter::new(seg_cfg);
    let mut sink = Sink {
        guard: &guard,
        app: &app,
        segment_ticks,
        warnings: 0,
        probe: IngestProbe::new(app.metrics.clone(), guard.rendition.clone()),
    };
    let mut stop = guard.rendition.stats.stop_signal();
    let clock = app.registry.clock();
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    let mut shutdown = app.shutdown.clone();
    let end = loop {
        let frame = tokio::select! {
            f = tokio::time::timeout(idle, body.frame()) => f,
            _ = shutdown.wait_for(|v| *v) => break End::Shutdown,
            Ok(_) = stop.wait_for(|id| *id == guard.id) => break End::Stopped,
        };
        let data = match frame {
            Err(_) => break End::Idle,
            Ok(None) => break End::Done,
            Ok(Some(Err(e))) => break End::Broken(e.to_string()),
            Ok(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue, // trailers
            },
        };
        if let Some(h) = &mut head {
            h.extend_from_slice(&data[..data.len().min(SNIFF_LEN - h.len().min(SNIFF_LEN))]);
            match looks_like_ts(h) {
                Some(true) => head = None,
                Some(false) => return Err(HttpError::NotTs),
                None => {}
            }
        }
        let now = clock.now_ms();
        sink.probe.chunk_arrived();
        seg.push(&data, now);
        sink.drain(&mut seg, now);
        sink.probe.account(&seg.stats());
    };
    if head.is_some() && matches!(end, End::Done) {
        return Err(HttpError::NotTs);
    }
    let now = clock.now_ms();
    seg.finish(now);
    sink.drain(&mut seg, now);
    sink.probe.account(&seg.stats());
    let stats = seg.stats();
    let summary = format!(
        "{} bytes, {} packets, {} segments, {} bytes skipped as garbage",
        stats.bytes, stats.framer.packets, stats.segments, stats.framer.skipped_bytes
    );
    drop(guard);
    let idle_timeout = cfg.feeds.idle_timeout;
    Ok(match end {
        End::Done => {
            info!("publisher finished: {summary}");
            (StatusCode::OK, format!("ok: {summary}\n"))
        }
        End::Idle => {
            warn!("publisher silent for {idle_timeout} s: disconnected; {summary}");
            (
                StatusCode::REQUEST_TIMEOUT,
                format!("no data for {idle_timeout} s: disconnected\n"),
            )
        }
        End::Shutdown => {
            info!("server shutting down: publisher disconnected; {summary}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "server shutting down\n".to_string(),
            )
        }
        End::Stopped => {
            info!("stopped by an operator: publisher disconnected; {summary}");
            (
                StatusCode::GONE,
                "feed stopped by an operator\n".to_string(),
            )
        }
        End::Broken(e) => {
            warn!("publisher connection lost: {e}; {summary}");
            (StatusCode::BAD_REQUEST, format!("connection lost: {e}\n"))
        }
    })
}

/// Where segmenter events go: the rendition, and the log.
struct Sink<'a> {
    guard: &'a PublishGuard,
    app: &'a App,
    segment_ticks: i64,
    warnings: u64,
    probe: IngestProbe,
}

impl Sink<'_> {
    fn drain(&mut self, seg: &mut Segmenter, now_ms: i64) {
        while let Some(ev) = seg.poll_event() {
            match ev {
                Event::Part(p) => {
                    self.guard.rendition.push_part(&p);
                    self.probe.part();
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
                    self.app.registry.fix_part_target(&self.guard.rendition, pt);
                }
                Event::Segment(s) => {
                    let (duration, bytes, independent) =
                        (s.duration.secs(), s.len(), s.independent);
                    let (msn, variants_changed) =
                        self.guard
                            .rendition
                            .push_segment(s, self.segment_ticks, now_ms);
                    self.probe.segment();
                    debug!(msn, duration, bytes, independent, "segment");
                    if variants_changed {
                        self.guard.feed.update_multivariant();
                    }
                }
                Event::TargetDuration(td) => {
                    info!(target_duration = td, "target duration fixed");
                    self.app
                        .registry
                        .fix_target_duration(&self.guard.rendition, td);
                }
                Event::Program(pmt) => {
                    let streams: Vec<String> = pmt
                        .streams
                        .iter()
                        .map(|s| format!("{:#x}:{:#04x}", s.pid.0, s.stream_type))
                        .collect();
                    info!(program = pmt.program_number, streams = ?streams, "program (pid:stream_type)");
                }
                Event::Warning(w) => {
                    self.probe.warning(&w, now_ms);
                    self.warn(w);
                }
            }
        }
    }

    /// Logs stream anomalies; the noisy kinds (one per bad packet) are thinned out.
    fn warn(&mut self, w: Warning) {
        match w {
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
                warn!(
                    waited = waited.secs(),
                    "no keyframe yet: serving from a non-key frame"
                )
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
                "this stream's frames cannot fill parts of the feed's PART-TARGET: starting a new session"
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
