//! LTTng-UST 2.13: the C tracepoint provider in `bench/peers/lttng`, compiled by gcc at run time
//! into a shared library that the LTTng child `dlopen`s (so liblttng-ust's constructor, threads
//! and registration with the session daemon exist only in that child). Sessions are driven with
//! the `lttng` CLI against `lttng-sessiond --no-kernel`: per-user buffers, discard mode. Events
//! are counted as the lines `babeltrace2` prints for the trace; losses are the discarded-event
//! counts babeltrace2 reports.

use std::ffi::CString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::drive::{self, Workload};
use crate::util;
use crate::Opts;

const TP_H: &str = include_str!("../../peers/lttng/tp.h");
const TP_C: &str = include_str!("../../peers/lttng/tp.c");
const BENCH_C: &str = include_str!("../../peers/lttng/bench.c");

/// Where the peer library is built.
fn lib_path(opts: &Opts) -> PathBuf {
    opts.data_dir
        .join("lttng-peer")
        .join("libevtrace_bench_lttng.so")
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// Checks the tools and builds the tracepoint provider library; says what is missing if not.
pub fn prepare(opts: &Opts) -> Result<(), String> {
    let missing: Vec<&str> = ["lttng", "lttng-sessiond", "babeltrace2", "gcc"]
        .into_iter()
        .filter(|t| !on_path(t))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} not found (run with --install, or bench/setup.sh)",
            missing.join(", ")
        ));
    }
    let lib = lib_path(opts);
    let dir = lib.parent().expect("the library has a directory");
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in [("tp.h", TP_H), ("tp.c", TP_C), ("bench.c", BENCH_C)] {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    let out = Command::new("gcc")
        .current_dir(dir)
        .args(["-O2", "-fPIC", "-shared", "-I.", "tp.c", "bench.c", "-o"])
        .arg(&lib)
        .args(["-llttng-ust", "-ldl"])
        .output()
        .map_err(|e| format!("cannot run gcc: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("lttng/tracepoint.h") || err.contains("-llttng-ust") {
            return Err(
                "liblttng-ust-dev is not installed (run with --install, or bench/setup.sh)".into(),
            );
        }
        return Err(format!(
            "gcc could not build the tracepoint provider: {}",
            err.trim()
        ));
    }
    Ok(())
}

/// `lttng-sessiond --no-kernel`, started by this run if none was running, stopped when dropped.
pub struct SessionDaemon {
    child: Option<Child>,
}

fn daemon_answers() -> bool {
    Command::new("lttng")
        .arg("list")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl SessionDaemon {
    /// Uses a running session daemon, or starts one (user-space tracing only).
    pub fn ensure() -> Result<SessionDaemon, String> {
        if daemon_answers() {
            return Ok(SessionDaemon { child: None });
        }
        let child = Command::new("lttng-sessiond")
            .arg("--no-kernel")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start lttng-sessiond: {e}"))?;
        let d = SessionDaemon { child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if daemon_answers() {
                return Ok(d);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("lttng-sessiond did not answer within 10 s".into())
    }
}

impl Drop for SessionDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGTERM lets the daemon tear its consumer daemons down with it.
            // SAFETY: signals only the process this run started, by its id.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            let _ = child.wait();
        }
    }
}

type EnabledFn = unsafe extern "C" fn() -> libc::c_int;
type WriteFn = unsafe extern "C" fn(u64, u64, u32);

/// The peer library's two entry points.
struct Lttng {
    enabled: EnabledFn,
    write: WriteFn,
}

impl Workload for Lttng {
    fn write_n(&self, start: u64, n: u64, thread: u32) {
        // SAFETY: a function of the library loaded in `load`, which is never unloaded; it only
        // fires tracepoints.
        unsafe { (self.write)(start, n, thread) }
    }
}

impl Lttng {
    fn is_enabled(&self) -> bool {
        // SAFETY: as in `write_n`; reads the tracepoint's state word.
        unsafe { (self.enabled)() != 0 }
    }
}

