//! perf_event_open: system-wide events on every processor, each processor's events sharing one
//! ring buffer (so they arrive in time order), stamped with `CLOCK_MONOTONIC`.
//!
//! Every event carries `IDENTIFIER | TID | TIME | CPU` in its samples and, through
//! `sample_id_all`, in the trailer of its other records, so every record has the same 32-byte
//! trailer and says which event it came from.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use perf_event_open_sys as sys;
use sys::bindings as b;

/// What one perf event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A tracepoint (its tracefs id); samples carry its raw data.
    Tracepoint(u64),
    /// A software event sampled on every occurrence (page faults), with IP and address.
    Software(u64),
    /// A software event sampled at a frequency (profile), with IP.
    Sampled(u64, u64),
    /// No samples: only the mmap2 records of executable mappings.
    Mappings,
}

const BASE: u64 = b::PERF_SAMPLE_IDENTIFIER as u64
    | b::PERF_SAMPLE_TID as u64
    | b::PERF_SAMPLE_TIME as u64
    | b::PERF_SAMPLE_CPU as u64;

impl Kind {
    fn sample_type(self) -> u64 {
        match self {
            Kind::Tracepoint(_) => BASE | b::PERF_SAMPLE_RAW as u64,
            Kind::Software(_) => BASE | b::PERF_SAMPLE_IP as u64 | b::PERF_SAMPLE_ADDR as u64,
            Kind::Sampled(..) => BASE | b::PERF_SAMPLE_IP as u64,
            Kind::Mappings => BASE,
        }
    }
}

/// Who and where a record is about: what every sample and every record's trailer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Context {
    pub(crate) pid: u32,
    pub(crate) tid: u32,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub(crate) time: u64,
    pub(crate) cpu: u32,
}

/// An executable mapping of a file (PERF_RECORD_MMAP2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) at: Context,
    pub(crate) addr: u64,
    pub(crate) len: u64,
    pub(crate) pgoff: u64,
    pub(crate) file: String,
}

/// A record read from a ring, with the fields evtrace uses.
#[derive(Debug)]
pub(crate) enum Record<'a> {
    /// A sample of event `id` (its other fields are read by [`sample_fields`]).
    Sample {
        id: u64,
        at: Context,
        ip: u64,
        addr: u64,
        raw: &'a [u8],
    },
    /// An executable mapping.
    Mmap2(Mapping),
    /// Records the kernel dropped because the ring was full.
    Lost { count: u64 },
}

