//! The kernel logger's event sources: what the seed's NT Kernel Logger records, from Linux.
//!
//! | Flag | Source |
//! |---|---|
//! | PROCESS | netlink process connector (fork, exit with status) + `sched:sched_process_exec` |
//! | THREAD | netlink process connector |
//! | IMAGE_LOAD | perf mmap2 records of executable mappings |
//! | NETWORK_TCPIP | `sock:inet_sock_set_state`, `tcp:tcp_retransmit_skb` |
//! | DISK_IO | `block:block_rq_complete`, and `block:block_rq_issue` (see below) |
//! | DISK_IO_INIT | `block:block_rq_issue` |
//! | CSWITCH | `sched:sched_switch` |
//! | SYSTEMCALL | `raw_syscalls:sys_enter`, `raw_syscalls:sys_exit` |
//! | MEMORY_PAGE_FAULTS, MEMORY_HARD_FAULTS | perf software events (all faults, major faults) |
//! | PROFILE | perf cpu-clock sampling at 1 kHz |
//!
//! Linux does not trace every request completion (batched completions, as virtio and NVMe
//! drivers make them, skip `block_rq_complete`), so DISK_IO records each request at issue as
//! well (the DISK_IO_INIT events: ReadInit, WriteInit, FlushInit), and no request goes
//! unrecorded; completions (Read, Write, FlushBuffers) add the response time where traced.
//!
//! Command lines are read from /proc the moment the process connector announces an exec; a
//! process that is gone by then has an empty CommandLine. Its image name comes from the kernel
//! and is always there.
//!
//! Every source is opened before the logger reports started; one that cannot be opened (not
//! root, tracefs not mountable, a tracepoint this kernel lacks) fails the start with the flag
//! and the reason, so no flag is ever silently empty. At start the logger also records the
//! processes, threads and images present (ETW's rundown, as DCStart events). Records the kernel
//! drops (a full perf ring, an overflowing netlink socket) are counted in the session's
//! EventsLost.

mod events;
mod perf;
mod proc_events;
mod records;
mod scope;
mod sources;
mod tracefs;

pub use crate::model::KernelFlags;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, ErrorCode, Result};
use crate::session::Session;
use perf::CpuRing;
use sources::{Decoder, Raw, Source};

/// The kernel logger's session name (`KERNEL_LOGGER_NAME`).
pub const KERNEL_LOGGER_NAME: &str = "NT Kernel Logger";

/// A running kernel logger: the thread that reads the sources and writes into its session.
pub struct KernelLogger {
    session: Option<Arc<Session>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    flags: KernelFlags,
}

/// A perf event's place: which source it serves and how its samples are laid out.
type Opened = (Source, perf::Kind);

fn source_error(what: String, e: &std::io::Error) -> Error {
    let code = match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => ErrorCode::AccessDenied,
        _ => ErrorCode::NotSupported,
    };
    let hint = if code == ErrorCode::AccessDenied {
        " (the kernel logger needs root, or CAP_PERFMON and CAP_NET_ADMIN)"
    } else {
        ""
    };
    Error::new(code, format!("{what}: {e}{hint}"))
}

impl KernelLogger {
    /// Opens the sources `flags` need (empty: tracelog's default set) and starts writing their
    /// events into `session`. Fails, naming the flag and the reason, if any source cannot be
    /// opened.
    pub fn start(flags: KernelFlags, session: Arc<Session>) -> Result<KernelLogger> {
        KernelLogger::start_in(flags, None, session)
    }

