//! Clients of the daemon's socket that send garbage, lie or hang on: random bytes, packets over
//! the largest message, well-formed requests with absurd fields, a real producer naming buffers
//! outside its share, half-closed connections, a thousand idle connections and more than the
//! daemon serves. Throughout, the daemon stays up and answers a controller, its threads and
//! memory stay bounded and come back once the connections close, and each bad connection costs
//! one line in its log, no more.

use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use evtrace::system::paths::socket_path;
use evtrace::system::protocol::{Reply, Request};
use evtrace::system::wire::{Channel, MAX_MESSAGE};

use crate::lab::{status_kb, threads, Daemon, Lab};
use crate::{Budget, Outcome};

mod absurd;
use absurd::absurd_fields;

/// Connections sending random bytes, per round.
const GARBAGE: usize = 100;
/// Idle connections held open at once.
const IDLE: usize = 1000;
/// The connection limit of the daemon that checks it, and connections opened against it.
const CAP: usize = 64;
const OVER_CAP: usize = 100;
/// How long a controller may take to answer while the daemon is under attack: a liveness
/// bound (a daemon that stopped answering), not a performance figure.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// The line the daemon writes once for each connection it closes for what it sent.
const REFUSAL: &str = "; closing it";
/// The longest any receive waits.
const WAIT: Duration = Duration::from_secs(3);

/// Runs the scenario.
pub fn run(lab: &Lab, budget: &Budget, out: &mut Outcome) {
    let mut daemon = match lab.daemon() {
        Ok(d) => d,
        Err(e) => return out.fail(e),
    };
    let file = lab.dir().join("hostile.etl");
    let f = file.to_string_lossy().into_owned();
    if let Err(e) = lab.run(&[
        "start",
        "Chaos-Hostile",
        "-f",
        &f,
        "--provider",
        "Evtrace-Chaos",
    ]) {
        return out.fail(e);
    }
    std::thread::sleep(Duration::from_millis(200));
    let pid = daemon.pid();
    let base = (
        threads(pid).unwrap_or(0),
        status_kb(pid, "VmRSS").unwrap_or(0),
    );
    out.figure(format!(
        "baseline: daemon {} threads, VmRSS {} KB",
        base.0, base.1
    ));
    let until = Instant::now() + budget.time();
    let mut round = 0u32;
    while round < 1 || (budget.is_long() && Instant::now() < until) {
        garbage(lab, out, round);
        oversized(lab, out, round);
        absurd_fields(lab, out, round);
        outside_share(lab, out, round);
        half_closed(lab, out, round);
        idle(lab, out, round, pid, base);
        if !daemon.alive() {
            return out.fail(format!(
                "round {round}: the daemon died: {}",
                lab.daemon_said()
            ));
        }
        round += 1;
        if !out.passed() {
            break;
        }
    }
    let _ = lab.run(&["stop", "Chaos-Hostile"]);
    daemon.kill();
    cap(lab, out);
    out.figure(format!(
        "{round} round(s) of hostile clients; the daemon never died"
    ));
}

