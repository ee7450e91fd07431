//! The buffer pool and per-processor lock-free reserve.
//!
//! Each processor slot has a current buffer. A writer reserves space with a compare-exchange on
//! the buffer's `reserved` offset and copies its record; that is the write path's only atomic
//! read-modify-write. A writer that does not fit seals the buffer (sets [`SEALED`] on
//! `reserved`, freezing its final length) and installs a fresh buffer from the pool; anyone who
//! finds a sealed buffer in the slot helps install one, so no writer ever waits for another.
//!
//! When is a sealed buffer complete, with every record copied in? Log-file sessions
//! ([`PoolMode::Flushed`]) count nothing per write: the flusher takes a batch of sealed buffers
//! and waits one grace period ([`super::quiesce::synchronize`]); every writer that reserved in
//! them was inside a write guard and has left it by then. The memory-ring mode
//! ([`PoolMode::Ring`]) has no flusher to wait, so its writers commit with one atomic add:
//! `committed` starts at the header size, each writer adds its length, the sealer adds
//! `COMPLETE - F`, and the sum reaches exactly [`COMPLETE`] once the buffer is sealed and every
//! reservation committed; whoever's add makes it so hands the buffer on.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_queue::ArrayQueue;

use super::region::Region;

use crate::etl::BUFFER_HEADER_SIZE;

/// Set in `reserved` when the buffer takes no more reservations.
pub(crate) const SEALED: u32 = 1 << 31;
/// `committed` equals this exactly when a sealed buffer has all its reservations committed.
const COMPLETE: u32 = 1 << 31;

/// One trace buffer: `cap` bytes of which the first [`BUFFER_HEADER_SIZE`] are the header.
pub(crate) struct Buffer {
    reserved: AtomicU32,
    committed: AtomicU32,
    /// Processor slot the buffer was installed for (its ProcessorIndex in the file).
    pub(crate) cpu: AtomicU32,
    /// Installation order within the session (its SequenceNumber in the file). Install order,
    /// not completion order: a buffer can complete after its successor, but its events are older.
    pub(crate) sequence: AtomicU64,
    pub(crate) index: u32,
    cap: u32,
    data: NonNull<u8>,
    /// Whether `data` is this buffer's own allocation (else it lies in the pool's region).
    owned: bool,
}

// SAFETY: the data pointer is owned by the buffer; concurrent access to it follows the
// reserve/commit protocol (disjoint reserved ranges, and whole-buffer access only after completion).
unsafe impl Send for Buffer {}
// SAFETY: as above.
unsafe impl Sync for Buffer {}

impl Buffer {
    fn new(index: u32, cap: usize) -> Buffer {
        let bytes = vec![0u8; cap].into_boxed_slice();
        let data = Box::into_raw(bytes) as *mut u8;
        // SAFETY: Box::into_raw never returns null.
        Buffer::with_data(index, cap, unsafe { NonNull::new_unchecked(data) }, true)
    }

    /// A buffer over `cap` bytes at `data` (a slice of a shared region when not `owned`), its
    /// pages faulted in now, on the allocation path, not on the writers' (zeroed memory from the
    /// allocator and a shared mapping's pages both come on first touch).
    fn with_data(index: u32, cap: usize, data: NonNull<u8>, owned: bool) -> Buffer {
        for page in (0..cap).step_by(4096) {
            // SAFETY: inside the buffer's `cap` bytes, which nobody else uses until the buffer
            // is published; reading and writing back keeps its bytes.
            unsafe {
                let p = data.as_ptr().add(page);
                std::ptr::write_volatile(p, std::ptr::read_volatile(p));
            }
        }
        Buffer {
            reserved: AtomicU32::new(SEALED | BUFFER_HEADER_SIZE as u32),
            committed: AtomicU32::new(COMPLETE),
            cpu: AtomicU32::new(0),
            sequence: AtomicU64::new(0),
            index,
            cap: cap as u32,
            data,
            owned,
        }
    }