fn open(kind: Kind, cpu: i32, wakeup_bytes: u32) -> io::Result<OwnedFd> {
    let mut attr = b::perf_event_attr {
        size: std::mem::size_of::<b::perf_event_attr>() as u32,
        sample_type: kind.sample_type(),
        ..Default::default()
    };
    match kind {
        Kind::Tracepoint(id) => {
            attr.type_ = b::PERF_TYPE_TRACEPOINT;
            attr.config = id;
            attr.__bindgen_anon_1.sample_period = 1;
        }
        Kind::Software(config) => {
            attr.type_ = b::PERF_TYPE_SOFTWARE;
            attr.config = config;
            attr.__bindgen_anon_1.sample_period = 1;
        }
        Kind::Sampled(config, hz) => {
            attr.type_ = b::PERF_TYPE_SOFTWARE;
            attr.config = config;
            attr.set_freq(1);
            attr.__bindgen_anon_1.sample_freq = hz;
        }
        Kind::Mappings => {
            attr.type_ = b::PERF_TYPE_SOFTWARE;
            attr.config = b::PERF_COUNT_SW_DUMMY as u64;
            attr.set_mmap(1);
            attr.set_mmap2(1);
        }
    }
    attr.set_disabled(1);
    attr.set_sample_id_all(1);
    attr.set_use_clockid(1);
    attr.clockid = libc::CLOCK_MONOTONIC;
    attr.set_watermark(1);
    attr.__bindgen_anon_2.wakeup_watermark = wakeup_bytes;
    // SAFETY: `attr` is a valid, fully initialised perf_event_attr whose size field is its own
    // size; the kernel only reads it.
    let fd = unsafe { sys::perf_event_open(&mut attr, -1, cpu, -1, b::PERF_FLAG_FD_CLOEXEC as _) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One processor's events and the ring they all write to.
pub(crate) struct CpuRing {
    fds: Vec<OwnedFd>,
    ids: Vec<u64>,
    map: *mut u8,
    map_len: usize,
    data_offset: usize,
    data_size: usize,
    scratch: Vec<u8>,
}

// SAFETY: the mapping belongs to this value alone; moving it to another thread moves the only
// user (the type is not Sync, so no two threads touch it at once).
unsafe impl Send for CpuRing {}

/// Bytes of ring per processor (a power of two pages): some 40 ms of a system-call flood, so
/// that the reader, which drains every ring each round, keeps up (1 MB overflowed here).
const RING_BYTES: usize = 1 << 22;

impl CpuRing {
    /// Opens `kinds` on processor `cpu` into one ring. The events start disabled; see
    /// [`CpuRing::enable`]. Returns each kind's event id in the same order.
    pub(crate) fn open(cpu: usize, kinds: &[Kind]) -> Result<CpuRing, (usize, io::Error)> {
        let page = rustix::param::page_size();
        let wakeup = (RING_BYTES / 4) as u32;
        let mut fds = Vec::with_capacity(kinds.len());
        let mut ids = Vec::with_capacity(kinds.len());
        for (i, &k) in kinds.iter().enumerate() {
            let fd = open(k, cpu as i32, wakeup).map_err(|e| (i, e))?;
            let mut id = 0u64;
            // SAFETY: PERF_EVENT_IOC_ID writes one u64 through the pointer, which is valid.
            if unsafe { sys::ioctls::ID(fd.as_raw_fd(), &mut id) } < 0 {
                return Err((i, io::Error::last_os_error()));
            }
            fds.push(fd);
            ids.push(id);
        }
        let map_len = page + RING_BYTES;
        // SAFETY: a shared read-write mapping of the first event's ring: the kernel defines its
        // layout (a header page, then the data pages); it lives until `drop` unmaps it.
        let map = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                map_len,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &fds[0],
                0,
            )
        }
        .map_err(|e| (0, io::Error::from(e)))? as *mut u8;
        // The others write into the first one's ring, which must exist (be mapped) by now.
        for (i, fd) in fds.iter().enumerate().skip(1) {
            // SAFETY: both descriptors are perf events we own, on the same processor.
            if unsafe { sys::ioctls::SET_OUTPUT(fd.as_raw_fd(), fds[0].as_raw_fd()) } < 0 {
                let e = io::Error::last_os_error();
                // SAFETY: unmapping what was just mapped; nothing refers to it.
                let _ = unsafe { rustix::mm::munmap(map as *mut _, map_len) };
                return Err((i, e));
            }
        }
        // SAFETY: the header page is mapped and the kernel has filled data_offset/data_size.
        let (data_offset, data_size) = unsafe {
            let h = &*(map as *const b::perf_event_mmap_page);
            (h.data_offset as usize, h.data_size as usize)
        };
        let (data_offset, data_size) = if data_size == 0 {
            (page, RING_BYTES)
        } else {
            (data_offset, data_size)
        };
        Ok(CpuRing {
            fds,
            ids,
            map,
            map_len,
            data_offset,
            data_size,
            scratch: Vec::new(),
        })
    }

    /// The event id of each kind given to [`CpuRing::open`].
    pub(crate) fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// The descriptor to poll for readable data.
    pub(crate) fn poll_fd(&self) -> &OwnedFd {
        &self.fds[0]
    }

    /// Starts every event.
    pub(crate) fn enable(&self) {
        for fd in &self.fds {
            // SAFETY: an ioctl without a pointer argument on a perf event we own.
            unsafe { sys::ioctls::ENABLE(fd.as_raw_fd(), 0) };
        }
    }

    /// Stops every event (records already in the ring stay readable).
    pub(crate) fn disable(&self) {
        for fd in &self.fds {
            // SAFETY: as in `enable`.
            unsafe { sys::ioctls::DISABLE(fd.as_raw_fd(), 0) };
        }
    }

    fn head_tail(&self) -> (&AtomicU64, &AtomicU64) {
        // SAFETY: data_head and data_tail are naturally aligned u64 fields of the mapped header
        // page, shared with the kernel, which is exactly what AtomicU64 is for.
        unsafe {
            let h = self.map as *mut b::perf_event_mmap_page;
            (
                AtomicU64::from_ptr(std::ptr::addr_of_mut!((*h).data_head)),
                AtomicU64::from_ptr(std::ptr::addr_of_mut!((*h).data_tail)),
            )
        }
    }

    /// Hands every record now in the ring to `f`, oldest first, then frees their space.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(Record<'_>)) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let (head_a, tail_a) = self.head_tail();
        let head = head_a.load(Ordering::Acquire);
        let mut tail = tail_a.load(Ordering::Relaxed);
        // No reference is made to the data area: the kernel writes into its free part while we
        // read, so it is only ever copied from, through a raw pointer, between tail and head.
        // SAFETY: data_offset lies within the mapping (the kernel says where the data starts).
        let data = unsafe { self.map.add(self.data_offset) as *const u8 };
        let size_of_data = self.data_size;
        let mask = size_of_data as u64 - 1;
        while tail + 8 <= head {
            let at = (tail & mask) as usize;
            let mut hdr = [0u8; 8];
            // SAFETY: [tail, head) is written and published by the Acquire load of head; 8 bytes
            // from tail lie in it.
            unsafe { copy_wrapped(data, size_of_data, at, &mut hdr) };
            let size = u16::from_le_bytes([hdr[6], hdr[7]]) as usize;
            if size < 8 || tail + size as u64 > head {
                break;
            }
            scratch.resize(size, 0);
            // SAFETY: the whole record lies in [tail, head), as just checked.
            unsafe { copy_wrapped(data, size_of_data, at, &mut scratch) };
            if let Some(r) = parse(&scratch) {
                f(r);
            }
            tail += size as u64;
        }
        tail_a.store(tail, Ordering::Release);
        self.scratch = scratch;
    }
}

