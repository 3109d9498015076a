//! `limits.max_ingest_speed`: how fast a publish is read, in media time per wall-clock time.
//!
//! A [`Pacer`] is a token bucket of media time, sans-I/O (time passed in): it starts full
//! with one window's worth (`hls.window` × `hls.segment_duration`: an encoder's backlog after
//! connecting may come at once), wall-clock time refills it at `speed` × real time up to that
//! burst, and the publish's media time drains it ([`Segmenter::media_time`]: the timeline
//! stream's progress, in which a timestamp jump starts a new reference and counts as
//! nothing, so a jump neither stalls the publish nor grants it a new burst). When the
//! bucket runs dry the transport stops reading for [`Pacer::delay`]'s answer, so TCP
//! backpressure slows the publisher down: nothing is refused or dropped. A publish in real
//! time never waits: it refills at `speed` ≥ 1 what it drains at 1.
//!
//! [`Segmenter::media_time`]: crate::segmenter::Segmenter::media_time

use crate::ts::Ts;

/// A pause shorter than this is not taken yet: the deficit is carried to the next chunk, so
/// a paced publish costs a timer at most every this many milliseconds, not one per chunk.
pub const MIN_PAUSE_MS: i64 = 50;

#[derive(Debug, Clone)]
pub struct Pacer {
    speed: f64,
    burst_ms: f64,
    /// Media time that may still be read now, in milliseconds (negative: owed).
    credit_ms: f64,
    last_wall_ms: i64,
    /// The media time at the last reading.
    last_media: Ts,
}

impl Pacer {
    /// A pacer reading at most `speed` × real time after a burst of `burst` of media.
    /// `speed` must be ≥ 1 (`Config` checks it); `None` for 0 (unlimited).
    pub fn new(speed: f64, burst: Ts, now_ms: i64) -> Option<Pacer> {
        (speed > 0.0).then(|| {
            let burst_ms = burst.0 as f64 / 90.0;
            Pacer {
                speed,
                burst_ms,
                credit_ms: burst_ms,
                last_wall_ms: now_ms,
                last_media: Ts(0),
            }
        })
    }

    /// Takes the publish's media time after a chunk was read at `now_ms`; answers how many
    /// milliseconds to wait before reading the next one, if any.
    pub fn delay(&mut self, media: Ts, now_ms: i64) -> Option<u64> {
        let wall = now_ms - self.last_wall_ms;
        if wall > 0 {
            self.credit_ms = (self.credit_ms + wall as f64 * self.speed).min(self.burst_ms);
            self.last_wall_ms = now_ms;
        }
        if media > self.last_media {
            self.credit_ms -= (media - self.last_media).0 as f64 / 90.0;
            self.last_media = media;
        }
        let wait_ms = -self.credit_ms / self.speed;
        (wait_ms >= MIN_PAUSE_MS as f64).then(|| wait_ms.ceil() as u64)
    }

    /// Media time that may still be read at once, in milliseconds.
    pub fn credit_ms(&self) -> f64 {
        self.credit_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(secs: f64) -> Ts {
        Ts::from_secs(secs)
    }

    /// Drives a pacer the way the ingest loop does: one frame of `frame_s` per chunk, read as
    /// soon as allowed; returns the wall time (ms) at which each second of media was read.
    fn unpaced(p: &mut Pacer, media_s: f64, frame_s: f64, mut now: i64) -> (i64, Vec<i64>) {
        let mut t = 0.0;
        let mut marks = Vec::new();
        while t <= media_s {
            if let Some(d) = p.delay(media(t), now) {
                now += d as i64;
            }
            if (t / frame_s).round() as i64 % (1.0 / frame_s).round() as i64 == 0 {
                marks.push(now);
            }
            t += frame_s;
        }
        (now, marks)
    }

    #[test]
    fn zero_is_unlimited() {
        assert!(Pacer::new(0.0, Ts::from_secs(6.0), 0).is_none());
    }

    #[test]
    fn a_burst_of_one_window_then_speed_times_real_time() {
        let mut p = Pacer::new(2.0, Ts::from_secs(6.0), 1_000).unwrap();
        let (end, marks) = unpaced(&mut p, 30.0, 0.04, 1_000);
        // The first 6 s of media are read at once.
        assert_eq!(marks[6], 1_000);
        // The remaining 24 s take 12 s: 2 x real time, within one pause.
        let took = end - 1_000;
        assert!((11_900..=12_000).contains(&took), "{took}");
        // From then on one second of media per half second of wall time.
        for w in marks[8..].windows(2) {
            let dt = w[1] - w[0];
            assert!((450..=550).contains(&dt), "{dt} ms for 1 s of media");
        }
    }

    #[test]
    fn a_publish_in_real_time_never_waits() {
        let mut p = Pacer::new(1.0, Ts::from_secs(2.0), 0).unwrap();
        for i in 0..10_000 {
            let t = f64::from(i) * 0.04;
            assert_eq!(p.delay(media(t), (t * 1000.0) as i64), None, "at {t} s");
        }
    }

    #[test]
    fn small_deficits_are_carried_not_paused_for() {
        let mut p = Pacer::new(1.0, Ts::from_secs(1.0), 0).unwrap();
        assert_eq!(p.delay(media(0.0), 0), None);
        assert_eq!(p.delay(media(1.0), 0), None);
        // 40 ms owed: carried.
        assert_eq!(p.delay(media(1.04), 0), None);
        // 80 ms owed: paused for, all of it.
        assert_eq!(p.delay(media(1.08), 0), Some(80));
        assert_eq!(p.delay(media(1.08), 80), None);
    }

    #[test]
    fn a_reading_below_the_last_is_not_counted_again() {
        let mut p = Pacer::new(1.0, Ts::from_secs(2.0), 0).unwrap();
        assert_eq!(p.delay(media(0.0), 0), None);
        assert_eq!(p.delay(media(1.5), 0), None);
        assert_eq!(p.delay(media(0.8), 0), None);
        assert_eq!(p.delay(media(1.9), 0), None);
        assert!((p.credit_ms() - 100.0).abs() < 1.0, "{}", p.credit_ms());
    }

    #[test]
    fn idle_time_refills_at_most_one_burst() {
        let mut p = Pacer::new(2.0, Ts::from_secs(4.0), 0).unwrap();
        assert_eq!(p.delay(media(0.0), 0), None);
        // An hour at real time, then silence: the credit is one burst, not an hour.
        for t in 1..=3600 {
            assert_eq!(p.delay(media(f64::from(t)), i64::from(t) * 1000), None);
        }
        assert_eq!(p.delay(media(3604.0), 7_200_000), None);
        assert_eq!(p.delay(media(3606.0), 7_200_000), Some(1000));
    }

    #[test]
    fn no_timeline_yet_no_pause() {
        let mut p = Pacer::new(1.0, Ts::from_secs(0.0), 0).unwrap();
        assert_eq!(p.delay(Ts(0), 0), None);
    }
}
