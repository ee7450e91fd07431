//! The decoder on records made by hand: maps lines, forks and exits with their parents' images
//! and statuses, connects and accepts given to the processes that asked, retransmits named.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv6Addr};

use super::network::*;
use super::process::parse_maps_line;
use super::*;
use crate::kernel::events::TcpKind;
use crate::kernel::proc_events::ProcEvent;

#[test]
fn maps_lines_give_executable_file_mappings_only() {
    assert_eq!(
        parse_maps_line("7f12a000-7f12c000 r-xp 00002000 fe:00 1234   /usr/lib/libz.so.1"),
        Some((0x7f12a000, 0x2000, 0x2000, "/usr/lib/libz.so.1".into()))
    );
    assert_eq!(
        parse_maps_line("7f12a000-7f12c000 r--p 00000000 fe:00 1234 /x"),
        None
    );
    assert_eq!(
        parse_maps_line("7ffd000-7ffe000 r-xp 00000000 00:00 0 [vdso]"),
        None
    );
}

#[test]
fn the_decoder_gives_forks_their_parents_image_and_exits_their_status() {
    let mut d = Decoder::new(
        KernelFlags::PROCESS | KernelFlags::THREAD,
        Fields::default(),
    );
    d.processes.insert(
        10,
        Process {
            image: "/bin/sh".into(),
            command_line: "sh -c x".into(),
            parent: 1,
            threads: HashSet::from([10]),
            leader_status: None,
        },
    );
    let mut out = Vec::new();
    let ev = |time, event| {
        Raw::Proc(Stamped {
            cpu: 0,
            time,
            event,
        })
    };
    d.decode(
        ev(
            1,
            ProcEvent::Fork {
                parent_pid: 10,
                parent_tgid: 10,
                child_pid: 11,
                child_tgid: 11,
            },
        ),
        &mut out,
    );
    d.decode(
        ev(
            2,
            ProcEvent::Fork {
                parent_pid: 11,
                parent_tgid: 11,
                child_pid: 12,
                child_tgid: 11,
            },
        ),
        &mut out,
    );
    d.decode(
        ev(
            3,
            ProcEvent::Exit {
                pid: 11,
                tgid: 11,
                code: 3 << 8,
                parent_tgid: 10,
            },
        ),
        &mut out,
    );
    // The first thread has ended, the second runs on: the process has not ended.
    assert!(!out
        .iter()
        .any(|o| matches!(o.event, KernelEvent::ProcessEnd { .. })));
    d.decode(
        ev(
            4,
            ProcEvent::Exit {
                pid: 12,
                tgid: 11,
                code: 0,
                parent_tgid: 10,
            },
        ),
        &mut out,
    );
    d.decode(
        ev(
            5,
            ProcEvent::Exit {
                pid: 13,
                tgid: 13,
                code: 9,
                parent_tgid: 10,
            },
        ),
        &mut out,
    );
    let events: Vec<&KernelEvent> = out.iter().map(|o| &o.event).collect();
    assert_eq!(
        events[0],
        &KernelEvent::ProcessStart {
            pid: 11,
            parent: 10,
            image: "/bin/sh".into(),
            command_line: "sh -c x".into(),
            rundown: false
        }
    );
    assert!(events.contains(&&KernelEvent::ThreadStart {
        pid: 11,
        tid: 12,
        rundown: false
    }));
    assert!(events.contains(&&KernelEvent::ProcessEnd {
        pid: 11,
        parent: 10,
        exit_code: 3,
        signal: 0
    }));
    assert!(events.contains(&&KernelEvent::ProcessEnd {
        pid: 13,
        parent: 10,
        exit_code: -1,
        signal: 9
    }));
    assert!(
        !d.processes.contains_key(&11),
        "an ended process leaves the table"
    );
}

const SET_STATE: &str = "name: inet_sock_set_state
ID: 2287
format:
\tfield:const void * skaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:int oldstate;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int newstate;\toffset:20;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:24;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:26;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 protocol;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:32;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:36;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:56;\tsize:16;\tsigned:0;
";

/// An inet_sock_set_state sample seen in process `pid`'s context.
fn set_state(pid: u32, time: u64, sk: u64, old: u8, new: u8, sport: u16, dport: u16) -> Raw {
    let mut raw = vec![0u8; 72];
    raw[8..16].copy_from_slice(&sk.to_le_bytes());
    raw[16..20].copy_from_slice(&(old as i32).to_le_bytes());
    raw[20..24].copy_from_slice(&(new as i32).to_le_bytes());
    raw[24..26].copy_from_slice(&sport.to_le_bytes());
    raw[26..28].copy_from_slice(&dport.to_le_bytes());
    raw[28..30].copy_from_slice(&2u16.to_le_bytes());
    raw[30..32].copy_from_slice(&6u16.to_le_bytes());
    raw[32..36].copy_from_slice(&[10, 0, 0, 1]);
    raw[36..40].copy_from_slice(&[10, 0, 0, 2]);
    Raw::Sample {
        source: Source::SockState,
        at: Context {
            pid,
            tid: pid,
            time,
            cpu: 0,
        },
        ip: 0,
        addr: 0,
        raw,
    }
}

