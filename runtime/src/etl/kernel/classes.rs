//! Windows' kernel MOF classes as tables: which event types a class covers, in which versions,
//! and its fields in order (from the classes' documentation and `wmicore.mof`).

use crate::Guid;

/// How one field is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    /// A u32 shown in hex (flags, masks, status codes).
    X32,
    U64,
    I64,
    /// A pointer (`Pointer` qualifier): 4 or 8 bytes as the record says, shown in hex.
    Ptr,
    /// A pointer-sized count (sizes that Windows stores as `ULONG_PTR`).
    PtrCount,
    /// A FILETIME-like 64-bit time.
    FileTime,
    /// A GUID.
    Guid,
    /// `IPAddrV4`: 4 bytes in network order.
    Ipv4,
    /// `IPAddrV6`: 16 bytes in network order.
    Ipv6,
    /// `Port`: a u16 in network order.
    Port,
    /// A `TOKEN_USER` (two pointers) followed by the SID it points to; a null SID is 4 bytes.
    Sid,
    /// A NUL-terminated 8-bit string.
    Ansi,
    /// A NUL-terminated UTF-16LE string.
    Utf16,
    /// `TIME_ZONE_INFORMATION`, 172 bytes, read as its bias and names.
    TimeZone,
    /// Padding to the next multiple of 8 bytes from the payload's start.
    Align8,
    /// What follows is evtrace's own, appended after Windows' fields to keep what Linux says
    /// and the class cannot hold: read when there, and a payload that ends here, or holds
    /// something else after Windows' fields, is still whole.
    Extension,
}

