//! Which Linux source serves each enable flag, and how their raw records become kernel events.
//!
//! Records from every source are gathered, sorted by time and only then decoded, because the
//! decoder keeps state that must see them in order: the process table (so a fork knows its
//! parent's image), TCP listeners and sockets' owners (so an accept, a connect or a retransmit
//! that happens in an interrupt or a timer is given to the process the socket belongs to), and
//! disk requests in flight (so a completion knows who issued it and how long it took).
//!
//! This module plans the sources and dispatches each record; one module per family decodes it:
//! [`process`] (processes, threads, images and the process table), [`network`] (TCP),
//! [`disk`] (requests and their completions), [`cpu`] (context switches, system calls, page
//! faults); [`fields`] holds the tracepoint layouts they read.

mod cpu;
mod disk;
mod fields;
mod network;
mod process;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use super::events::{KernelEvent, Occurrence};
use super::perf::{self, Context, Kind};
use super::proc_events::Stamped;
use super::tracefs::Tracepoint;
use super::KernelFlags;
use cpu::fault;
pub(crate) use fields::Fields;
use fields::{DiskFields, ExecFields, SockFields, SwitchFields};
use perf::Mapping;
use process::Process;

/// What a perf event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Exec,
    SockState,
    Retransmit,
    RqIssue,
    RqComplete,
    Switch,
    SysEnter,
    SysExit,
    Faults,
    HardFaults,
    Profile,
    Mappings,
}

/// One perf event to open: what it serves, and for which flags (for messages).
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub(crate) source: Source,
    pub(crate) kind: Kind,
    /// What it is, as a user would look for it: `tracepoint sched:sched_switch`.
    pub(crate) what: String,
    pub(crate) flags: KernelFlags,
}

/// `r`'s error, prefixed with the flags that needed what failed.
fn named<T>(flags: KernelFlags, r: Result<T, String>) -> Result<T, String> {
    r.map_err(|e| format!("{}: {e}", flags.names()))
}

/// The perf events `flags` need, each with its source. Tracefs (found or mounted only if a flag
/// needs a tracepoint) that cannot be reached, or a tracepoint this kernel lacks, is an error
/// naming the flags.
pub(crate) fn plan(flags: KernelFlags) -> Result<(Vec<Planned>, Fields), String> {
    use perf_event_open_sys::bindings as b;
    let mut out = Vec::new();
    let mut fields = Fields::default();
    let root = std::cell::OnceCell::new();
    let tp = |f: KernelFlags, sys: &str, name: &str| -> Result<Tracepoint, String> {
        let root = named(f, root.get_or_init(super::tracefs::root).clone())?;
        named(f, Tracepoint::load(&root, sys, name))
    };
    let mut push = |source, kind, what: String, flags| {
        out.push(Planned {
            source,
            kind,
            what,
            flags,
        })
    };
    let traced = |t: &Tracepoint| format!("tracepoint {}", t.name);
    if flags.contains(KernelFlags::PROCESS) {
        let f = KernelFlags::PROCESS;
        let t = tp(f, "sched", "sched_process_exec")?;
        fields.exec = Some(named(f, ExecFields::of(&t))?);
        push(Source::Exec, Kind::Tracepoint(t.id), traced(&t), f);
    }
    if flags.contains(KernelFlags::NETWORK_TCPIP) {
        let f = KernelFlags::NETWORK_TCPIP;
        let t = tp(f, "sock", "inet_sock_set_state")?;
        fields.sock = Some(named(f, SockFields::of(&t))?);
        push(Source::SockState, Kind::Tracepoint(t.id), traced(&t), f);
        let t = tp(f, "tcp", "tcp_retransmit_skb")?;
        fields.retransmit = Some(named(f, SockFields::of(&t))?);
        push(Source::Retransmit, Kind::Tracepoint(t.id), traced(&t), f);
    }
    if flags.intersects(KernelFlags::DISK_IO | KernelFlags::DISK_IO_INIT) {
        let f = flags & (KernelFlags::DISK_IO | KernelFlags::DISK_IO_INIT);
        let issue = tp(f, "block", "block_rq_issue")?;
        let complete = if flags.contains(KernelFlags::DISK_IO) {
            Some(tp(KernelFlags::DISK_IO, "block", "block_rq_complete")?)
        } else {
            None
        };
        fields.disk = Some(named(f, DiskFields::of(&issue, complete.as_ref()))?);
        push(
            Source::RqIssue,
            Kind::Tracepoint(issue.id),
            traced(&issue),
            f,
        );
        if let Some(c) = complete {
            let what = traced(&c);
            push(
                Source::RqComplete,
                Kind::Tracepoint(c.id),
                what,
                KernelFlags::DISK_IO,
            );
        }
    }
    if flags.contains(KernelFlags::CSWITCH) {
        let f = KernelFlags::CSWITCH;
        let t = tp(f, "sched", "sched_switch")?;
        fields.switch = Some(named(f, SwitchFields::of(&t))?);
        push(Source::Switch, Kind::Tracepoint(t.id), traced(&t), f);
    }
    if flags.contains(KernelFlags::SYSTEMCALL) {
        let f = KernelFlags::SYSTEMCALL;
        let enter = tp(f, "raw_syscalls", "sys_enter")?;
        let exit = tp(f, "raw_syscalls", "sys_exit")?;
        fields.sys = Some((
            named(f, enter.field("id"))?,
            named(f, exit.field("id"))?,
            named(f, exit.field("ret"))?,
        ));
        push(
            Source::SysEnter,
            Kind::Tracepoint(enter.id),
            traced(&enter),
            f,
        );
        push(Source::SysExit, Kind::Tracepoint(exit.id), traced(&exit), f);
    }
    let software = |what: &str| format!("software event {what}");
    if flags.contains(KernelFlags::MEMORY_PAGE_FAULTS) {
        let kind = Kind::Software(b::PERF_COUNT_SW_PAGE_FAULTS as u64);
        push(
            Source::Faults,
            kind,
            software("page-faults"),
            KernelFlags::MEMORY_PAGE_FAULTS,
        );
    }
    if flags.contains(KernelFlags::MEMORY_HARD_FAULTS) {
        let kind = Kind::Software(b::PERF_COUNT_SW_PAGE_FAULTS_MAJ as u64);
        push(
            Source::HardFaults,
            kind,
            software("major-faults"),
            KernelFlags::MEMORY_HARD_FAULTS,
        );
    }
    if flags.contains(KernelFlags::PROFILE) {
        let kind = Kind::Sampled(b::PERF_COUNT_SW_CPU_CLOCK as u64, 1000);
        push(
            Source::Profile,
            kind,
            software("cpu-clock at 1 kHz"),
            KernelFlags::PROFILE,
        );
    }
    if flags.contains(KernelFlags::IMAGE_LOAD) {
        let what = software("dummy with mmap2 records");
        push(
            Source::Mappings,
            Kind::Mappings,
            what,
            KernelFlags::IMAGE_LOAD,
        );
    }
    Ok((out, fields))
}

