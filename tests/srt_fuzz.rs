//! The SRT stack (srt-protocol, patched: vendor/srt-protocol/PATCHES.md) against datagrams no
//! well-behaved caller sends: seeded mutations of real handshakes, from libsrt (ffmpeg) and
//! srt-tokio's caller, and random bytes. In process, through the stack's listener state
//! machine with hlsd's answers to its access requests: nothing panics, and the listener
//! still connects a clean caller afterwards. Over UDP, at hlsd's SRT listener while ffmpeg
//! publishes: the listener never restarts and the publish goes on with no discontinuity,
//! carrying exactly the packets ffmpeg sent (needs ffmpeg and ffprobe).

mod common;

use common::srt::*;
use common::srt_fuzz::*;
use common::*;
use srt_protocol::listener::*;
use srt_protocol::options::{KeySize, Passphrase};
use srt_protocol::packet::*;
use srt_protocol::settings::{ConnInitSettings, KeySettings};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const PASSPHRASE: &str = "fuzzing-passphrase";

/// What the listener sent, and the access requests it made, while taking one input.
#[derive(Default)]
struct Out {
    sent: Vec<(Packet, SocketAddr)>,
    requests: Vec<(SessionId, AccessControlRequest)>,
    opened: usize,
}

/// Feeds `input` to the listener and every result of its actions back, as srt-tokio's
/// listener task does, until it waits for input. Every packet it sends is serialized.
fn drive(listener: &mut MultiplexListener, now: Instant, input: Input, out: &mut Out) {
    let mut input = input;
    loop {
        let action = listener.handle_input(now, input);
        let next = NextInputContext::for_action(&action);
        let mut send = |p: Option<(Packet, SocketAddr)>| {
            if let Some((p, to)) = p {
                let mut bytes = Vec::new();
                p.serialize(&mut bytes);
                assert_eq!(p.wire_size(), bytes.len() + 28, "{p:?}");
                out.sent.push((p, to));
            }
        };
        match action {
            Action::SendPacket(p) => send(Some(p)),
            Action::RejectConnection(_, p) => send(p),
            Action::RequestAccess(id, r) => out.requests.push((id, r)),
            Action::OpenConnection(_, c) => {
                send(c.0);
                out.opened += 1;
            }
            Action::DelegatePacket(..)
            | Action::DropConnection(_)
            | Action::UpdateStatistics(_) => {}
            Action::WaitForInput | Action::Close => return,
        }
        input = next.input_from(Ok::<(), ()>(()));
    }
}

/// Parses `d` as the stack's socket does and hands it to the listener.
fn datagram(listener: &mut MultiplexListener, now: Instant, from: SocketAddr, d: &[u8]) -> Out {
    let parsed = Packet::parse(&mut &d[..], false);
    // Logged at WARN or DEBUG by the stack: its Debug must not panic either.
    let _ = format!("{parsed:?}");
    if let Ok(p) = &parsed {
        let _ = p.wire_size();
    }
    let mut out = Out::default();
    let input = Input::Packet(parsed.map(|p| (p, from)).map_err(ReceivePacketError::Parse));
    drive(listener, now, input, &mut out);
    out
}

/// hlsd's answer (`srt::conn::run`) for a caller it would let publish.
fn hlsd_answer(secret: bool, r: &AccessControlRequest) -> AccessControlResponse {
    if secret {
        AccessControlResponse::Accepted(Some(KeySettings {
            key_size: r.key_size,
            passphrase: Passphrase::try_from(PASSPHRASE.to_string()).unwrap(),
        }))
    } else if r.key_size == KeySize::Unspecified {
        AccessControlResponse::Accepted(None)
    } else {
        AccessControlResponse::Rejected(RejectReason::Core(CoreRejectReason::Unsecure))
    }
}

fn answer(
    listener: &mut MultiplexListener,
    now: Instant,
    id: SessionId,
    response: AccessControlResponse,
) -> Out {
    let mut out = Out::default();
    drive(
        listener,
        now,
        Input::AccessResponse(Some((id, response))),
        &mut out,
    );
    out
}

