//! Which Linux source serves each enable flag, and how their raw records become kernel events.
//!
//! Records from every source are gathered, sorted by time and only then decoded, because the
//! decoder keeps state that must see them in order: the process table (so a fork knows its
//! parent's image), TCP listeners and sockets' owners (so an accept, a connect or a retransmit
//! that happens in an interrupt or a timer is given to the process the socket belongs to), and disk requests in
//! flight (so a completion knows who issued it and how long it took).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use super::events::{KernelEvent, Occurrence, TcpKind};
use super::perf::{self, Context, Kind, Mapping};
use super::proc_events::{ProcEvent, Stamped};
use super::tracefs::{Field, Tracepoint};
use super::KernelFlags;

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

/// `sched_process_exec`'s fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExecFields {
    filename: Field,
    pid: Field,
}

impl ExecFields {
    fn of(t: &Tracepoint) -> Result<Self, String> {
        Ok(ExecFields {
            filename: t.field("filename")?,
            pid: t.field("pid")?,
        })
    }
}

/// The socket fields `inet_sock_set_state` and `tcp_retransmit_skb` share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SockFields {
    skaddr: Field,
    /// `oldstate`/`newstate`, or `state` twice for a retransmit.
    old: Field,
    new: Field,
    sport: Field,
    dport: Field,
    family: Field,
    protocol: Option<Field>,
    saddr: Field,
    daddr: Field,
    saddr_v6: Field,
    daddr_v6: Field,
}

impl SockFields {
    fn of(t: &Tracepoint) -> Result<Self, String> {
        let (old, new) = match t.field("oldstate") {
            Ok(o) => (o, t.field("newstate")?),
            Err(_) => (t.field("state")?, t.field("state")?),
        };
        Ok(SockFields {
            skaddr: t.field("skaddr")?,
            old,
            new,
            sport: t.field("sport")?,
            dport: t.field("dport")?,
            family: t.field("family")?,
            protocol: t.field("protocol").ok(),
            saddr: t.field("saddr")?,
            daddr: t.field("daddr")?,
            saddr_v6: t.field("saddr_v6")?,
            daddr_v6: t.field("daddr_v6")?,
        })
    }

    /// The TCP event of `kind` this record describes, between `addrs` (from
    /// [`addrs`](Self::addrs)), belonging to process `owner`.
    fn tcp(
        &self,
        raw: &[u8],
        (saddr, daddr): (IpAddr, IpAddr),
        kind: TcpKind,
        owner: u32,
    ) -> KernelEvent {
        KernelEvent::Tcp {
            kind,
            pid: owner,
            saddr,
            daddr,
            sport: self.sport.u64(raw) as u16,
            dport: self.dport.u64(raw) as u16,
            old_state: self.old.i64(raw) as u8,
            new_state: self.new.i64(raw) as u8,
        }
    }

    fn addrs(&self, raw: &[u8]) -> Option<(IpAddr, IpAddr)> {
        let v4 = |f: &Field| -> Option<IpAddr> {
            let b: [u8; 4] = f.bytes(raw).try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        };
        let v6 = |f: &Field| -> Option<IpAddr> {
            let b: [u8; 16] = f.bytes(raw).try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        };
        match self.family.u64(raw) {
            2 => Some((v4(&self.saddr)?, v4(&self.daddr)?)),
            10 => Some((v6(&self.saddr_v6)?, v6(&self.daddr_v6)?)),
            _ => None,
        }
    }
}

/// The fields of a block request tracepoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestFields {
    dev: Field,
    sector: Field,
    nr_sector: Field,
    rwbs: Field,
}

impl RequestFields {
    fn of(t: &Tracepoint) -> Result<Self, String> {
        Ok(RequestFields {
            dev: t.field("dev")?,
            sector: t.field("sector")?,
            nr_sector: t.field("nr_sector")?,
            rwbs: t.field("rwbs")?,
        })
    }

