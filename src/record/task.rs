//! A feed's recorder task: takes the jobs its [`super::Tap`] sends, one at a time, and does
//! each on tokio's blocking pool ([`FeedRecorder::handle`]), so file I/O never runs on the
//! runtime's threads.
//!
//! Sessions: a recording session is opened by the first segment of a rendition that is in
//! no open session, named by that rendition's live token. The feed's other renditions join
//! it; a rendition whose token changed (a new live session: after the end, or a new
//! PART-TARGET) closes it and opens the next. It ends when every rendition in it has
//! ended. Publisher changes within a live session keep the token, so they stay in the
//! recording session, as the EXT-X-DISCONTINUITY their first segment carries.

use super::index::{Record, RenditionInfo, SegmentEntry};
use super::library::{Library, Session, SessionState};
use super::retention::Retention;
use super::space::Space;
use super::writer::SessionWriter;
use super::{Counters, TapShared};
use crate::clock::Clock;
use crate::logging::gate::LogGate;
use crate::playlist::StoredPart;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

/// What a tap sends.
#[derive(Debug)]
pub enum Job {
    /// A frozen segment to write: its bytes are its parts'.
    Segment {
        info: RenditionInfo,
        entry: SegmentEntry,
        parts: Arc<[StoredPart]>,
        /// fMP4: the init number and bytes its parts need.
        init: Option<(u32, Bytes)>,
    },
    /// A frozen segment the queue had no room for (or, fMP4, not packaged whole): listed
    /// as a gap.
    Lost {
        info: RenditionInfo,
        entry: SegmentEntry,
        /// Why, for the log.
        why: &'static str,
    },
    /// A rendition's live session with this token ended.
    End {
        rendition: String,
        token: u64,
        end_ms: i64,
    },
}

/// A rendition in the open session.
#[derive(Debug)]
struct Member {
    info: RenditionInfo,
    ended: bool,
}

/// The session being recorded.
#[derive(Debug)]
struct Open {
    session: Arc<Session>,
    members: HashMap<String, Member>,
    /// fMP4 inits written, by rendition and number.
    inits: HashSet<(String, u32)>,
}

impl Open {
    /// Appends a record and applies it to the library's copy once it is on disk.
    fn record(&mut self, r: Record) -> io::Result<()> {
        self.session.append(&r)
    }

    /// Writes a segment's file (see [`SessionWriter::write_segment`]): its parts' TS
    /// bytes, or their fMP4 fragments.
    fn write_segment(
        &self,
        rendition: &str,
        file: &str,
        parts: &[StoredPart],
        fmp4: bool,
    ) -> io::Result<u64> {
        let mut w = self.session.writer();
        let w = w
            .as_mut()
            .ok_or_else(|| io::Error::other("the session's index is closed"))?;
        if fmp4 {
            let pieces = parts.iter().filter_map(|p| p.mp4.as_ref().map(|m| &m.data));
            w.write_segment(rendition, file, pieces)
        } else {
            let pieces = parts.iter().flat_map(|p| p.data.pieces().iter());
            w.write_segment(rendition, file, pieces)
        }
    }

    /// Writes an fMP4 init beside the segments that need it, once per session (durable
    /// before the first record naming it).
    fn write_init(&mut self, info: &RenditionInfo, number: u32, data: &Bytes) -> io::Result<()> {
        let key = (info.name.clone(), number);
        if self.inits.contains(&key) {
            return Ok(());
        }
        let file = crate::playlist::init_uri(info.token, number);
        let mut w = self.session.writer();
        let w = w
            .as_mut()
            .ok_or_else(|| io::Error::other("the session's index is closed"))?;
        w.write_segment(&info.name, &file, std::iter::once(data))?;
        // Lock order: the writer, then the state.
        self.session.lock().init_bytes += data.len() as u64;
        self.inits.insert(key);
        Ok(())
    }
}

/// Whether two descriptions differ in what a playlist shows (the average bandwidth moves
/// with every segment and is left out).
fn same_variant(a: &RenditionInfo, b: &RenditionInfo) -> bool {
    RenditionInfo {
        average_bandwidth: b.average_bandwidth,
        ..a.clone()
    } == *b
}

/// A feed's recording state, moved into the blocking pool for each job.
#[derive(Debug)]
pub struct FeedRecorder {
    feed: String,
    library: Arc<Library>,
    counters: Counters,
    clock: Clock,
    open: Option<Open>,
    /// Run after each recorded segment.
    retention: Option<Arc<Retention>>,
    /// Checked before each segment is written.
    space: Option<Arc<Space>>,
    /// WARN lines about lost segments: 5 a minute, then a summary.
    gate: LogGate,
}

