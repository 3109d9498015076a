//! A log gate, sans-I/O: for one kind of event that an outsider can repeat at will (a
//! refused publish, a refused connection), the first `burst` events of each interval are
//! logged in full and the rest only counted; the count comes back as one summary when the
//! interval is over (at the next event, or at a [`LogGate::flush`]). Time is passed in.

/// Events not logged in one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub count: u64,
    /// Milliseconds from the interval's first event to when the summary was taken.
    pub over_ms: i64,
}

#[derive(Debug, Clone)]
pub struct LogGate {
    burst: u32,
    interval_ms: i64,
    /// The current interval: when its first event came, and how many were logged in it.
    window: Option<(i64, u32)>,
    suppressed: u64,
}

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Log this event in full.
    pub log: bool,
    /// Events of the interval that just ended that were not logged: to be summarised first.
    pub summary: Option<Suppressed>,
}

impl LogGate {
    /// `burst` events logged per `interval_ms` (at least one of each).
    pub fn new(burst: u32, interval_ms: i64) -> LogGate {
        LogGate {
            burst: burst.max(1),
            interval_ms: interval_ms.max(1),
            window: None,
            suppressed: 0,
        }
    }

    /// An event at `now_ms`.
    pub fn event(&mut self, now_ms: i64) -> Verdict {
        let summary = self.flush(now_ms);
        match &mut self.window {
            Some((_, logged)) if *logged >= self.burst => {
                self.suppressed += 1;
                Verdict {
                    log: false,
                    summary,
                }
            }
            Some((_, logged)) => {
                *logged += 1;
                Verdict { log: true, summary }
            }
            None => {
                self.window = Some((now_ms, 1));
                Verdict { log: true, summary }
            }
        }
    }

    /// Closes the interval if it is over at `now_ms`; what it did not log, if anything.
    pub fn flush(&mut self, now_ms: i64) -> Option<Suppressed> {
        let (start, _) = self.window?;
        if now_ms < start + self.interval_ms {
            return None;
        }
        self.window = None;
        let count = std::mem::take(&mut self.suppressed);
        (count > 0).then_some(Suppressed {
            count,
            over_ms: now_ms - start,
        })
    }

    /// Events not logged so far in the current interval.
    pub fn pending(&self) -> u64 {
        self.suppressed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(g: &mut LogGate, now: i64, n: usize) -> (usize, Vec<Suppressed>) {
        let mut count = 0;
        let mut summaries = Vec::new();
        for _ in 0..n {
            let v = g.event(now);
            count += usize::from(v.log);
            summaries.extend(v.summary);
        }
        (count, summaries)
    }

    #[test]
    fn a_burst_per_interval_is_logged_and_the_rest_summarised_once() {
        let mut g = LogGate::new(3, 10_000);
        assert_eq!(logged(&mut g, 1_000, 1000), (3, vec![]));
        assert_eq!(g.pending(), 997);
        // Still the same interval at 10.999 s.
        assert_eq!(logged(&mut g, 10_999, 5), (0, vec![]));
        // The next event after the interval logs, with the summary of the one before.
        let v = g.event(11_000);
        assert!(v.log);
        assert_eq!(
            v.summary,
            Some(Suppressed {
                count: 1002,
                over_ms: 10_000
            })
        );
        assert_eq!(logged(&mut g, 11_001, 2), (2, vec![]));
        assert_eq!(logged(&mut g, 11_002, 1), (0, vec![]));
    }

    #[test]
    fn a_quiet_kind_logs_every_event_and_no_summary() {
        let mut g = LogGate::new(2, 1_000);
        for t in 0..100 {
            let v = g.event(t * 1_000);
            assert!(v.log, "event at {t} s");
            assert_eq!(v.summary, None);
        }
    }

    #[test]
    fn flush_summarises_an_ended_interval_once_without_an_event() {
        let mut g = LogGate::new(1, 5_000);
        assert_eq!(logged(&mut g, 0, 10), (1, vec![]));
        assert_eq!(g.flush(4_999), None);
        assert_eq!(
            g.flush(7_000),
            Some(Suppressed {
                count: 9,
                over_ms: 7_000
            })
        );
        assert_eq!(g.flush(20_000), None);
        // A new interval starts at the next event, logged in full.
        let v = g.event(20_000);
        assert!(v.log);
        assert_eq!(v.summary, None);
    }

    #[test]
    fn an_interval_with_nothing_suppressed_gives_no_summary() {
        let mut g = LogGate::new(5, 1_000);
        assert_eq!(logged(&mut g, 0, 5), (5, vec![]));
        assert_eq!(g.flush(1_000), None);
        assert_eq!(logged(&mut g, 1_000, 5), (5, vec![]));
    }

    #[test]
    fn a_steady_flood_logs_burst_plus_one_summary_per_interval() {
        // 200 events a second for 10 minutes, 10 per minute allowed.
        let mut g = LogGate::new(10, 60_000);
        let (mut lines, mut suppressed) = (0u64, 0u64);
        for i in 0..(200 * 600) {
            let v = g.event(i * 5);
            lines += u64::from(v.log);
            if let Some(s) = v.summary {
                lines += 1;
                suppressed += s.count;
                assert!(s.over_ms >= 60_000 && s.over_ms < 60_010, "{s:?}");
            }
        }
        suppressed += g.pending();
        assert_eq!(lines, 10 * 10 + 9);
        assert_eq!(suppressed + 100, 200 * 600);
    }
}
