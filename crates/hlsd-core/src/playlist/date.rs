//! ISO 8601 / RFC 3339 timestamps with milliseconds, as EXT-X-PROGRAM-DATE-TIME wants
//! them (RFC 8216bis §4.4.4.6), from Unix milliseconds.

use std::fmt::Write;

/// Appends e.g. `2026-11-25T18:06:54.123Z`.
pub fn write_iso8601(out: &mut String, unix_ms: i64) {
    let secs = unix_ms.div_euclid(1000);
    let ms = unix_ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ms: i64, expect: &str) {
        let mut s = String::new();
        write_iso8601(&mut s, ms);
        assert_eq!(s, expect);
    }

    #[test]
    fn known_dates() {
        check(0, "1970-01-01T00:00:00.000Z");
        check(951_782_400_000, "2000-02-29T00:00:00.000Z");
        check(1_795_629_414_123, "2026-11-25T17:56:54.123Z");
        check(4_107_542_399_999, "2100-02-28T23:59:59.999Z");
    }
}
