//! Log files: opening with ETW's naming and sharing rules, placing buffers by mode, finishing.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, ErrorCode, Result};
use crate::etl::{self, BufferHeader, LogfileHeader, BUFFER_HEADER_SIZE};
use crate::model::{LogFileMode, Resolved, SessionKind};

/// Log files open in this process, so that two sessions of one process never share one.
static OPEN_FILES: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn claim(path: &Path) -> bool {
    let mut g = OPEN_FILES.lock().unwrap_or_else(|e| e.into_inner());
    g.get_or_insert_with(HashSet::new).insert(absolute(path))
}

fn unclaim(path: &Path) {
    let mut g = OPEN_FILES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(set) = g.as_mut() {
        set.remove(&absolute(path));
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Sequential,
    Circular,
    NewFile,
    Append,
}

/// What became of a buffer handed to [`LogFile::place`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// Written.
    Written,
    /// A sequential file reached MaximumFileSize: not written, the session must stop.
    Full,
}

/// Readies finished buffers for one log file: the sequence-number offset of an APPEND file, then
/// compression in COMPRESSED mode. It holds no file, so a flusher can encode a batch on several
/// threads and place the results in order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoder {
    compress: bool,
    sequence_base: i64,
}

impl Encoder {
    /// Whether encoding compresses (the costly part worth spreading over threads).
    pub(crate) fn compresses(&self) -> bool {
        self.compress
    }

    /// Readies `buffer` (stamped, complete) for the file. Returns `true` when `out` holds the
    /// compressed form to store, `false` when `buffer` itself is to be stored.
    pub(crate) fn encode(&self, buffer: &mut [u8], out: &mut Vec<u8>) -> bool {
        if self.sequence_base != 0 {
            if let Ok(mut h) = BufferHeader::parse(buffer) {
                h.sequence_number += self.sequence_base;
                h.write_to(buffer);
            }
        }
        self.compress && etl::compress_buffer(buffer, out)
    }
}

/// Counters written into the header when a file is finished.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FileStats {
    pub(crate) events_lost: u32,
    pub(crate) buffers_lost: u32,
    pub(crate) end_time: i64,
    /// The clock's rate as measured over the session, when known better than at start.
    pub(crate) perf_freq: Option<i64>,
}

/// An open log file of a session.
pub(crate) struct LogFile {
    file: File,
    path: PathBuf,
    /// The name as configured (`%d` pattern for NEWFILE).
    pattern: PathBuf,
    layout: Layout,
    buffer_bytes: u64,
    /// The header buffer's stored size: the buffer size, but in COMPRESSED mode what Windows
    /// writes, 1 KB (more, in 1 KB steps, when long names need it), so the first data buffer
    /// follows at once.
    header_bytes: u64,
    max_bytes: Option<u64>,
    preallocate: bool,
    header: LogfileHeader,
    /// Data buffers already in the file when it was opened (APPEND).
    inherited: u64,
    /// Where the next buffer goes in sequential, new-file and append files: buffers are stored
    /// one after another, compressed ones shorter than the buffer size.
    end: u64,
    /// COMPRESSED: buffers are stored compressed with MS-XCA LZ77 when that makes them smaller.
    compress: bool,
    /// Compression output, reused.
    scratch: Vec<u8>,
    /// Added to each buffer's SequenceNumber: the highest one already in the file (APPEND), so
    /// readers order the appended buffers after the old ones.
    sequence_base: i64,
    /// Data buffers written to this file by this session, rewrites included.
    written: u64,
    /// NEWFILE counter (the number in the current file's name).
    counter: u32,
    /// Every file this session wrote, in order.
    pub(crate) files: Vec<PathBuf>,
    /// The user and group its files are given (see [`Resolved::file_owner`]).
    owner: Option<(u32, u32)>,
}

