//! The field layouts of the kernel classes, by group, event types and version.

use super::classes::group::*;
use super::classes::{Field, Layout, Ty, Ty::*};

// Process: V2 (XP/2003), V3 (Vista..7: DirectoryTableBase), V4 (8+: Flags and the package
// strings); Defunct is V5 in Windows 10 (V4 and the exit time).
const PROCESS_V2: &[Field] = &[
    ("UniqueProcessKey", Ptr),
    ("ProcessId", U32),
    ("ParentId", U32),
    ("SessionId", U32),
    ("ExitStatus", I32),
    ("UserSID", Sid),
    ("ImageFileName", Ansi),
    ("CommandLine", Utf16),
];
const PROCESS_V3: &[Field] = &[
    ("UniqueProcessKey", Ptr),
    ("ProcessId", U32),
    ("ParentId", U32),
    ("SessionId", U32),
    ("ExitStatus", I32),
    ("DirectoryTableBase", Ptr),
    ("UserSID", Sid),
    ("ImageFileName", Ansi),
    ("CommandLine", Utf16),
];
const PROCESS_V4: &[Field] = &[
    ("UniqueProcessKey", Ptr),
    ("ProcessId", U32),
    ("ParentId", U32),
    ("SessionId", U32),
    ("ExitStatus", I32),
    ("DirectoryTableBase", Ptr),
    ("Flags", X32),
    ("UserSID", Sid),
    ("ImageFileName", Ansi),
    ("CommandLine", Utf16),
    ("PackageFullName", Utf16),
    ("ApplicationId", Utf16),
    ("", Extension),
    ("TerminationSignal", U32),
];
const PROCESS_DEFUNCT_V5: &[Field] = &[
    ("UniqueProcessKey", Ptr),
    ("ProcessId", U32),
    ("ParentId", U32),
    ("SessionId", U32),
    ("ExitStatus", I32),
    ("DirectoryTableBase", Ptr),
    ("Flags", X32),
    ("UserSID", Sid),
    ("ImageFileName", Ansi),
    ("CommandLine", Utf16),
    ("PackageFullName", Utf16),
    ("ApplicationId", Utf16),
    ("ExitTime", FileTime),
];

const THREAD_V2: &[Field] = &[
    ("ProcessId", U32),
    ("TThreadId", U32),
    ("StackBase", Ptr),
    ("StackLimit", Ptr),
    ("UserStackBase", Ptr),
    ("UserStackLimit", Ptr),
    ("StartAddr", Ptr),
    ("Win32StartAddr", Ptr),
    ("TebBase", Ptr),
    ("SubProcessTag", X32),
];
const THREAD_V3: &[Field] = &[
    ("ProcessId", U32),
    ("TThreadId", U32),
    ("StackBase", Ptr),
    ("StackLimit", Ptr),
    ("UserStackBase", Ptr),
    ("UserStackLimit", Ptr),
    ("Affinity", Ptr),
    ("Win32StartAddr", Ptr),
    ("TebBase", Ptr),
    ("SubProcessTag", X32),
    ("BasePriority", U8),
    ("PagePriority", U8),
    ("IoPriority", U8),
    ("ThreadFlags", U8),
];
const CSWITCH: &[Field] = &[
    ("NewThreadId", U32),
    ("OldThreadId", U32),
    ("NewThreadPriority", I8),
    ("OldThreadPriority", I8),
    ("PreviousCState", U8),
    ("SpareByte", I8),
    ("OldThreadWaitReason", I8),
    ("OldThreadWaitMode", I8),
    ("OldThreadState", I8),
    ("OldThreadWaitIdealProcessor", I8),
    ("NewThreadWaitTime", U32),
    ("Reserved", U32),
];

