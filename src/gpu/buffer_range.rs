//! Storage as the runtime binds it: a range of floats over one or several pooled buffers. It
//! knows buffers, offsets and lengths, never shapes (the tensor above puts a shape on it).
//!
//! A range over several buffers (storage larger than a page, `Gpu::page_bytes`) cannot be bound
//! whole: `pieces` cuts it where buffers end, and `Gpu::split_items` cuts work there.

use std::ops::Range;
use std::rc::Rc;

use super::pool::PooledBuffer;

/// One buffer of the storage: floats `start .. start + len` of the whole.
struct Segment {
    buf: Rc<PooledBuffer>,
    start: usize,
    len: usize,
}

/// A contiguous part of a range inside one buffer: `floats` values from the range's float `at`,
/// stored at byte `byte_offset` of `buffer`.
pub struct Piece<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub byte_offset: u64,
    pub at: usize,
    pub floats: usize,
}

/// Floats `offset .. offset + len` of storage made of pooled buffers; clones share the buffers,
/// which go back to the pool when the last clone drops.
#[derive(Clone)]
pub struct BufferRange {
    segs: Rc<[Segment]>,
    /// In floats, from the storage's start; aligned for binding where the range is bound.
    offset: usize,
    len: usize,
}

impl BufferRange {
    /// `len` floats in buffers taken from `take` (bytes -> buffer), `per` floats each (the last
    /// may be shorter). `per` must keep boundaries aligned for binding and fit one buffer.
    pub(super) fn new(len: usize, per: usize, mut take: impl FnMut(u64) -> Rc<PooledBuffer>) -> Self {
        let per = per.max(1);
        let segs: Vec<Segment> = if len <= per {
            vec![Segment { buf: take(4 * len.max(1) as u64), start: 0, len }]
        } else {
            (0..len)
                .step_by(per)
                .map(|s| {
                    let n = per.min(len - s);
                    Segment { buf: take(4 * n as u64), start: s, len: n }
                })
                .collect()
        };
        BufferRange { segs: segs.into(), offset: 0, len }
    }

    /// Floats `r` of this range, same storage (no copy).
    pub fn sub(&self, r: Range<usize>) -> BufferRange {
        BufferRange { segs: self.segs.clone(), offset: self.offset + r.start, len: r.len() }
    }

    /// Length in floats.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The segment holding storage float `at` (the last one past the end).
    fn segment_at(&self, at: usize) -> &Segment {
        let i = self.segs.partition_point(|s| s.start + s.len <= at);
        &self.segs[i.min(self.segs.len() - 1)]
    }

    /// The one segment holding this whole range, or None when it spans buffers.
    fn segment(&self) -> Option<&Segment> {
        let s = self.segment_at(self.offset);
        (self.offset + self.len <= s.start + s.len || self.segs.len() == 1).then_some(s)
    }

    /// True when the range lies inside one buffer (only such a range can be bound).
    pub fn is_contiguous_buffer(&self) -> bool {
        self.segment().is_some()
    }

    fn single(&self) -> &Segment {
        self.segment().unwrap_or_else(|| {
            panic!("{} floats span {} buffers; ops split them before binding", self.len, self.buffers())
        })
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.single().buf.buffer
    }
    pub fn buffer_id(&self) -> u64 {
        self.single().buf.id
    }
    pub fn byte_offset(&self) -> u64 {
        4 * (self.offset - self.single().start) as u64
    }
    /// Bound size in bytes (at least 4: WGSL arrays cannot be empty).
    pub fn byte_len(&self) -> u64 {
        4 * self.len.max(1) as u64
    }

    /// How many buffers this range touches.
    pub fn buffers(&self) -> usize {
        self.pieces(0..self.len).len().max(1)
    }

    /// Float indices of this range (strictly inside it) where one buffer ends and the next begins.
    pub fn boundaries(&self) -> Vec<usize> {
        self.pieces(0..self.len).iter().skip(1).map(|p| p.at).collect()
    }

    /// Floats `r` of this range, cut where buffers end: one piece per buffer touched.
    pub fn pieces(&self, r: Range<usize>) -> Vec<Piece<'_>> {
        let mut out = Vec::new();
        let mut at = r.start;
        while at < r.end {
            let s = self.segment_at(self.offset + at);
            let local = self.offset + at - s.start;
            let left =
                if self.segs.len() == 1 { r.end - at } else { (s.start + s.len).saturating_sub(self.offset + at) };
            let floats = left.min(r.end - at);
            assert!(floats > 0, "floats {r:?} outside a range of {}", self.len);
            out.push(Piece { buffer: &s.buf.buffer, byte_offset: 4 * local as u64, at, floats });
            at += floats;
        }
        out
    }
}

impl AsRef<BufferRange> for BufferRange {
    fn as_ref(&self) -> &BufferRange {
        self
    }
}
