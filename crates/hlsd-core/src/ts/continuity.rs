//! Continuity counter checking (ISO/IEC 13818-1 §2.4.3.3): counts packets lost, reordered or
//! corrupted on the way from the encoder, for the operator. hlsd never rewrites the
//! publisher's counters.

use super::packet::{Packet, Pid};

const UNKNOWN: u8 = 0xFF;

/// The last continuity counter seen per PID.
pub struct ContinuityChecker {
    last: Box<[u8; 8192]>,
}

impl Default for ContinuityChecker {
    fn default() -> Self {
        ContinuityChecker {
            last: Box::new([UNKNOWN; 8192]),
        }
    }
}

impl ContinuityChecker {
    /// Checks one packet; true when its counter does not follow the previous one.
    pub fn check(&mut self, pkt: &Packet<'_>) -> bool {
        let pid = pkt.pid();
        if pid == Pid::NULL {
            return false;
        }
        let cc = pkt.continuity_counter();
        let slot = &mut self.last[usize::from(pid.0) & 0x1FFF];
        let prev = std::mem::replace(slot, cc);
        if prev == UNKNOWN || pkt.discontinuity() {
            return false;
        }
        if pkt.payload().is_some() {
            // The next counter, or the same one once (a duplicate packet).
            cc != (prev + 1) & 0x0F && cc != prev
        } else {
            // No payload: the counter does not move.
            cc != prev
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::packet::{PACKET_SIZE, SYNC_BYTE};

    fn packet(pid: u16, cc: u8, payload: bool, discontinuity: bool) -> [u8; PACKET_SIZE] {
        let mut b = [0u8; PACKET_SIZE];
        b[0] = SYNC_BYTE;
        b[1] = (pid >> 8) as u8;
        b[2] = pid as u8;
        b[3] = 0x20 | if payload { 0x10 } else { 0 } | cc;
        b[4] = if payload { 1 } else { 183 };
        b[5] = if discontinuity { 0x80 } else { 0 };
        b
    }

    fn check(seq: &[(u16, u8, bool, bool)], expect: &[bool]) {
        let mut c = ContinuityChecker::default();
        let got: Vec<bool> = seq
            .iter()
            .map(|&(pid, cc, pl, d)| c.check(&Packet::new(&packet(pid, cc, pl, d))))
            .collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn counters() {
        // In order, wrapping.
        check(
            &[
                (1, 14, true, false),
                (1, 15, true, false),
                (1, 0, true, false),
            ],
            &[false, false, false],
        );
        // A lost packet.
        check(&[(1, 3, true, false), (1, 5, true, false)], &[false, true]);
        // A duplicate is allowed; PIDs are independent.
        check(
            &[
                (1, 3, true, false),
                (1, 3, true, false),
                (2, 9, true, false),
                (1, 4, true, false),
            ],
            &[false, false, false, false],
        );
        // Adaptation-only packets keep the counter; the discontinuity flag resets it.
        check(
            &[
                (1, 3, true, false),
                (1, 3, false, false),
                (1, 4, false, false),
            ],
            &[false, false, true],
        );
        check(
            &[
                (1, 3, true, false),
                (1, 9, true, true),
                (1, 10, true, false),
            ],
            &[false, false, false],
        );
    }
}
