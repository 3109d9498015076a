//! Memory for parts. Packets are copied once, back to back, into blocks of one size per
//! feed, and a finished part is the list of block slices it covers (one, or two when it
//! crosses the end of a block). So a part holds no spare capacity, and a block is done with
//! when the last part in it has expired (oldest first).
//!
//! A feed writes its large blocks again: the arena keeps a handle on each block of
//! [`REUSE_MIN_BLOCK`] or more it filled, and when it needs a new one it writes from the
//! start the oldest filled block that has no part left in it (`BytesMut::try_reclaim`: no
//! allocation, no copy). Any such block will do, not only the oldest: a viewer holding one
//! old part pins that block alone, and the blocks after it are still written again. In a steady feed no such block is
//! allocated after the first retention's worth, and the memory stays mapped, where a block
//! given back to glibc's malloc was unmapped and faulted in again page by page: ~15 % of
//! hlsd's CPU in `perf` at 64 paced feeds of 4 Mbit/s, whose CPU per GB fell by ~20 %.
//! Smaller blocks go back to malloc, which hands them to any feed without faults; kept per
//! feed they only added spare memory (+8 % RSS at 500 feeds of 1 Mbit/s, same CPU).

use crate::ts::psi_writer::PsiWriter;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::sync::Arc;

/// Smallest and largest block sizes; in between, the next power of two above the largest
/// part of the last segment, so a part spans at most two blocks.
const MIN_BLOCK: usize = 32 << 10;
const MAX_BLOCK: usize = 1 << 20;

/// Blocks this large and larger are written again by their feed (see the module docs).
const REUSE_MIN_BLOCK: usize = 256 << 10;

/// Filled blocks kept for writing again, at most (a feed at 8 Mbit/s with 30 s retained
/// fills ~120 blocks of 256 KiB; beyond this many the oldest is let go).
const MAX_RETIRED: usize = 1024;

/// The bytes of a finished part: shared slices of the blocks it was written into.
#[derive(Debug, Clone)]
pub struct PartBytes {
    pieces: Arc<[Bytes]>,
    len: usize,
}

impl PartBytes {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A part made of these slices, in order (an fMP4 fragment of referenced pieces).
    pub fn from_pieces(pieces: Vec<Bytes>) -> Self {
        let len = pieces.iter().map(Bytes::len).sum();
        PartBytes {
            pieces: Arc::from(pieces),
            len,
        }
    }

    /// The slices, in order; their concatenation is the part.
    pub fn pieces(&self) -> &[Bytes] {
        &self.pieces
    }

    /// The bytes before `at` and those from `at` on (shared slices, no copy).
    pub fn split_at(&self, at: usize) -> (PartBytes, PartBytes) {
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let mut pos = 0;
        for p in self.pieces.iter() {
            let end = pos + p.len();
            if end <= at {
                before.push(p.clone());
            } else if pos >= at {
                after.push(p.clone());
            } else {
                before.push(p.slice(..at - pos));
                after.push(p.slice(at - pos..));
            }
            pos = end;
        }
        (
            PartBytes::from_pieces(before),
            PartBytes::from_pieces(after),
        )
    }

    /// The part in one buffer (tests and tools; serving never copies).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.len);
        for p in self.pieces.iter() {
            v.extend_from_slice(p);
        }
        v
    }
}

impl From<Vec<u8>> for PartBytes {
    fn from(v: Vec<u8>) -> Self {
        let len = v.len();
        PartBytes {
            pieces: Arc::from([Bytes::from(v)]),
            len,
        }
    }
}

/// Where the part being built is written.
#[derive(Debug)]
pub(super) struct PartArena {
    /// The current block: its filled part belongs to the part being built.
    block: BytesMut,
    /// The size of `block` when it was taken; 0 before the first.
    block_cap: usize,
    /// Filled blocks, oldest first, with their sizes: each is written again once no part
    /// holds any of it.
    retired: VecDeque<(BytesMut, usize)>,
    /// Earlier pieces of the part being built, in blocks that are full.
    full: Vec<Bytes>,
    len: usize,
    block_size: usize,
    psi: Vec<u8>,
    /// Blocks allocated so far (a steady feed stops allocating).
    allocated: u64,
}