/// A connection whose receives give up after [`WAIT`] (a daemon that neither answers nor
/// closes must fail a check, not hang the scenario).
fn connect(lab: &Lab) -> Result<Channel, String> {
    let ch =
        Channel::connect(&socket_path(lab.dir())).map_err(|e| format!("cannot connect: {e}"))?;
    let t = libc::timeval {
        tv_sec: WAIT.as_secs() as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: a valid socket descriptor, and `t` is a timeval of the size given.
    let rc = unsafe {
        libc::setsockopt(
            ch.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&t as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(format!("SO_RCVTIMEO: {}", std::io::Error::last_os_error()));
    }
    Ok(ch)
}

/// Whether `r`, a receive, says the daemon closed the connection (not that it timed out).
fn closed<T>(r: &std::io::Result<Option<T>>) -> bool {
    match r {
        Ok(None) => true,
        Ok(Some(_)) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Lines of the daemon's log that say a connection was closed for what it sent.
fn refusals(lab: &Lab) -> Vec<String> {
    lab.daemon_said()
        .lines()
        .filter(|l| l.contains(REFUSAL))
        .map(str::to_string)
        .collect()
}

/// A controller's `list` answers within [`ANSWER_WITHIN`].
fn answers(lab: &Lab, out: &mut Outcome, when: &str) -> Duration {
    let t = Instant::now();
    let r = lab.run(&["query", "Chaos-Hostile"]);
    let took = t.elapsed();
    out.check(r.is_ok() && took < ANSWER_WITHIN, || {
        format!(
            "{when}: a controller was not answered within {ANSWER_WITHIN:?} (took {took:?}): {r:?}"
        )
    });
    took
}

/// A small xorshift: the garbage need not be cryptographic, only varied (and reproducible
/// from the seed it says).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Connections sending random packets: each closed after its first, with one line.
fn garbage(lab: &Lab, out: &mut Outcome, round: u32) {
    let seed = 0x9E37_79B9_7F4A_7C15 ^ u64::from(round) ^ u64::from(std::process::id());
    let mut noise = Noise(seed);
    let before = refusals(lab).len();
    let mut shut = 0;
    for _ in 0..GARBAGE {
        let Ok(ch) = connect(lab) else { continue };
        for _ in 0..5 {
            // Not valid JSON: a random first byte other than `{` and whitespace.
            let len = 1 + (noise.next() % 4096) as usize;
            let mut p = noise.bytes(len);
            p[0] = b'#';
            if ch.send_packet(&[&p], false).is_err() {
                break;
            }
        }
        if closed(&ch.recv_packet(64)) {
            shut += 1;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let logged = refusals(lab).len() - before;
    if round == 0 {
        let sample = refusals(lab).get(before).cloned().unwrap_or_default();
        out.figure(format!(
            "{GARBAGE} connections sending 5 random packets each (seed {seed:#x}): {shut} closed by the daemon, {logged} log lines (e.g. {sample:?})"
        ));
    }
    out.check(shut == GARBAGE, || {
        format!("round {round}: only {shut} of {GARBAGE} garbage connections were closed")
    });
    out.check(logged == GARBAGE, || {
        format!(
            "round {round}: {GARBAGE} garbage connections gave {logged} log lines, not one each"
        )
    });
    answers(lab, out, "after the garbage");
}

/// A packet over the largest message: refused with one line, the connection closed.
fn oversized(lab: &Lab, out: &mut Outcome, round: u32) {
    let Ok(ch) = connect(lab) else {
        return out.fail("cannot connect for the oversized packet");
    };
    let size = MAX_MESSAGE + 64 * 1024;
    ch.set_send_buffer(2 * size);
    let mut p = vec![b' '; size];
    p[0] = b'{';
    let before = refusals(lab).len();
    if let Err(e) = ch.send_packet(&[&p], false) {
        if round == 0 {
            out.skip(format!(
                "a {size}-byte packet cannot be sent here ({e}): the socket's send buffer is capped (net.core.wmem_max) and SO_SNDBUFFORCE needs CAP_NET_ADMIN"
            ));
        }
        return;
    }
    let shut = closed(&ch.recv_packet(64));
    std::thread::sleep(Duration::from_millis(50));
    let lines = refusals(lab);
    let new = &lines[before..];
    if round == 0 {
        out.figure(format!(
            "a {size}-byte packet (limit {MAX_MESSAGE}): closed {shut}, log {new:?}"
        ));
    }
    out.check(shut && new.len() == 1 && new[0].contains(&size.to_string()), || {
        format!("round {round}: the {size}-byte packet: connection closed {shut}, log lines {new:?}")
    });
}

/// A real producer of the session (it registers the session's provider and is given a share),
/// then naming a buffer beyond its share: refused, closed, one line, the session goes on.
fn outside_share(lab: &Lab, out: &mut Outcome, round: u32) {
    let Ok(ch) = connect(lab) else {
        return out.fail("cannot connect as a producer");
    };
    let guid = crate::producer::chaos_events::PROVIDER.guid().to_string();
    let sent = ch
        .send(
            &Request::Producer {
                pid: std::process::id(),
            },
            None,
        )
        .and_then(|()| ch.send(&Request::Register { guid }, None));
    if let Err(e) = sent {
        return out.fail(format!("round {round}: the fake producer: {e}"));
    }
    let mut attach = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while attach.is_none() && Instant::now() < deadline {
        match ch.recv::<Reply>() {
            Ok(Some((Reply::Attach { session, props, .. }, Some(_fd)))) => {
                attach = Some((session, props.maximum_buffers))
            }
            Ok(Some(_)) => {}
            other => return out.fail(format!("round {round}: the fake producer got {other:?}")),
        }
    }
    let Some((session, count)) = attach else {
        return out.fail(format!(
            "round {round}: the fake producer was given no share"
        ));
    };
    let before = refusals(lab).len();
    let ready = Request::Ready {
        session,
        buffers: vec![(0, 0), (count, 64)],
        events_lost: 0,
    };
    let _ = ch.send(&ready, None);
    let mut refused = false;
    let mut shut = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let r = ch.recv::<Reply>();
        if let Ok(Some((Reply::Refused { .. }, _))) = r {
            refused = true;
        } else if r.is_err() || closed(&r) {
            shut = closed(&r);
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    let lines = refusals(lab);
    let new = &lines[before..];
    if round == 0 {
        out.figure(format!(
            "a producer of the session (share of {count} buffers) naming buffer {count}: refused {refused}, closed {shut}, log {new:?}"
        ));
    }
    out.check(refused && shut && new.len() == 1, || {
        format!("round {round}: a producer naming buffer {count} of a {count}-buffer share: refused {refused}, closed {shut}, log lines {new:?}")
    });
    answers(lab, out, "after the producer outside its share");
}

/// Requests followed by shutdown(WR): answered all the same; a shutdown before any request
/// ends the connection quietly.
fn half_closed(lab: &Lab, out: &mut Outcome, round: u32) {
    let before = refusals(lab).len();
    let mut answered = 0;
    const N: usize = 50;
    for i in 0..N {
        let Ok(ch) = connect(lab) else { continue };
        if i % 2 == 0 {
            let _ = ch.send(&Request::List, None);
        }
        ch.shutdown_write();
        match ch.recv::<Reply>() {
            Ok(Some((Reply::Sessions { .. }, _))) if i % 2 == 0 => answered += 1,
            Ok(None) if i % 2 == 1 => answered += 1,
            other => out.fail(format!(
                "round {round}: half-closed connection {i}: {other:?}"
            )),
        }
    }
    let logged = refusals(lab).len() - before;
    if round == 0 {
        out.figure(format!(
            "{N} half-closed connections (shutdown(WR) after a request, or before any): {answered} handled, {logged} log lines"
        ));
    }
    out.check(answered == N && logged == 0, || {
        format!("round {round}: half-closed: {answered} of {N} handled, {logged} log lines")
    });
}

/// A thousand connections opened and left idle: served (under the limit), a controller still
/// answered, and the daemon back near its baseline once they close.
fn idle(lab: &Lab, out: &mut Outcome, round: u32, pid: u32, base: (u64, u64)) {
    let held: Vec<Channel> = (0..IDLE).filter_map(|_| connect(lab).ok()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let open = (
        threads(pid).unwrap_or(0),
        status_kb(pid, "VmRSS").unwrap_or(0),
    );
    let took = answers(lab, out, "with 1,000 idle connections");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut after = (0, 0);
    while Instant::now() < deadline {
        after = (
            threads(pid).unwrap_or(0),
            status_kb(pid, "VmRSS").unwrap_or(0),
        );
        if after.0 <= base.0 + 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    out.figure(format!(
        "round {round}: {IDLE} idle connections: daemon {} threads, VmRSS {} KB while open (a controller answered in {took:?}); {} threads, VmRSS {} KB after they closed (baseline {}, {} KB)",
        open.0, open.1, after.0, after.1, base.0, base.1
    ));
    out.check(open.0 <= base.0 + IDLE as u64 + 8, || {
        format!(
            "round {round}: {} threads with {IDLE} idle connections: more than one each",
            open.0
        )
    });
    out.check(after.0 <= base.0 + 2, || {
        format!(
            "round {round}: {} threads after the idle connections closed, baseline {}",
            after.0, base.0
        )
    });
    // Thread stacks and buffers are returned to the allocator, not necessarily to the system:
    // bounded by what 1,000 connections took, and well under it again.
    out.check(after.1 <= base.1 + 64 * 1024, || {
        format!(
            "round {round}: VmRSS {} KB after the idle connections closed, baseline {} KB",
            after.1, base.1
        )
    });
}

/// A daemon limited to [`CAP`] connections, given [`OVER_CAP`]: the rest closed at once with
/// one line in all, and served again once connections end.
fn cap(lab: &Lab, out: &mut Outcome) {
    let limit = CAP.to_string();
    let daemon: Daemon = match lab.daemon_with_env(&[], &[("EVTRACE_MAX_CONNECTIONS", &limit)]) {
        Ok(d) => d,
        Err(e) => return out.fail(format!("the limited daemon: {e}")),
    };
    let said = |lab: &Lab, what: &str| {
        lab.daemon_said()
            .lines()
            .filter(|l| l.contains(what))
            .count()
    };
    let full_before = said(lab, "the most it serves");
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..OVER_CAP {
        let Ok(ch) = connect(lab) else {
            refused += 1;
            continue;
        };
        match ch
            .send(&Request::List, None)
            .and_then(|()| ch.recv::<Reply>())
        {
            Ok(Some((Reply::Sessions { .. }, _))) => held.push(ch),
            _ => refused += 1,
        }
    }
    let served = held.len();
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let again = lab.run(&["list"]);
    let full = said(lab, "the most it serves") - full_before;
    out.figure(format!(
        "a daemon limited to {CAP} connections, given {OVER_CAP}: {served} served, {refused} closed at once, {full} log line(s); served again after: {}",
        again.is_ok()
    ));
    out.check(served == CAP && refused == OVER_CAP - CAP, || {
        format!("the connection limit of {CAP}: {served} served, {refused} closed")
    });
    out.check(full == 1, || {
        format!("{full} log lines for connections over the limit, not one")
    });
    out.check(again.is_ok(), || {
        format!("not served again once connections closed: {again:?}")
    });
    daemon.kill();
}
