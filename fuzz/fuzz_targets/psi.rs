//! PAT/PMT/SDT section reassembly and parsing on arbitrary packets: never panics, and a
//! parsed table never names more streams than its section could hold.
#![no_main]

use hlsd::ts::psi::{SectionAssembler, parse_pat, parse_pmt, parse_sdt};
use hlsd::ts::{PACKET_SIZE, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The raw bytes as one section each way...
    let _ = parse_pat(data);
    if let Ok(pmt) = parse_pmt(data) {
        // Each ES entry takes at least 5 bytes of the section.
        assert!(pmt.streams.len() * 5 <= data.len());
    }
    let _ = parse_sdt(data);
    // ...and as packets of one PID through the reassembler.
    let mut asm = SectionAssembler::default();
    for chunk in data.chunks_exact(PACKET_SIZE) {
        let mut pkt = [0u8; PACKET_SIZE];
        pkt.copy_from_slice(chunk);
        pkt[0] = 0x47;
        if let Some(Ok(section)) = asm.push(&Packet::new(&pkt)) {
            assert!(section.len() <= 1024 + 3);
            let _ = parse_pat(&section);
            let _ = parse_pmt(&section);
            let _ = parse_sdt(&section);
        }
    }
});