impl LogFile {
    /// Opens the session's log file, writing its header buffer. For private sessions a file that
    /// another process holds gets `_<pid>` appended, as ETW does.
    pub(crate) fn open(
        r: &Resolved,
        kind: SessionKind,
        path: &Path,
        header: LogfileHeader,
    ) -> Result<LogFile> {
        let m = r.props.mode;
        let layout = if m.contains(LogFileMode::CIRCULAR) {
            Layout::Circular
        } else if m.contains(LogFileMode::NEWFILE) {
            Layout::NewFile
        } else if m.contains(LogFileMode::APPEND) {
            Layout::Append
        } else {
            Layout::Sequential
        };
        let first = numbered(path, layout, 1);
        let (file, first) = open_locked(&first, kind, r.file_owner)?;
        let mut lf = LogFile {
            file,
            path: first.clone(),
            pattern: path.to_path_buf(),
            layout,
            buffer_bytes: r.buffer_bytes as u64,
            header_bytes: r.buffer_bytes as u64,
            max_bytes: r.props.maximum_file_bytes(),
            preallocate: m.contains(LogFileMode::PREALLOCATE),
            header,
            inherited: 0,
            end: r.buffer_bytes as u64,
            compress: m.contains(LogFileMode::COMPRESSED),
            scratch: Vec::new(),
            sequence_base: 0,
            written: 0,
            counter: 1,
            files: vec![first],
            owner: r.file_owner,
        };
        // On failure, dropping `lf` releases the file's claim.
        let file = lf
            .file
            .try_clone()
            .map_err(|e| Error::io("cannot open", &lf.path, e))?;
        let current = lf.path.clone();
        lf.room_for_the_maximum(&file, &current)?;
        lf.prepare(&file, &current)?;
        Ok(lf)
    }

    /// StartTrace's DISK_FULL: no room for the file's maximum size on its file system (the
    /// file's present contents, about to be replaced, count as room). Checked once, at start:
    /// a later file of a NEWFILE series that finds no room stops the session as any failed
    /// write does. PREALLOCATE reserves the room instead, which says the same.
    fn room_for_the_maximum(&self, file: &File, path: &Path) -> Result<()> {
        let Some(max) = self.max_bytes.filter(|m| *m > 0 && !self.preallocate) else {
            return Ok(());
        };
        let Ok(fs) = rustix::fs::fstatvfs(file) else {
            return Ok(());
        };
        let present = file.metadata().map_or(0, |m| m.len());
        let free = fs
            .f_bavail
            .saturating_mul(fs.f_frsize)
            .saturating_add(present);
        if free < max {
            return Err(Error::new(
                ErrorCode::DiskFull,
                format!(
                    "no room for {}: MaximumFileSize is {max} bytes but its file system has {free} bytes free",
                    path.display()
                ),
            ));
        }
        Ok(())
    }

    fn current_name(&self) -> PathBuf {
        if self.layout == Layout::NewFile {
            let s = self
                .pattern
                .to_string_lossy()
                .replacen("%d", &self.counter.to_string(), 1);
            PathBuf::from(s)
        } else {
            self.pattern.clone()
        }
    }

    fn open_file(&mut self, path: &Path, kind: SessionKind) -> Result<()> {
        let (file, path) = open_locked(path, kind, self.owner)?;
        if let Err(e) = self.prepare(&file, &path) {
            unclaim(&path);
            if self.layout == Layout::NewFile {
                // The next file of a series, made here and holding nothing readable (its header
                // did not fit): no reader should be handed it.
                let _ = std::fs::remove_file(&path);
            }
            return Err(e);
        }
        self.file = file;
        self.path = path.clone();
        self.files.push(path);
        Ok(())
    }

