//! The kernel logger end to end: `evtrace start "NT Kernel Logger"` in the daemon, a child
//! process doing the things the flags watch, the file decoded with `evtrace fmt --json`.
//!
//! The child is this test binary run again with `EVTRACE_TEST_KERNEL_CHILD` set. Its sources
//! (perf_event_open on every processor, the netlink process connector, tracefs) need root: the
//! tests that start a kernel logger skip, saying so, where the user is not root.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

mod common;
use common::*;

const KERNEL: &str = "NT Kernel Logger";

/// The kernel logger sees the whole machine: one test's work would be another's events (and
/// fill its rings), so the tests here take turns.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The file system type of the mount holding `path`, from /proc/self/mounts.
fn fs_type(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, at, ty) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(at).then(|| (at.len(), ty.to_string()))
        })
        .max()
        .map(|(_, ty)| ty)
        .unwrap_or_default()
}

fn root_or_skip(test: &str) -> bool {
    if euid() == 0 {
        return true;
    }
    skip(&format!(
        "{test}: the kernel logger's sources (system-wide perf events, the netlink process connector, tracefs) need root, and this runs as uid {}",
        euid()
    ));
    false
}

/// The child: one thread, one process (`/bin/sh -c "sleep 0.2; exit 3"`: command lines are
/// read from /proc when the exec is seen, so the process lives a moment), one library, one TCP
/// connection
/// on loopback; it prints what it did, one `key value...` line each.
fn child_role() -> bool {
    if let Ok(to) = std::env::var("EVTRACE_TEST_KERNEL_CONNECT") {
        // Connections nobody answers: each SYN goes out again, about once a second. Three at
        // once, because this kernel does not hand perf every retransmit it makes (`perf record`
        // misses some too).
        println!("pid {}", std::process::id());
        let tries: Vec<_> = (0..3)
            .map(|i| {
                let mut addr: std::net::SocketAddr = to.parse().unwrap();
                addr.set_port(addr.port() + i);
                std::thread::spawn(move || {
                    let r =
                        TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(3500));
                    assert!(r.is_err(), "{addr} answered");
                })
            })
            .collect();
        for t in tries {
            t.join().unwrap();
        }
        return true;
    }
    if std::env::var_os("EVTRACE_TEST_KERNEL_CHILD").is_none() {
        return false;
    }
    println!("pid {}", std::process::id());
    let tid = std::thread::spawn(|| {
        // SAFETY: gettid has no arguments and cannot fail.
        unsafe { libc::gettid() }
    })
    .join()
    .unwrap();
    println!("thread {tid}");
    let mut sh = Command::new("/bin/sh")
        .args(["-c", "sleep 0.2; exit 3"])
        .spawn()
        .unwrap();
    let spawned = sh.id();
    assert_eq!(sh.wait().unwrap().code(), Some(3));
    println!("process {spawned}");
    // SAFETY: a NUL-terminated name and a valid flag; the handle is deliberately kept open.
    let handle = unsafe { libc::dlopen(c"libresolv.so.2".as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null(), "dlopen libresolv.so.2 failed");
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let code = maps
        .lines()
        .find(|l| l.contains("libresolv") && l.split_whitespace().nth(1) == Some("r-xp"))
        .expect("libresolv's code mapped");
    let start = code.split('-').next().unwrap();
    let path = code.split_whitespace().last().unwrap();
    println!("image {} {path}", u64::from_str_radix(start, 16).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", server)).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    println!("tcp {server} {}", client.local_addr().unwrap().port());
    // And one on IPv6 loopback, where the machine has it.
    if let Ok(listener) = TcpListener::bind("[::1]:0") {
        let server = listener.local_addr().unwrap().port();
        let client = TcpStream::connect(("::1", server)).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        println!("tcp6 {server} {}", client.local_addr().unwrap().port());
    }
    // And one to a process that listens but is not running when the connection is made.
    if let Ok(port) = std::env::var("EVTRACE_TEST_KERNEL_PARENT_PORT") {
        let c = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
        println!("tcp_parent {}", c.local_addr().unwrap().port());
    }
    true
}

/// Runs the child and returns what it printed, by key.
fn run_child(test: &str, parent_port: u16) -> std::collections::HashMap<String, Vec<String>> {
    let out = dies_with_test(&mut Command::new(std::env::current_exe().unwrap()))
        .args(["--exact", test, "--nocapture"])
        .env("EVTRACE_TEST_KERNEL_CHILD", "1")
        .env("EVTRACE_TEST_KERNEL_PARENT_PORT", parent_port.to_string())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the child failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace().map(str::to_string);
            let k = w.next()?;
            matches!(
                k.as_str(),
                "pid" | "thread" | "process" | "image" | "tcp" | "tcp6" | "tcp_parent"
            )
            .then(|| (k, w.collect()))
        })
        .collect()
}

/// Every event of `file`, as `evtrace fmt --json` prints them: the kernel logger's classic
/// records by their group and event type name ([`kernel_view`]).
fn events(dir: &Path, file: &Path) -> Vec<Value> {
    let text = run_ok(evtrace(dir).args(["fmt", "--json"]).arg(file));
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(kernel_view)
        .filter(|v| v["type"] == "event" || v["kernel"] == true)
        .collect()
}

