//! What signed playback costs a request: `http::signed::gate` alone (parse, clock, HMAC),
//! and a media playlist answered through the dispatch service in this process (no
//! sockets: `Service::call` on what `hlsd::http::dispatch` builds), at `/live/...` without a
//! secret and at `/s/{expires}-{sig}/live/...` with one. Figures go to ARCHITECTURE.md
//! (`http`, signed playback).
//!
//! `cargo bench --bench signed`: 1 000 000 calls of each, best of 5 rounds. Under
//! `cargo test` it runs a short smoke version so it cannot rot.

use axum::body::Body;
use axum::extract::Request;
use hlsd::Config;
use hlsd::http::{self, signed};
use std::hint::black_box;
use std::time::Instant;
use tower::Service;

#[path = "common/service.rs"]
mod service;

const SECRET: &str = "bench-secret";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (calls, rounds) = if full { (1_000_000, 5) } else { (2_000, 1) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(calls, rounds));
}

fn config(secret: bool) -> Config {
    let mut c = Config::default();
    c.demo.enabled = false;
    c.feeds.linger = 3600.0;
    if secret {
        c.auth = Some(hlsd::config::AuthConfig {
            playback_secret: Some(SECRET.into()),
            ..Default::default()
        });
    }
    c
}

/// Nanoseconds per `f()`, best of `rounds` rounds of `calls`.
fn time(calls: u32, rounds: u32, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..calls {
            f();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(calls));
    }
    best
}

/// Nanoseconds per GET of `path` through `svc`, best of `rounds` rounds of `calls`.
async fn time_get(svc: &mut http::service::Dispatch, path: &str, calls: u32, rounds: u32) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..calls {
            let req = Request::get(path).body(Body::empty()).expect("request");
            let res = svc.call(req).await.expect("infallible");
            assert_eq!(res.status(), 200, "{path}");
            black_box(res);
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(calls));
    }
    best
}

async fn run(calls: u32, rounds: u32) {
    let signer = signed::Signer::new(SECRET);
    let path = signer
        .path("cam", signed::unix_now() + 3600)
        .expect("a valid name");
    let media = path.replace("index.m3u8", "main/media.m3u8");

    let gate = time(calls, rounds, || {
        let g = signed::gate(Some(&signer), black_box(&media), signed::unix_now);
        assert!(matches!(g, signed::Gate::Signed { .. }));
    });
    let mut plain = service::with_feed(config(false)).await;
    let mut signed_svc = service::with_feed(config(true)).await;
    let plain_ns = time_get(&mut plain, "/live/cam/main/media.m3u8", calls, rounds).await;
    let signed_ns = time_get(&mut signed_svc, &media, calls, rounds).await;
    println!("signed::gate (parse, clock, HMAC-SHA256):  {gate:>7.0} ns");
    println!("media playlist at /live/... (no secret):  {plain_ns:>7.0} ns");
    println!(
        "media playlist at /s/.../live/...:        {signed_ns:>7.0} ns (+{:.0} ns, +{:.0}%)",
        signed_ns - plain_ns,
        100.0 * (signed_ns - plain_ns) / plain_ns
    );
}
