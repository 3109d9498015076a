//! The client behind a trusted proxy (`limits.trusted_proxies`): when a request comes from
//! one of those addresses, the client is the rightmost `X-Forwarded-For` address that is
//! not itself a trusted proxy (each proxy appends the address it was reached from, so
//! everything left of that is whatever the client chose to send). Used for the ingest
//! span's `peer`, the publisher's address in `/api/feeds` and the publish hook's `ip`.

use axum::http::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// The client's address: `peer` itself unless it is a trusted proxy that forwarded one.
/// A forwarded client has port 0 (the proxy's port says nothing about it).
pub fn client(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> SocketAddr {
    if trusted.is_empty() || !trusted.contains(&canonical(peer.ip())) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Some(ip) = parse(hop) else {
            // Garbage from an untrusted hop: stop at the last address known good.
            break;
        };
        if !trusted.contains(&ip) {
            return SocketAddr::new(ip, 0);
        }
    }
    peer
}

/// An address as `X-Forwarded-For` writes it: `1.2.3.4`, `2001:db8::1`, `[2001:db8::1]`,
/// or either with a port.
fn parse(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    s.parse::<SocketAddr>().ok().map(|a| canonical(a.ip()))
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's view of IPv4 peers) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    const PROXY: &str = "10.0.0.2:40000";

    #[test]
    fn untrusted_peers_are_themselves() {
        let peer: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let trusted = ["10.0.0.2".parse().unwrap()];
        assert_eq!(client(peer, &headers(&["198.51.100.1"]), &trusted), peer);
        assert_eq!(client(peer, &headers(&["198.51.100.1"]), &[]), peer);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let peer: SocketAddr = PROXY.parse().unwrap();
        let trusted: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        let c = |v: &[&str]| client(peer, &headers(v), &trusted);
        assert_eq!(c(&["198.51.100.1"]), "198.51.100.1:0".parse().unwrap());
        // A client forging an address on the left gains nothing.
        assert_eq!(
            c(&["1.1.1.1, 198.51.100.1, 10.0.0.1"]),
            "198.51.100.1:0".parse().unwrap()
        );
        assert_eq!(
            c(&["1.1.1.1", "198.51.100.1"]),
            "198.51.100.1:0".parse().unwrap()
        );
        assert_eq!(
            c(&["[2001:db8::7]:1234"]),
            "[2001:db8::7]:0".parse().unwrap()
        );
        assert_eq!(c(&["198.51.100.1:80"]), "198.51.100.1:0".parse().unwrap());
        // No header, only proxies, or garbage at the right: the proxy itself.
        assert_eq!(c(&[]), peer);
        assert_eq!(c(&["10.0.0.1"]), peer);
        assert_eq!(c(&["198.51.100.1, unknown"]), peer);
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_proxies() {
        let peer: SocketAddr = "[::ffff:10.0.0.2]:40000".parse().unwrap();
        let trusted = ["10.0.0.2".parse().unwrap()];
        assert_eq!(
            client(peer, &headers(&["198.51.100.1"]), &trusted),
            "198.51.100.1:0".parse().unwrap()
        );
    }
}