/// The events of `provider`/`event` whose fields include every pair of `want`.
fn find<'a>(
    all: &'a [Value],
    provider: &str,
    event: &str,
    want: &[(&str, Value)],
) -> Vec<&'a Value> {
    all.iter()
        .filter(|e| e["provider"] == provider && e["event"] == event)
        .filter(|e| want.iter().all(|(k, v)| e["fields"][*k] == *v))
        .collect()
}

/// Every kernel record of `all` came out named by its class and decoded in full.
fn every_kernel_record_decoded(all: &[Value]) {
    let kernel: Vec<&Value> = all.iter().filter(|e| e["kernel"] == true).collect();
    assert!(!kernel.is_empty());
    let bad: Vec<&&Value> = kernel
        .iter()
        .filter(|e| {
            e["event"].as_str().is_none_or(|n| n.starts_with("type "))
                || !e["fields"].is_object()
                || !e["decode_error"].is_null()
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} undecoded: {bad:?}",
        bad.len(),
        kernel.len()
    );
}

/// The independent ETL readers agree with ours on `file`'s kernel records (`all`, as
/// [`events`] gives them): dissect.etl reads each as a system-header record with the same
/// HookId, in the same order; etl-parser's own MOF classes decode the Process, Thread and Image
/// records it knows to the same ids and names. Needs the Python that `.ci/run` sets up
/// (`EVTRACE_PYTHON`); says why it skips without one, unless CI requires it.
fn readers_agree(file: &Path, all: &[Value]) {
    every_kernel_record_decoded(all);
    let Some(py) = readers::python() else {
        return;
    };
    let v = readers::read_with(&py, file, &[]);
    let ds = &v["dissect"];
    assert!(ds.get("fatal").is_none(), "dissect: {ds}");
    // Files hold records in buffer order, the reader merges processors by time: as multisets.
    let mut theirs: Vec<u64> = ds["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "SystemHeader")
        .map(|r| r["hook_id"].as_u64().unwrap())
        .skip(1) // the log-file header
        .collect();
    let mut ours: Vec<u64> = all.iter().map(|e| e["hook_id"].as_u64().unwrap()).collect();
    theirs.sort_unstable();
    ours.sort_unstable();
    assert_eq!(theirs, ours, "dissect.etl's HookIds");

    let ep = &v["etl_parser"];
    assert!(ep.get("fatal").is_none(), "etl-parser: {ep}");
    let system = ep["system"].as_array().unwrap();
    assert_eq!(system.len(), all.len(), "etl-parser's kernel records");
    // What etl-parser's classes know (Process V4, Thread V3, Image V3), by the fields both have.
    let key = |hook: u64, f: &Value, tid: &Value, name: &Value| {
        format!(
            "{hook:#06x} pid={} parent={} tid={tid} size={} exit={} name={name}",
            f["ProcessId"], f["ParentId"], f["ImageSize"], f["ExitStatus"]
        )
    };
    let known =
        |hook: u64| matches!(hook, 0x0301..=0x0303 | 0x0501..=0x0503 | 0x1402..=0x1403 | 0x140A);
    let mut theirs: Vec<String> = system
        .iter()
        .filter(|r| known(r["group"].as_u64().unwrap() << 8 | r["type"].as_u64().unwrap()))
        .map(|r| {
            assert!(r.get("error").is_none(), "etl-parser: {r}");
            let hook = r["group"].as_u64().unwrap() << 8 | r["type"].as_u64().unwrap();
            let name = r.get("image_file_name").or(r.get("image_filename"));
            key(
                hook,
                &r["fields"],
                &r["fields"]["ThreadId"],
                name.unwrap_or(&Value::Null),
            )
        })
        .collect();
    let mut ours: Vec<String> = all
        .iter()
        .filter(|e| known(e["hook_id"].as_u64().unwrap()))
        .map(|e| {
            let f = &e["fields"];
            let name = if f["FileName"].is_null() {
                &f["ImageFileName"]
            } else {
                &f["FileName"]
            };
            key(e["hook_id"].as_u64().unwrap(), f, &f["TThreadId"], name)
        })
        .collect();
    theirs.sort();
    ours.sort();
    assert!(
        !ours.is_empty(),
        "no record etl-parser knows among {}",
        all.len()
    );
    assert_eq!(
        theirs, ours,
        "etl-parser's decoding of the Process, Thread and Image records"
    );
}

fn num(s: &str) -> Value {
    Value::from(s.parse::<u64>().unwrap())
}

#[test]
fn the_kernel_logger_records_a_childs_process_thread_image_and_connection() {
    const TEST: &str = "the_kernel_logger_records_a_childs_process_thread_image_and_connection";
    if child_role() || !root_or_skip(TEST) {
        return;
    }
    let _turn = turn();
    let dir = temp_dir("kernel-child");
    let _daemon = start_daemon(&dir);
    let file = dir.join("kernel.etl");
    let started = run_ok(
        evtrace(&dir)
            .args(["start", KERNEL, "-f"])
            .arg(&file)
            .args(["--kernel-flags", "process,thread,image_load,network_tcpip"]),
    );
    assert!(
        started.contains("process|thread|image_load|network_tcpip"),
        "{started}"
    );
    // This process listens; the child connects while this one only waits for it: the accept
    // happens in the kernel, in the child's time, and must still be this process's.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let parent_port = listener.local_addr().unwrap().port();
    let did = run_child(TEST, parent_port);
    let _ = listener.accept().unwrap();
    let stopped = run_ok(evtrace(&dir).args(["stop", KERNEL]));
    assert_eq!(field(&stopped, "Events Lost:"), 0, "{stopped}");
    let all = events(&dir, &file);

    let pid = num(&did["pid"][0]);
    let me = Value::from(std::process::id());
    let exe = std::env::current_exe()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // The child itself: started by this process, running this test binary.
    let start = find(
        &all,
        "Process",
        "Start",
        &[("ProcessId", pid.clone()), ("ParentId", me.clone())],
    );
    assert_eq!(start.len(), 1, "the child's start: {start:?}");
    let exec = find(&all, "Process", "Exec", &[("ProcessId", pid.clone())]);
    assert!(
        exec.iter()
            .any(|e| e["fields"]["ImageFileName"] == exe.as_str()
                && e["fields"]["CommandLine"].as_str().unwrap().contains(TEST)),
        "the child's exec of {exe}: {exec:?}"
    );

    // Its thread: started and ended, in the child's process.
    let tid = num(&did["thread"][0]);
    for event in ["Start", "End"] {
        let t = find(
            &all,
            "Thread",
            event,
            &[("ProcessId", pid.clone()), ("TThreadId", tid.clone())],
        );
        assert_eq!(t.len(), 1, "thread {event}: {t:?}");
        assert_eq!(t[0]["pid"], pid);
        assert_eq!(t[0]["tid"], tid);
    }

    // The process it spawned: started from it, exec'd /bin/sh with its command line, ended with 3.
    let spawned = num(&did["process"][0]);
    let s = find(
        &all,
        "Process",
        "Start",
        &[("ProcessId", spawned.clone()), ("ParentId", pid.clone())],
    );
    assert_eq!(s.len(), 1, "{s:?}");
    let e = find(&all, "Process", "Exec", &[("ProcessId", spawned.clone())]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0]["fields"]["ImageFileName"], "/bin/sh");
    assert_eq!(
        e[0]["fields"]["CommandLine"],
        "/bin/sh -c sleep 0.2; exit 3"
    );
    let end = find(&all, "Process", "End", &[("ProcessId", spawned.clone())]);
    assert_eq!(end.len(), 1, "{end:?}");
    assert_eq!(end[0]["fields"]["ExitStatus"], 3);
    assert_eq!(end[0]["fields"]["ParentId"], pid);

    // The library: its code mapping, where the child's own maps file says it is.
    let (base, path) = (num(&did["image"][0]), did["image"][1].as_str());
    let img = find(
        &all,
        "Image",
        "Load",
        &[("ProcessId", pid.clone()), ("FileName", Value::from(path))],
    );
    assert_eq!(img.len(), 1, "{path}: {img:?}");
    assert_eq!(img[0]["fields"]["ImageBase"], base, "{path}");
    assert_eq!(img[0]["pid"], pid);

    // The connection: connected and accepted by the child, both ends on loopback.
    let (server, client) = (num(&did["tcp"][0]), num(&did["tcp"][1]));
    let lo = Value::from("127.0.0.1");
    let connect = find(
        &all,
        "TcpIp",
        "ConnectIPV4",
        &[
            ("PID", pid.clone()),
            ("saddr", lo.clone()),
            ("daddr", lo.clone()),
            ("sport", client.clone()),
            ("dport", server.clone()),
        ],
    );
    assert_eq!(connect.len(), 1, "{connect:?}");
    let accept = find(
        &all,
        "TcpIp",
        "AcceptIPV4",
        &[
            ("PID", pid.clone()),
            ("saddr", lo.clone()),
            ("daddr", lo),
            ("sport", server),
            ("dport", client),
        ],
    );
    assert_eq!(accept.len(), 1, "{accept:?}");

    let (server, client) = (Value::from(parent_port), num(&did["tcp_parent"][0]));
    let accept = find(
        &all,
        "TcpIp",
        "AcceptIPV4",
        &[("sport", server.clone()), ("dport", client.clone())],
    );
    assert_eq!(accept.len(), 1, "{accept:?}");
    assert_eq!(
        accept[0]["fields"]["PID"], me,
        "accepted by the listening process"
    );
    let connect = find(
        &all,
        "TcpIp",
        "ConnectIPV4",
        &[("sport", client), ("dport", server)],
    );
    assert_eq!(connect.len(), 1, "{connect:?}");
    assert_eq!(connect[0]["fields"]["PID"], pid, "connected by the child");

    match did.get("tcp6") {
        Some(ports) => {
            let (server, client) = (num(&ports[0]), num(&ports[1]));
            let lo = Value::from("::1");
            let want = |sport: &Value, dport: &Value| {
                [
                    ("PID", pid.clone()),
                    ("saddr", lo.clone()),
                    ("daddr", lo.clone()),
                    ("sport", sport.clone()),
                    ("dport", dport.clone()),
                ]
            };
            let c = find(&all, "TcpIp", "ConnectIPV6", &want(&client, &server));
            assert_eq!(c.len(), 1, "{c:?}");
            let a = find(&all, "TcpIp", "AcceptIPV6", &want(&server, &client));
            assert_eq!(a.len(), 1, "{a:?}");
        }
        None => skip(&format!(
            "{TEST}: no IPv6 loopback here, IPv6 events not checked"
        )),
    }

    readers_agree(&file, &all);

    // Time order holds across sources: start, exec, the spawned process, its end.
    let at = |v: &Value| v["raw_timestamp"].as_i64().unwrap();
    assert!(at(start[0]) <= at(s[0]) && at(s[0]) <= at(e[0]) && at(e[0]) <= at(end[0]));
}