const IMAGE_V2: &[Field] = &[
    ("ImageBase", Ptr),
    ("ImageSize", PtrCount),
    ("ProcessId", U32),
    ("ImageCheckSum", X32),
    ("TimeDateStamp", X32),
    ("Reserved0", U32),
    ("DefaultBase", Ptr),
    ("Reserved1", U32),
    ("Reserved2", U32),
    ("Reserved3", U32),
    ("Reserved4", U32),
    ("FileName", Utf16),
];
const IMAGE_V3: &[Field] = &[
    ("ImageBase", Ptr),
    ("ImageSize", PtrCount),
    ("ProcessId", U32),
    ("ImageCheckSum", X32),
    ("TimeDateStamp", X32),
    ("SignatureLevel", U8),
    ("SignatureType", U8),
    ("Reserved0", U16),
    ("DefaultBase", Ptr),
    ("Reserved1", U32),
    ("Reserved2", U32),
    ("Reserved3", U32),
    ("Reserved4", U32),
    ("FileName", Utf16),
    ("", Extension),
    ("FileOffset", U64),
];

const DISK_IO_1_V2: &[Field] = &[
    ("DiskNumber", U32),
    ("IrpFlags", X32),
    ("TransferSize", U32),
    ("Reserved", U32),
    ("ByteOffset", U64),
    ("FileObject", Ptr),
    ("Irp", Ptr),
    ("HighResResponseTime", U64),
];
const DISK_IO_1_V3: &[Field] = &[
    ("DiskNumber", U32),
    ("IrpFlags", X32),
    ("TransferSize", U32),
    ("Reserved", U32),
    ("ByteOffset", U64),
    ("FileObject", Ptr),
    ("Irp", Ptr),
    ("HighResResponseTime", U64),
    ("IssuingThreadId", U32),
    ("", Extension),
    ("Error", I32),
];
const DISK_IO_2_V2: &[Field] = &[("Irp", Ptr)];
const DISK_IO_2_V3: &[Field] = &[
    ("Irp", Ptr),
    ("IssuingThreadId", U32),
    ("", Extension),
    ("DiskNumber", U32),
    ("TransferSize", U32),
    ("ByteOffset", U64),
];
const DISK_IO_3_V2: &[Field] = &[
    ("DiskNumber", U32),
    ("IrpFlags", X32),
    ("HighResResponseTime", U64),
    ("Irp", Ptr),
];
const DISK_IO_3_V3: &[Field] = &[
    ("DiskNumber", U32),
    ("IrpFlags", X32),
    ("HighResResponseTime", U64),
    ("Irp", Ptr),
    ("IssuingThreadId", U32),
    ("", Extension),
    ("Error", I32),
];

const TCP_SEND_V4: &[Field] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv4),
    ("saddr", Ipv4),
    ("dport", Port),
    ("sport", Port),
    ("startime", U32),
    ("endtime", U32),
    ("seqnum", U32),
    ("connid", Ptr),
];
const TCP_GROUP1: &[Field] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv4),
    ("saddr", Ipv4),
    ("dport", Port),
    ("sport", Port),
    ("seqnum", U32),
    ("connid", Ptr),
    ("", Extension),
    ("OldState", U8),
    ("NewState", U8),
];
const TCP_GROUP2: &[Field] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv4),
    ("saddr", Ipv4),
    ("dport", Port),
    ("sport", Port),
    ("mss", U16),
    ("sackopt", U16),
    ("tsopt", U16),
    ("wsopt", U16),
    ("rcvwin", U32),
    ("rcvwinscale", I16),
    ("sndwinscale", I16),
    ("seqnum", U32),
    ("connid", Ptr),
    ("", Extension),
    ("OldState", U8),
    ("NewState", U8),
];
const TCP_SEND_V6: &[Field] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv6),
    ("saddr", Ipv6),
    ("dport", Port),
    ("sport", Port),
    ("startime", U32),
    ("endtime", U32),
    ("seqnum", U32),
    ("connid", Ptr),
];
const TCP_GROUP3: &[Field] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv6),
    ("saddr", Ipv6),
    ("dport", Port),
    ("sport", Port),
    ("seqnum", U32),
    ("connid", Ptr),
    ("", Extension),
    ("OldState", U8),
    ("NewState", U8),
];
const TCP_GROUP4: &[Field] = &[
    ("PID", U32),
    ("size", U32),
    ("daddr", Ipv6),
    ("saddr", Ipv6),
    ("dport", Port),
    ("sport", Port),
    ("mss", U16),
    ("sackopt", U16),
    ("tsopt", U16),
    ("wsopt", U16),
    ("rcvwin", U32),
    ("rcvwinscale", I16),
    ("sndwinscale", I16),
    ("seqnum", U32),
    ("connid", Ptr),
    ("", Extension),
    ("OldState", U8),
    ("NewState", U8),
];
const TCP_FAIL: &[Field] = &[("Proto", U16), ("FailureCode", U16)];

