//! What `record` prints at the end: each session's last figures, then the files' summary,
//! the very one `evtrace fmt --summary` prints for them.

use std::path::PathBuf;

use evtrace_runtime::system::protocol::WireStats;
use evtrace_runtime::Error;

/// Prints the summary of a recording to stdout; false if a file could not be read whole.
pub fn print(files: &[PathBuf], stats: &[(String, Result<WireStats, Error>)]) -> bool {
    for (name, s) in stats {
        let Ok(s) = s else { continue };
        let s = &s.session;
        println!(
            "Session {name}: {} buffers written, {} events lost, {} log buffers lost",
            s.buffers_written, s.events_lost, s.log_buffers_lost
        );
        for f in &s.files {
            let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
            println!("  {} ({})", f.display(), super::status::bytes_text(size));
        }
    }
    let present: Vec<PathBuf> = files.iter().filter(|f| f.is_file()).cloned().collect();
    if present.is_empty() {
        println!("no log file was written");
        return false;
    }
    println!("Summary (as `evtrace fmt --summary` gives it):");
    crate::fmt::summary_of(&present)
}
