//! Datagrams for the SRT stack that no well-behaved caller sends: seeded, reproducible
//! mutations of real handshakes (libsrt's, from ffmpeg, and srt-tokio's caller's), and
//! helpers to put a listener's cookie into a conclusion so that mutations reach the
//! handshake's decision and not only the cookie check.

use srt_protocol::options::{KeySize, Passphrase, SrtVersion};
use srt_protocol::packet::*;
use srt_protocol::settings::{CipherSettings, KeyMaterialRefreshSettings, KeySettings};
use std::net::IpAddr;
use std::time::Duration;

/// Offset of the SYN cookie in a handshake datagram (16-byte header, 7 words before it).
pub const COOKIE_AT: usize = 16 + 7 * 4;

/// A handshake datagram: header, the eight handshake words, the peer address, extensions.
const HANDSHAKE_LEN: usize = 16 + 8 * 4 + 16;

/// ffmpeg 4's conclusion with HSREQ, a stream ID and a KMREQ (AES-256 announced): a
/// Wireshark capture that srt-protocol's own tests carry.
pub const LIBSRT_CONCLUSION_KM: &str = concat!(
    "80000000000000000000dea800000000",
    "000000050004000751dca3b8000005b8",
    "00002000ffffffff025c84b8da7ee4e7",
    "0100007f000000000000000000000000",
    "0001000300010402000000bf003c003c",
    "000500033a3a212365683d7500000078",
    "00030012122029010000000002000200",
    "00000408437937d8c23ce2090754c5a7",
    "a9e608c14631aef7ac0b8a46b77b8c0b",
    "97d4061e565dcb86e4c5cc3701e1f992",
    "a5b2de3651c937c94f3333a6",
);

/// A libsrt 1.4 conclusion with HSREQ and a KMREQ (AES-128), from the same tests.
pub const LIBSRT_CONCLUSION_KM128: &str = "8000000000000000000000000C110D94000000050000000374B7526E000005DC00002000FFFFFFFF18C1CED1F3819B720100007F00000000000000000000000000020003000103010000003F03E803E80004000E12202901000000000200020000000404D3B3D84BE1188A4EBDA4DA16EA65D522D82DE544E1BE06B6ED8128BF15AA4E18EC50EAA95546B101";

pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// xorshift64*: the same datagrams in every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// In `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in 100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

const WORDS: [u32; 20] = [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    0x7fff,
    0x8000,
    0xffff,
    0x4a17,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0xffff_fffe,
    1000,
    2400,
    3000,
];

const HALVES: [u16; 16] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x4a17, 0x7fff, 0x8000, 0xffff, 0x0002, 0x0004,
];

/// One to three mutations of `seed`: flipped bits, random bytes, interesting words and
/// half-words, truncation, random tails, extra extensions (any type, any announced
/// length), another control type, other key size and extension flags, a cut-out slice.
pub fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        match rng.below(10) {
            0 if !d.is_empty() => {
                for _ in 0..1 + rng.below(4) {
                    let bit = rng.below(d.len() * 8);
                    d[bit / 8] ^= 1 << (bit % 8);
                }
            }
            1 if !d.is_empty() => {
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(d.len());
                    d[at] = rng.next() as u8;
                }
            }
            2 if d.len() >= 4 => {
                let at = rng.below(d.len() / 4) * 4;
                let w = if rng.chance(80) {
                    rng.pick(&WORDS)
                } else {
                    rng.next() as u32
                };
                d[at..at + 4].copy_from_slice(&w.to_be_bytes());
            }
            3 if d.len() >= 2 => {
                let at = rng.below(d.len() / 2) * 2;
                d[at..at + 2].copy_from_slice(&rng.pick(&HALVES).to_be_bytes());
            }
            4 => {
                let keep = rng.below(d.len() + 1);
                d.truncate(keep);
            }
            5 => {
                for _ in 0..1 + rng.below(64) {
                    d.push(rng.next() as u8);
                }
            }
            6 => {
                let ty = if rng.chance(80) {
                    rng.below(10) as u16
                } else {
                    rng.next() as u16
                };
                let words = if rng.chance(80) {
                    rng.below(5) as u16
                } else {
                    rng.next() as u16
                };
                d.extend_from_slice(&ty.to_be_bytes());
                d.extend_from_slice(&words.to_be_bytes());
                let body = if rng.chance(80) {
                    usize::from(words) * 4
                } else {
                    rng.below(24)
                };
                for _ in 0..body.min(256) {
                    d.push(rng.next() as u8);
                }
            }
            7 if d.len() >= 4 => {
                let ty: u16 = rng.pick(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x7fff, 0x7ffe]);
                d[0..2].copy_from_slice(&(0x8000 | ty).to_be_bytes());
                d[2..4].copy_from_slice(&(rng.below(10) as u16).to_be_bytes());
            }
            8 if d.len() >= 24 => {
                d[20..22].copy_from_slice(&rng.pick(&[0u16, 2, 3, 4, 1, 5, 0xffff]).to_be_bytes());
                d[22..24].copy_from_slice(&(rng.below(16) as u16).to_be_bytes());
            }
            9 if !d.is_empty() => {
                let a = rng.below(d.len());
                let b = a + rng.below(d.len() - a + 1);
                d.drain(a..b);
            }
            _ => {}
        }
    }
    d
}

/// A datagram of random bytes, control or data, of up to 200 bytes.
pub fn noise(rng: &mut Rng) -> Vec<u8> {
    let mut d: Vec<u8> = (0..rng.below(201)).map(|_| rng.next() as u8).collect();
    if !d.is_empty() && rng.chance(70) {
        d[0] |= 0x80;
    }
    d
}

