//! Datagrams at the SRT stack's listener (the patched srt-protocol,
//! vendor/srt-protocol/PATCHES.md): the input is a flag byte (bit 0: the listener has a
//! passphrase) and datagrams, each after a 2-byte length. Each is parsed as the stack's
//! socket does (never panics, nor does its Debug) and handed to the listener state machine
//! from one caller address, the cookie of the listener's last answer put into conclusions
//! so that they reach the handshake's decision; access requests get hlsd's answers
//! (`srt::conn::run`). Nothing panics, nor does serializing what the listener sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use srt_protocol::listener::*;
use srt_protocol::options::{KeySize, Passphrase};
use srt_protocol::packet::*;
use srt_protocol::settings::{ConnInitSettings, KeySettings};
use std::net::SocketAddr;
use std::time::Instant;

/// Offset of the SYN cookie in a handshake datagram.
const COOKIE_AT: usize = 44;

fn key(size: KeySize) -> KeySettings {
    KeySettings {
        key_size: size,
        passphrase: Passphrase::try_from("fuzzing-passphrase".to_string()).unwrap(),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let secret = flags & 1 == 1;
    let mut settings = ConnInitSettings::default();
    if secret {
        settings.key_settings = Some(key(KeySize::Unspecified));
    }
    let from: SocketAddr = "127.0.0.1:4000".parse().unwrap();
    let mut listener = MultiplexListener::new(Instant::now(), from, settings);
    let mut cookie: Option<[u8; 4]> = None;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let mut d = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        if let Some(c) = cookie.filter(|_| d.len() >= COOKIE_AT + 4 && d[..2] == [0x80, 0]) {
            d[COOKIE_AT..COOKIE_AT + 4].copy_from_slice(&c);
        }
        let parsed = Packet::parse(&mut &d[..], false);
        let _ = format!("{parsed:?}");
        if let Ok(p) = &parsed {
            let _ = p.wire_size();
        }
        let mut input = Input::Packet(parsed.map(|p| (p, from)).map_err(ReceivePacketError::Parse));
        let mut requests = Vec::new();
        loop {
            let action = listener.handle_input(Instant::now(), input);
            let next = NextInputContext::for_action(&action);
            let sent = match action {
                Action::SendPacket(p) => Some(p),
                Action::RejectConnection(_, p) => p,
                Action::OpenConnection(_, c) => c.0,
                Action::RequestAccess(id, r) => {
                    requests.push((id, r));
                    None
                }
                Action::DelegatePacket(..)
                | Action::DropConnection(_)
                | Action::UpdateStatistics(_) => None,
                Action::WaitForInput | Action::Close => match requests.pop() {
                    Some((id, r)) => {
                        let answer = if secret {
                            AccessControlResponse::Accepted(Some(key(r.key_size)))
                        } else if r.key_size == KeySize::Unspecified {
                            AccessControlResponse::Accepted(None)
                        } else {
                            AccessControlResponse::Rejected(RejectReason::Core(
                                CoreRejectReason::Unsecure,
                            ))
                        };
                        input = Input::AccessResponse(Some((id, answer)));
                        continue;
                    }
                    None => break,
                },
            };
            if let Some((p, _)) = sent {
                let mut bytes = Vec::new();
                p.serialize(&mut bytes);
                if bytes.len() >= COOKIE_AT + 4 && bytes[..2] == [0x80, 0] {
                    cookie = bytes[COOKIE_AT..COOKIE_AT + 4].try_into().ok();
                }
            }
            input = next.input_from(Ok::<(), ()>(()));
        }
    }
});