/// A record from any source, before decoding.
#[derive(Debug)]
pub(crate) enum Raw {
    /// A perf sample of `source`.
    Sample {
        source: Source,
        at: Context,
        ip: u64,
        addr: u64,
        raw: Vec<u8>,
    },
    /// An executable mapping.
    Mapping(Mapping),
    /// A process-connector event.
    Proc(Stamped),
}

impl Raw {
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub(crate) fn time(&self) -> u64 {
        match self {
            Raw::Sample { at, .. } | Raw::Mapping(Mapping { at, .. }) => at.time,
            Raw::Proc(s) => s.time,
        }
    }

    /// Takes a perf sample of the event whose source is `source`.
    pub(crate) fn from_sample(source: Source, kind: Kind, r: perf::Record<'_>) -> Raw {
        let perf::Record::Sample {
            at, ip, addr, raw, ..
        } = perf::sample_fields(kind, r)
        else {
            unreachable!("sample_fields keeps a sample a sample")
        };
        Raw::Sample {
            source,
            at,
            ip,
            addr,
            raw: raw.to_vec(),
        }
    }
}

/// Turns raw records, in time order, into kernel events.
pub(crate) struct Decoder {
    flags: KernelFlags,
    fields: Fields,
    processes: HashMap<u32, Process>,
    /// Listening port -> the process that called listen().
    listeners: HashMap<(u64, u16), u32>,
    /// Socket -> its process: the one that called connect(), or listened for the connection
    /// it accepted. TCP's work in interrupts and timers runs in whatever process is current.
    owners: HashMap<u64, u32>,
    /// (device, sector) -> (issue time, pid, tid).
    in_flight: HashMap<(u64, u64), (u64, u32, u32)>,
    /// Command lines read the moment an exec was announced, before its record is decoded.
    exec_command_lines: HashMap<u32, String>,
}

/// Bound on the decoder's maps: entries whose end was never seen are dropped beyond it.
const MAP_LIMIT: usize = 1 << 16;

/// Makes room in one of the decoder's maps before an insert: a full one is cleared, so that
/// state never ended (a process whose exit was missed, say) cannot grow without bound.
fn bound<K, V>(m: &mut HashMap<K, V>) {
    if m.len() >= MAP_LIMIT {
        m.clear();
    }
}

impl Decoder {
    pub(crate) fn new(flags: KernelFlags, fields: Fields) -> Decoder {
        Decoder {
            flags,
            fields,
            processes: HashMap::new(),
            listeners: HashMap::new(),
            owners: HashMap::new(),
            in_flight: HashMap::new(),
            exec_command_lines: HashMap::new(),
        }
    }

    pub(crate) fn decode(&mut self, r: Raw, out: &mut Vec<Occurrence>) {
        match r {
            Raw::Proc(s) => self.process_event(s, out),
            Raw::Mapping(m) => self.image_mapping(m, out),
            Raw::Sample {
                source,
                at,
                ip,
                addr,
                raw,
            } => {
                let Context {
                    pid,
                    tid,
                    time,
                    cpu,
                } = at;
                let here = |event| Occurrence {
                    time,
                    cpu,
                    pid,
                    tid,
                    event,
                };
                match source {
                    Source::Exec => self.exec(at, &raw, out),
                    Source::SockState => self.sock_state(pid, tid, time, cpu, &raw, out),
                    Source::Retransmit => self.retransmit(at, &raw, out),
                    Source::RqIssue => self.request_issued(at, &raw, out),
                    Source::RqComplete => self.request_completed(at, &raw, out),
                    Source::Switch => out.extend(self.switch(&raw).map(here)),
                    Source::SysEnter => out.extend(self.syscall_enter(&raw).map(here)),
                    Source::SysExit => out.extend(self.syscall_exit(&raw).map(here)),
                    Source::Faults | Source::HardFaults => {
                        out.push(here(fault(source == Source::HardFaults, addr, ip)))
                    }
                    Source::Profile => out.push(here(KernelEvent::Sample { ip })),
                    Source::Mappings => {}
                }
            }
        }
    }
}

/// An event done in the time of process `pid` (thread `tid`) that belongs to process `owner`:
/// its thread is named only when it ran in the owner.
fn owned(owner: u32, pid: u32, tid: u32, time: u64, cpu: u32, event: KernelEvent) -> Occurrence {
    Occurrence {
        time,
        cpu,
        pid: owner,
        tid: if owner == pid { tid } else { 0 },
        event,
    }
}
