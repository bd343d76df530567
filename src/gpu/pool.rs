//! Buffer pool: storage buffers grouped by size class and reused, so a training step allocates
//! nothing after the first one.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

/// A storage buffer on loan from the pool; it goes back to the pool when the last handle drops.
pub struct PooledBuffer {
    pub buffer: wgpu::Buffer,
    /// Unique id, used as the bind-group cache key.
    pub id: u64,
    pub class: u64,
    pool: Weak<RefCell<PoolInner>>,
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            let mut p = pool.borrow_mut();
            p.in_use -= self.class;
            p.free.entry(self.class).or_default().push((self.buffer.clone(), self.id));
        }
    }
}

#[derive(Default)]
pub struct PoolInner {
    free: HashMap<u64, Vec<(wgpu::Buffer, u64)>>,
    next_id: u64,
    pub allocated: u64,
    pub in_use: u64,
    /// high-water marks of `allocated` and `in_use` since the last `reset_peaks`
    pub peak_allocated: u64,
    pub peak_in_use: u64,
}

pub struct BufferPool {
    inner: Rc<RefCell<PoolInner>>,
}

/// A request may take a free buffer up to this many times its size class. With tensors stored in
/// pages (`Gpu::page_bytes`) most large buffers come in a few sizes, and 2 leaves the larger free
/// buffers to the requests that need them (paper preset, dry run: stage-1 step 4,150 MiB held
/// with 2, 4,227 with 4, 4,669 with 1).
const REUSE_WASTE: u64 = 2;

/// Size classes are 2^k and 1.5 * 2^k bytes (at least 256): at most 33% waste.
pub fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(256);
    let pow = bytes.next_power_of_two();
    let three_quarters = pow / 4 * 3;
    if bytes <= three_quarters {
        three_quarters
    } else {
        pow
    }
}

impl BufferPool {
    pub fn new() -> Self {
        Self { inner: Rc::new(RefCell::new(PoolInner::default())) }
    }

    pub fn next_id(&self) -> u64 {
        let mut p = self.inner.borrow_mut();
        p.next_id += 1;
        p.next_id
    }

    /// Takes a buffer of at least `bytes` from the pool, creating one when none is free.
    pub fn take(&self, device: &wgpu::Device, bytes: u64) -> Rc<PooledBuffer> {
        let wanted = size_class(bytes);
        // Best fit: the exact class, else the smallest free class up to REUSE_WASTE times larger
        // (a free buffer of a neighbouring class serves instead of a new allocation).
        let reused = {
            let mut p = self.inner.borrow_mut();
            let class = p
                .free
                .iter()
                .filter(|(&c, v)| c >= wanted && c <= wanted * REUSE_WASTE && !v.is_empty())
                .map(|(&c, _)| c)
                .min();
            class.and_then(|c| p.free.get_mut(&c).and_then(|v| v.pop()).map(|b| (b, c)))
        };
        let class = reused.as_ref().map_or(wanted, |r| r.1);
        let (buffer, id) = match reused.map(|r| r.0) {
            Some(b) => b,
            None => {
                let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("tdfas tensor"),
                    size: class,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                self.inner.borrow_mut().allocated += class;
                (buffer, self.next_id())
            }
        };
        let mut p = self.inner.borrow_mut();
        p.in_use += class;
        p.peak_in_use = p.peak_in_use.max(p.in_use);
        p.peak_allocated = p.peak_allocated.max(p.allocated);
        drop(p);
        Rc::new(PooledBuffer { buffer, id, class, pool: Rc::downgrade(&self.inner) })
    }

    /// (bytes allocated from the driver, bytes in use by live tensors)
    pub fn usage(&self) -> (u64, u64) {
        let p = self.inner.borrow();
        (p.allocated, p.in_use)
    }

    /// (most bytes allocated from the driver, most bytes in use) since the last `reset_peaks`.
    pub fn peaks(&self) -> (u64, u64) {
        let p = self.inner.borrow();
        (p.peak_allocated, p.peak_in_use)
    }

    pub fn reset_peaks(&self) {
        let mut p = self.inner.borrow_mut();
        p.peak_allocated = p.allocated;
        p.peak_in_use = p.in_use;
    }

    /// Returns every free buffer to the driver (a workload's peak then counts only what it needs).
    pub fn trim(&self) {
        let mut p = self.inner.borrow_mut();
        let freed: u64 = p.free.iter().map(|(class, v)| class * v.len() as u64).sum();
        p.free.clear();
        p.allocated -= freed;
    }
}

impl Default for BufferPool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_cover_requests_with_bounded_waste() {
        for bytes in [1u64, 255, 256, 257, 1000, 4096, 5000, 1 << 20, (1 << 20) + 1] {
            let c = size_class(bytes);
            assert!(c >= bytes.max(256));
            assert!(c as f64 <= bytes.max(256) as f64 * 1.5 + 1.0, "{bytes} -> {c}");
        }
    }
}
