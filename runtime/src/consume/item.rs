//! What a [`LogReader`](super::LogReader) delivers: events, messages, kernel and classic
//! (MOF) events, and losses.

use crate::etl::read::RecordKind;
use crate::etl::{filetime_to_rfc3339, unix_nanos_to_rfc3339, EventDescriptor, LossKind, Value};
use crate::Guid;

/// One event (`EVENT_HEADER` record).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Index of the file it came from (in the order given to the reader).
    pub file: usize,
    /// Provider GUID.
    pub provider_id: Guid,
    /// Provider name, from the TraceLogging provider traits.
    pub provider_name: Option<String>,
    /// Event name, from the TraceLogging schema.
    pub name: Option<String>,
    /// Id, version, channel, level, opcode, task, keyword.
    pub descriptor: EventDescriptor,
    /// `EVENT_HEADER.Flags`.
    pub flags: u16,
    /// `EVENT_HEADER.EventProperty`.
    pub event_property: u16,
    /// Process id.
    pub process_id: u32,
    /// Thread id.
    pub thread_id: u32,
    /// Processor (the buffer's processor index).
    pub cpu: u16,
    /// Raw timestamp.
    pub timestamp: i64,
    /// Wall-clock time, nanoseconds since the Unix epoch (UTC), when the header allows it.
    pub time: Option<i64>,
    /// Activity id (zero when none).
    pub activity_id: Guid,
    /// Related activity id, when recorded.
    pub related_activity_id: Option<Guid>,
    /// The header's CPU-time union (`KernelTime`/`UserTime` or `ProcessorTime`), read as its
    /// flags say.
    pub cpu_time: CpuTime,
    /// Decoded fields for TraceLogging events; `None` for manifest-based events.
    pub fields: Option<Vec<(String, Value)>>,
    /// Why the fields could not be decoded in full, if so.
    pub decode_error: Option<String>,
    /// The raw payload (user data).
    pub payload: Vec<u8>,
}

/// `EVENT_HEADER`'s CPU-time union: which member holds depends on the record's flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuTime {
    /// The writing thread's kernel and user time, in clock ticks (`KernelTime`, `UserTime`):
    /// a system session's events on Windows.
    KernelUser {
        /// `KernelTime`.
        kernel: u32,
        /// `UserTime`.
        user: u32,
    },
    /// `ProcessorTime`: the record is flagged `EVENT_HEADER_FLAG_PRIVATE_SESSION` or
    /// `EVENT_HEADER_FLAG_NO_CPUTIME` (0 when no CPU time was kept, as evtrace writes).
    Processor(u64),
}

impl CpuTime {
    /// Reads the union's 8 bytes (`raw`, little-endian as one u64) as `flags` say.
    pub fn from_header(flags: u16, raw: u64) -> CpuTime {
        use crate::etl::event_flags::{NO_CPUTIME, PRIVATE_SESSION};
        if flags & (PRIVATE_SESSION | NO_CPUTIME) != 0 {
            CpuTime::Processor(raw)
        } else {
            CpuTime::KernelUser {
                kernel: raw as u32,
                user: (raw >> 32) as u32,
            }
        }
    }

    /// `KernelTime`, when the record holds the kernel/user split.
    pub fn kernel_time(&self) -> Option<u32> {
        match *self {
            CpuTime::KernelUser { kernel, .. } => Some(kernel),
            CpuTime::Processor(_) => None,
        }
    }

    /// `UserTime`, when the record holds the kernel/user split.
    pub fn user_time(&self) -> Option<u32> {
        match *self {
            CpuTime::KernelUser { user, .. } => Some(user),
            CpuTime::Processor(_) => None,
        }
    }

    /// `ProcessorTime`, when the record holds it.
    pub fn processor_time(&self) -> Option<u64> {
        match *self {
            CpuTime::Processor(t) => Some(t),
            CpuTime::KernelUser { .. } => None,
        }
    }
}

