//! Recording (`[record]`): every session of every feed kept on disk as the segment files it
//! served, playable as VOD (`http::vod`).
//!
//! The ingest path hands each frozen segment to its feed's [`Tap`] (`feeds::rendition`,
//! under the rendition's lock: an atomic count, an `Arc` clone of the segment's parts and a
//! channel send, never a wait). A recorder task per feed ([`task`]) writes it off the
//! runtime, in the order of [`writer`], and records it in the session's index
//! ([`index`]); the in-memory [`library`] follows the index. At most
//! `queue_segments` segments wait per feed: a segment frozen while that many wait is lost
//! to the recording only (metadata sent instead, listed with EXT-X-GAP, counted in
//! `hlsd_record_lost_segments_total{reason="queue_full"}`, logged), so a slow disk never
//! slows a publisher or a viewer. At start, [`recover`] reads every index back, cuts torn
//! tails and ends sessions a crash left open.

pub mod dvr;
pub mod index;
pub mod library;
pub mod playlist;
pub mod recover;
pub mod retention;
pub mod space;
pub mod task;
pub mod writer;

use crate::clock::Clock;
use crate::config::RecordConfig;
use crate::feeds::rendition::State;
use crate::metrics::Labels;
use crate::playlist::{Container, StoredSegment};
use bytes::Bytes;
use index::{RenditionInfo, SegmentEntry};
use library::Library;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as Prometheus;
use retention::{Limits, Retention};
use space::Space;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use task::Job;
use tokio::sync::{Notify, mpsc};

/// The `reason` labels of `hlsd_record_lost_segments_total`.
pub const LOSS_REASONS: [&str; 3] = ["queue_full", "write_error", "disk_full"];

/// The recorder's counters, registered in `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub segments: Counter,
    pub bytes: Counter,
    /// reason = queue_full | write_error | disk_full
    pub lost: Family<Labels<1>, Counter>,
    pub trimmed: retention::TrimCounters,
    /// 1 while recording is paused for lack of free space.
    pub paused: Gauge,
}

impl Counters {
    pub fn register(&self, r: &mut Prometheus) {
        r.register(
            "hlsd_record_segments",
            "Segments written to recordings",
            self.segments.clone(),
        );
        r.register(
            "hlsd_record_bytes",
            "Bytes of segments written to recordings",
            self.bytes.clone(),
        );
        for reason in LOSS_REASONS {
            let _ = self.lost.get_or_create(&[("reason", reason)]);
        }
        r.register(
            "hlsd_record_paused",
            "1 while recording is paused: less free space on the recording's disk than its threshold (1 GiB)",
            self.paused.clone(),
        );
        r.register(
            "hlsd_record_trimmed_segments",
            "Recorded segments removed by retention (record.retention_hours, record.max_gb)",
            self.trimmed.segments.clone(),
        );
        r.register(
            "hlsd_record_trimmed_bytes",
            "Bytes of recorded segments removed by retention",
            self.trimmed.bytes.clone(),
        );
        r.register(
            "hlsd_record_lost_segments",
            "Segments served live but missing from their recording (listed as gaps), by reason",
            self.lost.clone(),
        );
    }

    pub fn lost(&self, reason: &'static str) {
        self.lost.get_or_create(&[("reason", reason)]).inc();
    }
}

/// Jobs sent and not yet done, over every feed (what [`Recorder::flush`] waits for).
#[derive(Debug, Default)]
struct Pending {
    jobs: AtomicUsize,
    idle: Notify,
}

impl Pending {
    fn add(&self) {
        self.jobs.fetch_add(1, Ordering::SeqCst);
    }

    fn done(&self) {
        if self.jobs.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

/// The server's recorder: the library of recordings and a task per recorded feed.
#[derive(Debug)]
pub struct Recorder {
    config: RecordConfig,
    library: Arc<Library>,
    counters: Counters,
    pending: Arc<Pending>,
    clock: Clock,
    retention: Arc<Retention>,
    space: Arc<Space>,
}

/// How often retention runs without a recorded segment to prompt it (ages pass anyway).
const RETENTION_SWEEP: Duration = Duration::from_secs(60);

impl Recorder {
    /// Opens `config.dir` (created if missing) and reads back every recording in it.
    pub fn open(config: &RecordConfig, clock: Clock) -> std::io::Result<Arc<Recorder>> {
        std::fs::create_dir_all(&config.dir)?;
        let library = Arc::new(Library::new(config.dir.clone()));
        recover::recover(&library)?;
        let counters = Counters::default();
        let retention = Arc::new(Retention::new(
            Limits::new(config.retention_hours, config.max_gb),
            counters.trimmed.clone(),
        ));
        retention.run(&library, clock.now_ms());
        let space = Arc::new(Space::new(
            config.dir.clone(),
            config.min_free.clone(),
            counters.paused.clone(),
        ));
        let rec = Arc::new(Recorder {
            config: config.clone(),
            library,
            counters,
            pending: Arc::default(),
            clock,
            retention,
            space,
        });
        let weak = Arc::downgrade(&rec);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETENTION_SWEEP);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(rec) = weak.upgrade() else {
                    return;
                };
                let _ = tokio::task::spawn_blocking(move || {
                    rec.retention.run(&rec.library, rec.clock.now_ms())
                })
                .await;
            }
        });
        Ok(rec)
    }

    pub fn library(&self) -> &Arc<Library> {
        &self.library
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Starts recording a feed: its tap, and the task that writes what goes in. The task
    /// ends once every clone of the tap is dropped and its queue is written.
    pub fn tap(&self, feed: &str) -> Tap {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(TapShared {
            queued: AtomicUsize::new(0),
            capacity: self.config.queue_segments,
            counters: self.counters.clone(),
            pending: self.pending.clone(),
        });
        let rec = task::FeedRecorder::new(
            feed,
            self.library.clone(),
            self.counters.clone(),
            self.clock,
        )
        .with_retention(self.retention.clone())
        .with_space(self.space.clone());
        tokio::spawn(task::run(rx, rec, shared.clone()));
        Tap { tx, shared }
    }

    /// Waits (at most `timeout`) until every job sent so far is written.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let idle = async {
            loop {
                let notified = self.pending.idle.notified();
                if self.pending.jobs.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, idle).await.is_ok()
    }
}

