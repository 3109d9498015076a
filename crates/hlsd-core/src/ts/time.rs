//! 90 kHz media time and the unrolling of 33-bit PTS/DTS values (ISO/IEC 13818-1 §2.4.3.7).

/// Media time in 90 kHz ticks, unrolled past the 33-bit wrap, so it only grows with time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ts(pub i64);

impl Ts {
    pub const HZ: i64 = 90_000;

    pub fn from_secs(s: f64) -> Ts {
        Ts((s * Self::HZ as f64).round() as i64)
    }

    pub fn secs(self) -> f64 {
        self.0 as f64 / Self::HZ as f64
    }
}

impl std::ops::Sub for Ts {
    type Output = Ts;
    fn sub(self, rhs: Ts) -> Ts {
        Ts(self.0 - rhs.0)
    }
}

impl std::ops::Add for Ts {
    type Output = Ts;
    fn add(self, rhs: Ts) -> Ts {
        Ts(self.0 + rhs.0)
    }
}

const WRAP: i64 = 1 << 33;

/// Unrolls raw 33-bit timestamps of one stream: each value is placed as close as possible to
/// the previous one, so a wrap from 2^33−1 to 0 continues the timeline instead of jumping back.
#[derive(Debug, Default, Clone)]
pub struct Unroller {
    last: Option<i64>,
}

impl Unroller {
    /// An unroller whose first value is placed next to `reference` (another stream of the
    /// same program), so that streams starting on either side of a wrap agree.
    pub fn near(reference: Option<Ts>) -> Self {
        Unroller {
            last: reference.map(|t| t.0),
        }
    }

    pub fn unroll(&mut self, raw: u64) -> Ts {
        let raw = (raw as i64) & (WRAP - 1);
        let value = match self.last {
            None => raw,
            Some(last) => {
                let mut diff = (raw - last).rem_euclid(WRAP);
                if diff >= WRAP / 2 {
                    diff -= WRAP;
                }
                last + diff
            }
        };
        self.last = Some(value);
        Ts(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(raws: &[u64], expect: &[i64]) {
        let mut u = Unroller::default();
        let got: Vec<i64> = raws.iter().map(|&r| u.unroll(r).0).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn plain() {
        check(&[100, 3100, 6100], &[100, 3100, 6100]);
    }

    #[test]
    fn wrap_forward() {
        let w = 1u64 << 33;
        check(
            &[w - 3000, w - 1000, 2000, 5000],
            &[
                (w - 3000) as i64,
                (w - 1000) as i64,
                (w + 2000) as i64,
                (w + 5000) as i64,
            ],
        );
    }

    #[test]
    fn small_step_back_stays_back() {
        check(&[9000, 6000], &[9000, 6000]);
    }

    #[test]
    fn new_stream_starts_next_to_reference() {
        let w = 1i64 << 33;
        let mut u = Unroller::near(Some(Ts(w - 500)));
        assert_eq!(u.unroll(400), Ts(w + 400));
    }

    #[test]
    fn step_back_across_wrap() {
        let w = 1u64 << 33;
        check(&[1000, w - 1000], &[1000, -1000]);
    }
}
