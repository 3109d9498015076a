//! What each cross-cutting layer costs a playlist request, in one run: a media playlist
//! answered in this process (no sockets: `Service::call`) by `hlsd::http::dispatch` as
//! shipped (hand-written span, request id, CORS, counting and panic catching), by the same
//! without request ids, and by the shipped one wrapped in each tower-http layer that
//! playback does not use (`CatchPanicLayer`, `TraceLayer`, `CorsLayer`,
//! `SetSensitiveRequestHeadersLayer`; the other routes use all but `CorsLayer`). A `tracing` subscriber
//! at `info` is installed, as in the shipped binary. Figures go to BENCHMARKS.md and
//! ARCHITECTURE.md (`http`).
//!
//! `cargo bench --bench layers`: best of 60 rounds of 20 000 calls of each, the variants
//! taking turns within each round (short rounds: on a busy machine some are quiet). Under `cargo test` it runs a short smoke version so it
//! cannot rot.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, Response, header};
use hlsd::Config;
use hlsd::http;
use std::hint::black_box;
use tower::{Layer, Service};

#[path = "common/service.rs"]
mod service;
use tower_http::cors::{Any, CorsLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

const PATH: &str = "/live/cam/main/media.m3u8";

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (calls, rounds) = if full { (20_000, 60) } else { (2_000, 1) };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .init();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(calls, rounds));
}

/// The dispatch service of a server with a 10 s feed `cam` pushed into it.
async fn dispatch() -> http::service::Dispatch {
    let mut config = Config::default();
    config.demo.enabled = false;
    config.feeds.linger = 3600.0;
    service::with_feed(config).await
}

/// What a request carries: a player's usual headers, or those and what a browser player
/// on another site sends.
#[derive(Clone, Copy)]
enum Req {
    Bare,
    /// `Origin` (hls.js in a page of another site) and an `x-request-id` of its own.
    Browser,
}

fn request(kind: Req) -> Request {
    let mut req = Request::get(PATH).body(Body::empty()).expect("request");
    let h = req.headers_mut();
    h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
    h.insert(header::USER_AGENT, HeaderValue::from_static("player/1.0"));
    h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    if let Req::Browser = kind {
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://player.example"),
        );
        h.insert(
            http::request_id::X_REQUEST_ID,
            HeaderValue::from_static("0f8fad5b-d9cb-469f-a165-70867728950e"),
        );
    }
    req
}

/// This thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`): time spent waiting
/// for a core, which other builds take on a shared machine, is not counted.
fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU nanoseconds per playlist GET through `svc`, one round of `calls` (the runtime has one
/// thread: all the work is this thread's).
async fn round<S, B>(svc: &mut S, kind: Req, calls: u32) -> f64
where
    S: Service<Request, Response = Response<B>>,
    S::Error: std::fmt::Debug,
{
    let start = cpu_ns();
    for _ in 0..calls {
        let res = svc.call(request(kind)).await.expect("infallible");
        assert_eq!(res.status(), 200);
        black_box(res);
    }
    (cpu_ns() - start) as f64 / f64::from(calls)
}

async fn run(calls: u32, rounds: u32) {
    let hlsd = dispatch().await;
    let mut with_ids = hlsd.clone();
    let mut no_ids = hlsd.clone();
    no_ids.request_ids = false;
    let mut catch_panic = tower_http::catch_panic::CatchPanicLayer::new().layer(hlsd.clone());
    let mut trace = TraceLayer::new_for_http().layer(hlsd.clone());
    let mut cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .expose_headers([header::AGE])
        .layer(hlsd.clone());
    let mut sensitive = SetSensitiveRequestHeadersLayer::new(http::trace::SENSITIVE).layer(hlsd);

    // In the order measured: each group's first line is the base of its second and last,
    // its second (hlsd as shipped, which the layers wrap) the base of the others.
    let names = [
        "dispatch without request ids",
        "dispatch (hlsd as shipped), id made",
        "+ CatchPanicLayer (tower-http)",
        "+ TraceLayer (tower-http)",
        "+ SetSensitiveRequestHeadersLayer (tower-http)",
        "dispatch without request ids, again (noise)",
        "dispatch without request ids",
        "dispatch (hlsd as shipped), id kept",
        "+ CorsLayer (tower-http)",
        "+ TraceLayer (tower-http)",
        "dispatch without request ids, again (noise)",
    ];
    let mut best = [f64::MAX; 11];
    for _ in 0..rounds {
        let got = [
            round(&mut no_ids, Req::Bare, calls).await,
            round(&mut with_ids, Req::Bare, calls).await,
            round(&mut catch_panic, Req::Bare, calls).await,
            round(&mut trace, Req::Bare, calls).await,
            round(&mut sensitive, Req::Bare, calls).await,
            round(&mut no_ids, Req::Bare, calls).await,
            round(&mut no_ids, Req::Browser, calls).await,
            round(&mut with_ids, Req::Browser, calls).await,
            round(&mut cors, Req::Browser, calls).await,
            round(&mut trace, Req::Browser, calls).await,
            round(&mut no_ids, Req::Browser, calls).await,
        ];
        for (b, g) in best.iter_mut().zip(got) {
            *b = b.min(g);
        }
    }
    // The CORS layer answers as the hand-written one does; ids are echoed.
    let res = cors.call(request(Req::Browser)).await.expect("infallible");
    assert_eq!(res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let res = with_ids
        .call(request(Req::Browser))
        .await
        .expect("infallible");
    assert_eq!(
        res.headers()[http::request_id::X_REQUEST_ID],
        "0f8fad5b-d9cb-469f-a165-70867728950e"
    );

    println!(
        "media playlist GET {PATH}, in process, CPU ns per request (best of {rounds} × {calls})"
    );
    println!("with Host, User-Agent and Accept:");
    for (i, (name, ns)) in names.iter().zip(best).enumerate() {
        if i == 6 {
            println!("with those, Origin and x-request-id:");
        }
        let group = if i < 6 { 0 } else { 6 };
        let base = if i == group + 1 || name.contains("again") {
            best[group]
        } else {
            best[group + 1]
        };
        if i == 0 || i == 6 {
            println!("  {name:<48} {ns:>6.0}");
        } else {
            println!(
                "  {name:<48} {ns:>6.0}  ({:+.0} ns, {:+.1} %)",
                ns - base,
                100.0 * (ns - base) / base
            );
        }
    }
}
