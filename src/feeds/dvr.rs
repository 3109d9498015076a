//! A rendition's DVR (`hls.dvr_window`): the segments that left its window, listed before it
//! in the media playlist of the container the recording keeps (the feed's default one) as
//! far back as the DVR window reaches (`playlist::dvr`), their bytes (and fMP4 inits) read
//! from the recording (`http::playback` falls back to it for a segment or init no longer
//! in memory). Lives in the rendition's state and follows its window: each segment leaving
//! the window is appended when the next one is pushed, with EXT-X-GAP when the recording's
//! index lists it as lost; a new session (new token) or container starts an empty prefix. Segments
//! retention trims from the recording (its rendition's head) leave the prefix as retention
//! moves the head (`Library::on_head_moved`, before their files go), and at the next
//! segment for those that were still in the window then. Memory: the
//! prefix's entries and text, ~100 bytes a segment; no media.

use crate::playlist::{Container, DvrPrefix, Window};
use crate::record::dvr::{entry, session_of};
use crate::record::library::{Library, Session};
use crate::ts::Ts;
use std::sync::Arc;

#[derive(Debug)]
pub struct Dvr {
    /// How far back the playlist reaches.
    span: Ts,
    pub prefix: DvrPrefix,
    library: Arc<Library>,
    /// The recording session of the prefix's token, once found.
    session: Option<Arc<Session>>,
}

impl Dvr {
    /// A DVR of `span` over `window`, whose leaving segments it starts tracking.
    pub fn new(span: Ts, library: Arc<Library>, window: &mut Window) -> Self {
        window.track_left();
        Dvr {
            span,
            prefix: DvrPrefix::new(Container::Ts),
            library,
            session: None,
        }
    }

    /// Lists the segments that left `window` since the last call, then trims the prefix to
    /// the DVR window. Called under the rendition's lock after every segment (lock order:
    /// rendition, then the library, then a session; the recorder takes the latter two
    /// without the first, and holds neither across I/O).
    pub fn follow(
        &mut self,
        feed: &str,
        rendition: &str,
        window: &mut Window,
        container: Container,
    ) {
        if self.prefix.container() != container {
            self.prefix = DvrPrefix::new(container);
        }
        for s in window.take_left() {
            if self.session.as_ref().is_none_or(|x| {
                x.lock()
                    .renditions
                    .get(rendition)
                    .is_none_or(|r| r.info.token != s.token)
            }) {
                self.session = session_of(&self.library, feed, rendition, s.token);
            }
            // Not indexed yet (the recorder is behind): listed as a segment; if it turns
            // out lost, a request for it is answered 404 once memory no longer has it.
            let gap = self
                .session
                .as_ref()
                .and_then(|x| entry(x, rendition, s.msn))
                .is_some_and(|e| e.gap);
            self.prefix.append(&s, gap);
        }
        self.prefix.trim(self.span, window.duration());
        // Retention may have trimmed the recording inside the DVR window.
        let head = self.session.as_ref().and_then(|x| {
            let st = x.lock();
            st.renditions
                .get(rendition)
                .filter(|r| Some(r.info.token) == self.prefix.token())
                .map(|r| r.head)
        });
        if let Some(head) = head {
            self.prefix.trim_before(head);
        }
    }

    /// Retention trimmed the recording of `token` before `head`: drops those segments;
    /// whether the prefix changed.
    pub fn trimmed(&mut self, token: u64, head: u64) -> bool {
        let listed =
            self.prefix.token() == Some(token) && self.prefix.first_msn().is_some_and(|f| f < head);
        if listed {
            self.prefix.trim_before(head);
        }
        listed
    }

    pub fn span(&self) -> Ts {
        self.span
    }

    /// A new session: what the window retired is not listed, the prefix starts empty.
    pub fn restart(&mut self, window: &mut Window) {
        window.take_left();
        self.prefix.clear();
        self.session = None;
    }
}
