//! The programs of a multi-program transport stream, read from the first bytes of a push:
//! the PAT (ISO/IEC 13818-1 §2.4.4.3) and, when present, the SDT's service names
//! (ETSI EN 300 468 §5.2.3), so that each program can become a rendition named after it.

use super::framer::Framer;
use super::packet::Pid;
use super::psi::{SectionAssembler, parse_pat, parse_sdt};

const SDT_PID: Pid = Pid(0x11);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramName {
    pub number: u16,
    /// The service name of the SDT, when the stream carries one.
    pub name: Option<String>,
}

/// Scans the head of a stream. `None` while no PAT was seen; once one is, the programs it
/// lists, named from an SDT found in the same bytes (or `complete` says no more is coming).
pub fn scan(head: &[u8], complete: bool) -> Option<Vec<ProgramName>> {
    let mut framer = Framer::new();
    let (mut pat_asm, mut sdt_asm) = (SectionAssembler::default(), SectionAssembler::default());
    let (mut pat, mut sdt) = (None, None);
    let mut on_packet = |p: super::Packet<'_>| {
        if p.pid() == Pid::PAT && pat.is_none() {
            if let Some(Ok(s)) = pat_asm.push(&p) {
                pat = parse_pat(&s).ok();
            }
        } else if p.pid() == SDT_PID
            && sdt.is_none()
            && let Some(Ok(s)) = sdt_asm.push(&p)
        {
            sdt = parse_sdt(&s).ok();
        }
    };
    framer.push(head, &mut on_packet);
    framer.finish(&mut on_packet);
    let pat = pat?;
    // A single program needs no names; several wait for the SDT while more bytes may come.
    if pat.programs.len() > 1 && sdt.is_none() && !complete {
        return None;
    }
    let name = |n: u16| sdt.as_ref()?.iter().find(|s| s.id == n)?.name.clone();
    Some(
        pat.programs
            .iter()
            .map(|p| ProgramName {
                number: p.number,
                name: name(p.number),
            })
            .collect(),
    )
}

/// A rendition name for a program: its service name made URL-safe
/// (`[A-Za-z0-9_-]`, at most 64), else `program{number}`.
pub fn rendition_name(p: &ProgramName) -> String {
    let from_name: String = p
        .name
        .iter()
        .flat_map(|n| n.chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    let trimmed = from_name.trim_matches('_');
    if trimmed.is_empty() {
        format!("program{}", p.number)
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = |number, name: Option<&str>| {
            rendition_name(&ProgramName {
                number,
                name: name.map(str::to_string),
            })
        };
        assert_eq!(n(1, Some("Camera A")), "Camera_A");
        assert_eq!(n(2, None), "program2");
        assert_eq!(n(3, Some("***")), "program3");
        assert_eq!(n(4, Some("hd-1")), "hd-1");
    }

    #[test]
    fn single_program_synthetic_stream() {
        let ts = crate::synth::Synth::default().build(10);
        assert_eq!(scan(&ts[..188], false), None, "no PAT yet");
        let found = scan(&ts, false).expect("a PAT");
        assert_eq!(
            found,
            vec![ProgramName {
                number: 1,
                name: None
            }]
        );
    }
}