fn listener(secret: bool) -> MultiplexListener {
    let mut settings = ConnInitSettings::default();
    if secret {
        settings.key_settings = Some(KeySettings {
            key_size: KeySize::Unspecified,
            passphrase: Passphrase::try_from(PASSPHRASE.to_string()).unwrap(),
        });
    }
    MultiplexListener::new(Instant::now(), "127.0.0.1:9000".parse().unwrap(), settings)
}

fn seeds() -> Vec<Vec<u8>> {
    vec![
        unhex(LIBSRT_CONCLUSION_KM),
        unhex(LIBSRT_CONCLUSION_KM128),
        conclusion("fuzz", None),
        conclusion(
            "#!::r=fuzz,m=publish",
            Some((KeySize::AES128, KeySize::AES128)),
        ),
        // libsrt's default: the key size is not announced.
        conclusion("fuzz", Some((KeySize::Unspecified, KeySize::AES128))),
        conclusion("fuzz", Some((KeySize::AES256, KeySize::AES256))),
        conclusion("fuzz", Some((KeySize::AES256, KeySize::AES128))),
    ]
}

/// Induction, then a conclusion with the listener's cookie, from `from`: what the listener
/// sent in answer to the conclusion and its access requests.
fn handshake(
    listener: &mut MultiplexListener,
    from: SocketAddr,
    induction: &[u8],
    conclusion: Vec<u8>,
) -> Out {
    let now = Instant::now();
    let answered = datagram(listener, now, from, induction);
    let cookie = answered.sent.iter().find_map(|(p, _)| {
        let mut b = Vec::new();
        p.serialize(&mut b);
        cookie_of(&b)
    });
    let conclusion = match cookie {
        Some(c) => with_cookie(conclusion, c),
        None => conclusion,
    };
    datagram(listener, now, from, &conclusion)
}

fn rejection(out: &Out) -> Option<RejectReason> {
    out.sent
        .iter()
        .find_map(|(p, _)| match p.control()?.handshake()?.shake_type {
            ShakeType::Rejection(r) => Some(r),
            _ => None,
        })
}

