//! Session properties (EVENT_TRACE_PROPERTIES) and the rules that decide which are valid.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bitflags::bitflags;

use crate::clock::ClockType;
use crate::error::{Error, ErrorCode, Result};

bitflags! {
    /// ETW logging modes (`LogFileMode`), with their Windows values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct LogFileMode: u32 {
        /// Write buffers to the file in order; stop when MaximumFileSize is reached.
        const SEQUENTIAL = 0x0000_0001;
        /// A file of MaximumFileSize whose oldest buffers are replaced.
        const CIRCULAR = 0x0000_0002;
        /// Append to an existing sequential file.
        const APPEND = 0x0000_0004;
        /// Switch to a new file (name with `%d`) at MaximumFileSize.
        const NEWFILE = 0x0000_0008;
        /// Reserve MaximumFileSize on disk at start; trim at stop.
        const PREALLOCATE = 0x0000_0020;
        /// The session cannot be stopped (AutoLogger only).
        const NONSTOPPABLE = 0x0000_0040;
        /// Only allowed users may log to the session.
        const SECURE = 0x0000_0080;
        /// Deliver buffers to real-time consumers.
        const REAL_TIME = 0x0000_0100;
        /// Not applicable since Windows Vista; refused.
        const DELAY_OPEN_FILE = 0x0000_0200;
        /// A memory ring of MinimumBuffers, written out only on flush.
        const BUFFERING = 0x0000_0400;
        /// An in-process session.
        const PRIVATE_LOGGER = 0x0000_0800;
        /// Not applicable since Windows Vista; refused.
        const ADD_HEADER = 0x0000_1000;
        /// MaximumFileSize is in KB instead of MB.
        const USE_KBYTES_FOR_SIZE = 0x0000_2000;
        /// TraceMessage sequence numbers unique across sessions.
        const GLOBAL_SEQUENCE = 0x0000_4000;
        /// TraceMessage sequence numbers unique within the session.
        const LOCAL_SEQUENCE = 0x0000_8000;
        /// Internal to Windows; refused.
        const RELOG = 0x0001_0000;
        /// With PRIVATE_LOGGER: only the registering process may start the session.
        const PRIVATE_IN_PROC = 0x0002_0000;
        /// Kernel-debugger output; refused (no kernel debugger here).
        const KD_FILTER = 0x0008_0000;
        /// Heap and critical-section tracing signal; refused.
        const MODE_RESERVED = 0x0010_0000;
        /// Stop logging on hybrid shutdown (accepted, no effect on Linux).
        const STOP_ON_HYBRID_SHUTDOWN = 0x0040_0000;
        /// Keep logging on hybrid shutdown (accepted, no effect on Linux).
        const PERSIST_ON_HYBRID_SHUTDOWN = 0x0080_0000;
        /// Pageable buffers (always so for private sessions).
        const USE_PAGED_MEMORY = 0x0100_0000;
        /// The session receives kernel (SystemTraceProvider) events.
        const SYSTEM_LOGGER = 0x0200_0000;
        /// Compress each buffer with MS-XCA LZ77 in the file.
        const COMPRESSED = 0x0400_0000;
        /// Not affected by write failures in other sessions.
        const INDEPENDENT_SESSION = 0x0800_0000;
        /// One buffer for all processors, events in global order.
        const NO_PER_PROCESSOR_BUFFERING = 0x1000_0000;
        /// Add buffers to triage dumps (accepted, no effect on Linux).
        const ADDTO_TRIAGE_DUMP = 0x8000_0000;
    }
}

/// On the wire a mode is its bits, as ETW's `LogFileMode` is.
impl serde::Serialize for LogFileMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u32(self.bits())
    }
}

impl<'de> serde::Deserialize<'de> for LogFileMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        u32::deserialize(d).map(LogFileMode::from_bits_retain)
    }
}