#[test]
fn the_seed_example_tcpip_events_into_a_5_mb_circular_file() {
    const TEST: &str = "the_seed_example_tcpip_events_into_a_5_mb_circular_file";
    if child_role() || !root_or_skip(TEST) {
        return;
    }
    let _turn = turn();
    let dir = temp_dir("kernel-circular");
    let _daemon = start_daemon(&dir);
    let file = dir.join("tcpip.etl");
    run_ok(
        evtrace(&dir)
            .args(["start", KERNEL, "-f"])
            .arg(&file)
            .args(["--cir", "5", "--kernel-flags", "network_tcpip"]),
    );
    // Enough connections to go round a 5 MB file: each makes about ten TCP events.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut last = 0;
    for _ in 0..12_000 {
        let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = listener.accept().unwrap();
        last = c.local_addr().unwrap().port();
    }
    let stopped = run_ok(evtrace(&dir).args(["stop", KERNEL]));
    assert!(
        stopped.contains("EVENT_TRACE_FILE_MODE_CIRCULAR"),
        "{stopped}"
    );
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(size <= 5 << 20, "a 5 MB circular file holds {size} bytes");
    assert!(size > 4 << 20, "the file did not fill: {size} bytes");
    let all = events(&dir, &file);
    assert!(
        all.iter().all(|e| e["provider"] == "TcpIp"),
        "only TCP/IP events"
    );
    // The newest connection is there (the last connect recorded is from the last source port:
    // with 12,000 connections the kernel may have given that port out before, so it is not
    // unique); the oldest were overwritten.
    let me = Value::from(std::process::id());
    let connects = find(
        &all,
        "TcpIp",
        "ConnectIPV4",
        &[("PID", me), ("dport", Value::from(port))],
    );
    let newest = connects
        .iter()
        .max_by_key(|e| e["raw_timestamp"].as_i64())
        .expect("connects to the listener");
    assert_eq!(
        newest["fields"]["sport"],
        Value::from(last),
        "the last connection ({last}): {newest}"
    );
    assert!(
        connects.len() > 1000 && connects.len() < 12_000,
        "{} of 12000 connections kept",
        connects.len()
    );
}

