//! A GPU tensor: a shape over a `gpu::BufferRange`. f32, contiguous, row-major (NCHW).
//!
//! Storage is one buffer, or, for a tensor larger than a page (`Gpu::page_bytes`, at most the
//! device's `max_buffer_size`), several buffers each holding whole outer items (or whole aligned
//! ranges), every boundary at an offset aligned for binding: the shape decides where buffers end
//! (`segment_floats`), the range below knows only floats. Views that stay inside one buffer bind
//! like any tensor; ops split their work at the boundaries (`Gpu::split_items`,
//! `Gpu::dispatch_flat`), and copies, uploads and downloads go buffer by buffer.

use std::ops::Range;

use anyhow::{bail, Result};

use crate::gpu::{BufferRange, Gpu};
use crate::util::gcd;

#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    /// Exactly the tensor's floats (views: batch chunks, a parameter arena).
    storage: BufferRange,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

impl Tensor {
    /// An uninitialised tensor from the pool (every kernel writes all of its output); in several
    /// buffers when it exceeds a page (`Gpu::page_bytes`).
    pub fn empty(gpu: &Gpu, shape: &[usize]) -> Tensor {
        Self::empty_in_buffers(gpu, shape, segment_floats(gpu, shape))
    }

    /// An uninitialised tensor in buffers of `per` floats each (the last may be shorter), for a
    /// caller that places views so none crosses a buffer (the parameter arena). `per` must keep
    /// boundaries aligned for binding and fit one buffer.
    pub fn empty_in_buffers(gpu: &Gpu, shape: &[usize], per: usize) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor { shape: shape.to_vec(), storage: gpu.alloc(n, per) }
    }

    pub fn zeros(gpu: &Gpu, shape: &[usize]) -> Tensor {
        let t = Self::empty(gpu, shape);
        gpu.clear(&t);
        t
    }

    pub fn upload(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            bail!("upload: {} values for shape {:?} ({} elements)", data.len(), shape, n);
        }
        let t = Self::empty(gpu, shape);
        gpu.upload_into(&t, data);
        Ok(t)
    }

    pub fn filled(gpu: &Gpu, shape: &[usize], value: f32) -> Tensor {
        let n: usize = shape.iter().product();
        Self::upload(gpu, &vec![value; n], shape).expect("shape matches")
    }

    pub fn download(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.download(self)
    }

    /// `download`, awaited (the browser build's way: it cannot block).
    pub async fn download_async(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        gpu.download_async(&self.storage).await
    }

    /// A view of `shape` at float offset `offset` of another tensor's storage (no copy).
    /// The offset must respect the adapter's storage-offset alignment to be bound.
    pub fn view(&self, offset: usize, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor { shape: shape.to_vec(), storage: self.storage.sub(offset..offset + n) }
    }

    /// Items `r` of the outer dimension (a batch chunk): a view, no copy.
    pub fn items(&self, r: Range<usize>) -> Tensor {
        let inner: usize = self.shape[1..].iter().product();
        let mut shape = self.shape.clone();
        shape[0] = r.len();
        self.view(r.start * inner, &shape)
    }

    /// Floats `r` of the flattened tensor: a 1-D view, no copy.
    pub fn flat(&self, r: Range<usize>) -> Tensor {
        self.view(r.start, &[r.len()])
    }

    /// The same data with another shape of equal size.
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), self.numel(), "reshape {:?} -> {:?}", self.shape, shape);
        Tensor { shape: shape.to_vec(), storage: self.storage.clone() }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn dim(&self, i: usize) -> usize {
        self.shape[i]
    }

    /// True when the tensor lies inside one buffer (only such a tensor can be bound).
    pub fn is_contiguous_buffer(&self) -> bool {
        self.storage.is_contiguous_buffer()
    }
    /// Bound size in bytes (at least 4: WGSL arrays cannot be empty).
    pub fn byte_len(&self) -> u64 {
        self.storage.byte_len()
    }
    /// How many buffers this tensor touches.
    pub fn buffers(&self) -> usize {
        self.storage.buffers()
    }
    /// Float indices (strictly inside the tensor) where one buffer ends and the next begins.
    pub fn boundaries(&self) -> Vec<usize> {
        self.storage.boundaries()
    }

    /// [N, C, H, W] of a 4-D tensor.
    pub fn nchw(&self) -> [usize; 4] {
        assert_eq!(self.shape.len(), 4, "expected NCHW, got {:?}", self.shape);
        [self.shape[0], self.shape[1], self.shape[2], self.shape[3]]
    }
}

/// The tensor's storage: a tensor is bound, copied and read back as its buffer range.
impl AsRef<BufferRange> for Tensor {
    fn as_ref(&self) -> &BufferRange {
        &self.storage
    }
}

/// Floats per buffer for a tensor of `shape`: all of it when it fits a page, else whole items of
/// the outermost dimension whose items fit (up to a page, or one item group when an item is
/// larger, within the buffer size), spread evenly over the fewest buffers (so boundaries tend to
/// fall on clip boundaries too), a multiple of the items that keep every boundary aligned to
/// `min_storage_buffer_offset_alignment`.
fn segment_floats(gpu: &Gpu, shape: &[usize]) -> usize {
    let n: usize = shape.iter().product();
    let max_buffer = (gpu.max_buffer() / 4) as usize;
    let page = (gpu.page_bytes() / 4) as usize;
    let max = max_buffer.min(page);
    if n <= max {
        return n.max(1);
    }
    let align = (gpu.offset_align() / 4) as usize;
    for d in 1..=shape.len() {
        let unit: usize = shape[d..].iter().product::<usize>().max(1);
        let items = n / unit;
        let period = align / gcd(unit as u64, align as u64) as usize;
        // whole items up to a page; one aligned group of items when that is already larger
        let most = (max / unit / period * period).max(if unit * period <= max_buffer { period } else { 0 });
        if most == 0 {
            continue;
        }
        // the fewest buffers, with items spread evenly over them
        let mut k = items.div_ceil(most);
        loop {
            let per = items.div_ceil(k).div_ceil(period) * period;
            if per <= most {
                return per * unit;
            }
            k += 1;
        }
    }
    max / align * align
}