impl LogFileMode {
    /// The `EVENT_TRACE_...` name of a single flag.
    pub fn flag_name(self) -> &'static str {
        const NAMES: &[(LogFileMode, &str)] = &[
            (LogFileMode::SEQUENTIAL, "EVENT_TRACE_FILE_MODE_SEQUENTIAL"),
            (LogFileMode::CIRCULAR, "EVENT_TRACE_FILE_MODE_CIRCULAR"),
            (LogFileMode::APPEND, "EVENT_TRACE_FILE_MODE_APPEND"),
            (LogFileMode::NEWFILE, "EVENT_TRACE_FILE_MODE_NEWFILE"),
            (
                LogFileMode::PREALLOCATE,
                "EVENT_TRACE_FILE_MODE_PREALLOCATE",
            ),
            (LogFileMode::NONSTOPPABLE, "EVENT_TRACE_NONSTOPPABLE_MODE"),
            (LogFileMode::SECURE, "EVENT_TRACE_SECURE_MODE"),
            (LogFileMode::REAL_TIME, "EVENT_TRACE_REAL_TIME_MODE"),
            (
                LogFileMode::DELAY_OPEN_FILE,
                "EVENT_TRACE_DELAY_OPEN_FILE_MODE",
            ),
            (LogFileMode::BUFFERING, "EVENT_TRACE_BUFFERING_MODE"),
            (
                LogFileMode::PRIVATE_LOGGER,
                "EVENT_TRACE_PRIVATE_LOGGER_MODE",
            ),
            (LogFileMode::ADD_HEADER, "EVENT_TRACE_ADD_HEADER_MODE"),
            (
                LogFileMode::USE_KBYTES_FOR_SIZE,
                "EVENT_TRACE_USE_KBYTES_FOR_SIZE",
            ),
            (
                LogFileMode::GLOBAL_SEQUENCE,
                "EVENT_TRACE_USE_GLOBAL_SEQUENCE",
            ),
            (
                LogFileMode::LOCAL_SEQUENCE,
                "EVENT_TRACE_USE_LOCAL_SEQUENCE",
            ),
            (LogFileMode::RELOG, "EVENT_TRACE_RELOG_MODE"),
            (LogFileMode::PRIVATE_IN_PROC, "EVENT_TRACE_PRIVATE_IN_PROC"),
            (LogFileMode::KD_FILTER, "EVENT_TRACE_KD_FILTER_MODE"),
            (LogFileMode::MODE_RESERVED, "EVENT_TRACE_MODE_RESERVED"),
            (
                LogFileMode::STOP_ON_HYBRID_SHUTDOWN,
                "EVENT_TRACE_STOP_ON_HYBRID_SHUTDOWN",
            ),
            (
                LogFileMode::PERSIST_ON_HYBRID_SHUTDOWN,
                "EVENT_TRACE_PERSIST_ON_HYBRID_SHUTDOWN",
            ),
            (
                LogFileMode::USE_PAGED_MEMORY,
                "EVENT_TRACE_USE_PAGED_MEMORY",
            ),
            (LogFileMode::SYSTEM_LOGGER, "EVENT_TRACE_SYSTEM_LOGGER_MODE"),
            (LogFileMode::COMPRESSED, "EVENT_TRACE_COMPRESSED_MODE"),
            (
                LogFileMode::INDEPENDENT_SESSION,
                "EVENT_TRACE_INDEPENDENT_SESSION_MODE",
            ),
            (
                LogFileMode::NO_PER_PROCESSOR_BUFFERING,
                "EVENT_TRACE_NO_PER_PROCESSOR_BUFFERING",
            ),
            (
                LogFileMode::ADDTO_TRIAGE_DUMP,
                "EVENT_TRACE_ADDTO_TRIAGE_DUMP",
            ),
        ];
        NAMES
            .iter()
            .find(|(f, _)| *f == self)
            .map(|(_, n)| *n)
            .unwrap_or("(several flags)")
    }

    /// The names of all flags set, joined with `|`.
    pub fn names(self) -> String {
        if self.is_empty() {
            return "EVENT_TRACE_FILE_MODE_NONE".into();
        }
        self.iter()
            .map(|f| f.flag_name())
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// Every "do not use with" of the seed's Logging Mode Constants table, plus the Global Logger
/// table's PREALLOCATE rule, as pairs of flags that cannot be combined.
const EXCLUSIONS: &[(LogFileMode, LogFileMode)] = &[
    (LogFileMode::SEQUENTIAL, LogFileMode::CIRCULAR),
    (LogFileMode::SEQUENTIAL, LogFileMode::NEWFILE),
    (LogFileMode::CIRCULAR, LogFileMode::APPEND),
    (LogFileMode::CIRCULAR, LogFileMode::NEWFILE),
    (LogFileMode::APPEND, LogFileMode::REAL_TIME),
    (LogFileMode::APPEND, LogFileMode::NEWFILE),
    (LogFileMode::APPEND, LogFileMode::PRIVATE_LOGGER),
    (LogFileMode::PREALLOCATE, LogFileMode::NEWFILE),
    (LogFileMode::PREALLOCATE, LogFileMode::PRIVATE_LOGGER),
    (LogFileMode::REAL_TIME, LogFileMode::PRIVATE_LOGGER),
    (LogFileMode::BUFFERING, LogFileMode::SEQUENTIAL),
    (LogFileMode::BUFFERING, LogFileMode::CIRCULAR),
    (LogFileMode::BUFFERING, LogFileMode::APPEND),
    (LogFileMode::BUFFERING, LogFileMode::NEWFILE),
    (LogFileMode::BUFFERING, LogFileMode::REAL_TIME),
    (
        LogFileMode::INDEPENDENT_SESSION,
        LogFileMode::PRIVATE_LOGGER,
    ),
    (LogFileMode::GLOBAL_SEQUENCE, LogFileMode::LOCAL_SEQUENCE),
    // Compressed buffers vary in size; a circular file rewrites fixed slots.
    (LogFileMode::COMPRESSED, LogFileMode::CIRCULAR),
];

/// Flags Windows documents as internal or not applicable: always refused.
const REFUSED: LogFileMode = LogFileMode::DELAY_OPEN_FILE
    .union(LogFileMode::ADD_HEADER)
    .union(LogFileMode::RELOG)
    .union(LogFileMode::KD_FILTER)
    .union(LogFileMode::MODE_RESERVED);

/// Smallest and largest BufferSize, in KB.
pub const BUFFER_SIZE_KB_RANGE: std::ops::RangeInclusive<u32> = 4..=16384;
/// The default BufferSize, in KB.
pub const DEFAULT_BUFFER_SIZE_KB: u32 = 64;
/// The longest session or log file name, in characters.
pub const MAX_NAME_CHARS: usize = 1024;

/// What a session is configured with. Build with [`SessionProperties::new`] and the setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionProperties {
    /// Session name: unique (case-insensitively), at most 1024 characters.
    pub name: String,
    /// Log file; `None` only for real-time or buffering sessions.
    pub log_file: Option<PathBuf>,
    /// Logging modes.
    pub mode: LogFileMode,
    /// Buffer size in KB, 4 to 16384.
    pub buffer_size_kb: u32,
    /// Buffers allocated at start (raised to 2 per processor, or 2 without per-processor buffering).
    pub minimum_buffers: u32,
    /// Most buffers the pool grows to (raised to the minimum if lower; ignored when BUFFERING).
    pub maximum_buffers: u32,
    /// MaximumFileSize in MB (KB with USE_KBYTES_FOR_SIZE); 0 = unlimited.
    pub maximum_file_size: u32,
    /// Seconds between forced flushes; 0 = only when buffers fill.
    pub flush_timer_s: u32,
    /// Event time stamps.
    pub clock: ClockType,
    /// `EnableFlags`: the kernel events the NT Kernel Logger records
    /// ([`KernelFlags`](super::KernelFlags) bits; 0 = tracelog's default set). Other sessions must
    /// leave it 0.
    pub enable_flags: u32,
    /// evtrace's own: a system logger records the kernel events of this process's descendants
    /// only (the command `evtrace record --this-process-only` runs), not of the process itself
    /// nor of the rest of the machine. `None`: the whole machine, as ETW's kernel logger.
    pub kernel_tree_of: Option<u32>,
}

