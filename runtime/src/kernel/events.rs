//! The kernel logger's events: what each one says, in whose context and when. `records`
//! writes each as the classic kernel record Windows writes for it.

use std::net::IpAddr;

/// One kernel event, with when, where and in whose context it happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Occurrence {
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub(crate) time: u64,
    pub(crate) cpu: u32,
    /// The process and thread the event is about (the header's ProcessId and ThreadId).
    pub(crate) pid: u32,
    pub(crate) tid: u32,
    pub(crate) event: KernelEvent,
}

/// How a TCP event came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpKind {
    /// An active open completed (SYN_SENT -> ESTABLISHED).
    Connect,
    /// A passive open completed (SYN_RECV -> ESTABLISHED).
    Accept,
    /// An established connection closed.
    Disconnect,
    /// A segment was sent again.
    Retransmit,
    /// Any state change (the raw transition).
    StateChange,
}

/// What the kernel said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KernelEvent {
    /// A new process (fork), or one running when the session started (`rundown`).
    ProcessStart {
        pid: u32,
        parent: u32,
        image: String,
        command_line: String,
        rundown: bool,
    },
    /// A process replaced its image (exec).
    ProcessExec {
        pid: u32,
        image: String,
        command_line: String,
    },
    /// A process ended: its exit code, or the signal that ended it.
    ProcessEnd {
        pid: u32,
        parent: u32,
        exit_code: i32,
        signal: u32,
    },
    /// A new thread, or one running when the session started (`rundown`).
    ThreadStart { pid: u32, tid: u32, rundown: bool },
    /// A thread ended.
    ThreadEnd { pid: u32, tid: u32 },
    /// An executable mapping of a file (an image or a library's code), or one present when the
    /// session started (`rundown`).
    ImageLoad {
        pid: u32,
        base: u64,
        size: u64,
        file_offset: u64,
        file_name: String,
        rundown: bool,
    },
    /// A TCP event.
    Tcp {
        kind: TcpKind,
        pid: u32,
        saddr: IpAddr,
        daddr: IpAddr,
        sport: u16,
        dport: u16,
        old_state: u8,
        new_state: u8,
    },
    /// A disk request was issued to the device (`init`), or completed.
    DiskIo {
        init: bool,
        /// 'R', 'W', 'F' (flush) or 'D' (discard), from the request's rwbs.
        op: u8,
        /// The kernel's dev_t of the disk (major << 20 | minor).
        disk: u32,
        byte_offset: u64,
        size: u32,
        issuing_pid: u32,
        issuing_tid: u32,
        /// Completions only: from issue to completion.
        response_ns: u64,
        /// Completions only: the kernel's status (0, or a negative errno).
        error: i32,
    },
    /// A context switch on `cpu`.
    CSwitch {
        old_tid: u32,
        new_tid: u32,
        old_priority: i32,
        new_priority: i32,
        old_state: u64,
    },
    /// A page fault (`hard`: it needed I/O).
    PageFault { hard: bool, address: u64, ip: u64 },
    /// A system call began.
    SysCallEnter { number: i64 },
    /// A system call returned.
    SysCallExit { number: i64, result: i64 },
    /// A profile sample.
    Sample { ip: u64 },
}