    /// As [`start`](Self::start), keeping only the events of process `tree_of`'s descendants
    /// when it is given (followed through the process connector's forks).
    pub fn start_in(
        flags: KernelFlags,
        tree_of: Option<u32>,
        session: Arc<Session>,
    ) -> Result<KernelLogger> {
        let flags = flags.checked()?;
        let (plan, fields) =
            sources::plan(flags).map_err(|m| Error::new(ErrorCode::NotSupported, m))?;
        let process_events = flags.intersects(KernelFlags::PROCESS | KernelFlags::THREAD);
        // A tree is followed through the forks, whether or not they are recorded.
        let procs =
            if process_events || tree_of.is_some() {
                let flag = if process_events {
                    (flags & (KernelFlags::PROCESS | KernelFlags::THREAD)).names()
                } else {
                    "a process tree".to_string()
                };
                Some(proc_events::ProcEvents::open().map_err(|e| {
                    source_error(format!("{flag}: the netlink process connector"), &e)
                })?)
            } else {
                None
            };
        let kinds: Vec<perf::Kind> = plan.iter().map(|p| p.kind).collect();
        let mut rings = Vec::new();
        let mut opened = HashMap::new();
        if !kinds.is_empty() {
            for cpu in online_cpus() {
                let ring = CpuRing::open(cpu, &kinds).map_err(|(i, e)| {
                    let p = &plan[i];
                    let what = format!(
                        "{}: perf event {} on processor {cpu}",
                        p.flags.names(),
                        p.what
                    );
                    source_error(what, &e)
                })?;
                for (p, id) in plan.iter().zip(ring.ids()) {
                    opened.insert(*id, (p.source, p.kind));
                }
                rings.push(ring);
            }
        }
        // The sources run before the rundown reads /proc: what starts in between is seen
        // twice (as ETW's rundown may) rather than not at all. The rundown is stamped with the
        // moment the sources started, before anything they record.
        let since = crate::clock::monotonic_ns() as u64;
        for r in &rings {
            r.enable();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut reader = Reader {
            session: session.clone(),
            rings,
            opened,
            procs,
            process_events,
            tree: tree_of.map(|root| scope::ProcessTree::new(root, Path::new("/proc"))),
            decoder: Decoder::new(flags, fields),
            last: i64::MIN,
            held: Vec::new(),
            payload: Vec::with_capacity(256),
        };
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("evtrace-kernel".into())
            .spawn(move || {
                let mut first = Vec::new();
                reader
                    .decoder
                    .rundown(Path::new("/proc"), since, &mut first);
                reader.write(first);
                reader.run(&flag)
            })
            .map_err(|e| Error::new(ErrorCode::NoSystemResources, e.to_string()))?;
        Ok(KernelLogger {
            session: Some(session),
            stop,
            thread: Some(thread),
            flags,
        })
    }

    /// The flags being served (the default set when started with none).
    pub fn flags(&self) -> KernelFlags {
        self.flags
    }

    /// The session the events are written into.
    pub fn share(&self) -> Option<Arc<Session>> {
        self.session.clone()
    }

    /// Stops the sources, writes what they still held, and stops the session they are written
    /// into (so its last buffers go where its buffers go).
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The reader has let go of the session: this is the last reference, unless a flush
        // holds one for a moment.
        if let Some(s) = self.session.take() {
            let _ = Session::stop_shared(s);
        }
    }
}

impl Drop for KernelLogger {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The processors perf can open events on.
fn online_cpus() -> Vec<usize> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            out.extend(a..=b);
        }
    }
    if out.is_empty() {
        out.extend(0..crate::session::processor_count());
    }
    out
}

/// The logger's thread: reads every source, orders by time, decodes, writes.
struct Reader {
    session: Arc<Session>,
    rings: Vec<CpuRing>,
    /// By perf event id.
    opened: HashMap<u64, Opened>,
    procs: Option<proc_events::ProcEvents>,
    /// Whether the process connector's events are recorded (else it only follows the tree).
    process_events: bool,
    /// The only processes whose events are written, when the logger is restricted to a tree.
    tree: Option<scope::ProcessTree>,
    decoder: Decoder,
    /// The last time stamp written: kept rising, as ETW's buffers are.
    last: i64,
    /// Records too recent to decode yet (see `gather`).
    held: Vec<Raw>,
    /// Room for one record's payload, reused.
    payload: Vec<u8>,
}

/// How long the reader sleeps when nothing wakes it.
const POLL: Duration = Duration::from_millis(50);

/// How recent a record may be and still be decoded this round (see `Reader::gather`): more than
/// the time a record takes from its time stamp into its ring.
const HOLD: Duration = Duration::from_millis(10);

impl Reader {
    fn run(&mut self, stop: &AtomicBool) {
        loop {
            let stopping = stop.load(Ordering::Acquire);
            if stopping {
                // What the sources hold at this point is the last of it.
                for r in &self.rings {
                    r.disable();
                }
            } else {
                self.wait();
            }
            let raw = self.gather(stopping);
            let mut out = Vec::with_capacity(raw.len());
            for r in raw {
                self.decoder.decode(r, &mut out);
            }
            self.write(out);
            if stopping {
                return;
            }
        }
    }