impl SessionProperties {
    /// Defaults: sequential file mode, 64 KB buffers, minimum 2 per processor, maximum 64 or the
    /// minimum, no size limit, no flush timer, the performance-counter clock.
    pub fn new(name: impl Into<String>) -> SessionProperties {
        SessionProperties {
            name: name.into(),
            log_file: None,
            mode: LogFileMode::empty(),
            buffer_size_kb: DEFAULT_BUFFER_SIZE_KB,
            minimum_buffers: 0,
            maximum_buffers: 0,
            maximum_file_size: 0,
            flush_timer_s: 0,
            clock: ClockType::PerfCounter,
            enable_flags: 0,
            kernel_tree_of: None,
        }
    }

    /// Sets the log file.
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }

    /// Adds logging modes.
    pub fn mode(mut self, mode: LogFileMode) -> Self {
        self.mode |= mode;
        self
    }

    /// Sets the buffer size in KB.
    pub fn buffer_size_kb(mut self, kb: u32) -> Self {
        self.buffer_size_kb = kb;
        self
    }

    /// Sets the minimum and maximum number of buffers.
    pub fn buffers(mut self, minimum: u32, maximum: u32) -> Self {
        self.minimum_buffers = minimum;
        self.maximum_buffers = maximum;
        self
    }

    /// Sets MaximumFileSize (MB, or KB with USE_KBYTES_FOR_SIZE).
    pub fn maximum_file_size(mut self, size: u32) -> Self {
        self.maximum_file_size = size;
        self
    }

    /// Sets the flush timer in seconds.
    pub fn flush_timer(mut self, seconds: u32) -> Self {
        self.flush_timer_s = seconds;
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: ClockType) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the kernel logger's enable flags.
    pub fn enable_flags(mut self, flags: super::KernelFlags) -> Self {
        self.enable_flags = flags.bits();
        self
    }

    /// Restricts a system logger's kernel events to the descendants of process `pid`.
    pub fn kernel_tree_of(mut self, pid: u32) -> Self {
        self.kernel_tree_of = Some(pid);
        self
    }

    /// The maximum file size in bytes, if any.
    pub fn maximum_file_bytes(&self) -> Option<u64> {
        let unit = if self.mode.contains(LogFileMode::USE_KBYTES_FOR_SIZE) {
            1024
        } else {
            1024 * 1024
        };
        (self.maximum_file_size != 0).then_some(self.maximum_file_size as u64 * unit)
    }

    /// The flush timer, if any.
    pub fn flush_interval(&self) -> Option<Duration> {
        (self.flush_timer_s != 0).then(|| Duration::from_secs(self.flush_timer_s as u64))
    }
}