    fn prepare(&mut self, file: &File, path: &Path) -> Result<()> {
        let len = file
            .metadata()
            .map_err(|e| Error::io("cannot read", path, e))?
            .len();
        self.written = 0;
        self.inherited = 0;
        self.sequence_base = 0;
        self.header_bytes = if self.compress {
            compressed_header_bytes(&self.header, self.buffer_bytes)
        } else {
            self.buffer_bytes
        };
        self.end = self.header_bytes;
        if self.layout == Layout::Append && len > 0 {
            self.adopt_existing(file, path, len)?;
            return Ok(());
        }
        file.set_len(0)
            .map_err(|e| Error::io("cannot truncate", path, e))?;
        if self.preallocate {
            let max = self.max_bytes.unwrap_or(0);
            // SAFETY: plain syscall on a valid descriptor; no pointers.
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, max as libc::off_t) };
            if rc != 0 {
                let err = io::Error::last_os_error();
                return Err(Error::io(
                    &format!("cannot reserve {max} bytes (PREALLOCATE) for"),
                    path,
                    err,
                ));
            }
        }
        self.write_header(file, path)
    }

    /// APPEND: the existing file must match in buffer size, clock and processor count.
    fn adopt_existing(&mut self, file: &File, path: &Path, len: u64) -> Result<()> {
        let mut first = vec![0u8; self.buffer_bytes.min(len) as usize];
        file.read_exact_at(&mut first, 0)
            .map_err(|e| Error::io("cannot read", path, e))?;
        let old = etl::parse_header_buffer(&first).map_err(|e| {
            Error::invalid(format!(
                "cannot append to {}: it is not a readable ETL file ({e})",
                path.display()
            ))
        })?;
        // The data follows the header buffer as stored: shorter than the buffer size in a
        // compressed file written as Windows writes them, and it keeps that size.
        let stored_header = BufferHeader::parse(&first).map_or(self.buffer_bytes, |b| {
            u64::from(b.buffer_size).clamp(BUFFER_HEADER_SIZE as u64 + 1, self.buffer_bytes)
        });
        let mismatch = |what: &str, file_v: u64, ours: u64| {
            Error::invalid(format!(
                "cannot append to {}: its {what} is {file_v} but the session's is {ours}; EVENT_TRACE_FILE_MODE_APPEND needs them equal",
                path.display()
            ))
        };
        // APPEND extends a sequential file: a circular one's buffers wrap, a NEWFILE one's is
        // one of a series.
        let not_sequential = LogFileMode::from_bits_retain(old.log_file_mode)
            & (LogFileMode::CIRCULAR | LogFileMode::NEWFILE);
        if !not_sequential.is_empty() {
            return Err(Error::invalid(format!(
                "cannot append to {}: it was written in {} mode; EVENT_TRACE_FILE_MODE_APPEND extends a sequential file only",
                path.display(),
                not_sequential.names()
            )));
        }
        if old.buffer_size as u64 != self.buffer_bytes {
            return Err(mismatch(
                "BufferSize (bytes)",
                old.buffer_size as u64,
                self.buffer_bytes,
            ));
        }
        if old.clock_type != self.header.clock_type {
            return Err(mismatch(
                "ClockType",
                old.clock_type as u64,
                self.header.clock_type as u64,
            ));
        }
        if old.number_of_processors != self.header.number_of_processors {
            return Err(mismatch(
                "NumberOfProcessors",
                old.number_of_processors as u64,
                self.header.number_of_processors as u64,
            ));
        }
        // Keep the original start so time stamps convert against one origin.
        self.header.start_time = old.start_time;
        self.header.start_timestamp = old.start_timestamp;
        self.header.perf_freq = old.perf_freq;
        self.header.events_lost = old.events_lost;
        self.header.buffers_lost = old.buffers_lost;
        // Walk the stored buffers (compressed ones are shorter): count them, find the highest
        // sequence number, and cut a torn tail from a crash at the last whole buffer.
        let mut head = [0u8; BUFFER_HEADER_SIZE];
        self.header_bytes = stored_header;
        let mut off = stored_header;
        while off + BUFFER_HEADER_SIZE as u64 <= len {
            if file.read_exact_at(&mut head, off).is_err() {
                break;
            }
            match etl::read::next_buffer(&head, off, self.buffer_bytes as u32, len - off) {
                Ok(span) if !span.truncated => {
                    self.sequence_base = self.sequence_base.max(span.header.sequence_number);
                    self.inherited += 1;
                    off += span.len as u64;
                }
                _ => break,
            }
        }
        self.end = off;
        file.set_len(off)
            .map_err(|e| Error::io("cannot resize", path, e))?;
        Ok(())
    }

    fn write_header(&mut self, file: &File, path: &Path) -> Result<()> {
        let mut buf = vec![0u8; self.header_bytes as usize];
        // As Windows counts it: the header buffer too, and every rewrite of a circular slot.
        self.header.buffers_written = (1 + self.inherited + self.written) as u32;
        etl::write_header_buffer(&mut buf, &self.header);
        file.write_all_at(&buf, 0)
            .map_err(|e| Error::io("cannot write the header of", path, e))
    }

    fn data_slots(&self) -> Option<u64> {
        self.max_bytes
            .map(|m| (m / self.buffer_bytes).saturating_sub(1).max(1))
    }

    /// How this file's buffers are readied for storing; an [`Encoder`] can run on other threads.
    pub(crate) fn encoder(&self) -> Encoder {
        Encoder {
            compress: self.compress,
            sequence_base: self.sequence_base,
        }
    }

    /// Writes one finished buffer where the mode puts it (compressed first in COMPRESSED mode).
    pub(crate) fn place(&mut self, buffer: &mut [u8]) -> io::Result<Placed> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let r = if self.encoder().encode(buffer, &mut scratch) {
            self.place_encoded(&scratch)
        } else {
            self.place_encoded(buffer)
        };
        self.scratch = scratch;
        r
    }

    /// Writes a buffer that [`Encoder::encode`] readied: `stored` is what goes to the file.
    pub(crate) fn place_encoded(&mut self, stored: &[u8]) -> io::Result<Placed> {
        let len = stored.len() as u64;
        let at = match self.layout {
            Layout::Circular => {
                (1 + self.written % self.data_slots().unwrap_or(u64::MAX)) * self.buffer_bytes
            }
            Layout::Sequential | Layout::Append => {
                if self.max_bytes.is_some_and(|max| self.end + len > max) {
                    return Ok(Placed::Full);
                }
                self.end
            }
            Layout::NewFile => {
                if self.written > 0 && self.max_bytes.is_some_and(|max| self.end + len > max) {
                    self.next_file()?;
                    return self.write_at_end(stored);
                }
                self.end
            }
        };
        self.file.write_all_at(stored, at)?;
        self.written += 1;
        if self.layout != Layout::Circular {
            self.end = at + len;
        }
        Ok(Placed::Written)
    }

    fn write_at_end(&mut self, stored: &[u8]) -> io::Result<Placed> {
        self.file.write_all_at(stored, self.end)?;
        self.written += 1;
        self.end += stored.len() as u64;
        Ok(Placed::Written)
    }

    fn next_file(&mut self) -> io::Result<()> {
        self.finish_current(FileStats {
            end_time: crate::clock::filetime_now(),
            ..FileStats::default()
        })?;
        self.counter += 1;
        let name = self.current_name();
        unclaim(&self.path.clone());
        self.open_file(&name, SessionKind::System).map_err(|e| {
            // The flusher names a full disk by its kind (ERROR_DISK_FULL), so keep it.
            let kind = if e.code() == ErrorCode::DiskFull {
                io::ErrorKind::StorageFull
            } else {
                io::ErrorKind::Other
            };
            io::Error::new(kind, e.to_string())
        })
    }

    /// NEWFILE's INCREMENT_FILE: finishes this file and opens the next of the series now.
    pub(crate) fn increment(&mut self) -> Result<()> {
        let path = self.path.clone();
        self.next_file()
            .map_err(|e| Error::io("cannot go on to the next file after", &path, e))
    }

    /// Switches to another file (UPDATE with a new name): finishes this one, opens that one.
    pub(crate) fn switch(
        &mut self,
        path: &Path,
        kind: SessionKind,
        stats: FileStats,
    ) -> Result<()> {
        self.finish_current(stats)
            .map_err(|e| Error::io("cannot finish", &self.path.clone(), e))?;
        let old = self.path.clone();
        self.pattern = path.to_path_buf();
        self.counter = 1;
        let name = self.current_name();
        let result = self.open_file(&name, kind);
        if result.is_ok() {
            unclaim(&old);
        }
        result
    }

    fn finish_current(&mut self, stats: FileStats) -> io::Result<()> {
        self.header.end_time = stats.end_time;
        if let Some(freq) = stats.perf_freq {
            self.header.perf_freq = freq;
            if self.header.clock_type == 3 {
                // dissect.etl converts cycle-counter times with CpuSpeedInMHz.
                self.header.cpu_speed_mhz = ((freq + 500_000) / 1_000_000) as u32;
            }
        }
        self.header.events_lost = self.header.events_lost.saturating_add(stats.events_lost);
        self.header.buffers_lost = self.header.buffers_lost.saturating_add(stats.buffers_lost);
        let (file, path) = (self.file.try_clone()?, self.path.clone());
        self.write_header(&file, &path)
            .map_err(|e| io::Error::other(e.to_string()))?;
        if self.preallocate {
            let used = match (self.layout, self.data_slots()) {
                (Layout::Circular, Some(slots)) => {
                    (self.written.min(slots) + 1) * self.buffer_bytes
                }
                _ => self.end,
            };
            file.set_len(used)?;
        }
        file.sync_data()
    }

    /// Finishes the file: final header (end time, buffers written, losses), trim, sync.
    pub(crate) fn finish(mut self, stats: FileStats) -> io::Result<Vec<PathBuf>> {
        let r = self.finish_current(stats);
        unclaim(&self.path);
        r.map(|_| std::mem::take(&mut self.files))
    }

    /// The file being written now.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        unclaim(&self.path);
    }
}

