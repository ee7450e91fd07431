//! Errors of the controller and write APIs, named after the Win32 codes ETW returns.

use std::borrow::Cow;
use std::fmt;

/// The Win32 error code an ETW function would return for the same mistake.
///
/// Tools and scripts written against ETW test these codes; the [`Error`] that carries one also
/// says, in a sentence, what was wrong and what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `ERROR_INVALID_PARAMETER` (87): a bad size, mode combination or argument.
    InvalidParameter,
    /// `ERROR_ALREADY_EXISTS` (183): the session name (or the reserved session) is in use.
    AlreadyExists,
    /// `ERROR_BAD_PATHNAME` (161): the log file is unusable (in use, folder missing, none given).
    BadPathname,
    /// `ERROR_INVALID_NAME` (123): a malformed name, e.g. a NEWFILE file name without `%d`.
    InvalidName,
    /// `ERROR_NO_SYSTEM_RESOURCES` (1450): a session or provider limit is reached.
    NoSystemResources,
    /// `ERROR_WMI_INSTANCE_NOT_FOUND` (4201): no running session has that name.
    InstanceNotFound,
    /// `ERROR_ACCESS_DENIED` (5): the caller may not do this (e.g. stop a NONSTOPPABLE session).
    AccessDenied,
    /// `ERROR_DISK_FULL` (112): no room on the disk for the file's reserved size.
    DiskFull,
    /// `ERROR_NOT_SUPPORTED` (50): the operation does not apply to this kind of session.
    NotSupported,
    /// `ERROR_INVALID_TIME` (1901): a time window whose end is before its start.
    InvalidTime,
    /// `ERROR_ARITHMETIC_OVERFLOW` (534): an event over 64 KB.
    ArithmeticOverflow,
    /// `ERROR_MORE_DATA` (234): an event larger than the session's buffer.
    MoreData,
    /// `ERROR_NOT_ENOUGH_MEMORY` (8): no free buffer; the event was dropped and counted.
    NotEnoughMemory,
    /// `ERROR_LOG_FILE_FULL` (1502): the real-time backlog or the log file is full.
    LogFileFull,
    /// `ERROR_SHUTDOWN_IN_PROGRESS` (1115): the daemon is ending its sessions and exiting.
    ShutdownInProgress,
    /// `ERROR_WRITE_FAULT` and friends: the operating system refused an I/O.
    Io,
}

impl ErrorCode {
    /// Every code, for reading one back from its number.
    const ALL: [ErrorCode; 16] = [
        ErrorCode::InvalidParameter,
        ErrorCode::AlreadyExists,
        ErrorCode::BadPathname,
        ErrorCode::InvalidName,
        ErrorCode::NoSystemResources,
        ErrorCode::InstanceNotFound,
        ErrorCode::AccessDenied,
        ErrorCode::DiskFull,
        ErrorCode::NotSupported,
        ErrorCode::InvalidTime,
        ErrorCode::ArithmeticOverflow,
        ErrorCode::MoreData,
        ErrorCode::NotEnoughMemory,
        ErrorCode::LogFileFull,
        ErrorCode::ShutdownInProgress,
        ErrorCode::Io,
    ];

    /// The Win32 name and number: one exhaustive match, so a new code cannot lack either (and
    /// [`ErrorCode::ALL`] is checked to list every code, `Io` being the last).
    fn win32_entry(self) -> (&'static str, u32) {
        match self {
            ErrorCode::InvalidParameter => ("ERROR_INVALID_PARAMETER", 87),
            ErrorCode::AlreadyExists => ("ERROR_ALREADY_EXISTS", 183),
            ErrorCode::BadPathname => ("ERROR_BAD_PATHNAME", 161),
            ErrorCode::InvalidName => ("ERROR_INVALID_NAME", 123),
            ErrorCode::NoSystemResources => ("ERROR_NO_SYSTEM_RESOURCES", 1450),
            ErrorCode::InstanceNotFound => ("ERROR_WMI_INSTANCE_NOT_FOUND", 4201),
            ErrorCode::AccessDenied => ("ERROR_ACCESS_DENIED", 5),
            ErrorCode::DiskFull => ("ERROR_DISK_FULL", 112),
            ErrorCode::NotSupported => ("ERROR_NOT_SUPPORTED", 50),
            ErrorCode::InvalidTime => ("ERROR_INVALID_TIME", 1901),
            ErrorCode::ArithmeticOverflow => ("ERROR_ARITHMETIC_OVERFLOW", 534),
            ErrorCode::MoreData => ("ERROR_MORE_DATA", 234),
            ErrorCode::NotEnoughMemory => ("ERROR_NOT_ENOUGH_MEMORY", 8),
            ErrorCode::LogFileFull => ("ERROR_LOG_FILE_FULL", 1502),
            ErrorCode::ShutdownInProgress => ("ERROR_SHUTDOWN_IN_PROGRESS", 1115),
            ErrorCode::Io => ("ERROR_WRITE_FAULT", 29),
        }
    }

    /// The Win32 name, e.g. `ERROR_INVALID_PARAMETER`.
    pub fn name(self) -> &'static str {
        self.win32_entry().0
    }

    /// The code whose Win32 number is `n`.
    pub fn from_win32(n: u32) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.win32() == n)
    }

    /// The numeric Win32 code.
    pub fn win32(self) -> u32 {
        self.win32_entry().1
    }
}

// `ALL` lists every code: a new one added before `Io` without its entry fails to compile.
const _: () = assert!(ErrorCode::ALL.len() == ErrorCode::Io as usize + 1);

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error with its ETW code and a sentence that says what was wrong and what is allowed.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: ErrorCode,
    // Borrowed for the errors of the write path, which must not allocate: a writer that loses
    // events is already behind.
    message: Cow<'static, str>,
}

/// As `Display`: a `main` that returns an evtrace error prints it this way, readably.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// An error of `code` explained by `message`.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    /// The ETW error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The explanation, without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid(message: impl Into<Cow<'static, str>>) -> Error {
        Error::new(ErrorCode::InvalidParameter, message)
    }

    /// An I/O failure on `path` while doing `what`, with the code its errno maps to (a full
    /// disk is DISK_FULL, a refused permission ACCESS_DENIED, a missing path BAD_PATHNAME).
    pub fn io(what: &str, path: &std::path::Path, err: std::io::Error) -> Error {
        let code = match err.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => ErrorCode::DiskFull,
            Some(libc::EACCES) | Some(libc::EPERM) => ErrorCode::AccessDenied,
            Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::EISDIR) => ErrorCode::BadPathname,
            _ => ErrorCode::Io,
        };
        Error::new(code, format!("{what} {}: {err}", path.display()))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for Error {}

/// Result of the controller and write APIs.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_reads_back_from_its_number() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_win32(c.win32()), Some(c), "{}", c.name());
        }
        assert_eq!(ErrorCode::from_win32(87), Some(ErrorCode::InvalidParameter));
        assert_eq!(ErrorCode::from_win32(1), None);
    }
}
