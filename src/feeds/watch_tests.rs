//! A rendition renders its playlists with every change only while it is watched (a
//! playlist request in the last `WATCH_LINGER_SECS`, or a reader waiting for a change);
//! delta updates only once one was asked for. A request that finds the current snapshot
//! without what it asks renders it at once, so what a reader sees is the same either way.
//! A synthetic publish, one frame per chunk, its events handed on as `ingest::lane` does;
//! time is tokio's, paused.

use super::Registry;
use super::rendition::{MediaFile, Rendition, Snapshot};
use crate::playlist::Container;
use crate::segmenter::{Event, Segmenter, SegmenterConfig};
use crate::synth::{Synth, frame_chunks};
use std::sync::Arc;
use std::time::Duration;

struct Publish {
    registry: Arc<Registry>,
    r: Arc<Rendition>,
    seg: Segmenter,
    chunks: std::vec::IntoIter<Vec<u8>>,
    frame: i64,
    guard: super::PublishGuard,
}

impl Publish {
    fn new(window: usize) -> Self {
        let mut config = crate::Config::default();
        // Long enough for CAN-SKIP-UNTIL, so delta updates exist.
        config.hls.window = window;
        let registry = Registry::new(Arc::new(config), crate::clock::Clock::new());
        let guard = registry
            .claim("watched", "main", "127.0.0.1:9".parse().unwrap())
            .unwrap();
        let input = Synth::default().build(25 * 60);
        Publish {
            registry,
            r: guard.rendition.clone(),
            seg: Segmenter::new(SegmenterConfig::new(2.0, None).with_parts(0.25, None)),
            chunks: frame_chunks(&input)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
                .into_iter(),
            frame: 0,
            guard,
        }
    }

    /// Hands on `n` frames (40 ms each) and their events.
    fn frames(&mut self, n: usize) {
        for chunk in self.chunks.by_ref().take(n) {
            let now_ms = 1_000_000 + 40 * self.frame;
            self.frame += 1;
            self.seg.push(&chunk, now_ms);
            while let Some(ev) = self.seg.poll_event() {
                match ev {
                    Event::Part(p) => assert!(self.r.push_part(&p, None).is_none()),
                    Event::Segment(s) => {
                        self.r.push_segment(s, 2 * 90_000, now_ms);
                    }
                    Event::TargetDuration(td) => self.registry.fix_target_duration(&self.r, td),
                    Event::PartTarget(pt) => self.registry.fix_part_target(&self.r, pt),
                    _ => {}
                }
            }
        }
    }
}

fn text(s: &Snapshot) -> Option<String> {
    let p = s.playlists(MediaFile::Default)?;
    Some(String::from_utf8(p.full.text.to_vec()).unwrap())
}

fn delta(s: &Snapshot) -> Option<String> {
    let p = s.playlists(MediaFile::Default)?;
    Some(String::from_utf8(p.delta?.text.to_vec()).unwrap())
}

#[tokio::test(start_paused = true)]
async fn playlists_are_rendered_while_watched_and_on_the_request_that_needs_them() {
    let mut p = Publish::new(10);
    p.frames(25 * 20);
    let snap = p.r.snapshot();
    // Nobody asked: a segment to list, no text rendered.
    assert!(snap.listable && snap.position.next_msn >= 3);
    assert!(text(&snap).is_none());
    // The multivariant playlist lists the rendition all the same.
    p.guard.feed.update_multivariant();
    let mv = p
        .guard
        .feed
        .subscribe_multivariant()
        .borrow()
        .clone()
        .unwrap();
    assert!(
        std::str::from_utf8(&mv.rendered.text)
            .unwrap()
            .contains("main/media.m3u8")
    );

    // A request renders the current state at once: the same text as a watched rendition's.
    p.r.want(MediaFile::Default, false);
    let first = text(&p.r.snapshot()).expect("rendered by the request");
    assert!(first.contains("#EXT-X-PRELOAD-HINT"), "{first}");
    // No delta update until one is asked for, though CAN-SKIP-UNTIL is advertised.
    assert!(first.contains("CAN-SKIP-UNTIL="));
    assert!(delta(&p.r.snapshot()).is_none());
    p.r.want(MediaFile::Default, true);
    let d = delta(&p.r.snapshot()).expect("rendered by the skip request");
    assert!(d.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS="), "{d}");

    // Watched: every change is rendered, its delta update too.
    for _ in 0..30 {
        p.frames(3);
        let snap = p.r.snapshot();
        assert!(text(&snap).is_some() && delta(&snap).is_some());
    }
    let watched = text(&p.r.snapshot()).unwrap();

    // Unwatched after the linger: changes are published without text...
    tokio::time::advance(Duration::from_secs(super::rendition::WATCH_LINGER_SECS + 2)).await;
    p.frames(10);
    assert!(text(&p.r.snapshot()).is_none());
    let next_msn = p.r.snapshot().position.next_msn;
    // ...unless a reader waits for a change.
    let mut rx = p.r.subscribe();
    p.frames(10);
    assert!(rx.has_changed().unwrap());
    let woken = rx.borrow_and_update().clone();
    assert!(text(&woken).is_some() && delta(&woken).is_some());
    drop((rx, woken));
    p.frames(10);
    let snap = p.r.snapshot();
    assert!(text(&snap).is_none());
    // `rendered` hands a reader the current state rendered, with what it asks.
    let again = p.r.rendered(snap, MediaFile::Default, true);
    let later = text(&again).unwrap();
    assert!(delta(&again).is_some());
    assert!(again.position.next_msn >= next_msn);
    assert_ne!(later, watched);
    // Rendering the same state again gives the same text.
    p.r.want(MediaFile::Default, false);
    assert_eq!(text(&p.r.snapshot()).unwrap(), later);
}

#[tokio::test(start_paused = true)]
async fn a_forced_file_is_rendered_on_request_when_unwatched() {
    let mut p = Publish::new(6);
    p.frames(25 * 5);
    assert!(text(&p.r.snapshot()).is_none());
    let file = MediaFile::Forced(Container::Ts);
    assert!(p.r.snapshot().playlists(file).is_none());
    p.r.want(file, false);
    let snap = p.r.snapshot();
    let forced = snap.playlists(file).expect("rendered by the request");
    assert!(
        String::from_utf8(forced.full.text.to_vec())
            .unwrap()
            .contains("#EXTINF:")
    );
    // Six segments: no CAN-SKIP-UNTIL, so no delta update even when one is asked for.
    p.r.want(file, true);
    assert!(p.r.snapshot().playlists(file).unwrap().delta.is_none());
}
