//! One session on disk: `{dir}/{feed}/{session}/index` and
//! `{dir}/{feed}/{session}/{rendition}/seg-{token}-{msn}.ts`, written in the order that
//! makes a crash lose at most the segment being written: the segment file is written and
//! fsynced, then its directory (so the new name is durable), and only then its record is
//! appended to the index and the index fsynced. Blocking I/O: run off the async runtime.

use super::index::{self, INDEX_FILE, Record};
use bytes::Bytes;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes below this size are gathered before they reach the file.
const WRITE_BUFFER: usize = 64 * 1024;

/// An open session: its directory and its index, appended to.
#[derive(Debug)]
pub struct SessionWriter {
    dir: PathBuf,
    index: File,
    /// Length of the index's valid records.
    len: u64,
    /// Rendition directories known to exist (and be durable).
    made: HashSet<String>,
}

/// Makes a directory's entries durable (a new or removed name in it).
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Creates `path` and whatever of its parents is missing, each made durable in its parent.
fn create_dirs(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dirs(parent)?;
        match std::fs::create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(e) => return Err(e),
        }
        sync_dir(parent)
    } else {
        std::fs::create_dir_all(path)
    }
}

impl SessionWriter {
    /// Starts a new session in `dir` (which must not hold one) with its `Start` record.
    pub fn create(dir: PathBuf, start: &Record) -> io::Result<SessionWriter> {
        create_dirs(&dir)?;
        let index = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(dir.join(INDEX_FILE))?;
        sync_dir(&dir)?;
        let mut w = SessionWriter {
            dir,
            index,
            len: 0,
            made: HashSet::new(),
        };
        w.append(start)?;
        Ok(w)
    }

    /// Opens an existing session's index to append to it; `valid_len` is the length of its
    /// valid records: a torn tail beyond it is cut off first (and the cut made durable).
    pub fn reopen(dir: PathBuf, valid_len: u64) -> io::Result<SessionWriter> {
        let index = OpenOptions::new().append(true).open(dir.join(INDEX_FILE))?;
        if index.metadata()?.len() != valid_len {
            index.set_len(valid_len)?;
            index.sync_all()?;
        }
        Ok(SessionWriter {
            dir,
            index,
            len: valid_len,
            made: HashSet::new(),
        })
    }

    /// Bytes of the index written so far (its valid records).
    pub fn index_len(&self) -> u64 {
        self.len
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record and fsyncs the index. A failed append is cut off again, so the
    /// index never holds a torn record before whole ones.
    pub fn append(&mut self, record: &Record) -> io::Result<()> {
        let bytes = index::encode(record);
        let res = self
            .index
            .write_all(&bytes)
            .and_then(|()| self.index.sync_data());
        match res {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Best effort: if this fails too, the tail is torn and reading stops there.
                let _ = self.index.set_len(self.len);
                Err(e)
            }
        }
    }

    /// Writes a segment's file in its rendition's directory, fsyncs it and the directory;
    /// returns its length. The caller appends its record afterwards.
    pub fn write_segment<'a>(
        &mut self,
        rendition: &str,
        file_name: &str,
        pieces: impl Iterator<Item = &'a Bytes>,
    ) -> io::Result<u64> {
        let rdir = self.dir.join(rendition);
        if !self.made.contains(rendition) {
            create_dirs(&rdir)?;
            self.made.insert(rendition.to_string());
        }
        let path = rdir.join(file_name);
        let mut out = BufWriter::with_capacity(WRITE_BUFFER, File::create(&path)?);
        let mut len = 0u64;
        for p in pieces {
            out.write_all(p)?;
            len += p.len() as u64;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        sync_dir(&rdir)?;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_then_records_are_durable_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cam").join("1abc");
        let start = Record::Start {
            feed: "cam".into(),
            start_ms: 5,
        };
        let mut w = SessionWriter::create(dir.clone(), &start).unwrap();
        let pieces = [Bytes::from_static(b"abc"), Bytes::from(vec![7u8; 100_000])];
        let n = w
            .write_segment("main", "seg-1-1.ts", pieces.iter())
            .unwrap();
        assert_eq!(n, 100_003);
        let on_disk = std::fs::read(dir.join("main").join("seg-1-1.ts")).unwrap();
        assert_eq!(&on_disk[..3], b"abc");
        assert_eq!(on_disk.len(), 100_003);
        let end = Record::End { end_ms: 9 };
        w.append(&end).unwrap();
        let read = index::read(&std::fs::read(dir.join(INDEX_FILE)).unwrap());
        assert_eq!(read.records, vec![start.clone(), end.clone()]);
        // A second session cannot be created over the first.
        assert!(SessionWriter::create(dir.clone(), &start).is_err());
    }

    #[test]
    fn reopening_cuts_a_torn_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let start = Record::Start {
            feed: "cam".into(),
            start_ms: 5,
        };
        drop(SessionWriter::create(dir.clone(), &start).unwrap());
        let path = dir.join(INDEX_FILE);
        let whole = std::fs::metadata(&path).unwrap().len();
        // Half of a record, as a crash in the middle of an append leaves it.
        let torn = index::encode(&Record::End { end_ms: 7 });
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(f);
        let read = index::read(&std::fs::read(&path).unwrap());
        assert_eq!(read.records, vec![start.clone()]);
        assert_eq!(read.valid_len, whole);
        let mut w = SessionWriter::reopen(dir.clone(), read.valid_len).unwrap();
        w.append(&Record::End { end_ms: 8 }).unwrap();
        let read = index::read(&std::fs::read(&path).unwrap());
        assert_eq!(read.records, vec![start, Record::End { end_ms: 8 }]);
    }
}