/// Windows' compressed files keep the header buffer at 1 KB before their larger data buffers
/// (each compressed buffer then stored at its own size, with no padding: the next one starts
/// at the previous one's offset + BufferSize). Long logger or file names that would not fit
/// 1 KB get the next multiple of 1 KB rather than being cut; never more than the buffer size.
pub(crate) fn compressed_header_bytes(h: &LogfileHeader, buffer_bytes: u64) -> u64 {
    const STEP: u64 = 1024;
    use crate::etl::layout::{LOGFILE_HEADER_SIZE, SYSTEM_HEADER_SIZE};
    let utf16z = |s: &str| 2 * (s.encode_utf16().count() as u64 + 1);
    // The header writer gives each name at most half the room after the fixed part.
    let names = 2 * utf16z(&h.logger_name).max(utf16z(&h.log_file_name));
    let record = (SYSTEM_HEADER_SIZE + LOGFILE_HEADER_SIZE) as u64 + names;
    let used = BUFFER_HEADER_SIZE as u64 + record.next_multiple_of(8);
    used.next_multiple_of(STEP).min(buffer_bytes)
}

/// The name of file number `counter`: NEWFILE puts the counter in place of `%d`.
fn numbered(pattern: &Path, layout: Layout, counter: u32) -> PathBuf {
    if layout == Layout::NewFile {
        PathBuf::from(
            pattern
                .to_string_lossy()
                .replacen("%d", &counter.to_string(), 1),
        )
    } else {
        pattern.to_path_buf()
    }
}