/// Which kind of session the properties are checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// In-process: file only, no PREALLOCATE, APPEND, REAL_TIME or INDEPENDENT_SESSION.
    Private,
    /// Hosted by the engine for the whole machine.
    System,
}

/// Properties after validation, with every derived figure settled.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The validated properties (minimum/maximum raised as ETW raises them).
    pub props: SessionProperties,
    /// Buffer size in bytes.
    pub buffer_bytes: usize,
    /// Buffers for each processor slot (1 slot without per-processor buffering).
    pub slots: usize,
    /// Whether the session writes a file while running (not buffering, not real-time only).
    pub writes_file: bool,
    /// The user and group its log files are given when this process writes them for another
    /// user (the daemon, for a controller of another user); `None`: this process's own.
    pub file_owner: Option<(u32, u32)>,
}

fn conflict(a: LogFileMode, b: LogFileMode) -> Error {
    Error::invalid(format!(
        "{} cannot be combined with {}",
        a.flag_name(),
        b.flag_name()
    ))
}

/// Checks `props` for a session of `kind` on a machine with `cpus` processors.
pub fn validate(mut props: SessionProperties, kind: SessionKind, cpus: usize) -> Result<Resolved> {
    let m = props.mode;
    let unknown = m.bits() & !LogFileMode::all().bits();
    if unknown != 0 {
        return Err(Error::invalid(format!(
            "unknown LogFileMode bits {unknown:#010x}; the allowed flags are the EVENT_TRACE_* modes of the Logging Mode Constants table"
        )));
    }
    if let Some(f) = (m & REFUSED).iter().next() {
        return Err(Error::invalid(format!(
            "{} is internal to Windows or not applicable and is not supported",
            f.flag_name()
        )));
    }
    let mut m_checked = m;
    if kind == SessionKind::Private {
        m_checked |= LogFileMode::PRIVATE_LOGGER;
    }
    for &(a, b) in EXCLUSIONS {
        if m_checked.contains(a) && m_checked.contains(b) {
            if kind == SessionKind::Private
                && (a == LogFileMode::PRIVATE_LOGGER || b == LogFileMode::PRIVATE_LOGGER)
            {
                let other = if a == LogFileMode::PRIVATE_LOGGER {
                    b
                } else {
                    a
                };
                return Err(Error::invalid(format!(
                    "{} cannot be used by a private session (EVENT_TRACE_PRIVATE_LOGGER_MODE)",
                    other.flag_name()
                )));
            }
            return Err(conflict(a, b));
        }
    }
    if kind == SessionKind::Private && props.enable_flags != 0 {
        return Err(Error::invalid(format!(
            "EnableFlags {:#x} selects kernel events, which only system loggers record (the kernel logger and EVENT_TRACE_SYSTEM_LOGGER_MODE sessions); a private session cannot",
            props.enable_flags
        )));
    }
    if kind == SessionKind::Private && props.kernel_tree_of.is_some() {
        return Err(Error::invalid(
            "a kernel process tree (kernel_tree_of) restricts kernel events, which only system loggers record; a private session cannot",
        ));
    }
    if kind == SessionKind::System && m.contains(LogFileMode::PRIVATE_LOGGER) {
        return Err(Error::invalid("EVENT_TRACE_PRIVATE_LOGGER_MODE is for private sessions; start those with Session::start_private"));
    }
    if kind == SessionKind::Private {
        for f in [LogFileMode::NONSTOPPABLE, LogFileMode::SYSTEM_LOGGER] {
            if m.contains(f) {
                return Err(Error::invalid(format!(
                    "{} cannot be used by a private session (EVENT_TRACE_PRIVATE_LOGGER_MODE)",
                    f.flag_name()
                )));
            }
        }
        // Private buffers are always pageable: the flag is accepted and ignored.
        props.mode.remove(LogFileMode::USE_PAGED_MEMORY);
    }
    if m.contains(LogFileMode::PREALLOCATE) && m.contains(LogFileMode::BUFFERING) {
        return Err(conflict(LogFileMode::PREALLOCATE, LogFileMode::BUFFERING));
    }

    check_name("session name", &props.name)?;
    if !BUFFER_SIZE_KB_RANGE.contains(&props.buffer_size_kb) {
        return Err(Error::invalid(format!(
            "BufferSize {} KB is out of range: it must be 4 to 16384 KB",
            props.buffer_size_kb
        )));
    }

    let per_cpu = !m.contains(LogFileMode::NO_PER_PROCESSOR_BUFFERING);
    let slots = if per_cpu { cpus.max(1) } else { 1 };
    let floor = 2 * slots as u32;
    props.minimum_buffers = props.minimum_buffers.max(floor);
    if m.contains(LogFileMode::BUFFERING) {
        props.maximum_buffers = props.minimum_buffers;
    } else {
        if props.maximum_buffers == 0 {
            props.maximum_buffers = props.minimum_buffers.max(64);
        }
        props.maximum_buffers = props.maximum_buffers.max(props.minimum_buffers);
    }
    let buffer_bytes = props.buffer_size_kb as usize * 1024;
    let pool_bytes = props.maximum_buffers as u64 * buffer_bytes as u64;
    let limit = physical_memory() / 2;
    if pool_bytes > limit {
        return Err(Error::invalid(format!(
            "MaximumBuffers x BufferSize is {} MB, more than half of this machine's memory ({} MB)",
            pool_bytes >> 20,
            limit >> 20
        )));
    }

    let needs_size = [
        LogFileMode::CIRCULAR,
        LogFileMode::NEWFILE,
        LogFileMode::PREALLOCATE,
    ];
    for f in needs_size {
        if m.contains(f) && props.maximum_file_size == 0 {
            return Err(Error::invalid(format!(
                "{} requires MaximumFileSize to be set (non-zero)",
                f.flag_name()
            )));
        }
    }
    if let Some(max) = props.maximum_file_bytes() {
        let min = 3 * buffer_bytes as u64;
        if max < min && !m.contains(LogFileMode::BUFFERING) && props.log_file.is_some() {
            return Err(Error::invalid(format!(
                "MaximumFileSize of {max} bytes cannot hold the header buffer and two data buffers of {} KB: it must be at least {min} bytes",
                props.buffer_size_kb
            )));
        }
    }

    let realtime = m.contains(LogFileMode::REAL_TIME);
    let buffering = m.contains(LogFileMode::BUFFERING);
    match &props.log_file {
        Some(path) => check_log_file(path, m)?,
        None if realtime || buffering => {
            if m.intersects(LogFileMode::SEQUENTIAL | LogFileMode::CIRCULAR | LogFileMode::NEWFILE | LogFileMode::APPEND) {
                return Err(Error::new(ErrorCode::BadPathname, format!("{} needs a log file name", m.names())));
            }
        }
        None => {
            return Err(Error::new(
                ErrorCode::BadPathname,
                "no log file given: a session needs a log file unless it is EVENT_TRACE_REAL_TIME_MODE or EVENT_TRACE_BUFFERING_MODE",
            ))
        }
    }
    let writes_file = props.log_file.is_some() && !buffering;
    Ok(Resolved {
        props,
        buffer_bytes,
        slots,
        writes_file,
        file_owner: None,
    })
}

