//! Retention (`record.retention_hours`, `record.max_gb`): the oldest segments of the
//! recording, over every feed and session, the one being recorded too (a camera that never
//! stops is one endless session), are trimmed while one is older than the retention or the
//! recordings take more than `max_gb`.
//!
//! Crash-safe in two steps per session: a `Head` record per trimmed rendition is appended
//! to the index and fsynced (the library stops listing the segments), then the files are
//! removed and their directory synced. A crash in between leaves files the index no longer
//! names: the next start ([`super::recover`]) removes them. An ended session left with no
//! segment is removed whole (library, then directory).
//!
//! Runs after each recorded segment and once a minute (ages pass without segments), on the
//! blocking pool, one run at a time; the common case (nothing to trim) is a pass over the
//! sessions' first segments and byte counts.

use super::index::Record;
use super::library::{Library, Session};
use super::writer::sync_dir;
use prometheus_client::metrics::counter::Counter;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::{Arc, Mutex};
use tracing::{info, warn};

/// What retention keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Milliseconds a segment is kept after its end.
    pub max_age_ms: i64,
    /// Bytes all recordings may take; `None`: no limit.
    pub max_bytes: Option<u64>,
}

impl Limits {
    pub fn new(retention_hours: f64, max_gb: f64) -> Self {
        Limits {
            max_age_ms: (retention_hours * 3_600_000.0) as i64,
            max_bytes: (max_gb > 0.0).then_some((max_gb * 1e9) as u64),
        }
    }
}

/// Counters of what retention removed.
#[derive(Debug, Clone, Default)]
pub struct TrimCounters {
    pub segments: Counter,
    pub bytes: Counter,
}

/// The retention of one library; [`Retention::run`] trims what the limits no longer keep.
#[derive(Debug)]
pub struct Retention {
    limits: Limits,
    counters: TrimCounters,
    running: Mutex<()>,
}

/// What one run trimmed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Trimmed {
    pub segments: u64,
    pub bytes: u64,
    /// Ended sessions removed because nothing was left in them.
    pub sessions: u64,
}

/// A rendition's segments, as the oldest-first merge walks them.
struct Cursor {
    session: usize,
    rendition: String,
    /// (end of the segment on the PDT timeline, msn, bytes), oldest first.
    segments: Vec<(i64, u64, u64)>,
    at: usize,
}

impl Retention {
    pub fn new(limits: Limits, counters: TrimCounters) -> Self {
        Retention {
            limits,
            counters,
            running: Mutex::new(()),
        }
    }