#[test]
fn there_is_one_kernel_logger_and_it_enables_no_providers() {
    const TEST: &str = "there_is_one_kernel_logger_and_it_enables_no_providers";
    if child_role() {
        return;
    }
    let _turn = turn();
    let dir = temp_dir("kernel-rules");
    let _daemon = start_daemon(&dir);
    let fails = |args: &[&str]| -> String {
        let out = evtrace(&dir).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let k = dir.join("k.etl");
    let k = k.to_str().unwrap();
    // Checked before any source is opened, so as any user.
    let e = fails(&["start", KERNEL, "-f", k, "--paged"]);
    assert!(
        e.contains("ERROR_INVALID_PARAMETER")
            && e.contains("EVENT_TRACE_USE_PAGED_MEMORY")
            && e.contains("cannot be used with the NT Kernel Logger"),
        "{e}"
    );
    let e = fails(&["start", KERNEL, "-f", k, "--gs"]);
    assert!(
        e.contains("ERROR_INVALID_PARAMETER") && e.contains("GLOBAL_SEQUENCE"),
        "{e}"
    );
    let e = fails(&["start", KERNEL, "-f", k, "--kernel-flags", "registry"]);
    assert!(
        e.contains("ERROR_NOT_SUPPORTED") && e.contains("registry"),
        "{e}"
    );
    let e = fails(&["start", KERNEL, "-f", k, "--kernel-flags", "proces"]);
    assert!(e.contains("\"proces\" is not a kernel enable flag"), "{e}");
    let o = dir.join("o.etl");
    let e = fails(&[
        "start",
        "Ordinary",
        "-f",
        o.to_str().unwrap(),
        "--kernel-flags",
        "process",
    ]);
    assert!(
        e.contains("ERROR_INVALID_PARAMETER") && e.contains("only system loggers"),
        "{e}"
    );

    if !root_or_skip(TEST) {
        return;
    }
    run_ok(evtrace(&dir).args(["start", KERNEL, "-f", k, "--kernel-flags", "process"]));
    let e = fails(&[
        "start",
        "nt kernel logger",
        "-f",
        dir.join("k2.etl").to_str().unwrap(),
    ]);
    assert!(e.contains("ERROR_ALREADY_EXISTS"), "{e}");
    let e = fails(&["enable", KERNEL, "Evtrace-Test-Kernel"]);
    assert!(
        e.contains("enable flags") && e.contains("not by enabling providers"),
        "{e}"
    );
    let q = run_ok(evtrace(&dir).args(["query", KERNEL]));
    assert!(
        q.contains("Enable Flags:          0x00000001 process"),
        "{q}"
    );
    run_ok(evtrace(&dir).args(["stop", KERNEL]));
}

#[test]
fn a_kernel_logger_without_its_sources_is_refused_with_the_reason() {
    const TEST: &str = "a_kernel_logger_without_its_sources_is_refused_with_the_reason";
    if child_role() {
        return;
    }
    // A daemon of an ordinary user: as root, start one as uid 65534; otherwise this user is one.
    let dir = temp_dir("kernel-unprivileged");
    // A Global Logger made the kernel logger at the daemon's start: refused too, with a Status.
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("GlobalLogger"),
        format!(
            "Start = 1\nEnableKernelFlags = process\nFileName = {}\n",
            dir.join("gl.etl").display()
        ),
    )
    .unwrap();
    let _daemon = start_nobody_daemon(&dir, &[&conf, &conf.join("GlobalLogger")]);
    let as_daemon = |c: &mut Command| -> std::process::Output { as_nobody(c).output().unwrap() };
    let shown =
        String::from_utf8_lossy(&as_daemon(evtrace(&dir).args(["globallogger", "show"])).stdout)
            .into_owned();
    assert!(
        shown.contains("Status = 5\n") || shown.contains("Status = 50\n"),
        "the Global Logger as kernel logger without its sources: {shown}"
    );
    for (flags, source) in [
        ("process", ""),
        ("image_load", "perf event"),
        ("network_tcpip", ""),
    ] {
        let out = as_daemon(
            evtrace(&dir)
                .args(["start", KERNEL, "-f"])
                .arg(dir.join("k.etl"))
                .args(["--kernel-flags", flags]),
        );
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flags}: started without its source");
        assert!(
            e.contains(flags) && e.contains(source) && e.contains("root"),
            "{flags}: {e}"
        );
        assert!(
            e.contains("ERROR_ACCESS_DENIED") || e.contains("ERROR_NOT_SUPPORTED"),
            "{flags}: {e}"
        );
        // Nothing half-started.
        let list =
            String::from_utf8_lossy(&as_daemon(evtrace(&dir).arg("list")).stdout).into_owned();
        assert!(!list.contains(KERNEL), "{list}");
    }
    // A system logger without flags runs as anyone; given flags it cannot serve here, UPDATE
    // fails whole: no flags, and the flush timer of the same request not applied either.
    let out = as_daemon(
        evtrace(&dir)
            .args(["start", "SysU", "--systemlogger", "-f"])
            .arg(dir.join("sysu.etl")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out =
        as_daemon(evtrace(&dir).args(["update", "SysU", "--kernel-flags", "process", "--ft", "3"]));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("process") && e.contains("root"),
        "{e}"
    );
    let q = String::from_utf8_lossy(&as_daemon(evtrace(&dir).args(["query", "SysU"])).stdout)
        .into_owned();
    assert!(
        q.contains("Flush Timer:           0 s") && !q.contains("Enable Flags"),
        "{q}"
    );
    println!(
        "{TEST}: refused as uid {}",
        if euid() == 0 { NOBODY } else { euid() }
    );
}