/// The panics of srt-protocol 0.4.4 that PATCHES.md lists, one datagram each.
#[test]
fn the_handshakes_that_panicked_the_stack_are_refused_or_dropped() {
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();

    // A config extension other than the stream ID (congestion, "live"): ignored.
    let mut l = listener(false);
    let mut c = conclusion("fuzz", None);
    c.extend_from_slice(&6u16.to_be_bytes());
    c.extend_from_slice(&1u16.to_be_bytes());
    c.extend_from_slice(b"evil");
    let out = handshake(&mut l, from, &induction(), c);
    assert_eq!(out.requests.len(), 1, "the conclusion is decided");

    // No HSREQ: the caller was left waiting, and hlsd's accept with it; now SRT_REJ_ROGUE.
    let mut l = listener(false);
    let out = handshake(
        &mut l,
        from,
        &induction(),
        without_hsreq(conclusion("fuzz", None)),
    );
    let (id, r) = &out.requests[0];
    let out = answer(&mut l, Instant::now(), *id, hlsd_answer(false, r));
    assert_eq!(
        rejection(&out),
        Some(RejectReason::Core(CoreRejectReason::Rogue))
    );

    // An encrypting caller that announces no key size, and no passphrase here: hlsd lets
    // the stack decide, which refuses it as SRT_REJ_UNSECURE.
    let mut l = listener(false);
    let c = conclusion("fuzz", Some((KeySize::Unspecified, KeySize::AES128)));
    let out = handshake(&mut l, from, &induction(), c);
    let (id, r) = &out.requests[0];
    let out = answer(&mut l, Instant::now(), *id, hlsd_answer(false, r));
    assert_eq!(
        rejection(&out),
        Some(RejectReason::Core(CoreRejectReason::Unsecure))
    );
    assert_eq!(out.opened, 0);

    // A KMRSP where a KMREQ belongs, with a passphrase here: SRT_REJ_UNSECURE.
    let mut l = listener(true);
    let mut c = conclusion("fuzz", Some((KeySize::AES128, KeySize::AES128)));
    let km_type_at = extension_at(&c, 3).expect("a KMREQ");
    c[km_type_at + 1] = 4;
    let out = handshake(&mut l, from, &induction(), c);
    let (id, r) = &out.requests[0];
    let out = answer(&mut l, Instant::now(), *id, hlsd_answer(true, r));
    assert_eq!(
        rejection(&out),
        Some(RejectReason::Core(CoreRejectReason::Unsecure))
    );

    // A key size other than the one accepted: SRT_REJ_BADSECRET.
    let mut l = listener(true);
    let c = conclusion("fuzz", Some((KeySize::AES256, KeySize::AES256)));
    let out = handshake(&mut l, from, &induction(), c);
    let (id, _) = &out.requests[0];
    let keys = KeySettings {
        key_size: KeySize::AES128,
        passphrase: Passphrase::try_from(PASSPHRASE.to_string()).unwrap(),
    };
    let out = answer(
        &mut l,
        Instant::now(),
        *id,
        AccessControlResponse::Accepted(Some(keys)),
    );
    assert_eq!(
        rejection(&out),
        Some(RejectReason::Core(CoreRejectReason::BadSecret))
    );

    // Keying material with no key flag: nothing to unwrap, SRT_REJ_BADSECRET.
    let mut l = listener(true);
    let mut c = conclusion("fuzz", Some((KeySize::AES128, KeySize::AES128)));
    let km_at = extension_at(&c, 3).expect("a KMREQ");
    // The KMREQ's first word: version 1, type 2, the sign, then the key flags (both: 3).
    assert_eq!(c[km_at + 4 + 3] & 3, 3);
    c[km_at + 4 + 3] &= !3;
    let out = handshake(&mut l, from, &induction(), c);
    let (id, r) = &out.requests[0];
    let out = answer(&mut l, Instant::now(), *id, hlsd_answer(true, r));
    assert_eq!(
        rejection(&out),
        Some(RejectReason::Core(CoreRejectReason::BadSecret))
    );

    // Empty stream ID and group extensions, an SRT control packet of subtype 0 (its wire
    // size is asked), a NAK that ends inside a range: parse errors or plain packets.
    let mut l = listener(false);
    for (port, ext) in [(4001, 5u16), (4002, 8)] {
        let mut c = conclusion("fuzz", None);
        let at = extension_at(&c, 1).expect("an HSREQ");
        c.splice(at..at, [ext.to_be_bytes(), 0u16.to_be_bytes()].concat());
        let from = SocketAddr::from(([127, 0, 0, 1], port));
        let out = handshake(&mut l, from, &induction(), c);
        assert!(out.requests.is_empty() && out.sent.is_empty());
    }
    let srt_reject = [0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(
        Packet::parse(&mut &srt_reject[..], false)
            .unwrap()
            .wire_size()
            > 0
    );
    let mut nak = vec![0x80, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    nak.extend_from_slice(&0x8000_0005u32.to_be_bytes());
    let p = Packet::parse(&mut &nak[..], false).unwrap();
    assert!(format!("{p:?}").contains("5..=?"), "{p:?}");
    // A second answer to an open session is dropped.
    let out = handshake(&mut l, from, &induction(), conclusion("fuzz", None));
    let (id, r) = &out.requests[0];
    assert_eq!(
        answer(&mut l, Instant::now(), *id, hlsd_answer(false, r)).opened,
        1
    );
    let again = answer(&mut l, Instant::now(), *id, hlsd_answer(false, r));
    assert_eq!(again.opened, 0);
}

/// Datagrams from many addresses (ports) that never finish a handshake: at most
/// `MAX_PENDING` sessions are kept, further addresses are dropped, and after
/// `PENDING_TIMEOUT` they are gone and a clean caller connects; a session awaiting hlsd's
/// access answer outlives the timeout and opens once answered.
#[test]
fn sessions_that_never_open_are_bounded_and_expire() {
    let mut l = listener(false);
    let t0 = Instant::now();
    // A caller hlsd has not answered yet.
    let waiting = SocketAddr::from(([127, 0, 0, 2], 9999));
    let first = handshake(&mut l, waiting, &induction(), conclusion("waiting", None));
    let (id, r) = first.requests.first().expect("an access request");
    for i in 0..3 * MAX_PENDING {
        let from = SocketAddr::from((
            [127, 0, 1, (i / 50_000) as u8],
            10_000 + (i % 50_000) as u16,
        ));
        datagram(&mut l, t0, from, &induction());
        assert!(l.pending_sessions() <= MAX_PENDING);
    }
    assert_eq!(l.pending_sessions(), MAX_PENDING);
    // A new caller is dropped while the table is full of live handshakes.
    let late = SocketAddr::from(([127, 0, 0, 3], 9999));
    assert!(datagram(&mut l, t0, late, &induction()).sent.is_empty());

    let later = t0 + PENDING_TIMEOUT + Duration::from_secs(2);
    let mut out = Out::default();
    drive(&mut l, later, Input::Timer, &mut out);
    assert_eq!(
        l.pending_sessions(),
        1,
        "only the one awaiting its answer is left"
    );
    assert_eq!(answer(&mut l, later, *id, hlsd_answer(false, r)).opened, 1);
    assert_eq!(l.pending_sessions(), 0);
    let out = handshake(&mut l, late, &induction(), conclusion("late", None));
    let (id, r) = out.requests.first().expect("an access request");
    assert_eq!(
        answer(&mut l, Instant::now(), *id, hlsd_answer(false, r)).opened,
        1
    );
}

/// Thousands of mutated handshakes and random datagrams, each from its own address, through
/// a listener without and one with a passphrase, hlsd answering every access request: no
/// panic, every answered caller connects or is refused, and a clean caller still connects.
#[test]
fn mutated_handshakes_never_panic_the_listener() {
    for (secret, seed) in [(false, 0x5eed_0001u64), (true, 0x5eed_0002)] {
        let mut rng = Rng::new(seed);
        let mut l = listener(secret);
        let seeds = seeds();
        let (mut requests, mut rejections) = (0, 0);
        let iterations = if secret { 1500 } else { 4000 };
        // A caller every 10 ms: sessions that never open expire as they would.
        let t0 = Instant::now();
        let step = Duration::from_millis(10);
        for i in 0..iterations {
            let from = SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16));
            let now = t0 + step * i as u32;
            if rng.chance(10) {
                datagram(&mut l, now, from, &noise(&mut rng));
                continue;
            }
            let mut ind = induction();
            if rng.chance(10) {
                ind = mutate(&mut rng, &ind);
            }
            let seed = rng.pick(&seeds.iter().collect::<Vec<_>>()).clone();
            let mut c = seed;
            let mutated = rng.chance(85);
            let mut out = {
                let answered = datagram(&mut l, now, from, &ind);
                let cookie = answered.sent.iter().find_map(|(p, _)| {
                    let mut b = Vec::new();
                    p.serialize(&mut b);
                    cookie_of(&b)
                });
                if let Some(k) = cookie {
                    c = with_cookie(c, k);
                }
                if mutated {
                    c = mutate(&mut rng, &c);
                }
                datagram(&mut l, now, from, &c)
            };
            for (id, r) in std::mem::take(&mut out.requests) {
                requests += 1;
                let response = match rng.below(10) {
                    0 => AccessControlResponse::Dropped,
                    1 => AccessControlResponse::Rejected(RejectReason::Server(
                        ServerRejectReason::BadRequest,
                    )),
                    _ => hlsd_answer(secret, &r),
                };
                let a = answer(&mut l, now, id, response);
                rejections += usize::from(rejection(&a).is_some());
                // Never left waiting: the caller connects or is told why not.
                assert!(
                    a.opened == 1 || rejection(&a).is_some(),
                    "an answered caller neither connected nor refused: {r:?}"
                );
                if rng.chance(5) {
                    answer(&mut l, now, id, hlsd_answer(secret, &r));
                }
            }
            // More from the same caller: another conclusion, or anything.
            for _ in 0..rng.below(3) {
                let d = if rng.chance(50) {
                    mutate(&mut rng, &c)
                } else {
                    noise(&mut rng)
                };
                datagram(&mut l, now, from, &d);
            }
        }
        assert!(
            requests > iterations / 10 && rejections > 0,
            "secret={secret}: {requests} access requests, {rejections} rejections"
        );

        // Past the timeouts, every session that did not open has expired (some await an
        // answer: the access requests of repeated conclusions are left unanswered here).
        let end = t0 + step * iterations as u32 + AWAITING_TIMEOUT + Duration::from_secs(2);
        drive(&mut l, end, Input::Timer, &mut Out::default());
        assert_eq!(l.pending_sessions(), 0, "secret={secret}");
        let from = SocketAddr::from(([127, 0, 0, 2], 5000));
        let key = secret.then_some((KeySize::AES128, KeySize::AES128));
        let out = handshake(&mut l, from, &induction(), conclusion("clean", key));
        let (id, r) = &out.requests[0];
        let opened = answer(&mut l, Instant::now(), *id, hlsd_answer(secret, r));
        assert_eq!(opened.opened, 1, "secret={secret}: a clean caller connects");
    }
}