    /// Trims the library at `now_ms` (unix ms). Blocking I/O. A run already going on
    /// elsewhere makes this one return at once (it covers the same library).
    pub fn run(&self, library: &Library, now_ms: i64) -> Trimmed {
        let Ok(_guard) = self.running.try_lock() else {
            return Trimmed::default();
        };
        let cutoff = now_ms - self.limits.max_age_ms;
        let sessions = library.all();
        // Segments, inits and indexes. The merge below takes segments off, and an ended
        // session's index and inits with its last segment (it is removed whole); an init
        // freed with the last segment needing it, and the Head records' bytes, are left out
        // of the estimate.
        let total: u64 = sessions.iter().map(|s| s.lock().disk_bytes()).sum();
        let over = |total: u64| self.limits.max_bytes.is_some_and(|m| total > m);
        let oldest = sessions
            .iter()
            .filter_map(|s| {
                let st = s.lock();
                st.renditions
                    .values()
                    .filter_map(|r| r.segments.first())
                    .map(|e| e.pdt_ms + e.duration / 90)
                    .min()
            })
            .min();
        if !over(total) && oldest.is_none_or(|t| t >= cutoff) {
            return Trimmed::default();
        }
        // Oldest first over every rendition of every session: a k-way merge.
        let mut cursors: Vec<Cursor> = Vec::new();
        // Per session: segments not taken yet, and what goes with the last one.
        let mut left: Vec<(usize, u64)> = Vec::new();
        for (i, s) in sessions.iter().enumerate() {
            let st = s.lock();
            let segments = st.renditions.values().map(|r| r.segments.len()).sum();
            let whole = st.end_ms.map_or(0, |_| st.index_bytes + st.init_bytes);
            left.push((segments, whole));
            for (name, r) in &st.renditions {
                cursors.push(Cursor {
                    session: i,
                    rendition: name.clone(),
                    segments: r
                        .segments
                        .iter()
                        .map(|e| (e.pdt_ms + e.duration / 90, e.msn, e.bytes))
                        .collect(),
                    at: 0,
                });
            }
        }
        let mut heap: BinaryHeap<Reverse<(i64, usize)>> = cursors
            .iter()
            .enumerate()
            .filter_map(|(c, x)| x.segments.first().map(|s| Reverse((s.0, c))))
            .collect();
        let mut total = total;
        while let Some(Reverse((end, c))) = heap.pop() {
            if end >= cutoff && !over(total) {
                break;
            }
            let cur = &mut cursors[c];
            total -= cur.segments[cur.at].2.min(total);
            let (n, whole) = &mut left[cur.session];
            *n -= 1;
            if *n == 0 {
                total -= (*whole).min(total);
            }
            cur.at += 1;
            if let Some(next) = cur.segments.get(cur.at) {
                heap.push(Reverse((next.0, c)));
            }
        }
        // Per session: the new heads, then the files.
        let mut heads: BTreeMap<usize, Vec<(String, u64, Vec<u64>)>> = BTreeMap::new();
        for cur in cursors.into_iter().filter(|c| c.at > 0) {
            let head = cur
                .segments
                .get(cur.at)
                .map_or(cur.segments[cur.at - 1].1 + 1, |s| s.1);
            let msns = cur.segments[..cur.at].iter().map(|s| s.1).collect();
            heads
                .entry(cur.session)
                .or_default()
                .push((cur.rendition, head, msns));
        }
        let mut out = Trimmed::default();
        for (i, renditions) in heads {
            match trim_session(library, &sessions[i], renditions) {
                Ok(t) => {
                    out.segments += t.segments;
                    out.bytes += t.bytes;
                    out.sessions += t.sessions;
                }
                Err(e) => {
                    warn!(feed = %sessions[i].feed, session = %sessions[i].name(), "retention cannot trim the recording: {e}")
                }
            }
        }
        self.counters.segments.inc_by(out.segments);
        self.counters.bytes.inc_by(out.bytes);
        out
    }
}