/// Opens `path` for this session: claimed in this process and locked against other processes.
/// A private session whose file another process holds gets `NAME_<pid>`, as ETW does.
fn open_locked(
    path: &Path,
    kind: SessionKind,
    owner: Option<(u32, u32)>,
) -> Result<(File, PathBuf)> {
    let in_use = |p: &Path, by: &str| {
        Error::new(
            ErrorCode::BadPathname,
            format!("log file {} is already used by {by}", p.display()),
        )
    };
    if !claim(path) {
        return Err(in_use(path, "another session of this process"));
    }
    let file = open_rw(path, owner).inspect_err(|_| unclaim(path))?;
    if try_lock(&file) {
        return Ok((file, path.to_path_buf()));
    }
    unclaim(path);
    if kind == SessionKind::System {
        return Err(in_use(path, "another session"));
    }
    let mut s = path.as_os_str().to_os_string();
    s.push(format!("_{}", std::process::id()));
    let alt = PathBuf::from(s);
    if !claim(&alt) {
        return Err(in_use(&alt, "another session of this process"));
    }
    let file = open_rw(&alt, owner).inspect_err(|_| unclaim(&alt))?;
    if !try_lock(&file) {
        unclaim(&alt);
        return Err(in_use(&alt, "another process"));
    }
    Ok((file, alt))
}

/// The mode log files are created with: the owner reads and writes, the group reads, others
/// nothing (events name processes, paths and users).
pub(crate) const LOG_FILE_MODE: u32 = 0o640;

/// Opens (or creates, [`LOG_FILE_MODE`]) a log file for reading and writing, never through a
/// symbolic link at `path` itself (a planted link would have the session overwrite another
/// file, with the rights of whoever writes, the daemon's root included); with `owner`, the file
/// is given to that user and group.
fn open_rw(path: &Path, owner: Option<(u32, u32)>) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(LOG_FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::new(
                    ErrorCode::AccessDenied,
                    format!(
                        "log file {} is a symbolic link: evtrace does not write log files through links (one planted there would redirect the session into another file); remove it or give the real path",
                        path.display()
                    ),
                )
            } else {
                Error::io("cannot open log file", path, e)
            }
        })?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
            .map_err(|e| Error::io(&format!("cannot give user {uid} the log file"), path, e))?;
    }
    Ok(file)
}

/// An exclusive advisory lock, held while the file is open: the cross-process "in use" test.
fn try_lock(file: &File) -> bool {
    // SAFETY: plain syscall on a valid descriptor.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}