/// Connect and accept complete in interrupts, in whatever process runs then: they go to the
/// process that called connect() and the one that listens.
#[test]
fn connects_and_accepts_go_to_the_processes_that_asked() {
    let tp = super::super::tracefs::parse_format("sock:inet_sock_set_state", SET_STATE).unwrap();
    let fields = Fields {
        sock: Some(SockFields::of(&tp).unwrap()),
        ..Fields::default()
    };
    let mut d = Decoder::new(KernelFlags::NETWORK_TCPIP, fields);
    let mut out = Vec::new();
    // Server 100 listens on 80; client 200 connects from 5000; interrupts run in 300. The
    // accepted socket is the listener's clone, as the kernel makes it (LISTEN -> SYN_RECV),
    // and closes from an interrupt too; a second client (from 5001) is accepted by the same
    // listener, which the first accept did not make forgotten.
    let transitions = [
        (100, 1, 0xA, TCP_CLOSE, TCP_LISTEN, 80, 0),
        (200, 2, 0xB, TCP_CLOSE, TCP_SYN_SENT, 5000, 80),
        (300, 3, 0xC, TCP_LISTEN, TCP_SYN_RECV, 80, 5000),
        (300, 3, 0xC, TCP_SYN_RECV, TCP_ESTABLISHED, 80, 5000),
        (300, 4, 0xB, TCP_SYN_SENT, TCP_ESTABLISHED, 5000, 80),
        (200, 5, 0xB, TCP_ESTABLISHED, 4, 5000, 80),
        (300, 6, 0xC, TCP_ESTABLISHED, 8, 80, 5000),
        (300, 7, 0xD, TCP_LISTEN, TCP_SYN_RECV, 80, 5001),
        (300, 7, 0xD, TCP_SYN_RECV, TCP_ESTABLISHED, 80, 5001),
    ];
    for (pid, time, sk, old, new, sport, dport) in transitions {
        d.decode(set_state(pid, time, sk, old, new, sport, dport), &mut out);
    }
    let derived: Vec<(TcpKind, u32, u32)> = out
        .iter()
        .filter_map(|o| match o.event {
            KernelEvent::Tcp { kind, pid, .. } if kind != TcpKind::StateChange => {
                Some((kind, pid, o.pid))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        derived,
        vec![
            (TcpKind::Accept, 100, 100),
            (TcpKind::Connect, 200, 200),
            (TcpKind::Disconnect, 200, 200),
            (TcpKind::Disconnect, 100, 100),
            (TcpKind::Accept, 100, 100),
        ]
    );
    assert_eq!(
        out.iter()
            .filter(|o| matches!(
                o.event,
                KernelEvent::Tcp {
                    kind: TcpKind::StateChange,
                    ..
                }
            ))
            .count(),
        9,
        "every transition is recorded as it happened"
    );
    match &out[0].event {
        KernelEvent::Tcp { saddr, daddr, .. } => {
            assert_eq!(saddr.to_string(), "10.0.0.1");
            assert_eq!(daddr.to_string(), "10.0.0.2");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_retransmit_names_its_connection_its_owner_and_state() {
    let format = "name: tcp_retransmit_skb
ID: 2281
format:
\tfield:const void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:const void * skaddr;\toffset:16;\tsize:8;\tsigned:0;
\tfield:int state;\toffset:24;\tsize:4;\tsigned:1;
\tfield:__u16 sport;\toffset:28;\tsize:2;\tsigned:0;
\tfield:__u16 dport;\toffset:30;\tsize:2;\tsigned:0;
\tfield:__u16 family;\toffset:32;\tsize:2;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:34;\tsize:4;\tsigned:0;
\tfield:__u8 daddr[4];\toffset:38;\tsize:4;\tsigned:0;
\tfield:__u8 saddr_v6[16];\toffset:42;\tsize:16;\tsigned:0;
\tfield:__u8 daddr_v6[16];\toffset:58;\tsize:16;\tsigned:0;
\tfield:int err;\toffset:76;\tsize:4;\tsigned:1;
";
    let tp = super::super::tracefs::parse_format("tcp:tcp_retransmit_skb", format).unwrap();
    let set_state_tp =
        super::super::tracefs::parse_format("sock:inet_sock_set_state", SET_STATE).unwrap();
    let fields = Fields {
        retransmit: Some(SockFields::of(&tp).unwrap()),
        sock: Some(SockFields::of(&set_state_tp).unwrap()),
        ..Fields::default()
    };
    let mut d = Decoder::new(KernelFlags::NETWORK_TCPIP, fields);
    // Process 200 connects with socket 0xE; the retransmit comes from a timer in process 7.
    let mut ignored = Vec::new();
    d.decode(
        set_state(200, 0, 0xE, TCP_CLOSE, TCP_SYN_SENT, 40000, 443),
        &mut ignored,
    );
    let mut raw = vec![0u8; 80];
    raw[16..24].copy_from_slice(&0xEu64.to_le_bytes());
    raw[24..28].copy_from_slice(&(TCP_ESTABLISHED as i32).to_le_bytes());
    raw[28..30].copy_from_slice(&40000u16.to_le_bytes());
    raw[30..32].copy_from_slice(&443u16.to_le_bytes());
    raw[32..34].copy_from_slice(&10u16.to_le_bytes()); // AF_INET6
    raw[42..58].copy_from_slice(&std::net::Ipv6Addr::LOCALHOST.octets());
    raw[58..74].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    let mut out = Vec::new();
    d.decode(
        Raw::Sample {
            source: Source::Retransmit,
            at: Context {
                pid: 7,
                tid: 8,
                time: 1,
                cpu: 1,
            },
            ip: 0,
            addr: 0,
            raw,
        },
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].event,
        KernelEvent::Tcp {
            kind: TcpKind::Retransmit,
            pid: 200,
            saddr: IpAddr::V6(Ipv6Addr::LOCALHOST),
            daddr: "2001:db8::1".parse().unwrap(),
            sport: 40000,
            dport: 443,
            old_state: TCP_ESTABLISHED,
            new_state: TCP_ESTABLISHED,
        }
    );
}