    fn wait(&self) {
        use rustix::event::{poll, PollFd, PollFlags};
        let mut fds: Vec<PollFd<'_>> = self
            .rings
            .iter()
            .map(|r| PollFd::new(r.poll_fd(), PollFlags::IN))
            .collect();
        if let Some(p) = &self.procs {
            fds.push(PollFd::new(p.fd(), PollFlags::IN));
        }
        let timeout = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: POLL.as_nanos() as i64,
        };
        if fds.is_empty() {
            std::thread::sleep(POLL);
        } else {
            let _ = poll(&mut fds, Some(&timeout));
        }
    }

    /// What the sources hold, in time order, up to a moment just before now: a record stamped
    /// later may still be on its way into another processor's ring, so it waits for the next
    /// round and the order holds across sources and rounds. `last` takes everything. Losses go
    /// to the session's EventsLost.
    fn gather(&mut self, last: bool) -> Vec<Raw> {
        let cutoff = (crate::clock::monotonic_ns() as u64).saturating_sub(HOLD.as_nanos() as u64);
        let mut raw = std::mem::take(&mut self.held);
        let mut lost = 0u64;
        let opened = &self.opened;
        for ring in &mut self.rings {
            ring.drain(|rec| match rec {
                perf::Record::Lost { count } => lost += count,
                // Only the mappings event asks for mmap2 records (which carry no event id).
                perf::Record::Mmap2(m) => raw.push(Raw::Mapping(m)),
                perf::Record::Sample { id, .. } => {
                    if let Some(&(source, kind)) = opened.get(&id) {
                        raw.push(Raw::from_sample(source, kind, rec));
                    }
                }
            });
        }
        if let Some(p) = &mut self.procs {
            let mut stamped = Vec::new();
            lost += p.drain(&mut stamped);
            for s in &stamped {
                match s.event {
                    proc_events::ProcEvent::Exec { tgid, .. } => self.decoder.exec_seen(tgid),
                    proc_events::ProcEvent::Fork {
                        parent_tgid,
                        child_tgid,
                        ..
                    } => {
                        if let Some(t) = &mut self.tree {
                            t.fork(parent_tgid, child_tgid);
                        }
                    }
                    proc_events::ProcEvent::Exit { .. } => {}
                }
            }
            if self.process_events {
                raw.extend(stamped.into_iter().map(Raw::Proc));
            }
        }
        if lost != 0 {
            self.session.add_events_lost(lost);
        }
        raw.sort_by_key(Raw::time);
        if !last {
            let keep = raw.partition_point(|r| r.time() <= cutoff);
            self.held = raw.split_off(keep);
        }
        raw
    }

    /// Writes events into the session, each stamped with the session's clock at the moment it
    /// happened (converted from `CLOCK_MONOTONIC`).
    fn write(&mut self, mut events: Vec<events::Occurrence>) {
        if let Some(t) = &self.tree {
            // A process's start is stamped with its creator's pid: the command's own start
            // (created by the recorder, outside the tree) is kept by the pid it is about.
            events.retain(|o| match o.event {
                events::KernelEvent::ProcessStart { pid, .. } => t.contains(pid),
                _ => t.contains(o.pid),
            });
        }
        if events.is_empty() {
            return;
        }
        let source = self.session.time_source();
        let (mono, now) = (crate::clock::monotonic_ns(), source.now());
        let freq = source.frequency() as i128;
        for o in events {
            let ago = (mono as i128 - o.time as i128).max(0);
            let ts = (now as i128 - ago * freq / 1_000_000_000) as i64;
            self.last = self.last.max(ts);
            let (hook_id, version) = records::hook(&o.event);
            let header = crate::etl::kernel::SystemHeaderFields {
                version,
                hook_id,
                thread_id: o.tid,
                process_id: o.pid,
                timestamp: self.last,
            };
            records::payload_into(&o, freq as i64, &mut self.payload);
            // A failed write is already counted in the session's EventsLost.
            let _ = self
                .session
                .write_system(o.cpu as usize, &header, &[&self.payload]);
        }
    }
}

/// Which logger a session is: (the kernel logger proper, a system logger of any kind). The
/// kernel logger is the session named NT Kernel Logger, or the Global Logger (`global_logger`)
/// given EnableKernelFlags; any session with EVENT_TRACE_SYSTEM_LOGGER_MODE is a system logger.
pub fn logger_kind(props: &crate::session::SessionProperties, global_logger: bool) -> (bool, bool) {
    let kernel = crate::session::same_name(&props.name, KERNEL_LOGGER_NAME)
        || (global_logger && props.enable_flags != 0);
    let system = kernel
        || props
            .mode
            .contains(crate::session::LogFileMode::SYSTEM_LOGGER);
    (kernel, system)
}

/// What a system logger may not be: pageable (kernel events are never written to pageable
/// buffers) or private, and its EnableFlags must be ones served here; the kernel logger proper
/// (`kernel_logger`) also takes no sequence numbers, which are for TraceMessage, which never
/// reaches it. The daemon checks these at start, and `evtrace globallogger create` before it
/// writes a kernel Global Logger's entries.
pub fn logger_rules(
    props: &crate::session::SessionProperties,
    kernel_logger: bool,
) -> crate::Result<()> {
    use crate::session::LogFileMode;
    use crate::Error;
    if props.mode.contains(LogFileMode::USE_PAGED_MEMORY) {
        // Named as every other exclusion is: both flags (the kernel logger is a system logger
        // by its name, without the mode bit).
        let other = if kernel_logger {
            "the NT Kernel Logger"
        } else {
            "EVENT_TRACE_SYSTEM_LOGGER_MODE"
        };
        return Err(Error::invalid(format!(
            "{}: EVENT_TRACE_USE_PAGED_MEMORY cannot be used with {other} (a system logger's buffers are not pageable): remove EVENT_TRACE_USE_PAGED_MEMORY",
            props.name
        )));
    }
    for m in [LogFileMode::PRIVATE_LOGGER, LogFileMode::PRIVATE_IN_PROC] {
        if props.mode.contains(m) {
            return Err(Error::invalid(format!(
                "{} is a system logger and cannot be {}",
                props.name,
                m.flag_name()
            )));
        }
    }
    let sequence = props.mode & (LogFileMode::GLOBAL_SEQUENCE | LogFileMode::LOCAL_SEQUENCE);
    if kernel_logger && !sequence.is_empty() {
        return Err(Error::invalid(format!(
            "{} is not valid for the kernel logger, which records no TraceMessage",
            sequence.names()
        )));
    }
    KernelFlags::from_bits_retain(props.enable_flags).checked()?;
    Ok(())
}
