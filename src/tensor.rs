//! A GPU tensor: a shape and a range of a pooled buffer. f32, contiguous, row-major (NCHW).

use std::rc::Rc;

use anyhow::{bail, Result};

use crate::gpu::pool::PooledBuffer;
use crate::gpu::Gpu;

#[derive(Clone)]
pub struct Tensor {
    shape: Vec<usize>,
    buf: Rc<PooledBuffer>,
    /// Offset into the buffer in floats (views into a parameter arena); aligned for binding.
    offset: usize,
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?}", self.shape)
    }
}

impl Tensor {
    /// An uninitialised tensor from the pool (every kernel writes all of its output).
    pub fn empty(gpu: &Gpu, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        Tensor { shape: shape.to_vec(), buf: gpu.pool.take(&gpu.device, 4 * n.max(1) as u64), offset: 0 }
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

    /// A view of `shape` at float offset `offset` of another tensor's buffer (no copy).
    /// The offset must respect the adapter's storage-offset alignment.
    pub fn view(&self, offset: usize, shape: &[usize]) -> Tensor {
        Tensor { shape: shape.to_vec(), buf: self.buf.clone(), offset: self.offset + offset }
    }

    /// Items `r` of the outer dimension (a batch chunk): a view, no copy.
    pub fn items(&self, r: std::ops::Range<usize>) -> Tensor {
        let inner: usize = self.shape[1..].iter().product();
        let mut shape = self.shape.clone();
        shape[0] = r.len();
        self.view(r.start * inner, &shape)
    }

    /// Floats `r` of the flattened tensor: a 1-D view, no copy.
    pub fn flat(&self, r: std::ops::Range<usize>) -> Tensor {
        self.view(r.start, &[r.len()])
    }

    /// The same data with another shape of equal size.
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), self.numel(), "reshape {:?} -> {:?}", self.shape, shape);
        Tensor { shape: shape.to_vec(), buf: self.buf.clone(), offset: self.offset }
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
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buf.buffer
    }
    pub fn buffer_id(&self) -> u64 {
        self.buf.id
    }
    pub fn byte_offset(&self) -> u64 {
        4 * self.offset as u64
    }
    /// Bound size in bytes (at least 4: WGSL arrays cannot be empty).
    pub fn byte_len(&self) -> u64 {
        4 * self.numel().max(1) as u64
    }
    /// [N, C, H, W] of a 4-D tensor.
    pub fn nchw(&self) -> [usize; 4] {
        assert_eq!(self.shape.len(), 4, "expected NCHW, got {:?}", self.shape);
        [self.shape[0], self.shape[1], self.shape[2], self.shape[3]]
    }
}
