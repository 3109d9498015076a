//! A borrowed view of one 188-byte transport stream packet (ISO/IEC 13818-1 §2.4.3.2).

/// Packet identifier (13 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub u16);

impl Pid {
    pub const PAT: Pid = Pid(0x0000);
    pub const NULL: Pid = Pid(0x1FFF);
}

pub const PACKET_SIZE: usize = 188;
pub const SYNC_BYTE: u8 = 0x47;

/// A 188-byte packet, borrowed from the buffer it was found in.
#[derive(Clone, Copy)]
pub struct Packet<'buf> {
    buf: &'buf [u8; PACKET_SIZE],
}

impl<'buf> Packet<'buf> {
    pub fn new(buf: &'buf [u8; PACKET_SIZE]) -> Self {
        Packet { buf }
    }

    pub fn bytes(&self) -> &'buf [u8; PACKET_SIZE] {
        self.buf
    }

    pub fn pid(&self) -> Pid {
        Pid(u16::from(self.buf[1] & 0x1F) << 8 | u16::from(self.buf[2]))
    }

    /// payload_unit_start_indicator: a PES packet or PSI section starts in this packet.
    pub fn pusi(&self) -> bool {
        self.buf[1] & 0x40 != 0
    }

    pub fn transport_error(&self) -> bool {
        self.buf[1] & 0x80 != 0
    }

    pub fn continuity_counter(&self) -> u8 {
        self.buf[3] & 0x0F
    }

    fn has_adaptation_field(&self) -> bool {
        self.buf[3] & 0x20 != 0
    }

    fn has_payload(&self) -> bool {
        self.buf[3] & 0x10 != 0
    }

    /// The adaptation field's bytes after its length byte, if any.
    fn adaptation_field(&self) -> Option<&'buf [u8]> {
        if !self.has_adaptation_field() {
            return None;
        }
        let len = usize::from(self.buf[4]);
        self.buf.get(5..5 + len)
    }

    /// discontinuity_indicator of the adaptation field (§2.4.3.5).
    pub fn discontinuity(&self) -> bool {
        self.adaptation_field()
            .and_then(|af| af.first())
            .is_some_and(|flags| flags & 0x80 != 0)
    }

    /// random_access_indicator of the adaptation field (§2.4.3.5).
    pub fn random_access(&self) -> bool {
        self.adaptation_field()
            .and_then(|af| af.first())
            .is_some_and(|flags| flags & 0x40 != 0)
    }

    /// The base of the program_clock_reference (90 kHz, 33 bits) of the adaptation field.
    pub fn pcr(&self) -> Option<u64> {
        let af = self.adaptation_field()?;
        if af.first()? & 0x10 == 0 {
            return None;
        }
        let b = af.get(1..6)?;
        Some(
            u64::from(b[0]) << 25
                | u64::from(b[1]) << 17
                | u64::from(b[2]) << 9
                | u64::from(b[3]) << 1
                | u64::from(b[4] >> 7),
        )
    }

    /// The payload bytes, or `None` when the packet carries none or its adaptation field
    /// length is impossible.
    pub fn payload(&self) -> Option<&'buf [u8]> {
        if !self.has_payload() {
            return None;
        }
        let start = if self.has_adaptation_field() {
            5 + usize::from(self.buf[4])
        } else {
            4
        };
        if start >= PACKET_SIZE {
            return None;
        }
        Some(&self.buf[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields() {
        let mut b = [0xFFu8; PACKET_SIZE];
        b[0] = SYNC_BYTE;
        b[1] = 0x41; // PUSI, PID high bits 1
        b[2] = 0x00;
        b[3] = 0x37; // adaptation + payload, CC 7
        b[4] = 1; // adaptation field length
        b[5] = 0x40; // random access
        let p = Packet::new(&b);
        assert_eq!(p.pid(), Pid(0x100));
        assert!(p.pusi());
        assert_eq!(p.continuity_counter(), 7);
        assert!(p.random_access());
        assert_eq!(p.payload().map(<[u8]>::len), Some(PACKET_SIZE - 6));
    }

    #[test]
    fn impossible_adaptation_length_has_no_payload() {
        let mut b = [0u8; PACKET_SIZE];
        b[0] = SYNC_BYTE;
        b[3] = 0x30;
        b[4] = 200;
        let p = Packet::new(&b);
        assert!(p.payload().is_none());
        assert!(!p.random_access());
    }
}