/// Validates one producer process's share of a system session (a proxy): only its buffers are
/// here, sized as the daemon says; the file, the ring and real-time delivery are the daemon's.
pub fn validate_proxy(mut props: SessionProperties, cpus: usize) -> Result<Resolved> {
    if !BUFFER_SIZE_KB_RANGE.contains(&props.buffer_size_kb) {
        return Err(Error::invalid(format!(
            "BufferSize {} KB is out of range: it must be 4 to 16384 KB",
            props.buffer_size_kb
        )));
    }
    props.mode &= LogFileMode::NO_PER_PROCESSOR_BUFFERING
        | LogFileMode::GLOBAL_SEQUENCE
        | LogFileMode::LOCAL_SEQUENCE
        | LogFileMode::INDEPENDENT_SESSION;
    props.log_file = None;
    let per_cpu = !props.mode.contains(LogFileMode::NO_PER_PROCESSOR_BUFFERING);
    let slots = if per_cpu { cpus.max(1) } else { 1 };
    props.minimum_buffers = props.minimum_buffers.max(2 * slots as u32);
    props.maximum_buffers = props.maximum_buffers.max(props.minimum_buffers);
    Ok(Resolved {
        buffer_bytes: props.buffer_size_kb as usize * 1024,
        props,
        slots,
        writes_file: false,
        file_owner: None,
    })
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::new(
            ErrorCode::InvalidName,
            format!("the {what} is empty"),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::new(
            ErrorCode::InvalidName,
            format!(
                "the {what} is {} characters long; at most {MAX_NAME_CHARS} are allowed",
                name.chars().count()
            ),
        ));
    }
    if name.contains('\0') {
        return Err(Error::new(
            ErrorCode::InvalidName,
            format!("the {what} contains a NUL character"),
        ));
    }
    Ok(())
}