/// The SYN cookie of a listener's answer to an induction, if `d` is a handshake.
pub fn cookie_of(d: &[u8]) -> Option<[u8; 4]> {
    (d.len() >= HANDSHAKE_LEN && d[0] == 0x80 && d[1] == 0)
        .then(|| d[COOKIE_AT..COOKIE_AT + 4].try_into().unwrap())
}

/// `d` with `cookie` in place, if it is long enough to carry one.
pub fn with_cookie(mut d: Vec<u8>, cookie: [u8; 4]) -> Vec<u8> {
    if d.len() >= COOKIE_AT + 4 {
        d[COOKIE_AT..COOKIE_AT + 4].copy_from_slice(&cookie);
    }
    d
}

/// Where the handshake extension of type `ty` starts in `d` (its type word), walking the
/// extensions from the first.
pub fn extension_at(d: &[u8], ty: u16) -> Option<usize> {
    let mut at = HANDSHAKE_LEN;
    while at + 4 <= d.len() {
        let this = u16::from_be_bytes([d[at], d[at + 1]]);
        if this == ty {
            return Some(at);
        }
        at += 4 + usize::from(u16::from_be_bytes([d[at + 2], d[at + 3]])) * 4;
    }
    None
}

/// Conclusion `c` without its HSREQ extension (and without the flag announcing one).
pub fn without_hsreq(mut c: Vec<u8>) -> Vec<u8> {
    let at = extension_at(&c, 1).expect("an HSREQ");
    let len = 4 + usize::from(u16::from_be_bytes([c[at + 2], c[at + 3]])) * 4;
    c.drain(at..at + len);
    c[23] &= !1;
    c
}

fn handshake(shake_type: ShakeType, info: HandshakeVsInfo) -> Vec<u8> {
    let packet = Packet::Control(ControlPacket {
        timestamp: TimeStamp::from_micros(0),
        dest_sockid: SocketId(0),
        control_type: ControlTypes::Handshake(HandshakeControlInfo {
            init_seq_num: SeqNumber::new_truncate(0x1234_5678),
            max_packet_size: srt_protocol::options::PacketSize(1500),
            max_flow_size: srt_protocol::options::PacketCount(8192),
            shake_type,
            socket_id: SocketId(0x0102_0304),
            syn_cookie: 0,
            peer_addr: IpAddr::from([127, 0, 0, 1]),
            info,
        }),
    });
    let mut out = Vec::new();
    packet.serialize(&mut out);
    out
}

/// An induction as callers send it (UDT version 4, datagram socket).
pub fn induction() -> Vec<u8> {
    handshake(
        ShakeType::Induction,
        HandshakeVsInfo::V4(SocketType::Datagram),
    )
}

/// A conclusion as srt-tokio's caller sends it: HSREQ, `stream_id`, and with `key` a KMREQ
/// (announcing `announced` as the key size).
pub fn conclusion(stream_id: &str, key: Option<(KeySize, KeySize)>) -> Vec<u8> {
    let (key_size, ext_km) = match key {
        Some((announced, used)) => {
            let settings = KeySettings {
                key_size: used,
                passphrase: Passphrase::try_from("fuzzing-passphrase".to_string()).unwrap(),
            };
            let cipher =
                CipherSettings::new_random(&settings, &KeyMaterialRefreshSettings::default());
            (
                announced,
                cipher
                    .wrap_keying_material()
                    .map(SrtControlPacket::KeyRefreshRequest),
            )
        }
        None => (KeySize::Unspecified, None),
    };
    handshake(
        ShakeType::Conclusion,
        HandshakeVsInfo::V5(HsV5Info {
            key_size,
            ext_hs: Some(SrtControlPacket::HandshakeRequest(SrtHandshake {
                version: SrtVersion::CURRENT,
                flags: SrtShakeFlags::SUPPORTED,
                send_latency: Duration::from_millis(120),
                recv_latency: Duration::from_millis(120),
            })),
            ext_km,
            ext_group: None,
            sid: Some(stream_id.to_string()),
        }),
    )
}

/// Whether `d` is a handshake of `shake` type (1: induction, -1: conclusion).
pub fn is_handshake(d: &[u8], shake: i32) -> bool {
    d.len() >= HANDSHAKE_LEN
        && d[0] == 0x80
        && d[1] == 0
        && i32::from_be_bytes(d[36..40].try_into().unwrap()) == shake
}

/// A UDP relay between one SRT caller and `upstream`, both ways, in order, recording the
/// first `keep` datagrams the caller sent. Returns the address the caller calls.
pub async fn recording_relay(
    upstream: std::net::SocketAddr,
    keep: usize,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
) {
    use std::sync::{Arc, Mutex};
    use tokio::net::UdpSocket;
    let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = front.local_addr().unwrap();
    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(upstream).await.unwrap();
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Default::default();
    let caller: Arc<Mutex<Option<std::net::SocketAddr>>> = Default::default();
    {
        let (front, back, seen, caller) =
            (front.clone(), back.clone(), seen.clone(), caller.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((n, from)) = front.recv_from(&mut buf).await {
                *caller.lock().unwrap() = Some(from);
                {
                    let mut seen = seen.lock().unwrap();
                    if seen.len() < keep {
                        seen.push(buf[..n].to_vec());
                    }
                }
                let _ = back.send(&buf[..n]).await;
            }
        });
    }
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok(n) = back.recv(&mut buf).await {
            let to = *caller.lock().unwrap();
            if let Some(to) = to {
                let _ = front.send_to(&buf[..n], to).await;
            }
        }
    });
    (addr, seen)
}