impl FeedRecorder {
    pub fn new(feed: &str, library: Arc<Library>, counters: Counters, clock: Clock) -> Self {
        FeedRecorder {
            feed: feed.to_string(),
            library,
            counters,
            clock,
            open: None,
            retention: None,
            space: None,
            gate: LogGate::new(5, 60_000),
        }
    }

    pub fn with_space(mut self, space: Arc<Space>) -> Self {
        self.space = Some(space);
        self
    }

    pub fn with_retention(mut self, retention: Arc<Retention>) -> Self {
        self.retention = Some(retention);
        self
    }

    pub fn handle(&mut self, job: Job) {
        match job {
            Job::Segment {
                info,
                entry,
                parts,
                init,
            } => self.segment(info, entry, &parts, init),
            Job::Lost { info, entry, why } => {
                self.warn_lost(&entry, why);
                self.gap(info, entry);
            }
            Job::End {
                rendition,
                token,
                end_ms,
            } => self.end(&rendition, token, end_ms),
        }
    }

    fn warn_lost(&mut self, entry: &SegmentEntry, why: &str) {
        let v = self.gate.event(self.clock.now_ms());
        if let Some(s) = v.summary {
            warn!(feed = %self.feed, count = s.count, "{} more segments lost to the recording in the last {} s", s.count, s.over_ms / 1000);
        }
        if v.log {
            warn!(feed = %self.feed, rendition = %entry.rendition, msn = entry.msn, "segment lost to the recording: {why}; it is listed as a gap, the live feed is unaffected");
        }
    }

    fn segment(
        &mut self,
        info: RenditionInfo,
        mut entry: SegmentEntry,
        parts: &[StoredPart],
        init: Option<(u32, Bytes)>,
    ) {
        if self.space.as_ref().is_some_and(|s| !s.allows_writing()) {
            // Logged once by the guard when it paused.
            self.counters.lost("disk_full");
            self.gap(info, entry);
            return;
        }
        let ext = if info.fmp4 { "m4s" } else { "ts" };
        let file = format!("seg-{:x}-{}.{ext}", info.token, entry.msn);
        let written = self.session_for(&info, entry.pdt_ms).and_then(|open| {
            if let Some((number, data)) = &init {
                open.write_init(&info, *number, data)?;
                entry.init = Some(*number);
            }
            let len = open.write_segment(&info.name, &file, parts, info.fmp4)?;
            entry.bytes = len;
            open.record(Record::Segment(entry.clone()))?;
            Ok(len)
        });
        match written {
            Ok(len) => {
                self.counters.segments.inc();
                self.counters.bytes.inc_by(len);
                if let Some(r) = &self.retention {
                    r.run(&self.library, self.clock.now_ms());
                }
            }
            Err(e) => {
                self.counters.lost("write_error");
                self.warn_lost(&entry, &format!("cannot write it: {e}"));
                entry.bytes = 0;
                self.gap_entry(entry);
            }
        }
    }

    /// Lists a lost segment (no file) in its session.
    fn gap(&mut self, info: RenditionInfo, entry: SegmentEntry) {
        if let Err(e) = self.session_for(&info, entry.pdt_ms) {
            warn!(feed = %self.feed, "cannot record a gap: {e}");
            return;
        }
        self.gap_entry(entry);
    }

    fn gap_entry(&mut self, mut entry: SegmentEntry) {
        entry.gap = true;
        if let Some(open) = self.open.as_mut()
            && open.members.contains_key(&entry.rendition)
            && let Err(e) = open.record(Record::Segment(entry))
        {
            warn!(feed = %self.feed, "cannot record a gap: {e}");
        }
    }

    /// The open session `info`'s rendition records into: opened, joined or moved on to as
    /// the module documentation says; its description recorded when it changed.
    fn session_for(&mut self, info: &RenditionInfo, start_ms: i64) -> io::Result<&mut Open> {
        let rotate = self.open.as_ref().is_some_and(|o| {
            o.members
                .get(&info.name)
                .is_some_and(|m| m.info.token != info.token)
        });
        if rotate {
            self.close(start_ms);
        }
        if self.open.is_none() {
            self.open = Some(self.start(info.token, start_ms)?);
        }
        let Some(open) = self.open.as_mut() else {
            return Err(io::Error::other("no open session"));
        };
        let known = open
            .members
            .get(&info.name)
            .is_some_and(|m| same_variant(&m.info, info));
        if !known {
            open.record(Record::Rendition(info.clone()))?;
        }
        let m = open.members.entry(info.name.clone()).or_insert(Member {
            info: info.clone(),
            ended: false,
        });
        m.info = info.clone();
        m.ended = false;
        Ok(open)
    }

