//! The processor's work: context switches, system calls, page faults (stateless: each record is
//! one event of the thread it ran in).

use super::super::events::KernelEvent;
use super::Decoder;

impl Decoder {
    /// `sched_switch`.
    pub(super) fn switch(&self, raw: &[u8]) -> Option<KernelEvent> {
        let f = self.fields.switch?;
        Some(KernelEvent::CSwitch {
            old_tid: f.prev_pid.u64(raw) as u32,
            new_tid: f.next_pid.u64(raw) as u32,
            old_priority: f.prev_prio.i64(raw) as i32,
            new_priority: f.next_prio.i64(raw) as i32,
            old_state: f.prev_state.u64(raw),
        })
    }

    /// `sys_enter`.
    pub(super) fn syscall_enter(&self, raw: &[u8]) -> Option<KernelEvent> {
        let (id, _, _) = self.fields.sys?;
        Some(KernelEvent::SysCallEnter {
            number: id.i64(raw),
        })
    }

    /// `sys_exit`.
    pub(super) fn syscall_exit(&self, raw: &[u8]) -> Option<KernelEvent> {
        let (_, id, ret) = self.fields.sys?;
        Some(KernelEvent::SysCallExit {
            number: id.i64(raw),
            result: ret.i64(raw),
        })
    }
}

/// A page fault at `address` by the instruction at `ip`; `hard` when it read from disk.
pub(super) fn fault(hard: bool, address: u64, ip: u64) -> KernelEvent {
    KernelEvent::PageFault { hard, address, ip }
}