/// One TraceMessage (WPP) record. Its text needs the TMF of `guid`; [`text`](Self::text) is
/// filled by the formatter given to
/// [`ReaderOptions::message_formatter`](super::ReaderOptions::message_formatter), if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// File index.
    pub file: usize,
    /// Processor (the buffer's processor index).
    pub cpu: u16,
    /// Option flags (`TRACE_MESSAGE_*`).
    pub flags: u16,
    /// Message number.
    pub message_number: u16,
    /// Sequence number, when recorded.
    pub sequence: Option<u32>,
    /// Message GUID, when recorded.
    pub guid: Option<Guid>,
    /// Component id, when recorded.
    pub component_id: Option<u32>,
    /// Raw timestamp: the record's own when recorded, else the previous record's in the buffer
    /// (or the buffer's flush time).
    pub timestamp: i64,
    /// Whether `timestamp` was recorded in the message.
    pub timestamp_recorded: bool,
    /// Wall-clock time (ns since the Unix epoch), when the header allows it.
    pub time: Option<i64>,
    /// Thread id, when recorded.
    pub thread_id: Option<u32>,
    /// Process id, when recorded.
    pub process_id: Option<u32>,
    /// The argument bytes.
    pub args: Vec<u8>,
    /// Formatted text, from the message formatter hook.
    pub text: Option<String>,
}

/// An event with a kernel header (system, compact or perfinfo: the NT Kernel Logger's) or a
/// classic one (`EVENT_TRACE_HEADER`, `EVENT_INSTANCE_HEADER`: MOF providers). Windows'
/// documented kernel classes are decoded by their field layouts ([`crate::etl::kernel`]):
/// [`name`](Self::name) and [`fields`](Self::fields); other classes, and versions without a
/// known layout, keep only the header's fields and the payload as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassicEvent {
    /// File index.
    pub file: usize,
    /// Processor (the buffer's processor index).
    pub cpu: u16,
    /// Which header the record has.
    pub kind: RecordKind,
    /// Kernel records: the HookId (event group in the high byte, event type in the low byte).
    pub hook_id: Option<u16>,
    /// Classic records: the event class GUID.
    pub guid: Option<Guid>,
    /// The event type (opcode): the HookId's low byte, or the classic header's class type.
    pub event_type: u8,
    /// Classic records: the class level (0 for kernel records).
    pub level: u8,
    /// The header's version.
    pub version: u16,
    /// Process id (not in perfinfo records).
    pub process_id: Option<u32>,
    /// Thread id (not in perfinfo records).
    pub thread_id: Option<u32>,
    /// Instance records: (InstanceId, ParentInstanceId, ParentGuid).
    pub instance: Option<(u32, u32, Guid)>,
    /// Raw timestamp.
    pub timestamp: i64,
    /// Wall-clock time (ns since the Unix epoch), when the header allows it.
    pub time: Option<i64>,
    /// The writer's pointer size (4 or 8), from the header type.
    pub pointer_size: u8,
    /// The event's name for a kernel class, `Group/Type` (`Process/Start`).
    pub name: Option<String>,
    /// Decoded fields, when the class, type and version have a known layout.
    pub fields: Option<Vec<(String, Value)>>,
    /// Why the payload did not fit its layout, if so (`fields` then holds what came before).
    pub decode_error: Option<String>,
    /// The MOF payload.
    pub payload: Vec<u8>,
}

impl ClassicEvent {
    /// The kernel group (`EVENT_TRACE_GROUP_*` high byte): the HookId's, or the group whose
    /// class GUID a classic header carries.
    pub fn kernel_group(&self) -> Option<u8> {
        match (self.hook_id, self.guid) {
            (Some(hook), _) => Some((hook >> 8) as u8),
            (None, Some(g)) => crate::etl::kernel::group_of_guid(&g),
            (None, None) => None,
        }
    }

    /// What the event is from: `kernel/Process` for a kernel record (by its HookId's group),
    /// the class GUID in braces for a classic one.
    pub fn source(&self) -> String {
        match (self.hook_id, self.guid) {
            (_, Some(g)) => format!("{{{g}}}"),
            (Some(hook), None) => match kernel_group_name((hook >> 8) as u8) {
                Some(name) => format!("kernel/{name}"),
                None => format!("kernel/group {:#04x}", hook >> 8),
            },
            (None, None) => "classic".into(),
        }
    }