#[test]
fn the_global_logger_with_enable_kernel_flags_is_the_kernel_logger() {
    const TEST: &str = "the_global_logger_with_enable_kernel_flags_is_the_kernel_logger";
    if child_role() || !root_or_skip(TEST) {
        return;
    }
    let _turn = turn();
    let dir = temp_dir("kernel-global");
    let file = dir.join("gl.etl");
    run_ok(
        evtrace(&dir)
            .args([
                "globallogger",
                "create",
                "--kernel-flags",
                "network_tcpip",
                "-f",
            ])
            .arg(&file),
    );
    let _daemon = start_daemon(&dir);
    let q = run_ok(evtrace(&dir).args(["query", "GlobalLogger"]));
    assert!(
        q.contains("Enable Flags:          0x00010000 network_tcpip"),
        "{q}"
    );
    let shown = run_ok(evtrace(&dir).args(["globallogger", "show"]));
    assert!(shown.contains("Status = 0"), "{shown}");
    let out = evtrace(&dir)
        .args(["start", KERNEL, "-f"])
        .arg(dir.join("k.etl"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("ERROR_ALREADY_EXISTS") && e.contains("GlobalLogger"),
        "{e}"
    );

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = listener.accept().unwrap();
    run_ok(evtrace(&dir).args(["stop", "GlobalLogger"]));
    let all = events(&dir, &file);
    let me = Value::from(std::process::id());
    let c = find(
        &all,
        "TcpIp",
        "ConnectIPV4",
        &[
            ("PID", me),
            ("sport", Value::from(client.local_addr().unwrap().port())),
            ("dport", Value::from(port)),
        ],
    );
    assert_eq!(c.len(), 1, "{c:?}");
}

#[test]
fn disk_io_context_switches_page_faults_system_calls_and_samples_are_recorded() {
    const TEST: &str = "disk_io_context_switches_page_faults_system_calls_and_samples_are_recorded";
    if child_role() || !root_or_skip(TEST) {
        return;
    }
    let _turn = turn();
    let dir = temp_dir("kernel-more");
    let _daemon = start_daemon(&dir);
    let file = dir.join("more.etl");
    run_ok(
        evtrace(&dir)
            .args(["start", KERNEL, "-f"])
            .arg(&file)
            .args(["-b", "1024", "--max", "200"])
            .args([
                "--kernel-flags",
                "disk_io,cswitch,memory_page_faults,systemcall,profile",
            ]),
    );
    // The work, on one thread whose id the events must carry.
    let (tid, fault_range) = std::thread::spawn(|| {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::gettid() } as u64;
        // Disk: 4 MB of new data in a file on a real disk (beside the test binary), synced.
        let path = std::env::current_exe()
            .unwrap()
            .with_extension("kernel-disk");
        let mut f = std::fs::File::create(&path).unwrap();
        let block: Vec<u8> = (0..1 << 20).map(|i| (i * 7 + 3) as u8).collect();
        for _ in 0..4 {
            std::io::Write::write_all(&mut f, &block).unwrap();
        }
        f.sync_all().unwrap();
        drop(f);
        std::fs::remove_file(&path).unwrap();
        // Page faults: fresh memory, touched.
        let mut fresh = vec![0u8; 8 << 20];
        for i in (0..fresh.len()).step_by(4096) {
            fresh[i] = 1;
        }
        let range = (
            fresh.as_ptr() as u64,
            fresh.as_ptr() as u64 + fresh.len() as u64,
        );
        std::hint::black_box(&fresh);
        // System calls: 500 getppid.
        for _ in 0..500 {
            // SAFETY: getppid has no arguments and cannot fail.
            std::hint::black_box(unsafe { libc::getppid() });
        }
        // Context switches: sleeps.
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Profile samples: 300 ms of work.
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        let mut x = 0u64;
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        (tid, range)
    })
    .join()
    .unwrap();
    let stopped = run_ok(evtrace(&dir).args(["stop", KERNEL]));
    let all = events(&dir, &file);
    every_kernel_record_decoded(&all);
    let lost = field(&stopped, "Events Lost:");
    let mine = |provider: &str, event: &str| -> Vec<&Value> {
        all.iter()
            .filter(|e| e["provider"] == provider && e["event"] == event && e["tid"] == tid)
            .collect()
    };
    // The 4 MB reach the disk, issued by the syncing thread or by a block-layer worker.
    let bin_dir = std::env::current_exe().unwrap();
    let on = fs_type(&bin_dir);
    if on == "tmpfs" || on == "ramfs" {
        skip(&format!(
            "{TEST}: disk I/O not checked: {} is on {on}",
            bin_dir.display()
        ));
    } else {
        let written: u64 = all
            .iter()
            .filter(|e| e["provider"] == "DiskIo" && e["event"] == "WriteInit")
            .map(|e| e["fields"]["TransferSize"].as_u64().unwrap())
            .sum();
        assert!(
            written >= 4 << 20,
            "{written} bytes of disk writes issued (lost {lost})"
        );
    }
    // Completions, where this kernel traces them, name the request's issuer and its time.
    for done in all
        .iter()
        .filter(|e| e["provider"] == "DiskIo" && e["event"] == "Write")
    {
        if done["fields"]["IssuingThreadId"] == tid {
            assert!(
                done["fields"]["HighResResponseTime"].as_u64().unwrap() > 0,
                "{done}"
            );
        }
    }
    let switches: Vec<&Value> = all
        .iter()
        .filter(|e| e["event"] == "CSwitch" && e["fields"]["OldThreadId"] == tid)
        .collect();
    assert!(
        switches.len() >= 5,
        "{} context switches away",
        switches.len()
    );
    let faults = mine("PageFault", "TransitionFault");
    let in_range = faults
        .iter()
        .filter(|e| {
            let a = e["fields"]["VirtualAddress"].as_u64().unwrap();
            (fault_range.0..fault_range.1).contains(&a)
        })
        .count();
    assert!(
        in_range >= 1,
        "no fault in the touched memory among {}",
        faults.len()
    );
    let getppid = libc::SYS_getppid;
    let calls = mine("PerfInfo", "SysClEnter")
        .iter()
        .filter(|e| e["fields"]["SysCallNumber"] == getppid)
        .count();
    assert!(
        calls >= 500usize.saturating_sub(lost as usize),
        "{calls} getppid calls recorded, {lost} events lost"
    );
    let samples = mine("PerfInfo", "SampleProfile").len();
    assert!(
        samples >= 30,
        "{samples} profile samples in 300 ms at 1 kHz"
    );
}

