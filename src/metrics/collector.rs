//! Series read from the feed registry at scrape time: feeds by state, publishers, ingest
//! bytes and packets per feed, media bytes held in memory.

use crate::feeds::Registry as Feeds;
use crate::feeds::rendition::Phase;
use crate::ingest::Protocol;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::fmt;
use std::sync::Arc;

pub struct FeedCollector(pub Arc<Feeds>);

impl fmt::Debug for FeedCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FeedCollector")
    }
}

#[derive(Default)]
struct PerFeed {
    name: String,
    bytes: u64,
    packets: u64,
}

impl Collector for FeedCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut by_state = [0i64; 3];
        let mut publishers = [0i64; Protocol::ALL.len()];
        let mut per_feed = Vec::new();
        for f in self.0.feed_list() {
            let mut pf = PerFeed {
                name: f.name.clone(),
                ..PerFeed::default()
            };
            let mut phase = Phase::Ended;
            for r in f.rendition_list() {
                let snap = r.snapshot();
                phase = match (phase, snap.phase) {
                    (Phase::Live, _) | (_, Phase::Live) => Phase::Live,
                    (Phase::Reconnecting, _) | (_, Phase::Reconnecting) => Phase::Reconnecting,
                    _ => Phase::Ended,
                };
                if let Some(p) = r.lock().publisher
                    && let Some(i) = Protocol::ALL.iter().position(|&x| x == p.protocol)
                {
                    publishers[i] += 1;
                }
                let c = r.stats.counts();
                pf.bytes += c.bytes_in;
                pf.packets += c.packets_in;
            }
            by_state[phase as usize] += 1;
            per_feed.push(pf);
        }
        per_feed.sort_by(|a, b| a.name.cmp(&b.name));

        let mut e = encoder.encode_descriptor(
            "hlsd_feeds",
            "Feeds by state (live, reconnecting, ended)",
            None,
            MetricType::Gauge,
        )?;
        for (phase, n) in [Phase::Live, Phase::Reconnecting, Phase::Ended]
            .into_iter()
            .zip(by_state)
        {
            let labels = [("state", phase.as_str())];
            ConstGauge::new(n).encode(e.encode_family(&labels)?)?;
        }
        // Per transport, every one listed from the start; never per address.
        let mut e = encoder.encode_descriptor(
            "hlsd_publishers_connected",
            "Publishers connected, per protocol",
            None,
            MetricType::Gauge,
        )?;
        for (protocol, n) in Protocol::ALL.into_iter().zip(publishers) {
            let labels = [("protocol", protocol.as_str())];
            ConstGauge::new(n).encode(e.encode_family(&labels)?)?;
        }
        let store = self.0.store();
        gauge(
            &mut encoder,
            "hlsd_store_bytes",
            "Media bytes held in memory by all windows (listed, retired but fetchable, being built)",
            i64::try_from(store.bytes()).unwrap_or(i64::MAX),
        )?;
        gauge(
            &mut encoder,
            "hlsd_store_budget_bytes",
            "Budget for hlsd_store_bytes (limits.max_memory_mb): new feeds and renditions get 503 at or above it",
            i64::try_from(store.budget()).unwrap_or(i64::MAX),
        )?;
        for (name, help, value) in [
            (
                "hlsd_ingest_bytes",
                "Bytes ingested, per feed (since the feed was created)",
                (|p: &PerFeed| p.bytes) as fn(&PerFeed) -> u64,
            ),
            (
                "hlsd_ingest_packets",
                "TS packets ingested, per feed (since the feed was created)",
                |p: &PerFeed| p.packets,
            ),
        ] {
            let mut e = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for pf in &per_feed {
                let labels = [("feed", pf.name.as_str())];
                ConstCounter::new(value(pf)).encode(e.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: i64,
) -> Result<(), fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}