    /// A decoded field by name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        field_named(&self.fields, name)
    }

    /// Names and decodes the payload of a kernel class (see [`crate::etl::kernel`]).
    pub(crate) fn decode_kernel_class(&mut self) {
        let Some(group) = self.kernel_group() else {
            return;
        };
        self.name = crate::etl::kernel::event_name(group, self.event_type);
        match crate::etl::kernel::decode(
            group,
            self.event_type,
            self.version,
            self.pointer_size,
            &self.payload,
        ) {
            None => {}
            Some(Ok(fields)) => self.fields = Some(fields),
            Some(Err(e)) => {
                self.fields = Some(e.fields);
                self.decode_error = Some(e.what);
            }
        }
    }
}

/// The kernel event groups (`EVENT_TRACE_GROUP_*`, the high byte of a HookId), by the names
/// Windows' tools give their event classes.
pub fn kernel_group_name(group: u8) -> Option<&'static str> {
    crate::etl::kernel::group_name(group)
}

/// Where a loss report came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LossSource {
    /// A loss record (RTLostEvent/RTLostBuffer/RTLostFile) in the buffer.
    Record,
    /// The buffer's flags (0x2 events lost, 0x4 buffer lost), with no count.
    BufferFlag,
}

/// Data lost before this point, delivered in band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loss {
    /// File index.
    pub file: usize,
    /// Processor.
    pub cpu: u16,
    /// What was lost.
    pub kind: LossKind,
    /// How many, when recorded.
    pub count: Option<u64>,
    /// Raw timestamp.
    pub timestamp: i64,
    /// Wall-clock time (ns since the Unix epoch).
    pub time: Option<i64>,
    /// Where the report came from.
    pub source: LossSource,
}

/// One delivered item.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// An event.
    Event(Event),
    /// A TraceMessage.
    Message(Message),
    /// A kernel or classic (MOF) event.
    Classic(ClassicEvent),
    /// A loss report.
    Loss(Loss),
}

impl Item {
    /// File index.
    pub fn file(&self) -> usize {
        match self {
            Item::Event(e) => e.file,
            Item::Message(m) => m.file,
            Item::Classic(c) => c.file,
            Item::Loss(l) => l.file,
        }
    }

    /// Processor.
    pub fn cpu(&self) -> u16 {
        match self {
            Item::Event(e) => e.cpu,
            Item::Message(m) => m.cpu,
            Item::Classic(c) => c.cpu,
            Item::Loss(l) => l.cpu,
        }
    }

    /// Raw timestamp.
    pub fn timestamp(&self) -> i64 {
        match self {
            Item::Event(e) => e.timestamp,
            Item::Message(m) => m.timestamp,
            Item::Classic(c) => c.timestamp,
            Item::Loss(l) => l.timestamp,
        }
    }

    /// Wall-clock time in ns since the Unix epoch, when known.
    pub fn time(&self) -> Option<i64> {
        match self {
            Item::Event(e) => e.time,
            Item::Message(m) => m.time,
            Item::Classic(c) => c.time,
            Item::Loss(l) => l.time,
        }
    }

    /// The wall-clock time as RFC 3339 UTC with nanoseconds, or the raw timestamp when the
    /// file gives no conversion.
    pub fn time_text(&self) -> String {
        time_text(self.time(), self.timestamp())
    }
}

pub(crate) fn time_text(time: Option<i64>, raw: i64) -> String {
    match time {
        Some(ns) => unix_nanos_to_rfc3339(ns),
        None => format!("raw:{raw}"),
    }
}

impl Event {
    /// The wall-clock time as RFC 3339 text (see [`Item::time_text`]).
    pub fn time_text(&self) -> String {
        time_text(self.time, self.timestamp)
    }

    /// A field by name (TraceLogging events).
    pub fn field(&self, name: &str) -> Option<&Value> {
        field_named(&self.fields, name)
    }
}

/// A FILETIME as RFC 3339 (re-exported for presenting header times).
pub fn filetime_text(ft: i64) -> String {
    filetime_to_rfc3339(ft)
}

/// A field of `fields` by name.
fn field_named<'a>(fields: &'a Option<Vec<(String, Value)>>, name: &str) -> Option<&'a Value> {
    fields
        .as_ref()?
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}
