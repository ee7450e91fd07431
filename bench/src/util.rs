//! Small helpers: the disk's raw speed, peak RSS, file sizes, reading files back.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Command;

/// The installer for the peers' Debian packages, also shipped as `bench/setup.sh`.
const SETUP_SH: &str = include_str!("../setup.sh");

/// Installs the LTTng-UST packages (runs `bench/setup.sh`).
pub fn install_peers() -> Result<(), String> {
    let status = Command::new("bash")
        .arg("-c")
        .arg(SETUP_SH)
        .status()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("setup.sh exited with {status}"))
    }
}

/// The disk's sequential write speed in MB/s, as `dd ... conv=fdatasync` reports it for 512 MiB
/// written into `dir` (the same directory the log files go to).
pub fn dd_speed(dir: &Path) -> Result<f64, String> {
    let file = dir.join("dd.tmp");
    let out = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", file.display()))
        .args(["bs=1M", "count=512", "conv=fdatasync"])
        .output()
        .map_err(|e| format!("cannot run dd: {e}"))?;
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("dd failed: {}", text.trim()));
    }
    parse_dd(&text).ok_or_else(|| format!("cannot read dd's speed from {:?}", text.trim()))
}

/// Reads the speed from dd's last line, e.g. `536870912 bytes (537 MB, 512 MiB) copied, 1.8 s,
/// 295 MB/s`; the unit is decimal (kB, MB, GB).
fn parse_dd(text: &str) -> Option<f64> {
    let line = text.lines().rev().find(|l| l.contains("copied"))?;
    let last = line.rsplit(',').next()?.trim();
    let mut parts = last.split_whitespace();
    let value: f64 = parts.next()?.replace(',', ".").parse().ok()?;
    let scale = match parts.next()? {
        "B/s" => 1e-6,
        "kB/s" => 1e-3,
        "MB/s" => 1.0,
        "GB/s" => 1e3,
        "TB/s" => 1e6,
        _ => return None,
    };
    Some(value * scale)
}

/// A `VmHWM`-style field of `/proc/<pid>/status`, in KB.
pub fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's peak resident set size in KB.
pub fn peak_rss_kb() -> u64 {
    status_kb("self", "VmHWM:").unwrap_or(0)
}

/// Total size in bytes of the regular files under `path` (a file or a directory).
pub fn disk_bytes(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_file() {
        return meta.len();
    }
    if !meta.is_dir() {
        return 0;
    }
    std::fs::read_dir(path)
        .map(|rd| rd.flatten().map(|e| disk_bytes(&e.path())).sum())
        .unwrap_or(0)
}

/// Lines of a file that contain `needle` (streamed: the file may be larger than memory).
pub fn count_lines_containing(path: &Path, needle: &str) -> std::io::Result<u64> {
    let mut r = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(n);
        }
        if line.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            n += 1;
        }
    }
}

/// Counts `\n` bytes in a stream.
pub fn count_newlines(mut r: impl Read) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// A file mapped read-only, so that a multi-gigabyte log can be read back without copying it.
pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapped {
    /// Maps `path`.
    pub fn open(path: &Path) -> std::io::Result<Mapped> {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(path)?;
        let len = f.metadata()?.len() as usize;
        if len == 0 {
            return Ok(Mapped {
                ptr: std::ptr::null_mut(),
                len: 0,
            });
        }
        // SAFETY: a fresh read-only private mapping of a file we opened; checked for failure.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                f.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Mapped { ptr, len })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives; the benchmark's
        // files are not written while they are read back.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: unmaps exactly the mapping made in `open`.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

/// Removes a file or directory unless the user asked to keep the data.
pub fn cleanup(path: &Path, keep: bool) {
    if keep {
        return;
    }
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dd_speeds() {
        let t = "512+0 records in\n512+0 records out\n536870912 bytes (537 MB, 512 MiB) copied, 1.82 s, 295 MB/s\n";
        assert_eq!(parse_dd(t), Some(295.0));
        let t = "536870912 bytes (537 MB, 512 MiB) copied, 0.4 s, 1.3 GB/s\n";
        assert_eq!(parse_dd(t), Some(1300.0));
        assert_eq!(parse_dd("nonsense"), None);
    }
}
