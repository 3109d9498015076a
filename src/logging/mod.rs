//! Thin logging of what outsiders can repeat at will: refused publishes, refused
//! connections, accept errors. Each kind of event goes through a [`gate::LogGate`]: the
//! first [`BURST`] of each [`INTERVAL_MS`] are logged in full, the rest are only counted
//! (`hlsd_log_suppressed_total{kind}`) and summarised in one WARN line when the interval is
//! over. An attacker cannot fill the disk or drown the lines that matter; the metrics still
//! count every event. A publisher's own events (start, end, stream warnings) are not gated.

pub mod gate;

use crate::clock::Clock;
use crate::metrics::Labels;
use gate::{LogGate, Suppressed};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::warn;

/// Events of one kind logged in full per interval.
pub const BURST: u32 = 10;
/// The interval of the gates, in milliseconds.
pub const INTERVAL_MS: i64 = 60_000;

/// The gates of one server, one per kind of event, made on first use.
pub struct Gates {
    clock: Clock,
    gates: Mutex<BTreeMap<&'static str, LogGate>>,
    suppressed: Family<Labels<1>, Counter>,
}

impl Gates {
    /// Gates counting what they do not log in `suppressed` (by `kind`).
    pub fn new(clock: Clock, suppressed: Family<Labels<1>, Counter>) -> Arc<Gates> {
        Arc::new(Gates {
            clock,
            gates: Mutex::new(BTreeMap::new()),
            suppressed,
        })
    }

    /// Whether an event of `kind` is to be logged now. The summary of the kind's last
    /// interval, if it is over and left events unlogged, is logged first.
    pub fn admit(&self, kind: &'static str) -> bool {
        let now = self.clock.now_ms();
        let verdict = self
            .gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kind)
            .or_insert_with(|| LogGate::new(BURST, INTERVAL_MS))
            .event(now);
        if let Some(s) = verdict.summary {
            summary(kind, s);
        }
        if !verdict.log {
            self.suppressed.get_or_create(&[("kind", kind)]).inc();
        }
        verdict.log
    }

    /// Logs the summaries of intervals that are over, so a flood that stopped is still
    /// summarised.
    pub fn flush(&self) {
        let now = self.clock.now_ms();
        let ended: Vec<(&'static str, Suppressed)> = self
            .gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
            .filter_map(|(kind, g)| Some((*kind, g.flush(now)?)))
            .collect();
        for (kind, s) in ended {
            summary(kind, s);
        }
    }

    /// Flushes every tenth of [`INTERVAL_MS`] (a summary comes at most that late) until
    /// `shutdown` becomes true.
    pub fn spawn_flusher(self: &Arc<Gates>, mut shutdown: watch::Receiver<bool>) {
        let gates = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(INTERVAL_MS as u64 / 10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = tick.tick() => gates.flush(),
                    _ = shutdown.wait_for(|v| *v) => return,
                }
            }
        });
    }
}

fn summary(kind: &'static str, s: Suppressed) {
    warn!(
        kind,
        suppressed = s.count,
        "{} more events of kind {kind} not logged in the last {:.0} s (counted in hlsd_log_suppressed_total)",
        s.count,
        s.over_ms as f64 / 1000.0
    );
}
