//! Another user against the daemon and its files, and links planted at log file paths: the
//! runtime directory and socket are owner-only by default; log files are created 0640 and, on
//! root's shared daemon, given to the user who started the session; an unprivileged user
//! (uid 65534) can neither control, query, consume nor read another user's session or file,
//! sees only its own sessions in the list, and is refused (and counted) by SECURE sessions; a
//! symbolic link at a log file path is never followed, for root's sessions and private ones too.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{is_root, spawn};
use crate::lab::{output, read_back, Lab};
use crate::{Budget, Outcome};

/// The unprivileged user (nobody).
const NOBODY: u32 = 65534;
/// What a planted link points at: a file no session should write.
const PRECIOUS: &str = "precious: no session may write here\n";

/// Runs the scenario.
pub fn run(lab: &Lab, budget: &Budget, out: &mut Outcome) {
    if !is_root() {
        return out.skip("needs root, to run commands and producers as another user (uid 65534)");
    }
    let until = Instant::now() + budget.time();
    let mut round = 0;
    while round < 1 || (budget.is_long() && Instant::now() < until) {
        modes(lab, out, round);
        other_user(lab, out, round);
        links(lab, out, round);
        round += 1;
        if !out.passed() {
            break;
        }
    }
    out.figure(format!("{round} round(s) of the security checks"));
}

/// `c` run as uid and gid 65534, in a folder it may enter.
fn as_nobody<'a>(c: &'a mut Command, lab: &Lab) -> &'a mut Command {
    c.uid(NOBODY).gid(NOBODY).current_dir(lab.dir())
}

fn nobody(lab: &Lab, args: &[&str]) -> Result<String, String> {
    output(as_nobody(lab.evtrace().args(args), lab))
}

