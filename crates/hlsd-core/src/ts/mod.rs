//! MPEG transport stream reading and writing (ISO/IEC 13818-1): packet views, the framer
//! that finds packets in arbitrary chunks, PSI, PES headers and 90 kHz time.

pub mod continuity;
pub mod crc;
pub mod framer;
pub mod muxer;
pub mod packet;
pub mod pes;
pub mod pes_writer;
pub mod programs;
pub mod psi;
pub mod psi_writer;
pub mod time;

pub use framer::{Framer, FramerStats};
pub use packet::{PACKET_SIZE, Packet, Pid};
pub use time::{Ts, Unroller};