impl Drop for CpuRing {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `open` with this length and is not used after this.
        let _ = unsafe { rustix::mm::munmap(self.map as *mut _, self.map_len) };
    }
}

/// Copies `out.len()` bytes from offset `at` of the ring at `data` (`size` bytes), wrapping
/// round its end.
///
/// # Safety
/// `data` must be valid for reads of `size` bytes, `at < size`, `out.len() <= size`, and the
/// bytes read must not be written meanwhile.
unsafe fn copy_wrapped(data: *const u8, size: usize, at: usize, out: &mut [u8]) {
    let first = out.len().min(size - at);
    let rest = out.len() - first;
    // SAFETY: both ranges lie within the ring, by the caller's promise, and `out` is ours.
    unsafe {
        std::ptr::copy_nonoverlapping(data.add(at), out.as_mut_ptr(), first);
        std::ptr::copy_nonoverlapping(data, out.as_mut_ptr().add(first), rest);
    }
}

fn u32_at(r: &[u8], at: usize) -> u32 {
    r.get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
}

fn u64_at(r: &[u8], at: usize) -> u64 {
    r.get(at..at + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}

/// The 32-byte trailer of non-sample records: pid, tid, time, cpu, id.
fn trailer(r: &[u8]) -> Context {
    let t = r.len().saturating_sub(32);
    Context {
        pid: u32_at(r, t),
        tid: u32_at(r, t + 4),
        time: u64_at(r, t + 8),
        cpu: u32_at(r, t + 16),
    }
}

/// Parses one record (header included); `None` for kinds evtrace does not use.
pub(crate) fn parse(r: &[u8]) -> Option<Record<'_>> {
    let ty = u32_at(r, 0);
    let body = &r[8..];
    match ty {
        b::PERF_RECORD_SAMPLE => {
            // IDENTIFIER comes first, whatever else the event samples; the rest depends on it.
            let id = u64_at(body, 0);
            Some(Record::Sample {
                id,
                at: Context::default(),
                ip: 0,
                addr: 0,
                raw: body,
            })
        }
        b::PERF_RECORD_MMAP2 => {
            let name_area = body.get(64..body.len().saturating_sub(32)).unwrap_or(&[]);
            let end = name_area
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(name_area.len());
            Some(Record::Mmap2(Mapping {
                at: trailer(r),
                addr: u64_at(body, 8),
                len: u64_at(body, 16),
                pgoff: u64_at(body, 24),
                file: String::from_utf8_lossy(&name_area[..end]).into_owned(),
            }))
        }
        b::PERF_RECORD_LOST => Some(Record::Lost {
            count: u64_at(body, 8),
        }),
        b::PERF_RECORD_LOST_SAMPLES => Some(Record::Lost {
            count: u64_at(body, 0),
        }),
        _ => None,
    }
}