/// Checks a log file name: length, folder, `%d` for NEWFILE.
pub(crate) fn check_log_file(path: &Path, mode: LogFileMode) -> Result<()> {
    let s = path.to_string_lossy();
    check_name("log file name", &s)?;
    if mode.contains(LogFileMode::NEWFILE) && !s.contains("%d") {
        return Err(Error::new(
            ErrorCode::InvalidName,
            format!("EVENT_TRACE_FILE_MODE_NEWFILE needs a file name with %d for the file counter, like trace_%d.etl; got {s}"),
        ));
    }
    if path.file_name().is_none() {
        return Err(Error::new(
            ErrorCode::BadPathname,
            format!("log file name {s} has no file name part"),
        ));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::new(
            ErrorCode::BadPathname,
            format!(
                "the folder {} of log file {s} does not exist (ETW does not create it)",
                parent.display()
            ),
        ));
    }
    Ok(())
}

fn physical_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || size <= 0 {
        return u64::MAX;
    }
    pages as u64 * size as u64
}

/// ControlTrace(INCREMENT_FILE) applies to NEWFILE sessions only.
pub(crate) fn may_increment_file(mode: LogFileMode, name: &str) -> Result<()> {
    if mode.contains(LogFileMode::NEWFILE) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "INCREMENT_FILE applies to EVENT_TRACE_FILE_MODE_NEWFILE sessions; {name} is not one"
        )))
    }
}