const PAGE_FAULT_1: &[Field] = &[("VirtualAddress", Ptr), ("ProgramCounter", Ptr)];
const HARD_FAULT: &[Field] = &[
    ("InitialTime", I64),
    ("ReadOffset", U64),
    ("VirtualAddress", Ptr),
    ("FileObject", Ptr),
    ("TThreadId", U32),
    ("ByteCount", U32),
    ("", Extension),
    ("ProgramCounter", Ptr),
];

const SAMPLED_PROFILE: &[Field] = &[
    ("InstructionPointer", Ptr),
    ("ThreadId", U32),
    ("Count", U32),
];
const SYSCALL_ENTER: &[Field] = &[
    ("SysCallAddress", Ptr),
    ("", Extension),
    ("SysCallNumber", I64),
];
const SYSCALL_EXIT: &[Field] = &[
    ("SysCallNtStatus", X32),
    ("", Extension),
    ("SysCallNumber", I64),
    ("SysCallResult", I64),
];

// TRACE_LOGFILE_HEADER as the header event's MOF data: the two name pointers are
// pointer-sized, and BootTime is 8-byte aligned after the time zone.
const HEADER_EVENT: &[Field] = &[
    ("BufferSize", U32),
    ("Version", X32),
    ("ProviderVersion", U32),
    ("NumberOfProcessors", U32),
    ("EndTime", FileTime),
    ("TimerResolution", U32),
    ("MaximumFileSize", U32),
    ("LogFileMode", X32),
    ("BuffersWritten", U32),
    ("StartBuffers", U32),
    ("PointerSize", U32),
    ("EventsLost", U32),
    ("CPUSpeed", U32),
    ("LoggerName", Ptr),
    ("LogFileName", Ptr),
    ("TimeZoneInformation", TimeZone),
    ("", Align8),
    ("BootTime", FileTime),
    ("PerfFreq", U64),
    ("StartTime", FileTime),
    ("ReservedFlags", U32),
    ("BuffersLost", U32),
    ("SessionNameString", Utf16),
    ("LogFileNameString", Utf16),
];
const HEADER_EXTENSION: &[Field] = &[
    ("GroupMask1", X32),
    ("GroupMask2", X32),
    ("GroupMask3", X32),
    ("GroupMask4", X32),
    ("GroupMask5", X32),
    ("GroupMask6", X32),
    ("GroupMask7", X32),
    ("GroupMask8", X32),
    ("KernelEventVersion", U32),
];
const RUNDOWN_COMPLETE: &[Field] = &[];
// ETW_TRACE_PARTITION_INFORMATION.
const PARTITION_INFO: &[Field] = &[
    ("PartitionId", Ty::Guid),
    ("ParentId", Ty::Guid),
    ("QpcOffsetFromRoot", I64),
    ("PartitionType", U32),
];