#[test]
fn a_real_time_kernel_logger_delivers_to_its_consumer() {
    const TEST: &str = "a_real_time_kernel_logger_delivers_to_its_consumer";
    if child_role() || !root_or_skip(TEST) {
        return;
    }
    let _turn = turn();
    let dir = temp_dir("kernel-rt");
    let _daemon = start_daemon(&dir);
    run_ok(evtrace(&dir).args(["start", KERNEL, "--rt", "--kernel-flags", "process"]));
    let consumer = evtrace(&dir)
        .args(["fmt", "--json", "--rt", KERNEL])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Give the consumer a moment to attach; what comes before it waits in the backlog anyway.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut child = Command::new("/bin/true").spawn().unwrap();
    let pid = Value::from(child.id());
    assert!(child.wait().unwrap().success());
    // Within the flush timer (1 s for real-time sessions), then the end of the session.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    run_ok(evtrace(&dir).args(["stop", KERNEL]));
    let out = consumer.wait_with_output().unwrap();
    assert!(out.status.success());
    let got: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .map(kernel_view)
        .collect();
    let exec = find(&got, "Process", "Exec", &[("ProcessId", pid.clone())]);
    assert_eq!(
        exec.len(),
        1,
        "the consumer saw no exec of /bin/true ({pid})"
    );
    assert_eq!(exec[0]["fields"]["ImageFileName"], "/bin/true");
    assert_eq!(find(&got, "Process", "End", &[("ProcessId", pid)]).len(), 1);
}