/// Completes a sample's fields once its event's kind is known (the layout depends on it).
pub(crate) fn sample_fields(kind: Kind, rec: Record<'_>) -> Record<'_> {
    let Record::Sample { id, raw: body, .. } = rec else {
        return rec;
    };
    let st = kind.sample_type();
    let mut at = 8; // IDENTIFIER
    let mut take = |n: usize| {
        let v = at;
        at += n;
        v
    };
    let ip = if st & b::PERF_SAMPLE_IP as u64 != 0 {
        u64_at(body, take(8))
    } else {
        0
    };
    let t = take(8);
    let (pid, tid) = (u32_at(body, t), u32_at(body, t + 4));
    let time = u64_at(body, take(8));
    let addr = if st & b::PERF_SAMPLE_ADDR as u64 != 0 {
        u64_at(body, take(8))
    } else {
        0
    };
    let cpu = u32_at(body, take(8));
    let raw = if st & b::PERF_SAMPLE_RAW as u64 != 0 {
        let n = u32_at(body, take(4)) as usize;
        body.get(at..at + n).unwrap_or(&[])
    } else {
        &[]
    };
    Record::Sample {
        id,
        at: Context {
            pid,
            tid,
            time,
            cpu,
        },
        ip,
        addr,
        raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ty: u32, body: &[u8]) -> Vec<u8> {
        let mut r = ty.to_le_bytes().to_vec();
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&((8 + body.len()) as u16).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn a_tracepoint_sample_is_read_in_sample_type_order() {
        let mut body = Vec::new();
        body.extend_from_slice(&77u64.to_le_bytes()); // identifier
        body.extend_from_slice(&10u32.to_le_bytes()); // pid
        body.extend_from_slice(&11u32.to_le_bytes()); // tid
        body.extend_from_slice(&12345u64.to_le_bytes()); // time
        body.extend_from_slice(&1u64.to_le_bytes()); // cpu, res
        body.extend_from_slice(&4u32.to_le_bytes()); // raw size
        body.extend_from_slice(&[1, 2, 3, 4]);
        let r = record(b::PERF_RECORD_SAMPLE, &body);
        let Some(rec @ Record::Sample { id: 77, .. }) = parse(&r) else {
            panic!("not a sample of 77");
        };
        match sample_fields(Kind::Tracepoint(5), rec) {
            Record::Sample { at, raw, .. } => {
                assert_eq!(
                    at,
                    Context {
                        pid: 10,
                        tid: 11,
                        time: 12345,
                        cpu: 1
                    }
                );
                assert_eq!(raw, &[1, 2, 3, 4]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_mmap2_record_gives_its_mapping_and_trailer() {
        let mut body = Vec::new();
        body.extend_from_slice(&5u32.to_le_bytes());
        body.extend_from_slice(&6u32.to_le_bytes());
        body.extend_from_slice(&0x7f00_0000_1000u64.to_le_bytes());
        body.extend_from_slice(&0x2000u64.to_le_bytes());
        body.extend_from_slice(&0x1000u64.to_le_bytes());
        body.extend_from_slice(&[0u8; 24]); // maj, min, ino, generation
        body.extend_from_slice(&[0u8; 8]); // prot, flags
        body.extend_from_slice(b"/lib/x.so\0\0\0\0\0\0\0");
        body.extend_from_slice(&5u32.to_le_bytes());
        body.extend_from_slice(&6u32.to_le_bytes());
        body.extend_from_slice(&999u64.to_le_bytes());
        body.extend_from_slice(&1u64.to_le_bytes());
        body.extend_from_slice(&3u64.to_le_bytes());
        let r = record(b::PERF_RECORD_MMAP2, &body);
        match parse(&r) {
            Some(Record::Mmap2(m)) => assert_eq!(
                m,
                Mapping {
                    at: Context {
                        pid: 5,
                        tid: 6,
                        time: 999,
                        cpu: 1
                    },
                    addr: 0x7f00_0000_1000,
                    len: 0x2000,
                    pgoff: 0x1000,
                    file: "/lib/x.so".into(),
                }
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_wrapped_record_is_copied_whole() {
        let data = [5u8, 6, 7, 0, 0, 1, 2, 3, 4];
        let mut out = [0u8; 6];
        // SAFETY: a local array of its own length, 6 bytes read from offset 6, wrapping.
        unsafe { copy_wrapped(data.as_ptr(), data.len(), 6, &mut out) };
        assert_eq!(out, [2, 3, 4, 5, 6, 7]);
    }
}