/// Moves the heads of a session's renditions (`(rendition, new head, trimmed msns)`), then
/// removes the trimmed files, then the session if it ended and nothing is left.
fn trim_session(
    library: &Library,
    s: &Arc<Session>,
    renditions: Vec<(String, u64, Vec<u64>)>,
) -> std::io::Result<Trimmed> {
    let mut out = Trimmed::default();
    let mut files = Vec::new();
    let mut moved = Vec::new();
    let mut inits = Vec::new();
    for (rendition, head, msns) in renditions {
        let (before, inits_before, names) = {
            let st = s.lock();
            let r = st.renditions.get(&rendition);
            let inits = r.map(|r| r.inits());
            // Named while still listed: each segment's own container.
            let names: Vec<String> = r
                .map(|r| {
                    msns.iter()
                        .filter_map(|m| r.segment(*m))
                        .map(|e| r.segment_file(e))
                        .collect()
                })
                .unwrap_or_default();
            (st.bytes, inits.unwrap_or_default(), names)
        };
        s.append(&Record::Head {
            rendition: rendition.clone(),
            msn: head,
        })?;
        let st = s.lock();
        out.bytes += before - st.bytes.min(before);
        out.segments += msns.len() as u64;
        if let Some(r) = st.renditions.get(&rendition) {
            let dir = s.dir.join(&rendition);
            for name in names {
                files.push((dir.clone(), dir.join(name)));
            }
            // fMP4 inits no listed segment needs any more.
            let kept = r.inits();
            for n in inits_before.difference(&kept) {
                inits.push(dir.join(r.init_name(*n)));
            }
            moved.push((rendition, r.info.token, head));
        }
    }
    // The index no longer lists them: a live DVR playlist drops them before the files go.
    for (rendition, token, head) in moved {
        library.head_moved(&s.feed, &rendition, token, head);
    }
    let mut init_bytes = 0;
    for f in inits {
        init_bytes += std::fs::metadata(&f).map_or(0, |m| m.len());
        if let Some(dir) = f.parent() {
            files.push((dir.to_path_buf(), f.clone()));
        }
    }
    {
        let mut st = s.lock();
        st.init_bytes -= init_bytes.min(st.init_bytes);
    }
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    for (dir, f) in files {
        match std::fs::remove_file(&f) {
            Ok(()) => {}
            // A gap has no file.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    for d in &dirs {
        sync_dir(d)?;
    }
    let (ended, empty) = {
        let st = s.lock();
        (st.end_ms.is_some(), st.is_empty())
    };
    info!(feed = %s.feed, session = %s.name(), segments = out.segments, bytes = out.bytes, "retention trimmed the oldest recorded segments");
    if ended {
        // Reopened for the Head records: no file stays open per ended session.
        *s.writer() = None;
    }
    if ended && empty {
        library.remove(&s.feed, s.id);
        std::fs::remove_dir_all(&s.dir)?;
        if let Some(parent) = s.dir.parent() {
            sync_dir(parent)?;
        }
        out.sessions = 1;
        info!(feed = %s.feed, session = %s.name(), "retention removed a recording session left with no segment");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::index::{self, INDEX_FILE};
    use crate::record::playlist;
    use crate::record::recover::recover;
    use crate::record::task::Job;
    use crate::record::task::tests::{recorder, segment};

    const SEG: u64 = 188 * 4;
    const A: u64 = 0x1aaa_0000_0001;
    const B: u64 = 0x1bbb_0000_0001;

    /// Session A (msn 1-3, ended), then B (4-6, recording, a discontinuity at 5).
    fn two_sessions(root: &std::path::Path) -> (Arc<Library>, TrimCounters) {
        let (mut rec, library, counters) = recorder(root);
        for msn in 1..=3 {
            rec.handle(segment("main", A, msn, false));
        }
        rec.handle(Job::End {
            rendition: "main".into(),
            token: A,
            end_ms: 0,
        });
        for msn in 4..=6 {
            rec.handle(segment("main", B, msn, msn == 5));
        }
        // Kept open: the recorder's writer stays with the session.
        std::mem::forget(rec);
        (library, counters.trimmed)
    }

    fn file(root: &std::path::Path, token: u64, msn: u64) -> std::path::PathBuf {
        root.join(format!("cam/{token:x}/main/seg-{token:x}-{msn}.ts"))
    }

    fn msns(s: &Session) -> Vec<u64> {
        s.lock().renditions["main"]
            .segments
            .iter()
            .map(|e| e.msn)
            .collect()
    }

    #[test]
    fn size_trims_the_oldest_across_sessions_the_recording_one_too() {
        let tmp = tempfile::tempdir().unwrap();
        let (library, counters) = two_sessions(tmp.path());
        let r = Retention::new(Limits::new(1e6, 0.0), counters.clone());
        let now = 1_764_921_600_000 + 20_000;
        assert_eq!(r.run(&library, now), Trimmed::default(), "no size limit");
        // Two segments and B's index (with room for the Head record to come): A's index goes
        // with A.
        let b_index = library.get("cam", B).unwrap().lock().index_bytes;
        assert!(b_index > 0);
        let r = Retention::new(
            Limits {
                max_bytes: Some(2 * SEG + b_index + 64),
                ..Limits::new(1e6, 0.0)
            },
            counters.clone(),
        );
        let t = r.run(&library, now);
        assert_eq!(
            t,
            Trimmed {
                segments: 4,
                bytes: 4 * SEG,
                sessions: 1
            }
        );
        assert_eq!(
            (counters.segments.get(), counters.bytes.get()),
            (4, 4 * SEG)
        );
        // A is gone whole: library, directory.
        assert!(library.get("cam", A).is_none());
        assert!(!tmp.path().join(format!("cam/{A:x}")).exists());
        // B lost its first segment; its index says so before the file went.
        let b = library.get("cam", B).unwrap();
        assert_eq!(msns(&b), [5, 6]);
        assert!(!file(tmp.path(), B, 4).exists());
        assert!(file(tmp.path(), B, 5).exists());
        assert_eq!(b.lock().bytes, 2 * SEG);
        let recs = index::read(&std::fs::read(b.dir.join(INDEX_FILE)).unwrap()).records;
        assert!(recs.contains(&Record::Head {
            rendition: "main".into(),
            msn: 5
        }));
        // The playlist starts at the new first segment; the discontinuity before it counts.
        let st = b.lock();
        let text = playlist::media(&st.renditions["main"], false);
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:5\n"), "{text}");
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
        assert!(!text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
        assert!(!text.contains("PLAYLIST-TYPE"), "{text}");
        assert!(!text.contains("seg-1bbb00000001-4.ts"), "{text}");
        let m = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        assert_eq!((m.media_sequence, m.discontinuity_sequence), (5, 1));
        drop(st);
        // Within the limit now: nothing more.
        assert_eq!(r.run(&library, now), Trimmed::default());
        assert_eq!(library.last_msn("cam"), Some(6));
    }

    #[test]
    fn age_trims_segments_that_ended_before_the_retention() {
        let tmp = tempfile::tempdir().unwrap();
        let (library, counters) = two_sessions(tmp.path());
        // Segment n ends at base + 2 s·n + 2 s: one hour after segment 4's end.
        let now = 1_764_921_600_000 + 2000 * 4 + 2000 + 3_600_000;
        let r = Retention::new(Limits::new(1.0, 0.0), counters);
        let t = r.run(&library, now);
        assert_eq!((t.segments, t.sessions), (3, 1));
        assert_eq!(msns(&library.get("cam", B).unwrap()), [4, 5, 6]);
        let t = r.run(&library, now + 2000);
        assert_eq!(t.segments, 1);
        assert_eq!(msns(&library.get("cam", B).unwrap()), [5, 6]);
        for msn in 1..=4 {
            assert!(!file(tmp.path(), if msn < 4 { A } else { B }, msn).exists());
        }
    }

    /// Killed between the head record and the files' removal: the next start removes the
    /// files before the head, and a session with nothing left.
    #[test]
    fn a_crash_between_the_head_record_and_the_removal_is_finished_at_start() {
        let tmp = tempfile::tempdir().unwrap();
        let (library, _) = two_sessions(tmp.path());
        let a = library.get("cam", A).unwrap();
        let b = library.get("cam", B).unwrap();
        a.append(&Record::Head {
            rendition: "main".into(),
            msn: 4,
        })
        .unwrap();
        b.append(&Record::Head {
            rendition: "main".into(),
            msn: 6,
        })
        .unwrap();
        // The process dies here: every file is still there.
        assert!(file(tmp.path(), A, 1).exists() && file(tmp.path(), B, 5).exists());
        drop((a, b, library));
        let library = Library::new(tmp.path().to_path_buf());
        recover(&library).unwrap();
        assert!(library.get("cam", A).is_none());
        assert!(!tmp.path().join(format!("cam/{A:x}")).exists());
        let b = library.get("cam", B).unwrap();
        assert_eq!(msns(&b), [6]);
        assert!(!file(tmp.path(), B, 4).exists() && !file(tmp.path(), B, 5).exists());
        assert!(file(tmp.path(), B, 6).exists());
        let st = b.lock();
        let text = playlist::media(&st.renditions["main"], true);
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:6\n"), "{text}");
        assert!(text.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"), "{text}");
        assert_eq!(st.bytes, SEG);
    }

    /// fMP4: `.m4s` files and their inits; an init goes with the last segment needing it,
    /// and the next start keeps the inits the index still needs.
    #[test]
    fn fmp4_inits_go_with_the_last_segment_needing_them() {
        use crate::playlist::{Mp4Part, StoredPart};
        use crate::record::task::tests::{entry, info};
        let tmp = tempfile::tempdir().unwrap();
        let (mut rec, library, counters) = recorder(tmp.path());
        let token = 0x1fff_0000_0001;
        for msn in 1..=4u64 {
            let init = u32::from(msn > 2);
            let mut i = info("main", token);
            i.fmp4 = true;
            rec.handle(Job::Segment {
                info: i,
                entry: entry("main", msn, false),
                parts: Arc::from(vec![StoredPart {
                    data: crate::segmenter::PartBytes::from_pieces(vec![]),
                    duration: crate::ts::Ts(180_000),
                    independent: true,
                    mp4: Some(Mp4Part {
                        data: bytes::Bytes::from(vec![msn as u8; 100]),
                        init,
                    }),
                }]),
                init: Some((init, bytes::Bytes::from(vec![0xaa; 10 + init as usize]))),
            });
        }
        let dir = tmp.path().join(format!("cam/{token:x}/main"));
        let name = |n: &str| dir.join(n.replace("T", &format!("{token:x}")));
        assert_eq!(std::fs::read(name("seg-T-3.m4s")).unwrap(), vec![3u8; 100]);
        assert_eq!(std::fs::read(name("init-T-1.mp4")).unwrap().len(), 11);
        let s = library.get("cam", token).unwrap();
        let text = playlist::media(&s.lock().renditions["main"], false);
        assert_eq!(text.matches("#EXT-X-MAP:URI=").count(), 2, "{text}");
        assert!(
            text.contains(&format!(
                "#EXT-X-MAP:URI=\"init-{token:x}-1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME"
            )),
            "{text}"
        );
        // Inits and index count: 4 × 100 bytes of segments, inits of 10 and 11 bytes.
        let (index_bytes, init_bytes) = {
            let st = s.lock();
            (st.index_bytes, st.init_bytes)
        };
        assert_eq!(init_bytes, 21);
        assert_eq!(
            index_bytes,
            std::fs::metadata(dir.parent().unwrap().join(INDEX_FILE))
                .unwrap()
                .len()
        );
        // Two segments, the init they need, the index and a Head record fit; three with
        // both inits do not.
        let r = Retention::new(
            Limits {
                max_bytes: Some(200 + 11 + index_bytes + 50),
                ..Limits::new(1e6, 0.0)
            },
            counters.trimmed,
        );
        assert_eq!(r.run(&library, 0).segments, 2);
        assert_eq!(s.lock().init_bytes, 11, "init 0 went");
        assert!(!name("seg-T-2.m4s").exists() && !name("init-T-0.mp4").exists());
        assert!(name("seg-T-3.m4s").exists() && name("init-T-1.mp4").exists());
        drop((s, rec, library));
        let library = Library::new(tmp.path().to_path_buf());
        recover(&library).unwrap();
        assert!(name("seg-T-4.m4s").exists() && name("init-T-1.mp4").exists());
        let s = library.get("cam", token).unwrap();
        assert_eq!(s.lock().init_bytes, 11, "counted again at start");
        let text = playlist::media(&s.lock().renditions["main"], true);
        assert_eq!(text.matches("#EXT-X-MAP:URI=").count(), 1, "{text}");
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:3\n"), "{text}");
    }
}