    /// The DiskIo event of this request record: at issue (`init`) or completion, issued by
    /// `issuer` (pid, tid).
    fn event(
        &self,
        raw: &[u8],
        init: bool,
        issuer: (u32, u32),
        response_ns: u64,
        error: i32,
    ) -> KernelEvent {
        let sector = self.sector.u64(raw);
        KernelEvent::DiskIo {
            init,
            op: self.op(raw),
            disk: self.dev.u64(raw) as u32,
            byte_offset: sector.wrapping_mul(512),
            size: (self.nr_sector.u64(raw) * 512) as u32,
            issuing_pid: issuer.0,
            issuing_tid: issuer.1,
            response_ns,
            error,
        }
    }

    /// 'R', 'W', 'F' or 'D' from rwbs ("WS", "FWS", "RM"...): a flush first, as "FWS" is a
    /// flush that carries a write.
    fn op(&self, raw: &[u8]) -> u8 {
        let rwbs = self.rwbs.string(raw);
        ['F', 'D', 'W', 'R']
            .into_iter()
            .find(|c| rwbs.contains(*c))
            .map_or(b'W', |c| c as u8)
    }
}

/// `block_rq_issue` and, for completions, `block_rq_complete` fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DiskFields {
    issue: RequestFields,
    complete: Option<(RequestFields, Field)>,
}

impl DiskFields {
    fn of(issue: &Tracepoint, complete: Option<&Tracepoint>) -> Result<Self, String> {
        Ok(DiskFields {
            issue: RequestFields::of(issue)?,
            complete: match complete {
                Some(c) => Some((RequestFields::of(c)?, c.field("error")?)),
                None => None,
            },
        })
    }
}

/// `sched_switch` fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SwitchFields {
    prev_pid: Field,
    prev_prio: Field,
    prev_state: Field,
    next_pid: Field,
    next_prio: Field,
}

impl SwitchFields {
    fn of(t: &Tracepoint) -> Result<Self, String> {
        Ok(SwitchFields {
            prev_pid: t.field("prev_pid")?,
            prev_prio: t.field("prev_prio")?,
            prev_state: t.field("prev_state")?,
            next_pid: t.field("next_pid")?,
            next_prio: t.field("next_prio")?,
        })
    }
}

/// The tracepoint layouts the decoder reads.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fields {
    exec: Option<ExecFields>,
    sock: Option<SockFields>,
    retransmit: Option<SockFields>,
    disk: Option<DiskFields>,
    switch: Option<SwitchFields>,
    sys: Option<(Field, Field, Field)>,
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

const TCP_ESTABLISHED: u8 = 1;
const TCP_SYN_SENT: u8 = 2;
const TCP_SYN_RECV: u8 = 3;
const TCP_CLOSE: u8 = 7;
const TCP_LISTEN: u8 = 10;
const IPPROTO_TCP: u64 = 6;

/// A process as the decoder knows it.
#[derive(Debug, Clone, Default)]
struct Process {
    image: String,
    command_line: String,
    parent: u32,
    /// Its threads still running: the process ends with the last of them. A set, not a count:
    /// a thread seen both in /proc and by its start (while the rundown reads) is one thread.
    threads: HashSet<u32>,
    /// The wait status of its first thread, if that one ended before the others.
    leader_status: Option<u32>,
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

