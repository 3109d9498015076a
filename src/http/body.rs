//! A response body made of shared `Bytes` chunks (a segment's parts), sent without copying,
//! with an exact length so HTTP/1.1 gets a Content-Length and HEAD works.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

#[derive(Debug, Default)]
pub struct ChunksBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl ChunksBody {
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        ChunksBody { chunks, remaining }
    }

    /// The bytes in `range` of the concatenation of `chunks`, as slices of them.
    pub fn range<'a>(chunks: impl IntoIterator<Item = &'a Bytes>, range: Range<usize>) -> Self {
        let mut at = 0;
        let mut out = Vec::new();
        for c in chunks {
            let (start, end) = (at, at + c.len());
            at = end;
            if end <= range.start || start >= range.end {
                continue;
            }
            let from = range.start.max(start) - start;
            let to = range.end.min(end) - start;
            out.push(c.slice(from..to));
        }
        Self::new(out)
    }
}

impl Body for ChunksBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.chunks.pop_front() {
            Some(c) => {
                self.remaining -= c.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(c))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(b: ChunksBody) -> Vec<u8> {
        b.chunks.iter().flat_map(|c| c.iter().copied()).collect()
    }

    #[test]
    fn ranges_across_chunks() {
        let chunks = [
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"defg"),
            Bytes::from_static(b"h"),
        ];
        let all: Vec<u8> = b"abcdefgh".to_vec();
        for start in 0..8 {
            for end in start + 1..=8 {
                let b = ChunksBody::range(&chunks, start..end);
                assert_eq!(b.size_hint().exact(), Some((end - start) as u64));
                assert_eq!(collect(b), all[start..end].to_vec(), "{start}..{end}");
            }
        }
    }
}
