//! hlsd's sans-I/O media core: bytes in, segments and playlists out, time passed in.
//!
//! `ts` reads and writes MPEG-TS, `codec` parses what players need to know about the
//! streams, `segmenter` cuts a publish into parts and segments, `flv` turns RTMP's FLV tags into access units, `fmp4` packages its parts
//! as fragmented MP4, `playlist` holds a rendition's window and renders its playlists. Nothing here does I/O, spawns, sleeps or
//! logs: the shell (the `hlsd` crate) does, which keeps this crate deterministic to test,
//! fuzz and benchmark. `synth` builds synthetic streams for tests, fuzzing and benchmarks.
#![forbid(unsafe_code)]

pub mod codec;
pub mod flv;
pub mod fmp4;
pub mod playlist;
pub mod segmenter;
pub mod synth;
pub mod ts;
