//! A second pair of hands for COMPRESSED sessions under load. Compression is most of a flusher's
//! work (tens of nanoseconds per event), so when the flusher falls behind, a batch of buffers is
//! split: a helper thread compresses one part while the flusher compresses the other, and the
//! flusher then places them all in order.
//!
//! The helper is started on the first large batch and kept for the session: waking a parked
//! thread costs microseconds, starting one costs a stack mapping and, here, over 100 µs before it
//! runs. It takes the flusher's scheduling priority with each batch, so a flusher raised after
//! losses takes both processors from its writers while there is work, and gives them back when
//! the batch is done.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::core::SessionCore;
use crate::etl::BUFFER_HEADER_SIZE;
use crate::sink::Encoder;

/// A buffer readied for the file ahead of placing it.
pub(crate) enum Encoded {
    /// Store the buffer itself (already stamped); the vector is only room for the next batch.
    Raw(Vec<u8>),
    /// Store these bytes: the buffer compressed.
    Compressed(Vec<u8>),
}

/// Stamps a complete buffer's header and tail and lends its bytes (the flusher's `stamp`).
pub(crate) type Stamp = for<'a> fn(&'a SessionCore, u32) -> &'a mut [u8];

/// Encodes buffers `indices` of `core` for the file, one output per buffer: each `out` entry
/// comes in as `Raw` room and leaves as what to store. Empty buffers are left alone.
pub(crate) fn encode_all(
    core: &SessionCore,
    stamp: Stamp,
    encoder: Encoder,
    indices: &[u32],
    out: &mut [Encoded],
) {
    for (&i, slot) in indices.iter().zip(out) {
        let Encoded::Raw(room) = slot else {
            continue;
        };
        if core.pool.buffer(i).used() <= BUFFER_HEADER_SIZE {
            continue;
        }
        let mut v = std::mem::take(room);
        *slot = if encoder.encode(stamp(core, i), &mut v) {
            Encoded::Compressed(v)
        } else {
            Encoded::Raw(v)
        };
    }
}

struct Job {
    indices: Vec<u32>,
    out: Vec<Encoded>,
    encoder: Encoder,
    raised: bool,
}

/// The helper thread of one session's flusher.
pub(crate) struct Compressor {
    jobs: Option<Sender<Job>>,
    done: Receiver<(Vec<u32>, Vec<Encoded>)>,
    thread: Option<JoinHandle<()>>,
}

impl Compressor {
    /// Starts the helper for `core`'s buffers.
    pub(crate) fn start(core: Arc<SessionCore>, stamp: Stamp) -> std::io::Result<Compressor> {
        let (jobs, inbox) = channel::<Job>();
        let (outbox, done) = channel();
        let thread = std::thread::Builder::new()
            .name(format!("evtrace-compress-{}", core.slot))
            .spawn(move || {
                let mut raised = false;
                while let Ok(mut job) = inbox.recv() {
                    if job.raised != raised {
                        raised = job.raised;
                        set_priority(raised);
                    }
                    encode_all(&core, stamp, job.encoder, &job.indices, &mut job.out);
                    if outbox.send((job.indices, job.out)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Compressor {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }

    /// Encodes `batch` on two threads, the helper taking its first half. `out` holds one `Raw`
    /// entry (room) per buffer. Returns `None` if the helper has gone (then nothing is encoded
    /// for sure: encode while placing).
    pub(crate) fn encode(
        &mut self,
        core: &SessionCore,
        stamp: Stamp,
        encoder: Encoder,
        batch: &[u32],
        mut out: Vec<Encoded>,
        raised: bool,
    ) -> Option<Vec<Encoded>> {
        let half = batch.len() / 2;
        let rest = out.split_off(half);
        let job = Job {
            indices: batch[..half].to_vec(),
            out,
            encoder,
            raised,
        };
        self.jobs.as_ref()?.send(job).ok()?;
        let mut mine = rest;
        encode_all(core, stamp, encoder, &batch[half..], &mut mine);
        let (_, mut theirs) = self.done.recv().ok()?;
        theirs.append(&mut mine);
        Some(theirs)
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Raises the calling thread's scheduling priority (nice -10), or returns it to normal. Without
/// the privilege (CAP_SYS_NICE) this changes nothing, harmlessly.
pub(crate) fn set_priority(raised: bool) {
    let nice = if raised { -10 } else { 0 };
    // SAFETY: setpriority takes no pointers; it fails harmlessly without the privilege.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
}
