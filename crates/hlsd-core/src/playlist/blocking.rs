//! The blocking playlist reload decision (RFC 8216bis §6.2.5.2): answer now, wait, or
//! reject. A pure function of the request and of where the playlist stands, so every case
//! is tested without I/O.

/// Query parameters of a playlist request (§6.2.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Directives {
    pub msn: Option<u64>,
    pub part: Option<u64>,
    pub skip: bool,
}

/// Parses `_HLS_msn`, `_HLS_part` and `_HLS_skip` from a query string; other parameters are
/// ignored. A malformed number is an error.
pub fn parse_directives(query: Option<&str>) -> Result<Directives, &'static str> {
    let mut d = Directives::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "_HLS_msn" => {
                d.msn = Some(
                    v.parse()
                        .map_err(|_| "_HLS_msn must be a non-negative integer")?,
                )
            }
            "_HLS_part" => {
                d.part = Some(
                    v.parse()
                        .map_err(|_| "_HLS_part must be a non-negative integer")?,
                )
            }
            "_HLS_skip" => d.skip = matches!(v, "YES" | "v2"),
            _ => {}
        }
    }
    Ok(d)
}

/// Where the playlist stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// MSN of the segment being built: every lower MSN is a complete segment.
    pub next_msn: u64,
    /// Complete parts of the segment being built.
    pub building_parts: u64,
    pub ended: bool,
    /// Advance Part Limit: 3 / PART-TARGET parts when PART-TARGET < 1 s, else 3.
    pub advance_part_limit: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Now,
    Wait,
    Reject(&'static str),
}

pub fn advance_part_limit(part_target_secs: f64) -> u64 {
    if part_target_secs > 0.0 && part_target_secs < 1.0 {
        (3.0 / part_target_secs).floor() as u64
    } else {
        3
    }
}

