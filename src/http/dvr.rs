//! Segments (and fMP4 inits) of a live DVR playlist (`hls.dvr_window`) that are no longer in
//! memory: read from the recording under their live URI
//! (`/live/{feed}/{rendition}/seg-{token}-{msn}.ts|.m4s`, `init-{token}-{n}.mp4`), so a
//! segment keeps its URI as it moves from the window into the DVR prefix, and signed
//! playback, CORS and caching are the live route's. Only files the recording's index lists
//! are read (never a path of the client's making).

use super::App;
use super::error::HttpError;
use crate::playlist::Container;
use crate::record::dvr::{init_file, segment_file, session_of};
use crate::record::library::Session;
use bytes::Bytes;
use std::path::PathBuf;

/// A recorded segment of `rendition` made under `token`, read from disk.
pub async fn recorded_segment(
    app: &App,
    feed: &str,
    rendition: &str,
    token: u64,
    msn: u64,
    container: Container,
) -> Result<Vec<Bytes>, HttpError> {
    read(app, feed, rendition, token, |s| {
        segment_file(s, rendition, token, msn, container)
    })
    .await
}

/// A recorded fMP4 init of `rendition` made under `token`, read from disk.
pub async fn recorded_init(
    app: &App,
    feed: &str,
    rendition: &str,
    token: u64,
    number: u32,
) -> Result<Vec<Bytes>, HttpError> {
    read(app, feed, rendition, token, |s| {
        init_file(s, rendition, token, number)
    })
    .await
}

async fn read(
    app: &App,
    feed: &str,
    rendition: &str,
    token: u64,
    file: impl FnOnce(&Session) -> Option<PathBuf>,
) -> Result<Vec<Bytes>, HttpError> {
    if app.registry.config().hls.dvr_window <= 0.0 {
        return Err(HttpError::NoSegment);
    }
    let rec = app.registry.recorder().ok_or(HttpError::NoSegment)?;
    let path = session_of(rec.library(), feed, rendition, token)
        .and_then(|s| file(&s))
        .ok_or(HttpError::NoSegment)?;
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => Ok(vec![Bytes::from(bytes)]),
        _ => Err(HttpError::NoSegment),
    }
}