    /// Bytes used (header included) of a completed buffer.
    pub(crate) fn used(&self) -> usize {
        (self.reserved.load(Ordering::Acquire) & !SEALED) as usize
    }

    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.cap as usize
    }

    /// The whole buffer, for the one owner of a completed buffer (flusher or snapshot).
    ///
    /// # Safety
    /// The caller must own the buffer: it is complete (handed on by [`commit`]) and not yet back
    /// in the free pool, so no writer can reserve in it.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut(&self) -> &mut [u8] {
        // SAFETY: per the contract, nobody else accesses the buffer now.
        unsafe { std::slice::from_raw_parts_mut(self.data.as_ptr(), self.cap as usize) }
    }

    /// Reopens an owned buffer for slot `cpu` with `prefix` bytes already written after the header.
    fn reopen(&self, cpu: u32, prefix: u32, sequence: u64) {
        let start = BUFFER_HEADER_SIZE as u32 + prefix;
        self.cpu.store(cpu, Ordering::Relaxed);
        self.sequence.store(sequence, Ordering::Relaxed);
        self.committed.store(start, Ordering::Relaxed);
        // Release: a writer that reserves here sees the fields above.
        self.reserved.store(start, Ordering::Release);
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // SAFETY: an owned `data` came from Box::into_raw of a boxed slice of `cap` bytes.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.data.as_ptr(),
                self.cap as usize,
            )));
        }
    }
}

/// A reserved range of a buffer, to be filled then committed.
pub(crate) struct Reservation<'a> {
    pub(crate) buffer: &'a Buffer,
    offset: u32,
    len: u32,
    /// The clock read that won this place: later places of the buffer read the clock later.
    pub(crate) timestamp: i64,
}

impl Reservation<'_> {
    /// The reserved bytes.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the compare-exchange in `reserve` gave this reservation exclusive use of
        // [offset, offset + len), which lies inside the buffer (checked against `cap`).
        unsafe {
            std::slice::from_raw_parts_mut(
                self.buffer.data.as_ptr().add(self.offset as usize),
                self.len as usize,
            )
        }
    }
}

/// Why a reservation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReserveError {
    /// No free buffer and the pool is at its maximum.
    NoBuffer,
    /// The slot is closed: the session is stopping.
    Closed,
}

/// A processor slot: its current buffer and the losses not yet reported in band.
#[repr(align(128))]
pub(crate) struct CpuSlot {
    current: AtomicPtr<Buffer>,
    /// Events dropped on this slot since its last buffer switch; written as a loss record at the
    /// head of the next buffer.
    pub(crate) pending_lost: AtomicU64,
    /// Events dropped on this slot in all. Kept per slot, beside `pending_lost`, so that writers
    /// losing events on different processors do not contend on one counter.
    pub(crate) lost: AtomicU64,
}

/// Marker pointer of a closed slot (never dereferenced).
fn closed() -> *mut Buffer {
    std::ptr::dangling_mut::<Buffer>()
}

/// Where completed buffers go, and what the pool does when it has no free one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolMode {
    /// Completed buffers wait in `full` for the flusher, which returns them.
    Flushed,
    /// `full` is a ring: with no free buffer, the oldest completed one is reused.
    Ring,
}

/// All buffers of a session, with their free list and completed queue.
pub(crate) struct Pool {
    buffers: Box<[OnceLock<Box<Buffer>>]>,
    allocated: AtomicU32,
    buffer_bytes: usize,
    free: ArrayQueue<u32>,
    /// Sealed buffers, oldest first. Ring pools put only complete ones here; in log-file pools
    /// a buffer here may still have writers finishing: wait a grace period after taking it.
    pub(crate) full: ArrayQueue<u32>,
    mode: PoolMode,
    installed: AtomicU64,
    /// Buffers reused while still holding unsaved events (ring mode only).
    pub(crate) overwritten: AtomicU64,
    pub(crate) slots: Box<[CpuSlot]>,
    /// The thread to wake when buffers complete (the flusher).
    pub(crate) waker: OnceLock<std::thread::Thread>,
    /// Completed buffers that make a batch worth waking the flusher for.
    wake_batch: usize,
    /// Shared memory holding buffer `i` at `i * buffer_bytes` (proxy sessions of system
    /// sessions); `None`: each buffer is its own allocation.
    region: Option<Arc<Region>>,
}