/// Decides a blocking request. `parts_of(msn)` is the number of parts of a complete
/// segment, when still known.
pub fn decide(d: &Directives, pos: &Position, parts_of: impl Fn(u64) -> Option<u64>) -> Decision {
    let Some(m) = d.msn else {
        return if d.part.is_some() {
            Decision::Reject("_HLS_part requires _HLS_msn")
        } else {
            Decision::Now
        };
    };
    if pos.ended {
        return Decision::Now;
    }
    // The last segment in the playlist: the one being built once it has a part.
    let last = if pos.building_parts > 0 {
        pos.next_msn
    } else {
        pos.next_msn.saturating_sub(1)
    };
    if m > last.saturating_add(2) {
        return Decision::Reject("_HLS_msn is more than two segments ahead of the playlist");
    }
    let Some(n) = d.part else {
        return if m < pos.next_msn {
            Decision::Now
        } else {
            Decision::Wait
        };
    };
    let ahead = match m.cmp(&pos.next_msn) {
        std::cmp::Ordering::Less => 0,
        std::cmp::Ordering::Equal => n.saturating_add(1).saturating_sub(pos.building_parts),
        std::cmp::Ordering::Greater => n.saturating_add(1),
    };
    if ahead > pos.advance_part_limit {
        return Decision::Reject("_HLS_part is beyond the advance part limit");
    }
    if m < pos.next_msn {
        let Some(count) = parts_of(m) else {
            return Decision::Now;
        };
        if n < count {
            return Decision::Now;
        }
        // Past the last part of a finished segment: part 0 of the next one.
        let next = m.saturating_add(1);
        return if next < pos.next_msn || (next == pos.next_msn && pos.building_parts > 0) {
            Decision::Now
        } else {
            Decision::Wait
        };
    }
    if m == pos.next_msn && n < pos.building_parts {
        Decision::Now
    } else {
        Decision::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Playlist: segments 1..=9 complete with 8 parts each, segment 10 building with 3 parts.
    fn check(query: &str, expect: Decision) {
        let pos = Position {
            next_msn: 10,
            building_parts: 3,
            ended: false,
            advance_part_limit: 12,
        };
        let d = parse_directives(Some(query)).expect("valid query");
        let got = decide(&d, &pos, |m| (m < 10).then_some(8));
        assert_eq!(got, expect, "{query}");
    }

    #[test]
    fn decision_table() {
        use Decision::*;
        check("", Now);
        check("_HLS_skip=YES", Now);
        check("_HLS_msn=5", Now);
        check("_HLS_msn=9", Now);
        check("_HLS_msn=10", Wait);
        check("_HLS_msn=11", Wait);
        check("_HLS_msn=12", Wait);
        check(
            "_HLS_msn=13",
            Reject("_HLS_msn is more than two segments ahead of the playlist"),
        );
        check("_HLS_msn=9&_HLS_part=7", Now);
        check("_HLS_msn=9&_HLS_part=8", Now); // part 0 of 10 exists
        check("_HLS_msn=10&_HLS_part=2", Now);
        check("_HLS_msn=10&_HLS_part=3", Wait);
        check("_HLS_msn=10&_HLS_part=14", Wait);
        check(
            "_HLS_msn=10&_HLS_part=15",
            Reject("_HLS_part is beyond the advance part limit"),
        );
        check("_HLS_msn=11&_HLS_part=0", Wait);
        check("_HLS_msn=11&_HLS_part=11", Wait);
        check(
            "_HLS_msn=11&_HLS_part=12",
            Reject("_HLS_part is beyond the advance part limit"),
        );
        check("_HLS_part=1", Reject("_HLS_part requires _HLS_msn"));
    }

    #[test]
    fn between_segments() {
        // Segment 9 just finished; nothing of 10 yet.
        let pos = Position {
            next_msn: 10,
            building_parts: 0,
            ended: false,
            advance_part_limit: 12,
        };
        let parts = |m: u64| (m < 10).then_some(8);
        let d = |q: &str| parse_directives(Some(q)).expect("valid");
        assert_eq!(
            decide(&d("_HLS_msn=9&_HLS_part=8"), &pos, parts),
            Decision::Wait
        );
        assert_eq!(
            decide(&d("_HLS_msn=10&_HLS_part=0"), &pos, parts),
            Decision::Wait
        );
        assert_eq!(decide(&d("_HLS_msn=11"), &pos, parts), Decision::Wait);
        assert!(matches!(
            decide(&d("_HLS_msn=12"), &pos, parts),
            Decision::Reject(_)
        ));
    }

    #[test]
    fn ended_playlists_answer_at_once() {
        let pos = Position {
            next_msn: 10,
            building_parts: 0,
            ended: true,
            advance_part_limit: 12,
        };
        let d = parse_directives(Some("_HLS_msn=11&_HLS_part=2")).expect("valid");
        assert_eq!(decide(&d, &pos, |_| None), Decision::Now);
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        check("_HLS_msn=5&_HLS_part=18446744073709551615", Decision::Now);
        check(
            "_HLS_msn=10&_HLS_part=18446744073709551615",
            Decision::Reject("_HLS_part is beyond the advance part limit"),
        );
        check(
            "_HLS_msn=18446744073709551615",
            Decision::Reject("_HLS_msn is more than two segments ahead of the playlist"),
        );
        let pos = Position {
            next_msn: u64::MAX,
            building_parts: u64::MAX,
            ended: false,
            advance_part_limit: 12,
        };
        let d = parse_directives(Some(
            "_HLS_msn=18446744073709551615&_HLS_part=18446744073709551615",
        ))
        .expect("valid");
        assert_eq!(decide(&d, &pos, |_| Some(3)), Decision::Wait);
    }

    #[test]
    fn malformed_numbers() {
        assert!(parse_directives(Some("_HLS_msn=x")).is_err());
        assert!(parse_directives(Some("_HLS_msn=-1")).is_err());
        assert_eq!(
            parse_directives(Some("a=b&_HLS_skip=v2")).map(|d| d.skip),
            Ok(true)
        );
        assert_eq!(advance_part_limit(0.25), 12);
        assert_eq!(advance_part_limit(0.334), 8);
        assert_eq!(advance_part_limit(2.0), 3);
    }
}
