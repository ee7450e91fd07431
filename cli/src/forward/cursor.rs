//! Where forwarding stands: for each followed file its identity and the position after the
//! last acknowledged record; for a real-time session the last acknowledged time stamp. Saved
//! atomically (temporary file, fsync, rename, fsync of the folder) after each acknowledged
//! batch, so a kill at any moment leaves the previous or the new cursor, never a torn one.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use evtrace_runtime::etl::LogfileHeader;
use serde::{Deserialize, Serialize};

use super::otlp::fnv64;

/// What a file is, beyond its name: a renamed or replaced file is not resumed by mistake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Device number.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// FNV-1a of the log-file header's start times and logger name.
    pub head: String,
}

impl Identity {
    /// The identity of `path` now, whose log-file header is `h`.
    pub fn of(path: &Path, h: &LogfileHeader) -> std::io::Result<Identity> {
        let m = fs::metadata(path)?;
        // What the session wrote once at its start: the header's counters and end time
        // change while it runs and when it stops, these do not.
        let head = fnv64(&[
            &h.start_time.to_le_bytes(),
            &h.start_timestamp.to_le_bytes(),
            &h.boot_time.to_le_bytes(),
            h.logger_name.as_bytes(),
        ]);
        Ok(Identity {
            dev: m.dev(),
            ino: m.ino(),
            head: format!("{head:016x}"),
        })
    }

    /// A short stable name for record ids.
    pub fn short(&self) -> String {
        format!(
            "{:016x}",
            fnv64(&[
                &self.dev.to_le_bytes(),
                &self.ino.to_le_bytes(),
                self.head.as_bytes()
            ])
        )
    }
}

/// One followed file (or NEWFILE series) and the position after its last acknowledged record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePos {
    /// The name given on the command line (a NEWFILE pattern keeps its `%d`).
    pub name: String,
    /// The series number being read (1 for a single file).
    pub number: u32,
    /// The identity of the file being read.
    pub identity: Option<Identity>,
    /// Offset of the buffer to go on with.
    pub offset: u64,
    /// Records of that buffer already acknowledged.
    pub skip: u64,
}

/// A real-time session's position: the session (its start time) and the last time stamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RtPos {
    /// The session's name.
    pub session: String,
    /// The session's start time (FILETIME) from its header: a new session starts afresh.
    pub start_time: i64,
    /// Raw time stamp of the last acknowledged record.
    pub timestamp: i64,
    /// Records acknowledged in this session.
    pub records: u64,
}

/// Everything saved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Followed files, in command-line order.
    pub files: Vec<FilePos>,
    /// The real-time session, with `--rt`.
    pub rt: Option<RtPos>,
}

impl Cursor {
    /// Reads the cursor at `path`; `Ok(None)` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<Cursor>, String> {
        match fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| format!("cursor {}: not a cursor file: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cursor {}: {e}", path.display())),
        }
    }

    /// Saves atomically to `path`.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = tmp_path(path);
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        // The rename itself must survive a crash of the machine, not only of this process.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}