/// One field: its name and type.
pub(crate) type Field = (&'static str, Ty);

/// One layout of a class: the event types it covers, the versions it is written in, its fields.
pub(crate) struct Layout {
    pub(crate) group: u8,
    pub(crate) types: &'static [u8],
    pub(crate) versions: &'static [u16],
    pub(crate) fields: &'static [Field],
}

/// `EVENT_TRACE_GROUP_*` values (the HookId's high byte).
pub(crate) mod group {
    pub(crate) const HEADER: u8 = 0x00;
    pub(crate) const IO: u8 = 0x01;
    pub(crate) const MEMORY: u8 = 0x02;
    pub(crate) const PROCESS: u8 = 0x03;
    pub(crate) const THREAD: u8 = 0x05;
    pub(crate) const TCPIP: u8 = 0x06;
    pub(crate) const PERFINFO: u8 = 0x0F;
    pub(crate) const IMAGE: u8 = 0x14;
}

use group::*;

/// The group names Windows' tools give the kernel classes, by `EVENT_TRACE_GROUP_*`.
pub(crate) const GROUP_NAMES: [&str; 31] = [
    "EventTrace",
    "DiskIo",
    "PageFault",
    "Process",
    "FileIo",
    "Thread",
    "TcpIp",
    "Job",
    "UdpIp",
    "Registry",
    "DbgPrint",
    "Config",
    "Spare1",
    "Wnf",
    "Pool",
    "PerfInfo",
    "Heap",
    "Object",
    "Power",
    "ModBound",
    "Image",
    "Dpc",
    "CcTrace",
    "CritSec",
    "StackWalk",
    "Ums",
    "ALPC",
    "SplitIo",
    "ThreadPool",
    "Hypervisor",
    "HypervisorX",
];

/// Event type names (`EventTypeName` of the MOF classes), by group and type.
pub(crate) const TYPE_NAMES: &[(u8, u8, &str)] = &[
    (HEADER, 0, "Header"),
    (HEADER, 5, "Extension"),
    (HEADER, 8, "RundownComplete"),
    (HEADER, 32, "EndExtension"),
    (HEADER, 80, "PartitionInfoExtension"),
    (PROCESS, 1, "Start"),
    (PROCESS, 2, "End"),
    (PROCESS, 3, "DCStart"),
    (PROCESS, 4, "DCEnd"),
    (PROCESS, 39, "Defunct"),
    // evtrace's own: Linux's exec, which Windows does not have.
    (PROCESS, 64, "Exec"),
    (THREAD, 1, "Start"),
    (THREAD, 2, "End"),
    (THREAD, 3, "DCStart"),
    (THREAD, 4, "DCEnd"),
    (THREAD, 36, "CSwitch"),
    (IMAGE, 10, "Load"),
    (IMAGE, 2, "Unload"),
    (IMAGE, 3, "DCStart"),
    (IMAGE, 4, "DCEnd"),
    (IO, 10, "Read"),
    (IO, 11, "Write"),
    (IO, 12, "ReadInit"),
    (IO, 13, "WriteInit"),
    (IO, 14, "FlushBuffers"),
    (IO, 15, "FlushInit"),
    (IO, 55, "OpticalRead"),
    (IO, 56, "OpticalWrite"),
    (IO, 57, "OpticalFlushBuffers"),
    (IO, 58, "OpticalReadInit"),
    (IO, 59, "OpticalWriteInit"),
    (IO, 60, "OpticalFlushInit"),
    (TCPIP, 10, "SendIPV4"),
    (TCPIP, 11, "RecvIPV4"),
    (TCPIP, 12, "ConnectIPV4"),
    (TCPIP, 13, "DisconnectIPV4"),
    (TCPIP, 14, "RetransmitIPV4"),
    (TCPIP, 15, "AcceptIPV4"),
    (TCPIP, 16, "ReconnectIPV4"),
    (TCPIP, 17, "Fail"),
    (TCPIP, 18, "TCPCopyIPV4"),
    (TCPIP, 26, "SendIPV6"),
    (TCPIP, 27, "RecvIPV6"),
    (TCPIP, 28, "ConnectIPV6"),
    (TCPIP, 29, "DisconnectIPV6"),
    (TCPIP, 30, "RetransmitIPV6"),
    (TCPIP, 31, "AcceptIPV6"),
    (TCPIP, 32, "ReconnectIPV6"),
    (TCPIP, 34, "TCPCopyIPV6"),
    // evtrace's own: a TCP state change, the state numbers Linux's.
    (TCPIP, 64, "StateChange"),
    (TCPIP, 80, "StateChangeIPV6"),
    (MEMORY, 10, "TransitionFault"),
    (MEMORY, 11, "DemandZeroFault"),
    (MEMORY, 12, "CopyOnWrite"),
    (MEMORY, 13, "GuardPageFault"),
    (MEMORY, 14, "HardPageFault"),
    (MEMORY, 15, "AccessViolation"),
    (MEMORY, 32, "HardFault"),
    (PERFINFO, 46, "SampleProfile"),
    (PERFINFO, 51, "SysClEnter"),
    (PERFINFO, 52, "SysClExit"),
];

/// The class GUIDs of the kernel groups, for relogged files that store kernel events with a
/// classic (GUID) header.
pub(crate) const GROUP_GUIDS: &[(Guid, u8)] = &[
    (
        guid(0x68fdd900, 0x4a3e, 0x11d1, 0x84f4_0000f80464e3),
        HEADER,
    ),
    (guid(0x3d6fa8d4, 0xfe05, 0x11d0, 0x9dda_00c04fd7ba7c), IO),
    (
        guid(0x3d6fa8d3, 0xfe05, 0x11d0, 0x9dda_00c04fd7ba7c),
        MEMORY,
    ),
    (
        guid(0x3d6fa8d0, 0xfe05, 0x11d0, 0x9dda_00c04fd7ba7c),
        PROCESS,
    ),
    (
        guid(0x3d6fa8d1, 0xfe05, 0x11d0, 0x9dda_00c04fd7ba7c),
        THREAD,
    ),
    (guid(0x9a280ac0, 0xc8e0, 0x11d1, 0x84e2_00c04fb998a2), TCPIP),
    (
        guid(0xce1dbfb4, 0x137e, 0x4da6, 0x87b0_3f59aa102cbc),
        PERFINFO,
    ),
    (guid(0x2cb15d1d, 0x5fc1, 0x11d2, 0xabe1_00a0c911f518), IMAGE),
];

const fn guid(d1: u32, d2: u16, d3: u16, d4: u64) -> Guid {
    Guid::from_fields(d1, d2, d3, d4.to_be_bytes())
}