/// What the pool needs from its session to write a loss record at a buffer's head.
pub(crate) trait LossStamp {
    /// Writes a loss record for `count` events into `dst` and returns its length; `dst` has room
    /// for [`crate::etl::LOST_RECORD_SIZE`] bytes.
    fn write_loss(&self, dst: &mut [u8], count: u64) -> usize;
}

impl Pool {
    /// A pool of `minimum` buffers growing to `maximum`, each `buffer_bytes`, for `slots` slots.
    pub(crate) fn new(
        minimum: u32,
        maximum: u32,
        buffer_bytes: usize,
        slots: usize,
        mode: PoolMode,
        region: Option<Arc<Region>>,
    ) -> Pool {
        let mut max = maximum.max(minimum).max(1) as usize;
        if let Some(r) = &region {
            // Never past the region: a region too small for one buffer gives an empty pool
            // (every write is then a counted loss), not a buffer outside the mapping.
            max = max.min(r.len() / buffer_bytes.max(1));
        }
        let pool = Pool {
            buffers: (0..max).map(|_| OnceLock::new()).collect(),
            allocated: AtomicU32::new(0),
            buffer_bytes,
            free: ArrayQueue::new(max.max(1)),
            full: ArrayQueue::new(max.max(1)),
            mode,
            installed: AtomicU64::new(0),
            overwritten: AtomicU64::new(0),
            slots: (0..slots)
                .map(|_| CpuSlot {
                    current: AtomicPtr::new(std::ptr::null_mut()),
                    pending_lost: AtomicU64::new(0),
                    lost: AtomicU64::new(0),
                })
                .collect(),
            waker: OnceLock::new(),
            wake_batch: (max / 16).clamp(1, 4),
            region,
        };
        for _ in 0..minimum {
            if let Some(i) = pool.allocate() {
                let _ = pool.free.push(i);
            }
        }
        pool
    }

    /// The buffer with this index (allocated).
    #[inline(always)]
    pub(crate) fn buffer(&self, index: u32) -> &Buffer {
        self.buffers[index as usize]
            .get()
            .expect("published buffer index")
    }

    /// Buffers allocated so far.
    pub(crate) fn allocated(&self) -> u32 {
        self.allocated.load(Ordering::Relaxed)
    }

    /// The most buffers the pool may hold (MaximumBuffers).
    pub(crate) fn capacity(&self) -> usize {
        self.buffers.len()
    }

    /// Free buffers now.
    pub(crate) fn free_count(&self) -> usize {
        self.free.len()
    }

    /// Buffer size in KB.
    pub(crate) fn capacity_kb(&self) -> usize {
        self.buffer_bytes / 1024
    }

    /// Largest record that fits in one buffer.
    pub(crate) fn max_record(&self) -> usize {
        self.buffer_bytes - BUFFER_HEADER_SIZE
    }

    fn allocate(&self) -> Option<u32> {
        let max = self.buffers.len() as u32;
        let i = self
            .allocated
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        let buffer = match &self.region {
            Some(r) => {
                // SAFETY: `new` capped the buffer count so that every buffer lies inside the
                // region.
                let data = unsafe { r.base().add(i as usize * self.buffer_bytes) };
                Buffer::with_data(i, self.buffer_bytes, data, false)
            }
            None => Buffer::new(i, self.buffer_bytes),
        };
        let _ = self.buffers[i as usize].set(Box::new(buffer));
        Some(i)
    }

    fn take_free(&self) -> Option<u32> {
        if let Some(i) = self.free.pop() {
            return Some(i);
        }
        if let Some(i) = self.allocate() {
            return Some(i);
        }
        if self.mode == PoolMode::Ring {
            let i = self.full.pop()?;
            self.overwritten.fetch_add(1, Ordering::Relaxed);
            return Some(i);
        }
        None
    }

    /// Allocates buffers ahead of need until `target` are free (or the pool is at its maximum),
    /// so that writers rarely allocate (and fault in pages) on their own path.
    pub(crate) fn replenish(&self, target: usize) {
        while self.free.len() < target {
            match self.allocate() {
                Some(i) => {
                    let _ = self.free.push(i);
                }
                None => break,
            }
        }
    }