/// The count at the start of the `name` line of `evtrace query` output
/// (`Refused Producers:     1 (SECURE: user not allowed)`), 0 when the line is absent.
fn count(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn octal(m: Option<u32>) -> String {
    m.map_or("(missing)".into(), |m| format!("{m:o}"))
}

fn mode_of(p: &Path) -> Option<u32> {
    std::fs::metadata(p)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

/// The runtime directory and the socket: 0700/0600 by default, 0755/0666 with --shared.
fn modes(lab: &Lab, out: &mut Outcome, round: u32) {
    let socket = lab.dir().join("daemon.sock");
    for (flags, dir_mode, sock_mode) in [(&[][..], 0o700, 0o600), (&["--shared"][..], 0o755, 0o666)]
    {
        let what = if flags.is_empty() {
            "default"
        } else {
            "--shared"
        };
        let daemon = match lab.daemon_with(flags) {
            Ok(d) => d,
            Err(e) => return out.fail(format!("{what} daemon: {e}")),
        };
        let (d, s) = (mode_of(lab.dir()), mode_of(&socket));
        if round == 0 {
            out.figure(format!(
                "{what} daemon: runtime directory {:o}, socket {:o}",
                d.unwrap_or(0),
                s.unwrap_or(0)
            ));
        }
        out.check(d == Some(dir_mode) && s == Some(sock_mode), || {
            format!("{what} daemon: runtime directory {} and socket {}, not {dir_mode:o} and {sock_mode:o}", octal(d), octal(s))
        });
        if flags.is_empty() {
            let r = nobody(lab, &["list"]);
            out.check(r.is_err(), || {
                format!("uid {NOBODY} could talk to a default (owner-only) daemon: {r:?}")
            });
        }
        daemon.kill();
    }
}

/// Root's sessions against uid 65534, and 65534's own session on root's shared daemon.
fn other_user(lab: &Lab, out: &mut Outcome, round: u32) {
    let _daemon = match lab.daemon_with(&["--shared"]) {
        Ok(d) => d,
        Err(e) => return out.fail(format!("--shared daemon: {e}")),
    };
    let file = lab.dir().join(format!("root-{round}.etl"));
    let f = file.to_string_lossy().into_owned();
    let started = lab.run(&[
        "start",
        "Chaos-Root",
        "-f",
        &f,
        "--rt",
        "--provider",
        "Evtrace-Chaos",
    ]);
    if let Err(e) = started {
        return out.fail(format!("root's session: {e}"));
    }
    let mode = mode_of(&file);
    out.check(mode == Some(0o640), || {
        format!(
            "root's log file {f} was created with mode {}, not 640",
            octal(mode)
        )
    });
    // Each refused, with a word on why; none changes the session.
    let attempts: &[(&str, &[&str])] = &[
        ("stop", &["stop", "Chaos-Root"]),
        ("query", &["query", "Chaos-Root"]),
        ("update", &["update", "Chaos-Root", "--ft", "3"]),
        ("enable", &["enable", "Chaos-Root", "Evtrace-Chaos:5"]),
        ("disable", &["disable", "Chaos-Root", "Evtrace-Chaos"]),
        ("flush", &["flush", "Chaos-Root"]),
    ];
    let mut refused = Vec::new();
    for (what, args) in attempts {
        match nobody(lab, args) {
            Ok(said) => out.fail(format!("uid {NOBODY} could {what} root's session: {said}")),
            Err(e) => {
                out.check(
                    e.contains("ERROR_ACCESS_DENIED") || e.contains("belongs to user"),
                    || format!("uid {NOBODY}'s {what} was refused, but not as access denied: {e}"),
                );
                refused.push(*what);
            }
        }
    }
    // A real-time consumer of root's session, as 65534: refused at once (it would otherwise
    // receive root's events until killed).
    let consumer = as_nobody(
        lab.evtrace()
            .args(["fmt", "--rt", "Chaos-Root", "--summary"]),
        lab,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn();
    let limit = Duration::from_secs(5);
    match consumer.map_err(|e| e.to_string()).and_then(|c| {
        super::finish_any(c, limit).map_err(|_| format!("still receiving after {limit:?}"))
    }) {
        Ok(status) if !status.success() => refused.push("consume"),
        Ok(status) => out.fail(format!(
            "uid {NOBODY} consumed root's real-time session ({status})"
        )),
        Err(e) => out.fail(format!(
            "uid {NOBODY} consumed root's real-time session: {e}"
        )),
    }
    let read = nobody(lab, &["fmt", &f, "--summary"]);
    match &read {
        Ok(_) => out.fail(format!("uid {NOBODY} read root's log file {f}")),
        Err(e) => {
            out.check(e.contains("ermission denied"), || {
                format!("uid {NOBODY}'s read of {f} failed, but not with a permission error: {e}")
            });
            refused.push("read its file");
        }
    }
    let listed = nobody(lab, &["list"]).unwrap_or_else(|e| e);
    out.check(!listed.contains("Chaos-Root"), || {
        format!("uid {NOBODY}'s list shows root's session: {listed}")
    });
    let still = lab.run(&["query", "Chaos-Root"]);
    out.check(still.is_ok(), || {
        format!("root's session is gone after uid {NOBODY}'s attempts: {still:?}")
    });
    if round == 0 {
        out.figure(format!(
            "uid {NOBODY} against root's session on a --shared daemon: refused {} of {} ({}); root's list entry hidden from it",
            refused.len(),
            attempts.len() + 2,
            refused.join(", ")
        ));
    }
    own_session(lab, out, round);
    secure(lab, out, round);
    let _ = lab.run(&["stop", "Chaos-Root"]);
}

/// 65534 starts a session of its own on root's daemon: the file is its, 0640; its list shows it
/// (and not root's); root sees both.
fn own_session(lab: &Lab, out: &mut Outcome, round: u32) {
    let home = lab.dir().join(format!("nobody-{round}"));
    if let Err(e) = std::fs::create_dir_all(&home)
        .and_then(|()| std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY)))
    {
        return out.fail(format!("cannot make {}: {e}", home.display()));
    }
    let file = home.join("own.etl");
    let f = file.to_string_lossy().into_owned();
    if let Err(e) = nobody(
        lab,
        &[
            "start",
            "Chaos-Nobody",
            "-f",
            &f,
            "--provider",
            "Evtrace-Chaos",
        ],
    ) {
        return out.fail(format!(
            "uid {NOBODY} could not start a session of its own: {e}"
        ));
    }
    let meta = std::fs::metadata(&file).ok();
    let owner = meta.as_ref().map(|m| (m.uid(), m.gid()));
    let mode = meta.as_ref().map(|m| m.mode() & 0o777);
    if round == 0 {
        out.figure(format!(
            "uid {NOBODY}'s session on root's daemon: log file owner {owner:?}, mode {}",
            octal(mode)
        ));
    }
    out.check(owner == Some((NOBODY, NOBODY)), || {
        format!("the log file of uid {NOBODY}'s session belongs to {owner:?}, not to it")
    });
    out.check(mode == Some(0o640), || {
        format!(
            "the log file of uid {NOBODY}'s session has mode {}, not 640",
            octal(mode)
        )
    });
    let theirs = nobody(lab, &["list"]).unwrap_or_else(|e| e);
    out.check(
        theirs.contains("Chaos-Nobody") && !theirs.contains("Chaos-Root"),
        || format!("uid {NOBODY}'s list should show its session and not root's: {theirs}"),
    );
    let all = lab.run(&["list"]).unwrap_or_else(|e| e);
    out.check(
        all.contains("Chaos-Nobody") && all.contains("Chaos-Root"),
        || format!("root's list should show every session: {all}"),
    );
    let q = nobody(lab, &["query", "Chaos-Nobody"]);
    out.check(q.is_ok(), || {
        format!("uid {NOBODY} cannot query its own session: {q:?}")
    });
    let stopped = nobody(lab, &["stop", "Chaos-Nobody"]);
    out.check(stopped.is_ok(), || {
        format!("uid {NOBODY} cannot stop its own session: {stopped:?}")
    });
    let read = nobody(lab, &["fmt", &f, "--summary"]);
    out.check(read.is_ok(), || {
        format!("uid {NOBODY} cannot read its own log file: {read:?}")
    });
}

/// A SECURE session of root's: a producer of 65534 is refused and counted, root's logs.
fn secure(lab: &Lab, out: &mut Outcome, round: u32) {
    let file = lab.dir().join(format!("secure-{round}.etl"));
    let f = file.to_string_lossy().into_owned();
    if let Err(e) = lab.run(&[
        "start",
        "Chaos-Secure",
        "--secure",
        "-f",
        &f,
        "--provider",
        "Evtrace-Chaos",
    ]) {
        return out.fail(format!("secure session: {e}"));
    }
    let theirs = spawn(as_nobody(
        lab.producer(&["system"]).stdout(Stdio::null()),
        lab,
    ));
    let ours = spawn(
        lab.producer(&["system", "--threads", "1"])
            .stdout(Stdio::null()),
    );
    let (mut theirs, mut ours) = match (theirs, ours) {
        (Ok(t), Ok(o)) => (t, o),
        (t, o) => {
            return out.fail(format!(
                "secure session's producers: {:?} {:?}",
                t.err(),
                o.err()
            ))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut q = String::new();
    while Instant::now() < deadline {
        q = lab.run(&["query", "Chaos-Secure"]).unwrap_or_else(|e| e);
        if count(&q, "Refused Producers:") >= 1 && count(&q, "Producer Processes:") >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // What root's producer wrote so far reaches the file; then it goes (a tight loop would
    // otherwise make a file too big to read back in the bounded run). Counted as a producer is
    // not yet written: on a loaded machine its enable and first buffer take a moment more, so
    // the flushes go on until a buffer has reached the file (or the deadline).
    let mut flushed = lab.run(&["flush", "Chaos-Secure"]);
    let written_by = Instant::now() + Duration::from_secs(10);
    while flushed.is_ok() && Instant::now() < written_by {
        let q = lab.run(&["query", "Chaos-Secure"]).unwrap_or_default();
        if count(&q, "Buffers Written:") > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        flushed = lab.run(&["flush", "Chaos-Secure"]);
    }
    let (ours_pid, theirs_pid) = (ours.id(), theirs.id());
    for c in [&mut theirs, &mut ours] {
        let _ = c.kill();
        let _ = c.wait();
    }
    out.check(flushed.is_ok(), || {
        format!("flush of the SECURE session: {flushed:?}")
    });
    let stopped = lab.run(&["stop", "Chaos-Secure"]).unwrap_or_else(|e| e);
    let refused = count(&stopped, "Refused Producers:");
    let back = read_back(std::slice::from_ref(&file));
    let from_theirs = back
        .ticks
        .keys()
        .filter(|(pid, _)| *pid == theirs_pid)
        .count();
    let from_ours = back
        .ticks
        .keys()
        .filter(|(pid, _)| *pid == ours_pid)
        .count();
    if round == 0 {
        out.figure(format!(
            "SECURE session: Refused Producers {refused} (uid {NOBODY}'s), {} events recorded, {from_ours} writer(s) of root's producer, {from_theirs} of uid {NOBODY}'s",
            back.events()
        ));
    }
    out.check(refused >= 1, || {
        format!("the SECURE session did not count uid {NOBODY}'s producer as refused: {stopped}")
    });
    out.check(from_theirs == 0, || {
        format!("the SECURE session recorded events of uid {NOBODY}'s producer")
    });
    out.check(from_ours > 0, || {
        format!("the SECURE session recorded nothing of root's producer: {q}")
    });
}

/// Links planted at log file paths, for a root controller, for 65534 and for a private session:
/// each start refused with the reason, the link's target unchanged.
fn links(lab: &Lab, out: &mut Outcome, round: u32) {
    let victim = lab.dir().join(format!("victim-{round}.txt"));
    if let Err(e) = std::fs::write(&victim, PRECIOUS) {
        return out.fail(format!("cannot write {}: {e}", victim.display()));
    }
    let _daemon = match lab.daemon_with(&["--shared"]) {
        Ok(d) => d,
        Err(e) => return out.fail(format!("--shared daemon: {e}")),
    };
    let home = lab.dir().join(format!("nobody-{round}"));
    let _ = std::fs::create_dir_all(&home);
    let _ = std::os::unix::fs::chown(&home, Some(NOBODY), Some(NOBODY));
    let plant = |at: &Path| {
        let _ = std::fs::remove_file(at);
        std::os::unix::fs::symlink(&victim, at).map(|()| at.to_string_lossy().into_owned())
    };
    let mut refused = 0;
    let cases: [(&str, std::path::PathBuf); 3] = [
        (
            "root's system session",
            lab.dir().join(format!("planted-root-{round}.etl")),
        ),
        ("uid 65534's system session", home.join("planted.etl")),
        (
            "a private session",
            lab.dir().join(format!("planted-private-{round}.etl")),
        ),
    ];
    for (what, at) in &cases {
        let link = match plant(at) {
            Ok(l) => l,
            Err(e) => return out.fail(format!("cannot plant a link at {}: {e}", at.display())),
        };
        if *what == "uid 65534's system session" {
            let _ = std::os::unix::fs::lchown(at, Some(NOBODY), Some(NOBODY));
        }
        let r = match *what {
            "root's system session" => lab.run(&[
                "start",
                "Chaos-Link",
                "-f",
                &link,
                "--provider",
                "Evtrace-Chaos",
            ]),
            "uid 65534's system session" => nobody(
                lab,
                &[
                    "start",
                    "Chaos-Link",
                    "-f",
                    &link,
                    "--provider",
                    "Evtrace-Chaos",
                ],
            ),
            _ => {
                let mut c = lab.producer(&["private", "--file", &link, "--events", "10"]);
                output(c.stderr(Stdio::piped()))
            }
        };
        let _ = lab.run(&["stop", "Chaos-Link"]);
        let kept = std::fs::read_to_string(&victim).unwrap_or_default();
        out.check(kept == PRECIOUS, || {
            format!(
                "{what}: the file behind the link planted at {link} was written: {} bytes now",
                kept.len()
            )
        });
        match r {
            Ok(said) => out.fail(format!(
                "{what}: a log file at the planted link {link} was accepted: {said}"
            )),
            Err(e) => {
                let says = e.contains("symbolic link") || e.contains("not yours");
                out.check(says && e.contains(&link), || {
                    format!("{what}: refused, but without naming the link and why: {e}")
                });
                refused += 1;
            }
        }
    }
    if round == 0 {
        out.figure(format!(
            "links planted at log file paths: {refused} of {} starts refused (root's system session, uid 65534's, a private one), their target unchanged",
            cases.len()
        ));
    }
}