    fn start(&mut self, id: u64, start_ms: i64) -> io::Result<Open> {
        let dir = self.library.session_dir(&self.feed, id);
        let start = Record::Start {
            feed: self.feed.clone(),
            start_ms,
        };
        let writer = SessionWriter::create(dir.clone(), &start)?;
        let mut state = SessionState::default();
        state.apply(&start);
        state.index_bytes = writer.index_len();
        let session = Arc::new(Session::new(&self.feed, id, dir, state));
        *session.writer() = Some(writer);
        self.library.insert(session.clone());
        info!(feed = %self.feed, session = %session.name(), "recording session started");
        Ok(Open {
            session,
            members: HashMap::new(),
            inits: HashSet::new(),
        })
    }

    fn end(&mut self, rendition: &str, token: u64, end_ms: i64) {
        let all_ended = match self.open.as_mut() {
            Some(open) => match open.members.get_mut(rendition) {
                Some(m) if m.info.token == token => {
                    m.ended = true;
                    open.members.values().all(|m| m.ended)
                }
                _ => false,
            },
            None => false,
        };
        if all_ended {
            self.close(end_ms);
        }
    }

    /// Ends the open session (EXT-X-ENDLIST in its playlists).
    fn close(&mut self, end_ms: i64) {
        let Some(open) = self.open.take() else {
            return;
        };
        let end_ms = end_ms.max(open.session.lock().last_time_ms());
        let end = Record::End { end_ms };
        if let Err(e) = open.session.append(&end) {
            // Recovery at the next start closes it on disk.
            warn!(feed = %self.feed, session = %open.session.name(), "cannot record the end of the session: {e}");
            open.session.lock().apply(&end);
        }
        // Retention reopens it if it trims the session.
        *open.session.writer() = None;
        info!(feed = %self.feed, session = %open.session.name(), "recording session ended");
    }

    /// The feed is gone from memory: a session still open ends where its media ends.
    pub fn finish(&mut self) {
        if let Some(open) = &self.open {
            let end_ms = open.session.lock().last_time_ms();
            self.close(end_ms);
        }
    }
}