/// `hlsd_srt_listener_restarts_total` of `server`.
async fn listener_restarts(server: &TestServer) -> u64 {
    let text = get(&server.url("/metrics")).await.text();
    text.lines()
        .find_map(|l| l.strip_prefix("hlsd_srt_listener_restarts_total "))
        .expect("hlsd_srt_listener_restarts_total")
        .parse()
        .unwrap()
}

/// Sends `d` from `socket` and returns the listener's answer, if one comes within 500 ms.
async fn exchange(socket: &tokio::net::UdpSocket, to: SocketAddr, d: &[u8]) -> Option<Vec<u8>> {
    socket.send_to(d, to).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, _) = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(buf[..n].to_vec())
}

/// Inductions from more addresses than the listener keeps handshakes for, each socket closed
/// at once: past `MAX_PENDING` a new address gets no answer, a publish already open goes
/// on, and once `PENDING_TIMEOUT` has passed a new caller connects and publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_handshakes_from_many_addresses_is_bounded() {
    let data = fixture(Fixture::Short);
    let (server, srt) = TestServer::start_with_srt(config()).await;
    let held = srt_call(srt, "held", None).await.expect("accepted");
    for i in 0..MAX_PENDING + 200 {
        // An address of its own (a closed socket's port may come back).
        let ip = std::net::Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
        let s = std::net::UdpSocket::bind((ip, 0)).unwrap();
        s.send_to(&induction(), srt).unwrap();
        // Paced a little: a burst of thousands could overflow the socket's receive buffer.
        if i % 256 == 255 {
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    let late = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // The listener takes the flood in order: wait until a fresh address goes unanswered.
    let mut unanswered = false;
    for _ in 0..20 {
        if exchange(&late, srt, &induction()).await.is_none() {
            unanswered = true;
            break;
        }
    }
    assert!(
        unanswered,
        "a new address is answered past {MAX_PENDING} handshakes"
    );
    srt_send(held, &data, 1316, data.len()).await;
    let media = wait_endlist(&server, "held", Duration::from_secs(20)).await;
    assert_eq!(media.discontinuities(), 0, "{}", media.raw);
    assert_same_packets(
        &segment_packets(&fetch_segments(&media).await),
        &expected_packets(&data),
        "held",
    );

    tokio::time::sleep(PENDING_TIMEOUT + Duration::from_secs(2)).await;
    let after = srt_call(srt, "after", None)
        .await
        .expect("a caller connects once the flood expired");
    srt_send(after, &data, 1316, data.len()).await;
    assert!(
        !wait_endlist(&server, "after", Duration::from_secs(20))
            .await
            .pl
            .segments
            .is_empty()
    );
    assert_eq!(listener_restarts(&server).await, 0);
    server.stop().await;
}

/// ffmpeg publishes through a relay that records its handshake; meanwhile 3,000 callers,
/// each from a socket of its own, send libsrt's induction and a mutation of a conclusion
/// (ffmpeg's own, ffmpeg's with keying material, srt-tokio's plain and encrypting ones)
/// with the cookie hlsd gave them, then up to two more datagrams, and one in ten sends
/// random bytes. The listener is never restarted, a clean caller connects at once, and
/// the publish goes on: ENDLIST, no discontinuity, exactly the packets ffmpeg sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ffmpeg and ffprobe"]
async fn a_publisher_goes_on_through_thousands_of_mutated_handshakes() {
    let input = fixture_path(Fixture::LongGop);
    let sent = ffmpeg_remuxed(&input, &[]);
    let mut c = config();
    // Callers the mutations let in hold their feeds briefly.
    c.feeds.idle_timeout = 1.0;
    c.feeds.reconnect_grace = 1.0;
    let (server, srt) = TestServer::start_with_srt(c).await;
    let (relay, seen) = recording_relay(srt, 8).await;
    let url = srt_url(relay, "#!::r=cam,m=publish", "pkt_size=1316&linger=2");
    let mut publisher = ffmpeg_srt(&input, &url, &[]);
    let media_url = server.media_url("cam");
    wait_media(&media_url, Duration::from_secs(15), "a segment", |m| {
        !m.pl.segments.is_empty()
    })
    .await;
    let (libsrt_induction, libsrt_conclusion) = {
        let seen = seen.lock().unwrap();
        let find = |shake| seen.iter().find(|d| is_handshake(d, shake)).cloned();
        (
            find(1).expect("ffmpeg's induction"),
            find(-1).expect("ffmpeg's conclusion"),
        )
    };
    let seeds = [
        libsrt_conclusion,
        unhex(LIBSRT_CONCLUSION_KM),
        conclusion("fuzz", None),
        conclusion("fuzz", Some((KeySize::Unspecified, KeySize::AES128))),
        conclusion("fuzz", Some((KeySize::AES128, KeySize::AES128))),
    ];

    let mut rng = Rng::new(0x0dd_ba11);
    let (mut answered, mut datagrams) = (0, 0);
    for _ in 0..3000 {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if rng.chance(10) {
            socket.send_to(&noise(&mut rng), srt).await.unwrap();
            datagrams += 1;
            continue;
        }
        let mut conclusion = rng.pick(&seeds.iter().collect::<Vec<_>>()).clone();
        if rng.chance(10) {
            let induction = mutate(&mut rng, &libsrt_induction);
            socket.send_to(&induction, srt).await.unwrap();
        } else if let Some(k) = exchange(&socket, srt, &libsrt_induction)
            .await
            .as_deref()
            .and_then(cookie_of)
        {
            answered += 1;
            conclusion = with_cookie(conclusion, k);
        }
        if rng.chance(85) {
            conclusion = mutate(&mut rng, &conclusion);
        }
        socket.send_to(&conclusion, srt).await.unwrap();
        datagrams += 2;
        for _ in 0..rng.below(3) {
            let d = if rng.chance(50) {
                mutate(&mut rng, &conclusion)
            } else {
                noise(&mut rng)
            };
            socket.send_to(&d, srt).await.unwrap();
            datagrams += 1;
        }
    }
    assert!(
        publisher.try_wait().unwrap().is_none(),
        "the publish ended before the {datagrams} datagrams were sent"
    );
    assert!(answered > 2000, "{answered} inductions answered");
    assert_eq!(listener_restarts(&server).await, 0);
    srt_call(srt, "after", None)
        .await
        .expect("a clean caller connects");

    let out = tokio::time::timeout(Duration::from_secs(30), publisher.wait_with_output())
        .await
        .expect("ffmpeg did not exit within 30 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    let media = wait_media(&media_url, Duration::from_secs(20), "ENDLIST", |m| {
        m.endlist()
    })
    .await;
    assert_eq!(media.discontinuities(), 0, "{}", media.raw);
    let segments = fetch_segments(&media).await;
    assert_same_packets(
        &segment_packets(&segments),
        &expected_packets(&sent),
        "the publish",
    );
    assert_eq!(listener_restarts(&server).await, 0);
    server.stop().await;
}

/// The patched loss-list decompression still gives every number a NAK stands for: single
/// numbers and ranges, up to the largest sequence number.
#[test]
fn nak_ranges_decompress_to_their_numbers() {
    for raw in [
        &[1u32, 2, 3, 7, 9, 10, 100, 1000, 1001][..],
        &[
            0x7fff_fff0,
            0x7fff_fff1,
            0x7fff_fff2,
            0x7fff_fffa,
            0x7fff_fffe,
            0x7fff_ffff,
        ],
    ] {
        let numbers: Vec<SeqNumber> = raw.iter().map(|&n| SeqNumber::new_truncate(n)).collect();
        let nak = CompressedLossList::try_from_iter(numbers.iter().copied()).unwrap();
        assert!(nak.iter_compressed().count() < numbers.len());
        assert_eq!(nak.iter_decompressed().collect::<Vec<_>>(), numbers);
    }
}
