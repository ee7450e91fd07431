//! Each kernel event as the classic record Windows writes for it: a system header with the
//! class's HookId (group << 8 | event type) and version, then the class's MOF fields in their
//! documented order (64-bit layouts), so that tools that parse the NT Kernel Logger by its MOF
//! classes read them. What Linux has no value for is 0 or empty (README, "The kernel logger").
//! Two event types are evtrace's own, as Windows has no such events: Process Exec (64, the
//! Process layout) and TcpIp StateChange (64, 80 for IPv6: TcpIp_TypeGroup1's layout). What
//! Linux says and a class cannot hold (a termination signal, TCP states, a disk request's size at
//! issue, a system call's number and result) follows Windows' fields, where tools that know the
//! class stop reading (the reader's `Extension` fields).

use super::events::{KernelEvent, Occurrence, TcpKind};
use crate::etl::kernel::Mof;

/// `EVENT_TRACE_GROUP_*`.
mod group {
    pub(super) const IO: u16 = 0x01;
    pub(super) const MEMORY: u16 = 0x02;
    pub(super) const PROCESS: u16 = 0x03;
    pub(super) const THREAD: u16 = 0x05;
    pub(super) const TCPIP: u16 = 0x06;
    pub(super) const PERFINFO: u16 = 0x0F;
    pub(super) const IMAGE: u16 = 0x14;
}

/// The record's HookId and class version.
pub(crate) fn hook(e: &KernelEvent) -> (u16, u16) {
    use group::*;
    let (group, ty, version) = match e {
        KernelEvent::ProcessStart { rundown, .. } => (PROCESS, if *rundown { 3 } else { 1 }, 4),
        KernelEvent::ProcessExec { .. } => (PROCESS, 64, 4),
        KernelEvent::ProcessEnd { .. } => (PROCESS, 2, 4),
        KernelEvent::ThreadStart { rundown, .. } => (THREAD, if *rundown { 3 } else { 1 }, 3),
        KernelEvent::ThreadEnd { .. } => (THREAD, 2, 3),
        KernelEvent::ImageLoad { rundown, .. } => (IMAGE, if *rundown { 3 } else { 10 }, 3),
        KernelEvent::Tcp { kind, saddr, .. } => {
            let v4 = match kind {
                TcpKind::Connect => 12,
                TcpKind::Disconnect => 13,
                TcpKind::Retransmit => 14,
                TcpKind::Accept => 15,
                TcpKind::StateChange => 64,
            };
            (TCPIP, if saddr.is_ipv6() { v4 + 16 } else { v4 }, 2)
        }
        KernelEvent::DiskIo { init, op, .. } => {
            let ty = match (init, op) {
                (false, b'R') => 10,
                (false, b'F') => 14,
                (false, _) => 11,
                (true, b'R') => 12,
                (true, b'F') => 15,
                (true, _) => 13,
            };
            (IO, ty, 3)
        }
        KernelEvent::CSwitch { .. } => (THREAD, 36, 2),
        KernelEvent::PageFault { hard: false, .. } => (MEMORY, 10, 2),
        KernelEvent::PageFault { hard: true, .. } => (MEMORY, 32, 2),
        KernelEvent::SysCallEnter { .. } => (PERFINFO, 51, 2),
        KernelEvent::SysCallExit { .. } => (PERFINFO, 52, 2),
        KernelEvent::Sample { .. } => (PERFINFO, 46, 2),
    };
    (group << 8 | ty, version)
}

/// `TOKEN_USER.User.Sid`'s pointer slot: any nonzero value says a SID follows (a zero one
/// means no SID to readers such as TraceEvent).
const SID_PRESENT: u64 = 1;

/// Process_V4_TypeGroup1.
fn process(m: &mut Mof<'_>, pid: u32, parent: u32, exit: i32, image: &str, command_line: &str) {
    m.u64(0) // UniqueProcessKey
        .u32(pid)
        .u32(parent)
        .u32(0) // SessionId
        .u32(exit as u32)
        .u64(0) // DirectoryTableBase
        .u32(0); // Flags
                 // UserSID: TOKEN_USER (the SID's pointer, its attributes), then the Null SID S-1-0-0: the
                 // process's user is not recorded.
    m.u64(SID_PRESENT).u64(0).u8(1).u8(1).zeros(6).u32(0);
    m.ansi(image).utf16(command_line).utf16("").utf16("");
}

/// A Linux `prev_state` as Windows' thread states: preempted (0) is Ready (1), a dead task
/// (`EXIT_DEAD`, `EXIT_ZOMBIE`, `TASK_DEAD`) Terminated (4), any sleep Waiting (5).
fn thread_state(prev_state: u64) -> u8 {
    match prev_state {
        0 => 1,
        s if s & (0x10 | 0x20 | 0x80) != 0 => 4,
        _ => 5,
    }
}

