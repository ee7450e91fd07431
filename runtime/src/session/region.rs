//! Memory shared with the daemon: a proxy session's buffers live in a `memfd` mapping that the
//! daemon maps too, so finished buffers reach it without a copy through the socket.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;

use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};

/// A shared mapping of a whole `memfd`.
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; who may touch which part is the pool's protocol (a writer
// its reservation, the owner of a completed buffer the whole buffer).
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// Creates a `memfd` of `len` bytes named `name` (shown in /proc/PID/fd) and maps it. Its
    /// size is sealed: a process it is shared with can write into it but cannot shrink it
    /// under the other mappings (which would make their next access fault).
    pub fn create(name: &str, len: usize) -> io::Result<(Region, OwnedFd)> {
        use rustix::fs::{fcntl_add_seals, MemfdFlags, SealFlags};
        let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        let region = Region::map(&fd, len)?;
        Ok((region, fd))
    }

    /// Maps `len` bytes of `fd` (a memfd received from the daemon) shared, read and write.
    pub fn map(fd: impl AsFd, len: usize) -> io::Result<Region> {
        let size = rustix::fs::fstat(&fd)?.st_size;
        if (size as u64) < len as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("shared buffer area of {size} bytes, {len} expected"),
            ));
        }
        // SAFETY: a fresh mapping chosen by the kernel (null hint), of a file at least `len`
        // bytes long; nothing else in this process refers to that address range.
        let p = unsafe {
            mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let ptr = NonNull::new(p.cast::<u8>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        Ok(Region { ptr, len })
    }

    /// The first byte.
    pub(crate) fn base(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A copy of `len` bytes at `offset`, if in range. The other side may be writing there
    /// (a misbehaving producer): the copy is taken once, then checked, never read twice.
    pub fn copy_out(&self, offset: usize, len: usize) -> Option<Vec<u8>> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        let mut v = vec![0u8; len];
        // SAFETY: `offset..end` lies inside the mapping; the bytes are plain data whose values
        // may change under us, which a byte copy tolerates (the result is validated after).
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(offset), v.as_mut_ptr(), len)
        };
        Some(v)
    }

    /// A copy of buffer `index` (buffers of `buffer_bytes` laid end to end), as the file wants
    /// it: the `used` bytes the writers filled, then 0xFF padding (ETW's). `None` if it lies
    /// outside the region.
    pub fn copy_buffer(&self, index: usize, buffer_bytes: usize, used: usize) -> Option<Vec<u8>> {
        let mut b = self.copy_out(index.checked_mul(buffer_bytes)?, buffer_bytes)?;
        b[used.min(buffer_bytes)..].fill(0xFF);
        Some(b)
    }

    /// The `index`th 32-bit counter of the region, shared with every process mapping it.
    ///
    /// Panics if it lies outside the region.
    pub(crate) fn counter(&self, index: usize) -> &AtomicU32 {
        assert!(
            (index + 1) * 4 <= self.len,
            "counter {index} outside the region"
        );
        // SAFETY: in bounds (checked), 4-byte aligned (mappings are page-aligned), and this
        // memory is only ever accessed through atomics, by every process that maps it.
        unsafe { &*(self.ptr.as_ptr().add(index * 4) as *const AtomicU32) }
    }

    /// Zeroes `len` bytes at `offset` (clamped to the region).
    pub fn zero(&self, offset: usize, len: usize) {
        let end = offset.saturating_add(len).min(self.len);
        if offset >= end {
            return;
        }
        // SAFETY: `offset..end` lies inside the mapping; plain bytes.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(offset), 0, end - offset) };
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once; the pool that pointed into it is gone.
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