/// Loads the peer library; liblttng-ust registers this process with the session daemon.
fn load(opts: &Opts) -> Result<Lttng, String> {
    let path =
        CString::new(lib_path(opts).to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: dlopen/dlsym with valid C strings; the handle is leaked on purpose (LTTng-UST does
    // not support unloading a probe provider while its session runs).
    unsafe {
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
        if h.is_null() {
            let err = std::ffi::CStr::from_ptr(libc::dlerror())
                .to_string_lossy()
                .into_owned();
            return Err(format!("dlopen: {err}"));
        }
        let sym = |name: &str| {
            let c = CString::new(name).expect("a symbol name");
            libc::dlsym(h, c.as_ptr())
        };
        let (e, w) = (
            sym("evtrace_bench_lttng_enabled"),
            sym("evtrace_bench_lttng_write"),
        );
        if e.is_null() || w.is_null() {
            return Err("the peer library lacks its entry points".into());
        }
        Ok(Lttng {
            enabled: std::mem::transmute::<*mut libc::c_void, EnabledFn>(e),
            write: std::mem::transmute::<*mut libc::c_void, WriteFn>(w),
        })
    }
}

fn lttng(args: &[&str]) -> Result<(), String> {
    let out = Command::new("lttng")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run lttng: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "lttng {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A recording session of the benchmark event, destroyed when dropped.
struct Recording {
    name: String,
}

impl Recording {
    /// Creates and starts a session writing to `dir`. `channel` gives the sub-buffer size and
    /// count; `None` keeps LTTng's defaults for a user-space channel.
    fn start(
        name: &str,
        dir: &Path,
        channel: Option<(&str, u32)>,
        l: &Lttng,
    ) -> Result<Recording, String> {
        let _ = Command::new("lttng").args(["destroy", name]).output();
        util::cleanup(dir, false);
        lttng(&["create", name, &format!("--output={}", dir.display())])?;
        let r = Recording {
            name: name.to_string(),
        };
        let mut enable = vec!["enable-event", "--userspace", "--session", name];
        let sub;
        let num;
        if let Some((size, count)) = channel {
            sub = format!("--subbuf-size={size}");
            num = format!("--num-subbuf={count}");
            lttng(&[
                "enable-channel",
                "--userspace",
                "--session",
                name,
                "--buffers-uid",
                "--discard",
                &sub,
                &num,
                "bench",
            ])?;
            enable.extend(["--channel", "bench"]);
        }
        // Without a channel, enable-event makes `channel0`: per-user buffers, discard mode.
        enable.push("evtrace_bench:sample");
        lttng(&enable)?;
        lttng(&["start", name])?;
        drive::wait_until(|| l.is_enabled())
            .map_err(|()| "the tracepoint was not enabled 10 s after `lttng start`".to_string())?;
        Ok(r)
    }

    /// Stops the session (lttng waits until the consumer has written everything out).
    fn stop(self) -> Result<(), String> {
        lttng(&["stop", &self.name])
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        let _ = Command::new("lttng").args(["destroy", &self.name]).output();
    }
}

/// Reads a trace back with babeltrace2: (events = output lines, discarded events it reports).
fn count(dir: &Path) -> Result<(u64, u64), String> {
    let mut child = Command::new("babeltrace2")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run babeltrace2: {e}"))?;
    let mut err = child.stderr.take().expect("piped stderr");
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let lines = util::count_newlines(child.stdout.take().expect("piped stdout"))
        .map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    let errs = errs.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("babeltrace2 failed: {}", errs.trim()));
    }
    Ok((lines, discarded(&errs)))
}

/// Sums babeltrace2's "Tracer discarded N events" warnings.
fn discarded(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find("discarded ")? + "discarded ".len()..];
            let n = rest.split_whitespace().next()?;
            rest.contains("event")
                .then(|| n.parse::<u64>().ok())
                .flatten()
        })
        .sum()
}

/// The consumer daemon's peak RSS, if one runs (it holds the per-user buffers' other mapping).
fn consumerd_rss_kb() -> Option<u64> {
    let mut best = None;
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "lttng-consumerd" {
            best = best.max(util::status_kb(&pid, "VmHWM:"));
        }
    }
    best
}

/// Disabled (registered, no session), then a session with 8 x 1 MiB sub-buffers per CPU in bursts.
pub fn micro(opts: &Opts) -> Result<Value, String> {
    let l = load(opts)?;
    let disabled = drive::disabled_ns(&l, opts);
    let (mono, real, tsc) = drive::clock_reads(opts);
    let dir = opts.data_dir.join("lttng-micro");
    let rec = Recording::start(
        &format!("evtrace-bench-micro-{}", std::process::id()),
        &dir,
        Some(("1M", 8)),
        &l,
    )?;
    let b1 = drive::bursts(&l, 1, opts, 0, &mut || {});
    let b2 = drive::bursts(&l, 2, opts, b1.attempted, &mut || {});
    rec.stop()?;
    let (recorded, lost) = count(&dir)?;
    util::cleanup(&dir, opts.keep);
    Ok(json!({
        "disabled_ns": disabled,
        "clock": { "mono": mono, "real": real, "tsc": tsc },
        // LTTng-UST's default clock source is CLOCK_MONOTONIC.
        "enabled": [{ "row": "mono", "label": "MONOTONIC", "ns": b1.ns_per_event, "clock_read_ns": mono }],
        "one_thread_eps": b1.events_per_sec,
        "two_thread_eps": b2.events_per_sec,
        "micro_attempted": b1.attempted + b2.attempted,
        "micro_recorded": recorded,
        "micro_lost_reported": lost,
    }))
}

/// LTTng's default user-space channel for --sustain-secs.
pub fn sustain(opts: &Opts) -> Result<Value, String> {
    let l = load(opts)?;
    let dir = opts.data_dir.join("lttng-sustain");
    let rec = Recording::start(
        &format!("evtrace-bench-sustain-{}", std::process::id()),
        &dir,
        None,
        &l,
    )?;
    let (attempted, elapsed) = drive::sustain(
        &l,
        opts.sustain_threads,
        opts.sustain_secs,
        opts.pace,
        &mut || {},
        Duration::from_millis(50),
    );
    let rss = util::peak_rss_kb();
    rec.stop()?;
    let consumerd = consumerd_rss_kb();
    let t = Instant::now();
    let (recorded, lost) = count(&dir)?;
    let count_secs = t.elapsed().as_secs_f64();
    let bytes = util::disk_bytes(&dir);
    util::cleanup(&dir, opts.keep);
    Ok(json!({
        "threads": opts.sustain_threads,
        "secs": elapsed.as_secs_f64(),
        "attempted": attempted,
        "recorded": recorded,
        "lost_reported": lost,
        "lost_how": "babeltrace2 discarded-event warnings",
        "bytes": bytes,
        "rss_kb": rss,
        "extra_rss_kb": consumerd,
        "extra_rss_what": "lttng-consumerd",
        "count_secs": count_secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::discarded;

    #[test]
    fn sums_discarded_warnings() {
        let t = "WARNING: Tracer discarded 12 events between [a] and [b] in trace \"x\"\nother\nWARNING: Tracer discarded 3 events between ...\n";
        assert_eq!(discarded(t), 15);
        assert_eq!(discarded("nothing"), 0);
    }
}
