//! Start-up: every `{dir}/{feed}/{session}/index` is read back into the library. A torn
//! tail record (a crash in the middle of an append) is cut off; a session with no `End`
//! (the server was killed, or the machine lost power) is ended where its last indexed
//! segment ends; segment files no record names (written, not yet indexed) are removed, and
//! so is a session whose index holds not even its `Start`. What the index listed stays:
//! a crash loses at most the segment being written.

use super::index::{self, INDEX_FILE, Record};
use super::library::{Library, Session, SessionState, parse_session};
use super::writer::{SessionWriter, sync_dir};
use crate::ingest::valid_name;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracing::{info, warn};

/// Reads every recording under the library's root into it.
pub fn recover(library: &Library) -> io::Result<()> {
    for feed in std::fs::read_dir(library.root())? {
        let feed = feed?;
        let Some(name) = feed.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !valid_name(&name) || !feed.file_type()?.is_dir() {
            continue;
        }
        for session in std::fs::read_dir(feed.path())? {
            let session = session?;
            let Some(id) = session.file_name().to_str().and_then(parse_session) else {
                continue;
            };
            match recover_session(&name, id, session.path()) {
                Ok(Some(s)) => library.insert(Arc::new(s)),
                Ok(None) => {}
                Err(e) => {
                    warn!(feed = name, session = %format!("{id:x}"), "cannot read the recording, left out: {e}")
                }
            }
        }
    }
    Ok(())
}

fn recover_session(feed: &str, id: u64, dir: PathBuf) -> io::Result<Option<Session>> {
    let bytes = match std::fs::read(dir.join(INDEX_FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            warn!(feed, dir = %dir.display(), "a session directory without an index: left alone");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let read = index::read(&bytes);
    if !matches!(read.records.first(), Some(Record::Start { .. })) {
        // Nothing was indexed: only the segment being written, if anything.
        std::fs::remove_dir_all(&dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        info!(feed, dir = %dir.display(), "removed a recording session with nothing indexed");
        return Ok(None);
    }
    let mut state = SessionState::default();
    for r in &read.records {
        state.apply(r);
    }
    state.index_bytes = read.valid_len;
    let torn = read.valid_len < bytes.len() as u64;
    if torn || state.end_ms.is_none() {
        let mut w = SessionWriter::reopen(dir.clone(), read.valid_len)?;
        if state.end_ms.is_none() {
            let end = Record::End {
                end_ms: state.last_time_ms(),
            };
            w.append(&end)?;
            state.apply(&end);
            state.index_bytes = w.index_len();
        }
        warn!(
            feed,
            session = %format!("{id:x}"),
            torn_bytes = bytes.len() as u64 - read.valid_len,
            "recording session left open by a crash: ended after its last indexed segment"
        );
    }
    remove_orphans(&dir, &state)?;
    state.init_bytes = init_bytes(&dir, &state);
    if state.is_empty() && state.renditions.values().any(|r| r.head > 0) {
        // Retention trimmed it all and died before removing it.
        std::fs::remove_dir_all(&dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        info!(feed, dir = %dir.display(), "removed a recording session retention left with no segment");
        return Ok(None);
    }
    Ok(Some(Session::new(feed, id, dir, state)))
}

/// Bytes of the fMP4 init files its listed segments need.
fn init_bytes(dir: &Path, state: &SessionState) -> u64 {
    state
        .renditions
        .iter()
        .flat_map(|(name, r)| {
            r.inits()
                .into_iter()
                .map(move |n| dir.join(name).join(r.init_name(n)))
        })
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// Removes segment files that no record of the session names.
fn remove_orphans(dir: &Path, state: &SessionState) -> io::Result<()> {
    for (name, r) in &state.renditions {
        let rdir = dir.join(name);
        let Ok(files) = std::fs::read_dir(&rdir) else {
            continue;
        };
        let listed: HashSet<String> = r
            .segments
            .iter()
            .filter(|s| !s.gap)
            .map(|s| r.segment_file(s))
            .chain(r.inits().into_iter().map(|n| r.init_name(n)))
            .collect();
        let mut removed = false;
        for f in files {
            let f = f?;
            if !f.file_name().to_str().is_some_and(|n| listed.contains(n)) {
                std::fs::remove_file(f.path())?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&rdir)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::task::Job;
    use crate::record::task::tests::{info, recorder, segment};
    use std::io::Write;

    /// A session cut off by a crash: records up to the last whole one are read back, the
    /// torn record and the segment file it would have named are gone, the session is ended
    /// after its last indexed segment; a second start changes nothing more.
    #[test]
    fn a_crashed_session_is_ended_after_its_last_indexed_segment() {
        let tmp = tempfile::tempdir().unwrap();
        let token = 0x1bbb_0000_0001;
        {
            let (mut rec, _, _) = recorder(tmp.path());
            for msn in 1..=3 {
                rec.handle(segment("main", token, msn, msn == 3));
            }
            // No end: the process dies here.
        }
        let dir = tmp.path().join("cam/1bbb00000001");
        // The segment being written when it died, and half of its record.
        std::fs::write(dir.join("main/seg-1bbb00000001-4.ts"), [0x47; 188]).unwrap();
        let torn = index::encode(&Record::Segment(crate::record::task::tests::entry(
            "main", 4, false,
        )));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(INDEX_FILE))
            .unwrap();
        f.write_all(&torn[..torn.len() - 5]).unwrap();
        drop(f);
        // An empty session: its Start never made it.
        std::fs::create_dir_all(tmp.path().join("cam/1ccc00000001")).unwrap();
        std::fs::write(tmp.path().join("cam/1ccc00000001/index"), [3, 0]).unwrap();
        // Names that are no feed or no session are left alone.
        std::fs::create_dir_all(tmp.path().join("cam/NOTHEX")).unwrap();
        std::fs::create_dir_all(tmp.path().join("not a feed/1")).unwrap();

        for start in 0..2 {
            let library = Library::new(tmp.path().to_path_buf());
            recover(&library).unwrap();
            assert_eq!(library.count(), 1, "start {start}");
            let s = library.get("cam", token).unwrap();
            let st = s.lock();
            let r = &st.renditions["main"];
            assert_eq!(
                r.segments.iter().map(|e| e.msn).collect::<Vec<_>>(),
                [1, 2, 3]
            );
            assert!(r.segments[2].discontinuity);
            assert_eq!(st.end_ms, Some(r.segments[2].pdt_ms + 2000));
            drop(st);
            assert_eq!(library.last_msn("cam"), Some(3));
            assert!(!dir.join("main/seg-1bbb00000001-4.ts").exists());
            assert!(dir.join("main/seg-1bbb00000001-3.ts").exists());
            assert!(!tmp.path().join("cam/1ccc00000001").exists());
            assert!(tmp.path().join("cam/NOTHEX").exists());
            let read = index::read(&std::fs::read(dir.join(INDEX_FILE)).unwrap());
            assert_eq!(
                read.valid_len,
                std::fs::metadata(dir.join(INDEX_FILE)).unwrap().len()
            );
            assert!(matches!(read.records.last(), Some(Record::End { .. })));
        }
        // The recorder goes on with new sessions beside it.
        let (mut rec, library, _) = recorder(tmp.path());
        recover(&library).unwrap();
        rec.handle(Job::Lost {
            info: info("main", 0x1ddd_0000_0001),
            entry: crate::record::task::tests::entry("main", 4, false),
            why: "test",
        });
        assert_eq!(library.count(), 2);
    }
}
