//! A video tag's header: what the tag is, before its payload is read.
//!
//! Legacy FLV (`IsExHeader` = 0): frame type (4 bits), codec id (4 bits), then for H.264
//! (codec id 7) the AVCPacketType (0 sequence header, 1 NALUs, 2 end of sequence) and a
//! signed 24-bit composition offset.
//!
//! Enhanced RTMP (veovera enhanced-rtmp v1, `IsExHeader` = 1): frame type (3 bits),
//! PacketType (4 bits), a FourCC, then by PacketType: 0 SequenceStart (the decoder
//! configuration record), 1 CodedFrames (a signed 24-bit composition offset, then the
//! frame), 2 SequenceEnd, 3 CodedFramesX (the frame, offset 0), 4 Metadata,
//! 5 MPEG2TSSequenceStart. Taken: FourCC `hvc1` (H.265) and `avc1` (H.264); Metadata,
//! SequenceEnd, MPEG2TSSequenceStart and command frames carry no picture and are passed
//! over; v2's Multitrack (6) and ModEx (7), or any other type, are refused.

use super::FlvError;
use crate::codec::VideoCodec;

/// Legacy frame type or Enhanced RTMP frame type of a keyframe; 5 is a command frame.
const KEYFRAME: u8 = 1;
const COMMAND_FRAME: u8 = 5;

/// What a video tag is.
#[derive(Debug, PartialEq, Eq)]
pub enum VideoPacket<'a> {
    /// No picture and no configuration: end of sequence, metadata, a command frame.
    Nothing,
    /// A sequence header: the decoder configuration record (avcC or hvcC).
    Config { codec: VideoCodec, record: &'a [u8] },
    /// A frame: length-prefixed NAL units, its composition offset in milliseconds.
    Frame {
        codec: VideoCodec,
        key: bool,
        cts: i32,
        data: &'a [u8],
    },
}

/// A signed 24-bit big-endian value.
pub(super) fn si24(b: [u8; 3]) -> i32 {
    let v = i32::from(b[0]) << 16 | i32::from(b[1]) << 8 | i32::from(b[2]);
    (v << 8) >> 8
}

/// The signed 24-bit composition offset at the front of `b`, and what follows it.
fn offset(b: &[u8]) -> Result<(i32, &[u8]), FlvError> {
    match b {
        [x, y, z, rest @ ..] => Ok((si24([*x, *y, *z]), rest)),
        _ => Err(FlvError::Truncated("video")),
    }
}

impl<'a> VideoPacket<'a> {
    /// Reads a video tag's header.
    pub fn parse(body: &'a [u8]) -> Result<VideoPacket<'a>, FlvError> {
        let &b0 = body.first().ok_or(FlvError::Empty)?;
        if b0 & 0x80 != 0 {
            return Self::enhanced(b0, &body[1..]);
        }
        let (frame_type, codec) = (b0 >> 4, b0 & 0x0F);
        if frame_type == COMMAND_FRAME {
            return Ok(VideoPacket::Nothing);
        }
        if codec != 7 {
            return Err(FlvError::VideoCodec(codec));
        }
        let &packet_type = body.get(1).ok_or(FlvError::Truncated("video"))?;
        let (cts, data) = offset(&body[2..])?;
        let codec = VideoCodec::H264;
        Ok(match packet_type {
            0 => VideoPacket::Config {
                codec,
                record: data,
            },
            1 => VideoPacket::Frame {
                codec,
                key: frame_type == KEYFRAME,
                cts,
                data,
            },
            // End of sequence, or unknown: nothing to show.
            _ => VideoPacket::Nothing,
        })
    }

    /// An Enhanced RTMP video tag; `rest` follows its first byte.
    fn enhanced(b0: u8, rest: &'a [u8]) -> Result<VideoPacket<'a>, FlvError> {
        let (frame_type, packet_type) = ((b0 >> 4) & 7, b0 & 0x0F);
        let (fourcc, payload) = rest
            .split_first_chunk::<4>()
            .ok_or(FlvError::Truncated("enhanced video"))?;
        // Metadata (HDR colour information), and command frames: no picture.
        if packet_type == 4 || frame_type == COMMAND_FRAME {
            return Ok(VideoPacket::Nothing);
        }
        if !matches!(packet_type, 0..=5) {
            return Err(FlvError::ExPacketType(packet_type));
        }
        let codec = match fourcc {
            b"hvc1" => VideoCodec::H265,
            b"avc1" => VideoCodec::H264,
            other => return Err(FlvError::FourCc(String::from_utf8_lossy(other).into())),
        };
        let key = frame_type == KEYFRAME;
        Ok(match packet_type {
            0 => VideoPacket::Config {
                codec,
                record: payload,
            },
            1 => {
                let (cts, data) = offset(payload)?;
                VideoPacket::Frame {
                    codec,
                    key,
                    cts,
                    data,
                }
            }
            3 => VideoPacket::Frame {
                codec,
                key,
                cts: 0,
                data: payload,
            },
            // SequenceEnd, MPEG2TSSequenceStart.
            _ => VideoPacket::Nothing,
        })
    }
}