impl Default for PartArena {
    fn default() -> Self {
        PartArena {
            block: BytesMut::new(),
            block_cap: 0,
            retired: VecDeque::new(),
            full: Vec::new(),
            len: 0,
            block_size: 256 << 10,
            psi: Vec::new(),
            allocated: 0,
        }
    }
}

impl PartArena {
    /// Sizes the blocks taken from now on for parts of up to `largest_part` bytes.
    pub fn size_for(&mut self, largest_part: usize) {
        self.block_size = largest_part.next_power_of_two().clamp(MIN_BLOCK, MAX_BLOCK);
    }

    /// Blocks allocated so far.
    #[cfg(test)]
    pub fn allocated(&self) -> u64 {
        self.allocated
    }

    /// Bytes of the part being built.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn append(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len();
        while !bytes.is_empty() {
            let room = self.block.capacity() - self.block.len();
            if room == 0 {
                if !self.block.is_empty() {
                    self.full.push(self.block.split().freeze());
                }
                self.next_block();
                continue;
            }
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.block.extend_from_slice(now);
            bytes = rest;
        }
    }

    /// Retires the current (full) block and takes the oldest retired block no part holds
    /// any more, or a new one.
    fn next_block(&mut self) {
        let full = std::mem::take(&mut self.block);
        if self.block_cap >= REUSE_MIN_BLOCK {
            self.retired.push_back((full, self.block_cap));
        }
        // Blocks smaller than blocks are now cannot be written again.
        let size = self.block_size;
        self.retired.retain(|(_, cap)| *cap >= size);
        // A block still held by a part is skipped (`try_reclaim` only looks at its count).
        let free = self
            .retired
            .iter_mut()
            .position(|(block, _)| block.try_reclaim(size));
        match free.and_then(|i| self.retired.remove(i)) {
            Some((block, _)) => self.block = block,
            None => {
                self.block = BytesMut::with_capacity(size);
                self.allocated += 1;
            }
        }
        self.block_cap = self.block.capacity();
        if self.retired.len() > MAX_RETIRED {
            self.retired.pop_front();
        }
    }

    /// Writes hlsd's PAT and PMT, which open every part.
    pub fn append_psi(&mut self, psi: &mut PsiWriter) {
        let mut tables = std::mem::take(&mut self.psi);
        tables.clear();
        psi.write_into(&mut tables);
        self.append(&tables);
        self.psi = tables;
    }

    /// Ends the part being built and returns its bytes; the next part starts where it ended.
    /// A part within one block costs one allocation (its slice list).
    pub fn take(&mut self) -> PartBytes {
        let last = (!self.block.is_empty()).then(|| self.block.split().freeze());
        let pieces: Arc<[Bytes]> = match (self.full.is_empty(), last) {
            (true, Some(last)) => Arc::new([last]),
            (_, last) => self.full.drain(..).chain(last).collect(),
        };
        PartBytes {
            pieces,
            len: std::mem::take(&mut self.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_written_back_to_back_and_split_at_block_ends() {
        let mut a = PartArena::default();
        a.size_for(1000);
        assert_eq!(a.block_size, MIN_BLOCK);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut parts = Vec::new();
        let mut at = 0;
        for size in [10_000, 30_000, 1, 59_999] {
            for chunk in data[at..at + size].chunks(777) {
                a.append(chunk);
            }
            assert_eq!(a.len(), size);
            parts.push(a.take());
            at += size;
        }
        assert_eq!(a.len(), 0);
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.to_vec()).collect();
        assert_eq!(joined, data);
        let sizes: Vec<_> = parts.iter().map(PartBytes::len).collect();
        assert_eq!(sizes, [10_000, 30_000, 1, 59_999]);
        // 32 KiB blocks: the second part crosses the first block's end, the last part
        // two more; no piece is empty.
        let pieces: Vec<_> = parts.iter().map(|p| p.pieces().len()).collect();
        assert_eq!(pieces, [1, 2, 1, 3]);
        assert!(
            parts
                .iter()
                .all(|p| p.pieces().iter().all(|b| !b.is_empty()))
        );
    }

    #[test]
    fn block_size_follows_the_largest_part() {
        let mut a = PartArena::default();
        a.size_for(70_000);
        assert_eq!(a.block_size, 128 << 10);
        a.size_for(50 << 20);
        assert_eq!(a.block_size, MAX_BLOCK);
        a.append(&[1]);
        assert!(a.block.capacity() >= MAX_BLOCK);
        assert_eq!(a.take().to_vec(), [1]);
        assert!(a.take().is_empty());
    }

    #[test]
    fn a_large_block_is_written_again_once_its_parts_are_gone() {
        let mut a = PartArena::default();
        a.size_for(REUSE_MIN_BLOCK);
        let fill = |a: &mut PartArena, byte: u8| {
            a.append(&vec![byte; REUSE_MIN_BLOCK]);
            a.take()
        };
        let first = fill(&mut a, 1);
        let first_ptr = first.pieces()[0].as_ptr();
        // The second block is new: the first is still held by its part.
        let second = fill(&mut a, 2);
        assert_ne!(second.pieces()[0].as_ptr(), first_ptr);
        drop(first);
        // The third block is the first one again, written over.
        let third = fill(&mut a, 3);
        assert_eq!(third.pieces()[0].as_ptr(), first_ptr);
        assert_eq!(third.to_vec(), vec![3; REUSE_MIN_BLOCK]);
        assert_eq!(second.to_vec(), vec![2; REUSE_MIN_BLOCK]);
        // Bigger blocks from now on: the smaller retired ones are let go, not reused.
        drop(second);
        a.size_for(REUSE_MIN_BLOCK + 1);
        let fourth = fill(&mut a, 4);
        assert_eq!(fourth.pieces().len(), 1);
        assert!(a.retired.iter().all(|(_, size)| *size > REUSE_MIN_BLOCK));
    }

    #[test]
    fn a_held_part_pins_its_own_block_only() {
        let mut a = PartArena::default();
        a.size_for(REUSE_MIN_BLOCK);
        let fill = |a: &mut PartArena, byte: u8| {
            a.append(&vec![byte; REUSE_MIN_BLOCK / 4]);
            a.take()
        };
        // A viewer holds one part of the first block for the whole run.
        let held = fill(&mut a, 1);
        let held_ptr = held.pieces()[0].as_ptr();
        // The feed keeps 8 parts (two blocks) alive as its window, and writes 4 000 more.
        let mut window = VecDeque::new();
        for i in 0..4_000u32 {
            window.push_back(fill(&mut a, (i % 251) as u8));
            if window.len() > 8 {
                window.pop_front();
            }
        }
        // Blocks in use: the held one, the window's two or three, the current one, and the
        // one just filled; nothing grows with the number of parts written.
        assert!(a.allocated() <= 6, "{} blocks allocated", a.allocated());
        assert!(a.retired.len() <= 6, "{} blocks kept", a.retired.len());
        assert_eq!(held.to_vec(), vec![1; REUSE_MIN_BLOCK / 4]);
        assert_eq!(held.pieces()[0].as_ptr(), held_ptr);
        // Once let go, the held block is written again too.
        drop(held);
        drop(window);
        let before = a.allocated();
        for i in 0..100u8 {
            drop(fill(&mut a, i));
        }
        assert_eq!(a.allocated(), before);
    }

    #[test]
    fn small_blocks_go_back_to_the_allocator() {
        let mut a = PartArena::default();
        a.size_for(1000);
        for _ in 0..4 {
            a.append(&[7; MIN_BLOCK]);
            drop(a.take());
        }
        assert!(a.retired.is_empty());
    }
}