    /// The events of the processes, threads and images present now (ETW's rundown), read from
    /// /proc; they also seed the process table.
    pub(crate) fn rundown(&mut self, proc_root: &Path, time: u64, out: &mut Vec<Occurrence>) {
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return;
        };
        let mut pids: Vec<u32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        for pid in pids {
            let base = proc_root.join(pid.to_string());
            let Some(p) = read_process(&base) else {
                continue;
            };
            let at = |event| Occurrence {
                time,
                cpu: 0,
                pid,
                tid: pid,
                event,
            };
            if self.flags.contains(KernelFlags::PROCESS) {
                out.push(at(KernelEvent::ProcessStart {
                    pid,
                    parent: p.parent,
                    image: p.image.clone(),
                    command_line: p.command_line.clone(),
                    rundown: true,
                }));
            }
            if self.flags.contains(KernelFlags::THREAD) {
                let mut tids: Vec<u32> = p.threads.iter().copied().collect();
                tids.sort_unstable();
                for tid in tids {
                    out.push(Occurrence {
                        tid,
                        ..at(KernelEvent::ThreadStart {
                            pid,
                            tid,
                            rundown: true,
                        })
                    });
                }
            }
            if self.flags.contains(KernelFlags::IMAGE_LOAD) {
                let maps = std::fs::read_to_string(base.join("maps")).unwrap_or_default();
                for m in maps.lines().filter_map(parse_maps_line) {
                    out.push(at(KernelEvent::ImageLoad {
                        pid,
                        base: m.0,
                        size: m.1,
                        file_offset: m.2,
                        file_name: m.3,
                        rundown: true,
                    }));
                }
            }
            self.processes.insert(pid, p);
        }
    }

    /// Reads the command line of a process that has just called exec, while it still runs:
    /// its exec record may be decoded some milliseconds later, when a short-lived process is
    /// gone.
    pub(crate) fn exec_seen(&mut self, pid: u32) {
        // Only exec records (PROCESS) show command lines.
        if self.fields.exec.is_none() {
            return;
        }
        bound(&mut self.exec_command_lines);
        if let Some(c) = read_cmdline(pid) {
            self.exec_command_lines.insert(pid, c);
        }
    }

    /// Decodes one record (records must come in time order).
    pub(crate) fn decode(&mut self, r: Raw, out: &mut Vec<Occurrence>) {
        match r {
            Raw::Proc(s) => self.process_event(s, out),
            Raw::Mapping(Mapping {
                at,
                addr,
                len,
                pgoff,
                file,
            }) => {
                // Anonymous executable memory (JIT code, the vdso) is not an image.
                if !file.starts_with('/') {
                    return;
                }
                out.push(Occurrence {
                    time: at.time,
                    cpu: at.cpu,
                    pid: at.pid,
                    tid: at.tid,
                    event: KernelEvent::ImageLoad {
                        pid: at.pid,
                        base: addr,
                        size: len,
                        file_offset: pgoff,
                        file_name: file,
                        rundown: false,
                    },
                });
            }
            Raw::Sample {
                source,
                at:
                    Context {
                        pid,
                        tid,
                        time,
                        cpu,
                    },
                ip,
                addr,
                raw,
            } => {
                let at = |pid: u32, tid: u32, event| Occurrence {
                    time,
                    cpu,
                    pid,
                    tid,
                    event,
                };
                match source {
                    Source::Exec => {
                        if let Some(f) = self.fields.exec {
                            let p = f.pid.i64(&raw) as u32;
                            let image = f.filename.string(&raw);
                            let command_line = self
                                .exec_command_lines
                                .remove(&p)
                                .or_else(|| read_cmdline(p))
                                .unwrap_or_default();
                            let entry = self.processes.entry(p).or_default();
                            entry.image = image.clone();
                            entry.command_line = command_line.clone();
                            out.push(at(
                                p,
                                tid,
                                KernelEvent::ProcessExec {
                                    pid: p,
                                    image,
                                    command_line,
                                },
                            ));
                        }
                    }
                    Source::SockState => self.sock_state(pid, tid, time, cpu, &raw, out),
                    Source::Retransmit => {
                        if let Some(f) = self.fields.retransmit {
                            // Retransmits run from a timer, in whatever process is current.
                            let sk = f.skaddr.u64(&raw);
                            let owner = self.owners.get(&sk).copied().unwrap_or(pid);
                            if let Some(addrs) = f.addrs(&raw) {
                                let ev = f.tcp(&raw, addrs, TcpKind::Retransmit, owner);
                                out.push(owned(owner, pid, tid, time, cpu, ev));
                            }
                        }
                    }
                    Source::RqIssue => {
                        if let Some(f) = self.fields.disk {
                            let r = f.issue;
                            let (dev, sector) = (r.dev.u64(&raw), r.sector.u64(&raw));
                            if f.complete.is_some() {
                                bound(&mut self.in_flight);
                                self.in_flight.insert((dev, sector), (time, pid, tid));
                            }
                            let ev = r.event(&raw, true, (pid, tid), 0, 0);
                            out.push(at(pid, tid, ev));
                        }
                    }
                    Source::RqComplete => {
                        if let Some((r, error)) = self.fields.disk.and_then(|f| f.complete) {
                            let (dev, sector) = (r.dev.u64(&raw), r.sector.u64(&raw));
                            let (issued, ipid, itid) = self
                                .in_flight
                                .remove(&(dev, sector))
                                .unwrap_or((time, 0, 0));
                            let response = time.saturating_sub(issued);
                            let error = error.i64(&raw) as i32;
                            let ev = r.event(&raw, false, (ipid, itid), response, error);
                            out.push(at(ipid, itid, ev));
                        }
                    }
                    Source::Switch => {
                        if let Some(f) = self.fields.switch {
                            out.push(at(
                                pid,
                                tid,
                                KernelEvent::CSwitch {
                                    old_tid: f.prev_pid.u64(&raw) as u32,
                                    new_tid: f.next_pid.u64(&raw) as u32,
                                    old_priority: f.prev_prio.i64(&raw) as i32,
                                    new_priority: f.next_prio.i64(&raw) as i32,
                                    old_state: f.prev_state.u64(&raw),
                                },
                            ));
                        }
                    }
                    Source::SysEnter => {
                        if let Some((id, _, _)) = self.fields.sys {
                            out.push(at(
                                pid,
                                tid,
                                KernelEvent::SysCallEnter {
                                    number: id.i64(&raw),
                                },
                            ));
                        }
                    }
                    Source::SysExit => {
                        if let Some((_, id, ret)) = self.fields.sys {
                            out.push(at(
                                pid,
                                tid,
                                KernelEvent::SysCallExit {
                                    number: id.i64(&raw),
                                    result: ret.i64(&raw),
                                },
                            ));
                        }
                    }
                    Source::Faults | Source::HardFaults => out.push(at(
                        pid,
                        tid,
                        KernelEvent::PageFault {
                            hard: source == Source::HardFaults,
                            address: addr,
                            ip,
                        },
                    )),
                    Source::Profile => out.push(at(pid, tid, KernelEvent::Sample { ip })),
                    Source::Mappings => {}
                }
            }
        }
    }

    fn process_event(&mut self, s: Stamped, out: &mut Vec<Occurrence>) {
        let at = |pid: u32, tid: u32, event| Occurrence {
            time: s.time,
            cpu: s.cpu,
            pid,
            tid,
            event,
        };
        match s.event {
            ProcEvent::Fork {
                parent_pid,
                parent_tgid,
                child_pid,
                child_tgid,
            } => {
                if child_pid == child_tgid {
                    bound(&mut self.processes);
                    // A fork runs its parent's image until it calls exec.
                    let (image, command_line) = match self.processes.get(&parent_tgid) {
                        Some(p) => (p.image.clone(), p.command_line.clone()),
                        None => read_process(&Path::new("/proc").join(parent_tgid.to_string()))
                            .map(|p| (p.image, p.command_line))
                            .unwrap_or_default(),
                    };
                    let child = Process {
                        image,
                        command_line,
                        parent: parent_tgid,
                        threads: HashSet::from([child_pid]),
                        leader_status: None,
                    };
                    if self.flags.contains(KernelFlags::PROCESS) {
                        out.push(at(
                            parent_tgid,
                            parent_pid,
                            KernelEvent::ProcessStart {
                                pid: child_tgid,
                                parent: parent_tgid,
                                image: child.image.clone(),
                                command_line: child.command_line.clone(),
                                rundown: false,
                            },
                        ));
                    }
                    self.processes.insert(child_tgid, child);
                } else if let Some(p) = self.processes.get_mut(&child_tgid) {
                    p.threads.insert(child_pid);
                }
                // Every task, the first thread of a process included, is a thread start. The
                // connector names the process's parent, not the creating thread, for threads:
                // the record is the new thread's own.
                if self.flags.contains(KernelFlags::THREAD) {
                    out.push(at(
                        child_tgid,
                        child_pid,
                        KernelEvent::ThreadStart {
                            pid: child_tgid,
                            tid: child_pid,
                            rundown: false,
                        },
                    ));
                }
            }
            ProcEvent::Exit {
                pid,
                tgid,
                code,
                parent_tgid,
            } => {
                if self.flags.contains(KernelFlags::THREAD) {
                    out.push(at(
                        tgid,
                        pid,
                        KernelEvent::ThreadEnd {
                            pid: tgid,
                            tid: pid,
                        },
                    ));
                }
                // The process ends with its last thread, with its first thread's status (a
                // first thread may end before the others). One not known from its start ends
                // with its first thread.
                let status = match self.processes.get_mut(&tgid) {
                    Some(p) => {
                        p.threads.remove(&pid);
                        if pid == tgid {
                            p.leader_status = Some(code);
                        }
                        p.threads
                            .is_empty()
                            .then(|| p.leader_status.unwrap_or(code))
                    }
                    None => (pid == tgid).then_some(code),
                };
                if let Some(code) = status {
                    self.processes.remove(&tgid);
                    if self.flags.contains(KernelFlags::PROCESS) {
                        let signal = code & 0x7f;
                        out.push(at(
                            tgid,
                            pid,
                            KernelEvent::ProcessEnd {
                                pid: tgid,
                                parent: parent_tgid,
                                exit_code: if signal == 0 {
                                    ((code >> 8) & 0xff) as i32
                                } else {
                                    -1
                                },
                                signal,
                            },
                        ));
                    }
                }
            }
            // Exec comes from the tracepoint, which names the file.
            ProcEvent::Exec { .. } => {}
        }
    }

    fn sock_state(
        &mut self,
        pid: u32,
        tid: u32,
        time: u64,
        cpu: u32,
        raw: &[u8],
        out: &mut Vec<Occurrence>,
    ) {
        let Some(f) = self.fields.sock else {
            return;
        };
        if f.protocol.is_some_and(|p| p.u64(raw) != IPPROTO_TCP) {
            return;
        }
        // Parsed once for every event this record gives.
        let Some(addrs) = f.addrs(raw) else {
            return;
        };
        let sk = f.skaddr.u64(raw);
        let old = f.old.i64(raw) as u8;
        let new = f.new.i64(raw) as u8;
        // An IPv4 and an IPv6 listener may share a port.
        let port = (f.family.u64(raw), f.sport.u64(raw) as u16);
        if self.listeners.len() >= MAP_LIMIT || self.owners.len() >= MAP_LIMIT {
            self.listeners.clear();
            self.owners.clear();
        }
        let mut emit = |kind, owner: u32| {
            out.push(owned(
                owner,
                pid,
                tid,
                time,
                cpu,
                f.tcp(raw, addrs, kind, owner),
            ));
        };
        match (old, new) {
            (_, TCP_LISTEN) => {
                self.listeners.insert(port, pid);
            }
            (TCP_LISTEN, TCP_CLOSE) => {
                self.listeners.remove(&port);
            }
            // A connection being accepted: the kernel clones the listening socket (so the
            // clone goes from LISTEN to SYN_RECV), in whatever process the packet came in.
            (TCP_LISTEN, TCP_SYN_RECV) => {
                let owner = self.listeners.get(&port).copied().unwrap_or(pid);
                self.owners.insert(sk, owner);
            }
            (_, TCP_SYN_SENT) => {
                self.owners.insert(sk, pid);
            }
            (TCP_SYN_RECV, TCP_ESTABLISHED) if !self.owners.contains_key(&sk) => {
                let owner = self.listeners.get(&port).copied().unwrap_or(pid);
                self.owners.insert(sk, owner);
            }
            _ => {}
        }
        let owner = self.owners.get(&sk).copied().unwrap_or(pid);
        emit(TcpKind::StateChange, owner);
        match (old, new) {
            (TCP_SYN_SENT, TCP_ESTABLISHED) => emit(TcpKind::Connect, owner),
            (TCP_SYN_RECV, TCP_ESTABLISHED) => emit(TcpKind::Accept, owner),
            (TCP_ESTABLISHED, _) => emit(TcpKind::Disconnect, owner),
            _ => {}
        }
        if new == TCP_CLOSE {
            self.owners.remove(&sk);
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

/// A process's image, command line and parent, from its /proc directory.
fn read_process(base: &Path) -> Option<Process> {
    let stat = std::fs::read_to_string(base.join("stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    let parent = after.split_whitespace().nth(1)?.parse().ok()?;
    // Kernel threads have no executable: their name in brackets, as `ps` shows them.
    let comm = stat
        .find('(')
        .zip(stat.rfind(')'))
        .map_or("", |(a, b)| &stat[a + 1..b]);
    let image = std::fs::read_link(base.join("exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("[{comm}]"));
    let command_line = std::fs::read(base.join("cmdline"))
        .map(|c| cmdline_text(&c))
        .unwrap_or_default();
    let threads = std::fs::read_dir(base.join("task"))
        .map(|tasks| {
            tasks
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Some(Process {
        image,
        command_line,
        parent,
        threads,
        leader_status: None,
    })
}

fn read_cmdline(pid: u32) -> Option<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|c| cmdline_text(&c))
}

/// /proc's NUL-separated arguments as one line.
fn cmdline_text(c: &[u8]) -> String {
    let trimmed = c.strip_suffix(&[0]).unwrap_or(c);
    String::from_utf8_lossy(trimmed).replace('\0', " ")
}

/// An executable file mapping from a /proc/PID/maps line: (start, length, offset, path).
fn parse_maps_line(line: &str) -> Option<(u64, u64, u64, String)> {
    let mut parts = line.splitn(6, ' ');
    let range = parts.next()?;
    let perms = parts.next()?;
    let offset = u64::from_str_radix(parts.next()?, 16).ok()?;
    let _dev = parts.next()?;
    let _inode = parts.next()?;
    let path = parts.next()?.trim_start();
    if !perms.contains('x') || !path.starts_with('/') {
        return None;
    }
    let (a, b) = range.split_once('-')?;
    let (a, b) = (
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    );
    Some((a, b - a, offset, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_give_executable_file_mappings_only() {
        assert_eq!(
            parse_maps_line("7f12a000-7f12c000 r-xp 00002000 fe:00 1234   /usr/lib/libz.so.1"),
            Some((0x7f12a000, 0x2000, 0x2000, "/usr/lib/libz.so.1".into()))
        );
        assert_eq!(
            parse_maps_line("7f12a000-7f12c000 r--p 00000000 fe:00 1234 /x"),
            None
        );
        assert_eq!(
            parse_maps_line("7ffd000-7ffe000 r-xp 00000000 00:00 0 [vdso]"),
            None
        );
    }

    #[test]
    fn the_decoder_gives_forks_their_parents_image_and_exits_their_status() {
        let mut d = Decoder::new(
            KernelFlags::PROCESS | KernelFlags::THREAD,
            Fields::default(),
        );
        d.processes.insert(
            10,
            Process {
                image: "/bin/sh".into(),
                command_line: "sh -c x".into(),
                parent: 1,
                threads: HashSet::from([10]),
                leader_status: None,
            },
        );
        let mut out = Vec::new();
        let ev = |time, event| {
            Raw::Proc(Stamped {
                cpu: 0,
                time,
                event,
            })
        };
        d.decode(
            ev(
                1,
                ProcEvent::Fork {
                    parent_pid: 10,
                    parent_tgid: 10,
                    child_pid: 11,
                    child_tgid: 11,
                },
            ),
            &mut out,
        );
        d.decode(
            ev(
                2,
                ProcEvent::Fork {
                    parent_pid: 11,
                    parent_tgid: 11,
                    child_pid: 12,
                    child_tgid: 11,
                },
            ),
            &mut out,
        );
        d.decode(
            ev(
                3,
                ProcEvent::Exit {
                    pid: 11,
                    tgid: 11,
                    code: 3 << 8,
                    parent_tgid: 10,
                },
            ),
            &mut out,
        );
        // The first thread has ended, the second runs on: the process has not ended.
        assert!(!out
            .iter()
            .any(|o| matches!(o.event, KernelEvent::ProcessEnd { .. })));
        d.decode(
            ev(
                4,
                ProcEvent::Exit {
                    pid: 12,
                    tgid: 11,
                    code: 0,
                    parent_tgid: 10,
                },
            ),
            &mut out,
        );
        d.decode(
            ev(
                5,
                ProcEvent::Exit {
                    pid: 13,
                    tgid: 13,
                    code: 9,
                    parent_tgid: 10,
                },
            ),
            &mut out,
        );
        let events: Vec<&KernelEvent> = out.iter().map(|o| &o.event).collect();
        assert_eq!(
            events[0],
            &KernelEvent::ProcessStart {
                pid: 11,
                parent: 10,
                image: "/bin/sh".into(),
                command_line: "sh -c x".into(),
                rundown: false
            }
        );
        assert!(events.contains(&&KernelEvent::ThreadStart {
            pid: 11,
            tid: 12,
            rundown: false
        }));
        assert!(events.contains(&&KernelEvent::ProcessEnd {
            pid: 11,
            parent: 10,
            exit_code: 3,
            signal: 0
        }));
        assert!(events.contains(&&KernelEvent::ProcessEnd {
            pid: 13,
            parent: 10,
            exit_code: -1,
            signal: 9
        }));
        assert!(
            !d.processes.contains_key(&11),
            "an ended process leaves the table"
        );
    }

    const SET_STATE: &str = "name: inet_sock_set_state
ID: 2287
format:
\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;
";

    /// An inet_sock_set_state sample seen in process `pid`'s context.
    fn set_state(pid: u32, time: u64, sk: u64, old: u8, new: u8, sport: u16, dport: u16) -> Raw {
        let mut raw = vec![0u8; 72];
        raw[8..16].copy_from_slice(&sk.to_le_bytes());
        raw[16..20].copy_from_slice(&(old as i32).to_le_bytes());
        raw[20..24].copy_from_slice(&(new as i32).to_le_bytes());
        raw[24..26].copy_from_slice(&sport.to_le_bytes());
        raw[26..28].copy_from_slice(&dport.to_le_bytes());
        raw[28..30].copy_from_slice(&2u16.to_le_bytes());
        raw[30..32].copy_from_slice(&6u16.to_le_bytes());
        raw[32..36].copy_from_slice(&[10, 0, 0, 1]);
        raw[36..40].copy_from_slice(&[10, 0, 0, 2]);
        Raw::Sample {
            source: Source::SockState,
            at: Context {
                pid,
                tid: pid,
                time,
                cpu: 0,
            },
            ip: 0,
            addr: 0,
            raw,
        }
    }

    /// Connect and accept complete in interrupts, in whatever process runs then: they go to the
    /// process that called connect() and the one that listens.
    #[test]
    fn connects_and_accepts_go_to_the_processes_that_asked() {
        let tp =
            super::super::tracefs::parse_format("sock:inet_sock_set_state", SET_STATE).unwrap();
        let fields = Fields {
            sock: Some(SockFields::of(&tp).unwrap()),
            ..Fields::default()
        };
        let mut d = Decoder::new(KernelFlags::NETWORK_TCPIP, fields);
        let mut out = Vec::new();
        // Server 100 listens on 80; client 200 connects from 5000; interrupts run in 300. The
        // accepted socket is the listener's clone, as the kernel makes it (LISTEN -> SYN_RECV),
        // and closes from an interrupt too; a second client (from 5001) is accepted by the same
        // listener, which the first accept did not make forgotten.
        let transitions = [
            (100, 1, 0xA, TCP_CLOSE, TCP_LISTEN, 80, 0),
            (200, 2, 0xB, TCP_CLOSE, TCP_SYN_SENT, 5000, 80),
            (300, 3, 0xC, TCP_LISTEN, TCP_SYN_RECV, 80, 5000),
            (300, 3, 0xC, TCP_SYN_RECV, TCP_ESTABLISHED, 80, 5000),
            (300, 4, 0xB, TCP_SYN_SENT, TCP_ESTABLISHED, 5000, 80),
            (200, 5, 0xB, TCP_ESTABLISHED, 4, 5000, 80),
            (300, 6, 0xC, TCP_ESTABLISHED, 8, 80, 5000),
            (300, 7, 0xD, TCP_LISTEN, TCP_SYN_RECV, 80, 5001),
            (300, 7, 0xD, TCP_SYN_RECV, TCP_ESTABLISHED, 80, 5001),
        ];
        for (pid, time, sk, old, new, sport, dport) in transitions {
            d.decode(set_state(pid, time, sk, old, new, sport, dport), &mut out);
        }
        let derived: Vec<(TcpKind, u32, u32)> = out
            .iter()
            .filter_map(|o| match o.event {
                KernelEvent::Tcp { kind, pid, .. } if kind != TcpKind::StateChange => {
                    Some((kind, pid, o.pid))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            derived,
            vec![
                (TcpKind::Accept, 100, 100),
                (TcpKind::Connect, 200, 200),
                (TcpKind::Disconnect, 200, 200),
                (TcpKind::Disconnect, 100, 100),
                (TcpKind::Accept, 100, 100),
            ]
        );
        assert_eq!(
            out.iter()
                .filter(|o| matches!(
                    o.event,
                    KernelEvent::Tcp {
                        kind: TcpKind::StateChange,
                        ..
                    }
                ))
                .count(),
            9,
            "every transition is recorded as it happened"
        );
        match &out[0].event {
            KernelEvent::Tcp { saddr, daddr, .. } => {
                assert_eq!(saddr.to_string(), "10.0.0.1");
                assert_eq!(daddr.to_string(), "10.0.0.2");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_retransmit_names_its_connection_its_owner_and_state() {
        let format = "name: tcp_retransmit_skb
ID: 2281
format:
\tfield:const void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:const void * skaddr;\toffset:16;\tsize:8;\tsigned:0;
\tfield:int state;\toffset:24;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:32;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:34;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:38;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:42;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:58;\tsize:16;\tsigned:0;
\tfield:int err;\toffset:76;\tsize:4;\tsigned:1;
";
        let tp = super::super::tracefs::parse_format("tcp:tcp_retransmit_skb", format).unwrap();
        let set_state_tp =
            super::super::tracefs::parse_format("sock:inet_sock_set_state", SET_STATE).unwrap();
        let fields = Fields {
            retransmit: Some(SockFields::of(&tp).unwrap()),
            sock: Some(SockFields::of(&set_state_tp).unwrap()),
            ..Fields::default()
        };
        let mut d = Decoder::new(KernelFlags::NETWORK_TCPIP, fields);
        // Process 200 connects with socket 0xE; the retransmit comes from a timer in process 7.
        let mut ignored = Vec::new();
        d.decode(
            set_state(200, 0, 0xE, TCP_CLOSE, TCP_SYN_SENT, 40000, 443),
            &mut ignored,
        );
        let mut raw = vec![0u8; 80];
        raw[16..24].copy_from_slice(&0xEu64.to_le_bytes());
        raw[24..28].copy_from_slice(&(TCP_ESTABLISHED as i32).to_le_bytes());
        raw[28..30].copy_from_slice(&40000u16.to_le_bytes());
        raw[30..32].copy_from_slice(&443u16.to_le_bytes());
        raw[32..34].copy_from_slice(&10u16.to_le_bytes()); // AF_INET6
        raw[42..58].copy_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
        raw[58..74].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        let mut out = Vec::new();
        d.decode(
            Raw::Sample {
                source: Source::Retransmit,
                at: Context {
                    pid: 7,
                    tid: 8,
                    time: 1,
                    cpu: 1,
                },
                ip: 0,
                addr: 0,
                raw,
            },
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].event,
            KernelEvent::Tcp {
                kind: TcpKind::Retransmit,
                pid: 200,
                saddr: IpAddr::V6(Ipv6Addr::LOCALHOST),
                daddr: "2001:db8::1".parse().unwrap(),
                sport: 40000,
                dport: 443,
                old_state: TCP_ESTABLISHED,
                new_state: TCP_ESTABLISHED,
            }
        );
    }
}
