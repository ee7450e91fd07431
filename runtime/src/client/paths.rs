//! Where the daemon lives: its runtime directory and socket.
//!
//! `EVTRACE_RUNTIME_DIR` if set; else `/run/evtrace` for root, `$XDG_RUNTIME_DIR/evtrace` for
//! other users, or `/tmp/evtrace-<uid>`. The directory is created owner-only (0700), so by
//! default only the daemon's user (and root) can control sessions or log to them.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The socket's file name inside the runtime directory.
pub const SOCKET_NAME: &str = "daemon.sock";

/// Root's runtime directory, where the machine's daemon runs.
pub const SYSTEM_DIR: &str = "/run/evtrace";

/// The runtime directory this process uses: its own ([`own_runtime_dir`]), unless no daemon
/// answers there and root's does in [`SYSTEM_DIR`], so that a root daemon started with
/// `--shared` serves every user's controllers and producers.
pub fn runtime_dir() -> PathBuf {
    let own = own_runtime_dir();
    if std::env::var_os("EVTRACE_RUNTIME_DIR").is_some() || own == Path::new(SYSTEM_DIR) {
        return own;
    }
    let system = Path::new(SYSTEM_DIR);
    // A socket file alone may be a killed daemon's: only a daemon that answers counts.
    if connect(&own).is_err() && connect(system).is_ok() {
        return system.to_path_buf();
    }
    own
}

/// This user's runtime directory, where a daemon it starts listens: `EVTRACE_RUNTIME_DIR` if
/// set; for root [`SYSTEM_DIR`]; for other users `$XDG_RUNTIME_DIR/evtrace`, else
/// `/tmp/evtrace-<uid>`.
pub fn own_runtime_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("EVTRACE_RUNTIME_DIR") {
        return PathBuf::from(d);
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from(SYSTEM_DIR);
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(x) => PathBuf::from(x).join("evtrace"),
        None => PathBuf::from(format!("/tmp/evtrace-{uid}")),
    }
}

/// The daemon's socket in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET_NAME)
}

/// Creates `dir` owner-only if missing; an existing one must not be writable by others.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is writable by other users (mode {:o}); make it owner-only (chmod 700) or choose another EVTRACE_RUNTIME_DIR",
                dir.display(),
                meta.permissions().mode() & 0o777
            ),
        ));
    }
    Ok(())
}

/// Connects to the daemon in `dir`, but only to a trustworthy one: the directory belongs to this
/// user or root and nobody else can write to it (so nobody else could have put a socket there),
/// and the process answering runs as this user or root.
pub fn connect(dir: &Path) -> io::Result<super::wire::Channel> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let meta = std::fs::metadata(dir)?;
    if (meta.uid() != me && meta.uid() != 0) || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} belongs to another user or is writable by others: not talking to a daemon there",
                dir.display()
            ),
        ));
    }
    let ch = super::wire::Channel::connect(&socket_path(dir))?;
    let peer = ch.peer()?.uid.as_raw();
    if peer != me && peer != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the process at {} runs as user {peer}, not as this user or root",
                dir.display()
            ),
        ));
    }
    Ok(ch)
}
