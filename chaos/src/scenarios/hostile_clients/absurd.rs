//! Well-formed requests with absurd fields, each to be answered with an error on the same
//! connection, the daemon going on.

use evtrace::system::protocol::{Reply, Request, WireEnable, WireProps};

use super::{answers, connect, refusals};
use crate::lab::Lab;
use crate::Outcome;

fn props(name: &str) -> WireProps {
    WireProps {
        name: name.into(),
        log_file: None,
        mode: 0,
        buffer_size_kb: 64,
        minimum_buffers: 0,
        maximum_buffers: 0,
        maximum_file_size: 0,
        flush_timer_s: 0,
        clock: 1,
        enable_flags: 0,
        kernel_tree_of: None,
    }
}

/// Well-formed requests with absurd fields: each answered with an error on the same
/// connection (no log: a controller's mistake is answered, not a reason to close).
pub(super) fn absurd_fields(lab: &Lab, out: &mut Outcome, round: u32) {
    let any = WireEnable {
        level: 255,
        any: u64::MAX,
        all: u64::MAX,
        filter: Default::default(),
    };
    let rt = |p: WireProps| WireProps { mode: 0x100, ..p };
    let cases: Vec<(&str, Request)> = vec![
        (
            "BufferSize u32::MAX",
            Request::Start {
                props: rt(WireProps {
                    buffer_size_kb: u32::MAX,
                    ..props("Chaos-A")
                }),
                allow_users: vec![],
            },
        ),
        (
            "MaximumBuffers u32::MAX",
            Request::Start {
                props: rt(WireProps {
                    maximum_buffers: u32::MAX,
                    minimum_buffers: u32::MAX,
                    ..props("Chaos-B")
                }),
                allow_users: vec![],
            },
        ),
        (
            "a 200,000-character name",
            Request::Start {
                props: rt(props(&"N".repeat(200_000))),
                allow_users: vec![],
            },
        ),
        (
            "clock 99",
            Request::Start {
                props: rt(WireProps {
                    clock: 99,
                    ..props("Chaos-C")
                }),
                allow_users: vec![],
            },
        ),
        (
            "every mode bit",
            Request::Start {
                props: WireProps {
                    mode: u32::MAX,
                    ..props("Chaos-D")
                },
                allow_users: vec![],
            },
        ),
        (
            "a relative log file",
            Request::Start {
                props: WireProps {
                    log_file: Some("x.etl".into()),
                    ..props("Chaos-E")
                },
                allow_users: vec![],
            },
        ),
        (
            "20,000 allowed users, a running name",
            Request::Start {
                props: WireProps {
                    log_file: None,
                    ..rt(props("Chaos-Hostile"))
                },
                allow_users: vec![7; 20_000],
            },
        ),
        (
            "update of a missing session",
            Request::Update {
                name: "Chaos-Missing".into(),
                log_file: None,
                flush_timer_s: u32::MAX,
                maximum_buffers: u32::MAX,
                real_time: Some(true),
                enable_flags: Some(u32::MAX),
            },
        ),
        (
            "update with MaximumBuffers u32::MAX",
            Request::Update {
                name: "Chaos-Hostile".into(),
                log_file: None,
                flush_timer_s: 0,
                maximum_buffers: u32::MAX,
                real_time: None,
                enable_flags: Some(u32::MAX),
            },
        ),
        (
            "enable in a missing session",
            Request::Enable {
                name: "Chaos-Missing".into(),
                guid: "00000000-0000-0000-0000-000000000001".into(),
                settings: any.clone(),
            },
        ),
        (
            "enable of a bad GUID",
            Request::Enable {
                name: "Chaos-Hostile".into(),
                guid: "not-a-guid}{".into(),
                settings: any,
            },
        ),
        (
            "query of a missing session",
            Request::Query {
                name: "Chaos-Missing".into(),
            },
        ),
        (
            "flush of a missing session",
            Request::Flush {
                name: "\u{0}\u{ffff}".into(),
            },
        ),
        (
            "increment-file of a sequential session",
            Request::IncrementFile {
                name: "Chaos-Hostile".into(),
            },
        ),
        (
            "a real-time consumer of a file session",
            Request::Consume {
                name: "Chaos-Hostile".into(),
            },
        ),
    ];
    let before = refusals(lab).len();
    let Ok(ch) = connect(lab) else {
        return out.fail("cannot connect for the absurd requests");
    };
    let mut answered = 0;
    for (what, req) in &cases {
        let reply = ch.send(req, None).and_then(|()| ch.recv::<Reply>());
        match reply {
            Ok(Some((Reply::Failed { message, .. }, _))) if !message.is_empty() => answered += 1,
            other => out.fail(format!(
                "round {round}: {what}: not refused with a reason: {other:?}"
            )),
        }
    }
    // Ready on a connection that is no producer, naming another session and absurd buffers.
    let ready = Request::Ready {
        session: u64::MAX,
        buffers: vec![(u32::MAX, u32::MAX); 1000],
        events_lost: u64::MAX,
    };
    match ch.send(&ready, None).and_then(|()| ch.recv::<Reply>()) {
        Ok(Some((Reply::Refused { .. }, _))) => answered += 1,
        other => out.fail(format!(
            "round {round}: a Ready of no producer was not refused: {other:?}"
        )),
    }
    let q = lab.run(&["query", "Chaos-Hostile"]).unwrap_or_else(|e| e);
    out.check(q.contains("Chaos-Hostile"), || {
        format!("round {round}: the absurd requests changed the session: {q}")
    });
    let logged = refusals(lab).len() - before;
    if round == 0 {
        out.figure(format!(
            "{} well-formed requests with absurd fields on one connection: {answered} refused with a reason, the connection kept, {logged} log lines",
            cases.len() + 1
        ));
    }
    out.check(logged == 0, || {
        format!("round {round}: answered mistakes were logged as refusals ({logged})")
    });
    answers(lab, out, "after the absurd requests");
}