/// Every layout known.
pub(crate) const LAYOUTS: &[Layout] = &[
    Layout {
        group: HEADER,
        types: &[0],
        versions: &[1, 2],
        fields: HEADER_EVENT,
    },
    Layout {
        group: HEADER,
        types: &[5, 32],
        versions: &[2],
        fields: HEADER_EXTENSION,
    },
    Layout {
        group: HEADER,
        types: &[8],
        versions: &[2],
        fields: RUNDOWN_COMPLETE,
    },
    Layout {
        group: HEADER,
        types: &[80],
        versions: &[2],
        fields: PARTITION_INFO,
    },
    Layout {
        group: PROCESS,
        types: &[1, 2, 3, 4, 39],
        versions: &[2],
        fields: PROCESS_V2,
    },
    Layout {
        group: PROCESS,
        types: &[1, 2, 3, 4, 39],
        versions: &[3],
        fields: PROCESS_V3,
    },
    Layout {
        group: PROCESS,
        types: &[1, 2, 3, 4, 39, 64],
        versions: &[4],
        fields: PROCESS_V4,
    },
    Layout {
        group: PROCESS,
        types: &[39],
        versions: &[5],
        fields: PROCESS_DEFUNCT_V5,
    },
    Layout {
        group: THREAD,
        types: &[1, 2, 3, 4],
        versions: &[2],
        fields: THREAD_V2,
    },
    Layout {
        group: THREAD,
        types: &[1, 2, 3, 4],
        versions: &[3],
        fields: THREAD_V3,
    },
    Layout {
        group: THREAD,
        types: &[36],
        versions: &[2, 3, 4],
        fields: CSWITCH,
    },
    Layout {
        group: IMAGE,
        types: &[10, 2, 3, 4],
        versions: &[2],
        fields: IMAGE_V2,
    },
    Layout {
        group: IMAGE,
        types: &[10, 2, 3, 4],
        versions: &[3],
        fields: IMAGE_V3,
    },
    Layout {
        group: IO,
        types: &[10, 11, 55, 56],
        versions: &[2],
        fields: DISK_IO_1_V2,
    },
    Layout {
        group: IO,
        types: &[10, 11, 55, 56],
        versions: &[3],
        fields: DISK_IO_1_V3,
    },
    Layout {
        group: IO,
        types: &[12, 13, 15, 58, 59, 60],
        versions: &[2],
        fields: DISK_IO_2_V2,
    },
    Layout {
        group: IO,
        types: &[12, 13, 15, 58, 59, 60],
        versions: &[3],
        fields: DISK_IO_2_V3,
    },
    Layout {
        group: IO,
        types: &[14, 57],
        versions: &[2],
        fields: DISK_IO_3_V2,
    },
    Layout {
        group: IO,
        types: &[14, 57],
        versions: &[3],
        fields: DISK_IO_3_V3,
    },
    Layout {
        group: TCPIP,
        types: &[10],
        versions: &[2],
        fields: TCP_SEND_V4,
    },
    Layout {
        group: TCPIP,
        types: &[11, 13, 14, 16, 18, 64],
        versions: &[2],
        fields: TCP_GROUP1,
    },
    Layout {
        group: TCPIP,
        types: &[12, 15],
        versions: &[2],
        fields: TCP_GROUP2,
    },
    Layout {
        group: TCPIP,
        types: &[17],
        versions: &[2],
        fields: TCP_FAIL,
    },
    Layout {
        group: TCPIP,
        types: &[26],
        versions: &[2],
        fields: TCP_SEND_V6,
    },
    Layout {
        group: TCPIP,
        types: &[27, 29, 30, 32, 34, 80],
        versions: &[2],
        fields: TCP_GROUP3,
    },
    Layout {
        group: TCPIP,
        types: &[28, 31],
        versions: &[2],
        fields: TCP_GROUP4,
    },
    Layout {
        group: MEMORY,
        types: &[10, 11, 12, 13, 14, 15],
        versions: &[2],
        fields: PAGE_FAULT_1,
    },
    Layout {
        group: MEMORY,
        types: &[32],
        versions: &[2],
        fields: HARD_FAULT,
    },
    Layout {
        group: PERFINFO,
        types: &[46],
        versions: &[2],
        fields: SAMPLED_PROFILE,
    },
    Layout {
        group: PERFINFO,
        types: &[51],
        versions: &[2],
        fields: SYSCALL_ENTER,
    },
    Layout {
        group: PERFINFO,
        types: &[52],
        versions: &[2],
        fields: SYSCALL_EXIT,
    },
];