/// A network namespace of the test's, removed when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn a_lost_syn_is_retransmitted_and_recorded_for_the_connecting_process() {
    const TEST: &str = "a_lost_syn_is_retransmitted_and_recorded_for_the_connecting_process";
    if child_role() || !root_or_skip(TEST) {
        return;
    }
    let _turn = turn();
    // A namespace where 10.9.0.2 is on a link but nobody answers: a veth pair whose other end
    // has no address, and a fixed neighbour entry so that the SYN does go out.
    let name = format!("evtrace-test-{}", std::process::id());
    let ip = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ip(&["netns", "add", &name]) {
        skip(&format!(
            "{TEST}: `ip netns add` failed (iproute2 and network namespaces needed)"
        ));
        return;
    }
    let ns = Netns(name.clone());
    let n = |rest: &[&str]| {
        let mut a = vec!["-n", ns.0.as_str()];
        a.extend_from_slice(rest);
        ip(&a)
    };
    let made = n(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"])
        && n(&["addr", "add", "10.9.0.1/24", "dev", "v0"])
        && n(&["link", "set", "v0", "up"])
        && n(&["link", "set", "v1", "up"])
        && n(&[
            "neigh",
            "add",
            "10.9.0.2",
            "lladdr",
            "02:00:00:00:00:01",
            "dev",
            "v0",
            "nud",
            "permanent",
        ]);
    if !made {
        skip(&format!("{TEST}: no veth pair in a network namespace here"));
        return;
    }
    // The link comes up (has carrier) a moment later; a SYN sent before goes nowhere at all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let shown = Command::new("ip")
            .args(["-n", &name, "link", "show", "v0"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&shown.stdout).contains("LOWER_UP") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "v0 never came up");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let dir = temp_dir("kernel-retransmit");
    let _daemon = start_daemon(&dir);
    // A round: the kernel logger on, three connections nobody answers, the logger off. Under
    // CPU contention, after earlier kernel-logger tests in the same process, this kernel has at
    // times handed perf none of a round's retransmits while tracefs showed them all (2 runs of
    // 5 on a loaded machine); a round that sees none is tried again, at most three in all.
    let round = |attempt: u32| -> (u64, Vec<serde_json::Value>) {
        let file = dir.join(format!("retransmit{attempt}.etl"));
        run_ok(
            evtrace(&dir)
                .args(["start", KERNEL, "-f"])
                .arg(&file)
                .args(["--kernel-flags", "network_tcpip"]),
        );
        let printed = run_ok(
            Command::new("ip")
                .args(["netns", "exec", &name])
                .arg(std::env::current_exe().unwrap())
                .args(["--exact", TEST, "--nocapture"])
                .env("EVTRACE_TEST_KERNEL_CONNECT", "10.9.0.2:80"),
        );
        let pid = printed
            .lines()
            .find_map(|l| l.strip_prefix("pid ")?.trim().parse::<u64>().ok())
            .expect("the child's pid");
        run_ok(evtrace(&dir).args(["stop", KERNEL]));
        (pid, events(&dir, &file))
    };
    let wanted = |pid: u64| {
        [
            ("PID", Value::from(pid)),
            ("saddr", Value::from("10.9.0.1")),
            ("daddr", Value::from("10.9.0.2")),
        ]
    };
    let mut attempt = 1;
    let (pid, all, again) = loop {
        let (pid, all) = round(attempt);
        // The SYNs went out again from a timer, in whatever process ran then: they are still
        // the connecting process's.
        let again: Vec<serde_json::Value> = find(&all, "TcpIp", "RetransmitIPV4", &wanted(pid))
            .into_iter()
            .cloned()
            .collect();
        if !again.is_empty() || attempt == 3 {
            break (pid, all, again);
        }
        eprintln!("{TEST}: round {attempt} recorded no retransmit; trying again");
        attempt += 1;
    };
    let want = wanted(pid);
    assert!(
        !again.is_empty(),
        "no retransmit of a SYN to 10.9.0.2 by {pid} in {attempt} rounds"
    );
    for r in &again {
        assert_eq!(r["fields"]["OldState"], 2, "SYN_SENT: {r}");
        assert!(
            (80..83).contains(&r["fields"]["dport"].as_u64().unwrap()),
            "{r}"
        );
    }
    assert_eq!(
        find(&all, "TcpIp", "ConnectIPV4", &want).len(),
        0,
        "none connected"
    );
}