/// The task: jobs one at a time until every tap is dropped, then [`FeedRecorder::finish`].
pub(super) async fn run(
    mut rx: mpsc::UnboundedReceiver<Job>,
    mut rec: FeedRecorder,
    shared: Arc<TapShared>,
) {
    while let Some(job) = rx.recv().await {
        if matches!(job, Job::Segment { .. }) {
            shared.queued.fetch_sub(1, Ordering::SeqCst);
        }
        let feed = rec.feed.clone();
        let done = tokio::task::spawn_blocking(move || {
            rec.handle(job);
            rec
        })
        .await;
        shared.pending.done();
        match done {
            Ok(r) => rec = r,
            Err(e) => {
                error!(feed, "the recorder stopped: {e}");
                // What is left is not waited for; what the session has is closed at the
                // next start.
                rx.close();
                while rx.try_recv().is_ok() {
                    shared.pending.done();
                }
                return;
            }
        }
    }
    let _ = tokio::task::spawn_blocking(move || rec.finish()).await;
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::segmenter::PartBytes;
    use bytes::Bytes;

    pub fn info(name: &str, token: u64) -> RenditionInfo {
        RenditionInfo {
            name: name.into(),
            token,
            target_duration: 2,
            bandwidth: 1_000_000,
            average_bandwidth: 800_000,
            codecs: Some("avc1.64001f,mp4a.40.2".into()),
            resolution: Some((320, 240)),
            frame_rate: Some(25.0),
            audio_only: false,
            fmp4: false,
        }
    }

    pub fn entry(name: &str, msn: u64, discontinuity: bool) -> SegmentEntry {
        SegmentEntry {
            rendition: name.into(),
            msn,
            duration: 180_000,
            pdt_ms: 1_764_921_600_000 + 2000 * msn as i64,
            discontinuity,
            independent: true,
            bytes: 0,
            gap: false,
            init: None,
        }
    }

    pub fn parts(msn: u64) -> Arc<[StoredPart]> {
        let data = PartBytes::from_pieces(vec![
            Bytes::from(vec![0x47; 188]),
            Bytes::from(vec![msn as u8; 188 * 3]),
        ]);
        Arc::from(vec![StoredPart {
            data,
            duration: crate::ts::Ts(180_000),
            independent: true,
            mp4: None,
        }])
    }

    pub fn segment(name: &str, token: u64, msn: u64, disc: bool) -> Job {
        Job::Segment {
            info: info(name, token),
            entry: entry(name, msn, disc),
            parts: parts(msn),
            init: None,
        }
    }

    pub fn recorder(root: &std::path::Path) -> (FeedRecorder, Arc<Library>, Counters) {
        let library = Arc::new(Library::new(root.to_path_buf()));
        let counters = Counters::default();
        let rec = FeedRecorder::new("cam", library.clone(), counters.clone(), Clock::new());
        (rec, library, counters)
    }

    #[test]
    fn a_session_keeps_its_segments_discontinuities_and_gaps_until_its_end() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut rec, library, counters) = recorder(tmp.path());
        let token = 0x1aaa_0000_0001;
        rec.handle(segment("main", token, 1, false));
        rec.handle(segment("main", token, 2, false));
        // A publisher came back within the grace: same token, a discontinuity.
        rec.handle(segment("main", token, 3, true));
        rec.handle(Job::Lost {
            info: info("main", token),
            entry: entry("main", 4, false),
            why: "test",
        });
        rec.handle(segment("main", token, 5, false));
        let s = library.get("cam", token).expect("the session is listed");
        {
            let st = s.lock();
            assert_eq!(st.end_ms, None);
            let r = &st.renditions["main"];
            let msns: Vec<(u64, bool, bool)> = r
                .segments
                .iter()
                .map(|e| (e.msn, e.discontinuity, e.gap))
                .collect();
            assert_eq!(
                msns,
                [
                    (1, false, false),
                    (2, false, false),
                    (3, true, false),
                    (4, false, true),
                    (5, false, false)
                ]
            );
            assert_eq!(st.bytes, 4 * 188 * 4);
            let file = tmp
                .path()
                .join("cam/1aaa00000001/main/seg-1aaa00000001-5.ts");
            assert_eq!(std::fs::read(file).unwrap().len(), 188 * 4);
        }
        assert_eq!(counters.segments.get(), 4);
        assert_eq!(counters.bytes.get(), 4 * 188 * 4);
        // An end for another token is not this session's.
        rec.handle(Job::End {
            rendition: "main".into(),
            token: 7,
            end_ms: 1,
        });
        assert_eq!(s.lock().end_ms, None);
        rec.handle(Job::End {
            rendition: "main".into(),
            token,
            end_ms: 1_764_921_612_000,
        });
        assert_eq!(s.lock().end_ms, Some(1_764_921_612_000));
        assert_eq!(library.last_msn("cam"), Some(5));
    }

    #[test]
    fn renditions_join_the_open_session_and_a_new_token_starts_the_next() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut rec, library, _) = recorder(tmp.path());
        let (a, b, c) = (0x1000_0000_000a, 0x1000_0000_000b, 0x1000_0000_000c);
        rec.handle(segment("hi", a, 1, false));
        rec.handle(segment("lo", b, 1, false));
        rec.handle(segment("hi", a, 2, false));
        let first = library.get("cam", a).unwrap();
        assert!(library.get("cam", b).is_none(), "lo joined hi's session");
        assert_eq!(
            first.lock().renditions.keys().collect::<Vec<_>>(),
            ["hi", "lo"]
        );
        // One rendition ending does not end the session.
        rec.handle(Job::End {
            rendition: "hi".into(),
            token: a,
            end_ms: 0,
        });
        assert_eq!(first.lock().end_ms, None);
        // "lo" starts a new live session (new token): the recording session moves on.
        rec.handle(segment("lo", c, 2, false));
        assert!(first.lock().end_ms.is_some());
        let second = library.get("cam", c).unwrap();
        assert_eq!(second.lock().renditions["lo"].segments.len(), 1);
        assert_eq!(
            library
                .sessions("cam")
                .iter()
                .map(|s| s.id)
                .collect::<Vec<_>>(),
            [a, c]
        );
    }

    #[test]
    fn an_unwritable_directory_loses_segments_not_the_recorder() {
        let tmp = tempfile::tempdir().unwrap();
        // The root is a file: nothing can be created below it.
        let root = tmp.path().join("file");
        std::fs::write(&root, b"x").unwrap();
        let (mut rec, library, counters) = recorder(&root);
        rec.handle(segment("main", 0x1000_0000_0001, 1, false));
        rec.handle(segment("main", 0x1000_0000_0001, 2, false));
        assert_eq!(
            counters
                .lost
                .get_or_create(&[("reason", "write_error")])
                .get(),
            2
        );
        assert_eq!(library.count(), 0);
    }
}