#[derive(Debug)]
struct TapShared {
    /// Segments waiting in the channel (not yet taken by the task).
    queued: AtomicUsize,
    capacity: usize,
    counters: Counters,
    pending: Arc<Pending>,
}

/// The init (number and bytes) every part of an fMP4 segment was packaged with.
fn mp4_init(seg: &StoredSegment, st: &State) -> Option<(u32, Bytes)> {
    let number = seg.parts.first()?.mp4.as_ref()?.init;
    if !seg
        .parts
        .iter()
        .all(|p| p.mp4.as_ref().is_some_and(|m| m.init == number))
    {
        return None;
    }
    let init = st
        .fmp4
        .inits
        .iter()
        .find(|i| i.token == seg.token && i.number == number)?;
    Some((number, init.data.clone()))
}

/// Where a feed's renditions hand their frozen segments and their ends.
#[derive(Debug, Clone)]
pub struct Tap {
    tx: mpsc::UnboundedSender<Job>,
    shared: Arc<TapShared>,
}

impl Tap {
    fn send(&self, job: Job) -> bool {
        self.shared.pending.add();
        if self.tx.send(job).is_ok() {
            true
        } else {
            self.shared.pending.done();
            false
        }
    }

    /// A segment was frozen (the one `st`'s window just listed last). Never waits: when
    /// the feed's queue is full, only its description is sent and it is lost to the
    /// recording.
    pub fn segment(&self, rendition: &str, seg: &StoredSegment, st: &State) {
        let mut info = RenditionInfo {
            name: rendition.to_string(),
            token: seg.token,
            target_duration: st
                .target_duration
                .unwrap_or_else(|| seg.duration.secs().ceil().max(1.0) as u32),
            bandwidth: st.bitrate.bandwidth(),
            average_bandwidth: st.bitrate.average(),
            codecs: st.media.codecs(),
            resolution: st.media.resolution(),
            frame_rate: st.media.frame_rate(),
            audio_only: st.media.audio_only(),
            fmp4: st.default_container == Container::Fmp4,
        };
        let entry = SegmentEntry {
            rendition: rendition.to_string(),
            msn: seg.msn,
            duration: seg.duration.0,
            pdt_ms: seg.pdt_ms,
            discontinuity: seg.discontinuity,
            independent: seg.independent,
            bytes: 0,
            gap: false,
            init: None,
        };
        let s = &self.shared;
        // fMP4: the init its parts were packaged with (every part, one init). A segment
        // some part of which was not packaged (the feed turned fMP4 during it, or its init
        // changed within it) is recorded as the TS it was also served as (`.ts`).
        let init = if info.fmp4 { mp4_init(seg, st) } else { None };
        info.fmp4 = init.is_some();
        let job = if s.queued.fetch_add(1, Ordering::SeqCst) < s.capacity {
            Job::Segment {
                info,
                entry,
                parts: seg.parts.clone(),
                init,
            }
        } else {
            s.queued.fetch_sub(1, Ordering::SeqCst);
            s.counters.lost("queue_full");
            Job::Lost {
                info,
                entry,
                why: "the recording queue is full (disk too slow)",
            }
        };
        let was_segment = matches!(job, Job::Segment { .. });
        if !self.send(job) && was_segment {
            s.queued.fetch_sub(1, Ordering::SeqCst);
            s.counters.lost("write_error");
        }
    }

    /// A rendition's session ended (EXT-X-ENDLIST).
    pub fn end(&self, rendition: &str, token: u64, end_ms: i64) {
        self.send(Job::End {
            rendition: rendition.to_string(),
            token,
            end_ms,
        });
    }
}