#[test]
fn system_loggers_take_kernel_events_by_their_flags_and_there_are_eight_at_most() {
    const TEST: &str =
        "system_loggers_take_kernel_events_by_their_flags_and_there_are_eight_at_most";
    if child_role() {
        return;
    }
    let _turn = turn();
    let dir = temp_dir("kernel-system-loggers");
    let _daemon = start_daemon(&dir);
    let file = |n: usize| dir.join(format!("s{n}.etl"));
    let start = |n: usize, extra: &[&str]| {
        evtrace(&dir)
            .args(["start", &format!("Sys{n}"), "--systemlogger", "-f"])
            .arg(file(n))
            .args(extra)
            .output()
            .unwrap()
    };
    // Checked before any source is opened, so as any user: pageable buffers, and the limit,
    // which an ordinary session does not count towards.
    let paged = start(0, &["--paged"]);
    let e = String::from_utf8_lossy(&paged.stderr);
    assert!(
        !paged.status.success()
            && e.contains("EVENT_TRACE_USE_PAGED_MEMORY")
            && e.contains("cannot be used with EVENT_TRACE_SYSTEM_LOGGER_MODE"),
        "{e}"
    );
    run_ok(
        evtrace(&dir)
            .args(["start", "Plain", "-f"])
            .arg(dir.join("plain.etl")),
    );
    for n in 1..=8 {
        let out = start(n, &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ninth = start(9, &[]);
    let e = String::from_utf8_lossy(&ninth.stderr);
    assert!(
        !ninth.status.success() && e.contains("ERROR_NO_SYSTEM_RESOURCES") && e.contains('8'),
        "{e}"
    );
    // An ordinary session takes no EnableFlags.
    let plain = evtrace(&dir)
        .args(["start", "Plain2", "-f"])
        .arg(dir.join("plain2.etl"))
        .args(["--kernel-flags", "process"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&plain.stderr);
    assert!(e.contains("only system loggers"), "{e}");
    for n in 2..=8 {
        run_ok(evtrace(&dir).args(["stop", &format!("Sys{n}")]));
    }

    if !root_or_skip(TEST) {
        return;
    }
    // A system logger given flags, at start or by UPDATE, records those kernel events, beside
    // the kernel logger.
    run_ok(evtrace(&dir).args(["update", "Sys1", "--kernel-flags", "process"]));
    let q = run_ok(evtrace(&dir).args(["query", "Sys1"]));
    assert!(
        q.contains("Enable Flags:          0x00000001 process"),
        "{q}"
    );
    let started = start(2, &["--kernel-flags", "process"]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    run_ok(
        evtrace(&dir)
            .args(["start", KERNEL, "-f"])
            .arg(dir.join("k.etl"))
            .args(["--kernel-flags", "process"]),
    );
    let mut t = Command::new("/bin/true").spawn().unwrap();
    let pid = Value::from(t.id());
    t.wait().unwrap();
    run_ok(evtrace(&dir).args(["stop", KERNEL]));
    run_ok(evtrace(&dir).args(["stop", "Sys1"]));
    run_ok(evtrace(&dir).args(["stop", "Sys2"]));
    for f in [file(1), file(2), dir.join("k.etl")] {
        let all = events(&dir, &f);
        let exec = find(&all, "Process", "Exec", &[("ProcessId", pid.clone())]);
        assert_eq!(exec.len(), 1, "{}: {exec:?}", f.display());
    }
}

#[test]
fn updating_the_enable_flags_changes_what_the_kernel_logger_records() {
    const TEST: &str = "updating_the_enable_flags_changes_what_the_kernel_logger_records";
    if child_role() {
        return;
    }
    let _turn = turn();
    let dir = temp_dir("kernel-update");
    let _daemon = start_daemon(&dir);
    run_ok(
        evtrace(&dir)
            .args(["start", "Plain", "-f"])
            .arg(dir.join("plain.etl")),
    );
    let out = evtrace(&dir)
        .args(["update", "Plain", "--kernel-flags", "process"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("ERROR_INVALID_PARAMETER") && e.contains("not a system logger"),
        "{e}"
    );
    if !root_or_skip(TEST) {
        return;
    }
    let file = dir.join("k.etl");
    run_ok(
        evtrace(&dir)
            .args(["start", KERNEL, "-f"])
            .arg(&file)
            .args(["--kernel-flags", "network_tcpip"]),
    );
    let connect = || {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _ = l.accept().unwrap();
        c.local_addr().unwrap().port()
    };
    let before = connect();
    // A flag with no source here is refused, and the logger keeps its flags.
    let out = evtrace(&dir)
        .args(["update", KERNEL, "--kernel-flags", "registry"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR_NOT_SUPPORTED"));
    let q = run_ok(evtrace(&dir).args(["query", KERNEL]));
    assert!(q.contains("0x00010000 network_tcpip"), "{q}");
    run_ok(evtrace(&dir).args(["update", KERNEL, "--kernel-flags", "process"]));
    let q = run_ok(evtrace(&dir).args(["query", KERNEL]));
    assert!(
        q.contains("Enable Flags:          0x00000001 process"),
        "{q}"
    );
    let after = connect();
    let mut t = Command::new("/bin/true").spawn().unwrap();
    let pid = Value::from(t.id());
    t.wait().unwrap();
    run_ok(evtrace(&dir).args(["stop", KERNEL]));
    let all = events(&dir, &file);
    let connects = |port: u16| {
        find(
            &all,
            "TcpIp",
            "ConnectIPV4",
            &[("sport", Value::from(port))],
        )
    };
    assert_eq!(
        connects(before).len(),
        1,
        "recorded while network_tcpip was on"
    );
    assert_eq!(
        connects(after).len(),
        0,
        "not recorded once only process was on"
    );
    assert_eq!(
        find(&all, "Process", "Exec", &[("ProcessId", pid)]).len(),
        1,
        "recorded once process was on"
    );
}