    /// Ring pools: takes in a finished buffer filled elsewhere (a producer process's, for a
    /// BUFFERING session the daemon hosts) as the newest of the ring, reusing the oldest if no
    /// buffer is free. Only the flusher calls this, and no writer uses a ring it feeds.
    pub(crate) fn adopt(&self, bytes: &[u8], cpu: u32) -> bool {
        let Some(i) = self.take_free() else {
            return false;
        };
        let b = self.buffer(i);
        let n = bytes.len().min(b.capacity());
        // SAFETY: `i` came off the free list (or the ring's oldest end): nobody else holds it.
        unsafe { b.bytes_mut()[..n].copy_from_slice(&bytes[..n]) };
        b.cpu.store(cpu, Ordering::Relaxed);
        b.sequence.store(self.next_sequence(), Ordering::Relaxed);
        b.committed.store(COMPLETE, Ordering::Relaxed);
        b.reserved.store(SEALED | n as u32, Ordering::Release);
        let _ = self.full.push(i);
        true
    }

    /// Gives a buffer that was handed on back to the free list.
    pub(crate) fn release(&self, index: u32) {
        // Never full: the queue holds every buffer at most once.
        let _ = self.free.push(index);
    }

    /// Reserves `len` bytes (a multiple of 8) in slot `cpu`'s current buffer and stamps the
    /// reservation with `now()`.
    ///
    /// The clock is read between loading the buffer's offset and the compare-exchange that takes
    /// it, as LTTng does: a reservation that succeeds read the clock after every earlier
    /// reservation of the buffer had succeeded, so time stamps never go backwards within a buffer
    /// or from one buffer of a slot to the next, however threads are preempted.
    #[inline]
    pub(crate) fn reserve(
        &self,
        cpu: usize,
        len: u32,
        stamp: &impl LossStamp,
        now: impl Fn() -> i64,
    ) -> Result<Reservation<'_>, ReserveError> {
        let slot = &self.slots[cpu];
        loop {
            let p = slot.current.load(Ordering::Acquire);
            if p.is_null() {
                self.install(cpu, p, stamp)?;
                continue;
            }
            if p == closed() {
                return Err(ReserveError::Closed);
            }
            // SAFETY: buffers are owned by the pool, which outlives every reservation (the
            // session frees the pool only after a grace period, see `quiesce`).
            let buf = unsafe { &*p };
            let off = buf.reserved.load(Ordering::Relaxed);
            if off & SEALED != 0 {
                self.install(cpu, p, stamp)?;
                continue;
            }
            let end = off + len;
            if end > buf.cap {
                self.try_seal(buf, off);
                continue;
            }
            let timestamp = now();
            if buf
                .reserved
                .compare_exchange_weak(off, end, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(Reservation {
                    buffer: buf,
                    offset: off,
                    len,
                    timestamp,
                });
            }
        }
    }

    /// Commits a filled reservation. Only ring pools count commits; log-file pools learn that
    /// writers are done from a grace period (see the module documentation).
    #[inline(always)]
    pub(crate) fn commit(&self, r: Reservation<'_>) {
        if self.mode == PoolMode::Ring {
            let v = r
                .buffer
                .committed
                .fetch_add(r.len, Ordering::AcqRel)
                .wrapping_add(r.len);
            if v == COMPLETE {
                self.complete(r.buffer);
            }
        }
    }

    fn sealed(&self, buf: &Buffer, final_len: u32) {
        if self.mode == PoolMode::Flushed {
            // Complete once a grace period has passed; the flusher waits for it.
            self.complete(buf);
            return;
        }
        let add = COMPLETE.wrapping_sub(final_len);
        let v = buf
            .committed
            .fetch_add(add, Ordering::AcqRel)
            .wrapping_add(add);
        if v == COMPLETE {
            self.complete(buf);
        }
    }

    #[cold]
    fn complete(&self, buf: &Buffer) {
        // Never full: the queue holds every buffer at most once.
        let _ = self.full.push(buf.index);
        // Wake the flusher for a batch, not for every buffer: each wake-up costs the writers a
        // context switch and each batch a grace period (an IPI to every running writer). The
        // flusher also wakes on its own every few milliseconds.
        if self.full.len() >= self.wake_batch || self.free.len() <= self.wake_batch {
            if let Some(t) = self.waker.get() {
                t.unpark();
            }
        }
    }

    /// Replaces slot `cpu`'s buffer `old` (sealed, or null) with a fresh one.
    #[cold]
    fn install(
        &self,
        cpu: usize,
        old: *mut Buffer,
        stamp: &impl LossStamp,
    ) -> Result<(), ReserveError> {
        let slot = &self.slots[cpu];
        if slot.current.load(Ordering::Acquire) != old {
            return Ok(());
        }
        let Some(i) = self.take_free() else {
            return Err(ReserveError::NoBuffer);
        };
        let buf = self.buffer(i);
        let lost = slot.pending_lost.swap(0, Ordering::AcqRel);
        let mut prefix = 0;
        if lost != 0 {
            // SAFETY: the buffer came off the free list (or the ring) and is not yet visible to
            // writers of this session through any slot we publish; stale pointers to it see
            // `reserved` sealed until `reopen` below.
            let bytes = unsafe { buf.bytes_mut() };
            prefix = stamp.write_loss(&mut bytes[BUFFER_HEADER_SIZE..], lost) as u32;
        }
        buf.reopen(
            cpu as u32,
            prefix,
            self.installed.fetch_add(1, Ordering::Relaxed) + 1,
        );
        let fresh = buf as *const Buffer as *mut Buffer;
        if slot
            .current
            .compare_exchange(old, fresh, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Someone else installed first. Writers holding a stale pointer may already use this
            // buffer, so it cannot go back to the free list: seal it and let it flow like any other.
            self.seal_now(buf);
        }
        Ok(())
    }

    /// Seals a buffer now, whatever it holds; it completes once its writers are done.
    fn seal_now(&self, buf: &Buffer) {
        loop {
            let off = buf.reserved.load(Ordering::Acquire);
            if off & SEALED != 0 || self.try_seal(buf, off) {
                return;
            }
        }
    }

    /// Seals `buf` at offset `off` if nobody reserved or sealed since `off` was read; whoever
    /// seals it hands it on.
    fn try_seal(&self, buf: &Buffer, off: u32) -> bool {
        let sealed = buf
            .reserved
            .compare_exchange(off, off | SEALED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if sealed {
            self.sealed(buf, off);
        }
        sealed
    }

    /// Seals every slot's current buffer that holds records (flush timer, explicit flush, stop),
    /// so that it reaches `full` as soon as its writers commit. Empty buffers stay open.
    pub(crate) fn seal_all(&self) {
        for slot in self.slots.iter() {
            let p = slot.current.load(Ordering::Acquire);
            if p.is_null() || p == closed() {
                continue;
            }
            // SAFETY: see `reserve`.
            let buf = unsafe { &*p };
            let off = buf.reserved.load(Ordering::Acquire);
            if off & SEALED == 0 && off as usize > BUFFER_HEADER_SIZE {
                self.seal_now(buf);
            }
        }
    }

    /// Closes every slot: later reservations fail with [`ReserveError::Closed`]. Open buffers are
    /// sealed (empty ones too, so every buffer ends in `full` or free).
    pub(crate) fn close(&self) {
        for slot in self.slots.iter() {
            let p = slot.current.swap(closed(), Ordering::AcqRel);
            if p.is_null() || p == closed() {
                continue;
            }
            // SAFETY: see `reserve`.
            let buf = unsafe { &*p };
            self.seal_now(buf);
        }
    }

    /// Takes the next buffer sequence number, for a buffer made outside the pool (the final loss
    /// report), so that it sorts after every buffer of the session.
    pub(crate) fn next_sequence(&self) -> u64 {
        self.installed.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Events dropped on every slot and not yet written as loss records.
    pub(crate) fn take_pending_lost(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| s.pending_lost.swap(0, Ordering::AcqRel))
            .sum()
    }
}

#[cfg(test)]
mod tests;