/// A request's Irp: the only identity the block tracepoints give, its disk and first sector
/// (the block layer may merge or split requests, so an Init and a completion need not share it).
fn irp(disk: u32, byte_offset: u64) -> u64 {
    (u64::from(disk) << 40) ^ (byte_offset >> 9)
}

/// Writes the MOF payload of `o`'s record into `out` (cleared first; its room is reused).
/// `ticks_per_second` is the session clock's rate, the unit of Windows' response times.
pub(crate) fn payload_into(o: &Occurrence, ticks_per_second: i64, out: &mut Vec<u8>) {
    out.clear();
    let m = &mut Mof(out);
    match &o.event {
        KernelEvent::ProcessStart {
            pid,
            parent,
            image,
            command_line,
            ..
        } => process(m, *pid, *parent, 0, image, command_line),
        KernelEvent::ProcessExec {
            pid,
            image,
            command_line,
        } => process(m, *pid, 0, 0, image, command_line),
        KernelEvent::ProcessEnd {
            pid,
            parent,
            exit_code,
            signal,
        } => {
            // ExitStatus -1 for a process ended by a signal, then the signal (evtrace's).
            process(m, *pid, *parent, *exit_code, "", "");
            m.u32(*signal);
        }
        KernelEvent::ThreadStart { pid, tid, .. } | KernelEvent::ThreadEnd { pid, tid } => {
            // Thread_V3_TypeGroup1: stacks, affinity, start address and TEB unknown (0).
            m.u32(*pid).u32(*tid).zeros(7 * 8).u32(0).zeros(4);
        }
        KernelEvent::ImageLoad {
            pid,
            base,
            size,
            file_offset,
            file_name,
            ..
        } => {
            // Image_Load V3: no checksum, time stamp, signature or default base on Linux; the
            // mapping's file offset is evtrace's.
            m.u64(*base).u64(*size).u32(*pid).zeros(12).u64(0).zeros(16);
            m.utf16(file_name).u64(*file_offset);
        }
        KernelEvent::Tcp {
            kind,
            pid,
            saddr,
            daddr,
            sport,
            dport,
            old_state,
            new_state,
        } => {
            m.u32(*pid)
                .u32(0)
                .ip(*daddr)
                .ip(*saddr)
                .port(*dport)
                .port(*sport);
            if matches!(kind, TcpKind::Connect | TcpKind::Accept) {
                // TcpIp_TypeGroup2/4: the options and windows are not in the tracepoint.
                m.zeros(8).u32(0).zeros(4);
            }
            m.u32(0).u64(0); // seqnum, connid
            m.u8(*old_state).u8(*new_state);
        }
        KernelEvent::DiskIo {
            init,
            op,
            disk,
            byte_offset,
            size,
            issuing_tid,
            response_ns,
            error,
            ..
        } => {
            let irp = irp(*disk, *byte_offset);
            let response =
                (i128::from(*response_ns) * i128::from(ticks_per_second) / 1_000_000_000) as u64;
            match (init, op) {
                (true, _) => {
                    m.u64(irp).u32(*issuing_tid);
                    m.u32(*disk).u32(*size).u64(*byte_offset);
                }
                (false, b'F') => {
                    m.u32(*disk).u32(0).u64(response).u64(irp).u32(*issuing_tid);
                    m.u32(*error as u32);
                }
                (false, _) => {
                    m.u32(*disk).u32(0).u32(*size).u32(0).u64(*byte_offset);
                    m.u64(0).u64(irp).u64(response).u32(*issuing_tid);
                    m.u32(*error as u32);
                }
            }
        }
        KernelEvent::CSwitch {
            old_tid,
            new_tid,
            old_priority,
            new_priority,
            old_state,
        } => {
            let prio = |p: i32| p.clamp(-128, 127) as i8 as u8;
            m.u32(*new_tid)
                .u32(*old_tid)
                .u8(prio(*new_priority))
                .u8(prio(*old_priority));
            m.u8(0).u8(0).u8(0).u8(0); // PreviousCState, SpareByte, WaitReason, WaitMode
            m.u8(thread_state(*old_state)).u8(0).u32(0).u32(0);
        }
        KernelEvent::PageFault {
            hard: false,
            address,
            ip,
        } => {
            m.u64(*address).u64(*ip);
        }
        KernelEvent::PageFault {
            hard: true,
            address,
            ip,
        } => {
            // PageFault_HardFault: no I/O times, offset or file object from perf.
            m.u64(0).u64(0).u64(*address).u64(0).u32(o.tid).u32(0);
            m.u64(*ip);
        }
        KernelEvent::SysCallEnter { number } => {
            // Linux names a system call by its number, not its address.
            m.u64(0).u64(*number as u64);
        }
        KernelEvent::SysCallExit { number, result } => {
            m.u32(*result as u32)
                .u64(*number as u64)
                .u64(*result as u64);
        }
        KernelEvent::Sample { ip } => {
            m.u64(*ip).u32(o.tid).u32(1);
        }
    }
}

#[cfg(test)]
mod tests;
