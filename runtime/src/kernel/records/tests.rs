use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;
use crate::etl::kernel::{decode, event_name};
use crate::etl::Value;

fn at(event: KernelEvent) -> Occurrence {
    Occurrence {
        time: 0,
        cpu: 0,
        pid: 7,
        tid: 8,
        event,
    }
}

/// The record's name and fields as evtrace's reader decodes them (64-bit, no error).
fn read_back(e: KernelEvent) -> (String, Vec<(String, Value)>) {
    let o = at(e);
    let (hook, version) = hook(&o.event);
    let mut payload = Vec::new();
    payload_into(&o, 10_000_000, &mut payload);
    let (group, ty) = ((hook >> 8) as u8, hook as u8);
    let fields = decode(group, ty, version, 8, &payload)
        .unwrap_or_else(|| panic!("no layout for {hook:#06x} v{version}"))
        .unwrap_or_else(|e| panic!("{hook:#06x}: {}", e.what));
    (event_name(group, ty).unwrap(), fields)
}

fn get(fields: &[(String, Value)], n: &str) -> Value {
    fields
        .iter()
        .find(|(k, _)| k == n)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no field {n} in {fields:?}"))
}

fn hex(v: u64) -> Value {
    Value::Hex { value: v, width: 8 }
}

#[test]
fn process_thread_and_image_records_are_windows_classes() {
    let (name, f) = read_back(KernelEvent::ProcessStart {
        pid: 7,
        parent: 1,
        image: "/bin/true".into(),
        command_line: "true x".into(),
        rundown: false,
    });
    assert_eq!(name, "Process/Start");
    assert_eq!(get(&f, "ProcessId"), Value::U64(7));
    assert_eq!(get(&f, "ParentId"), Value::U64(1));
    assert_eq!(get(&f, "UserSID"), Value::Sid("S-1-0-0".into()));
    assert_eq!(get(&f, "ImageFileName"), Value::Str("/bin/true".into()));
    assert_eq!(get(&f, "CommandLine"), Value::Str("true x".into()));
    assert_eq!(f.len(), 12, "Windows' fields only: {f:?}");

    let (name, f) = read_back(KernelEvent::ProcessEnd {
        pid: 7,
        parent: 1,
        exit_code: -1,
        signal: 9,
    });
    assert_eq!(name, "Process/End");
    assert_eq!(get(&f, "ExitStatus"), Value::I64(-1));
    assert_eq!(get(&f, "TerminationSignal"), Value::U64(9));

    let (name, f) = read_back(KernelEvent::ProcessExec {
        pid: 7,
        image: "/bin/sh".into(),
        command_line: "sh -c x".into(),
    });
    assert_eq!(name, "Process/Exec");
    assert_eq!(get(&f, "ImageFileName"), Value::Str("/bin/sh".into()));

    for (rundown, want) in [(false, "Thread/Start"), (true, "Thread/DCStart")] {
        let (name, f) = read_back(KernelEvent::ThreadStart {
            pid: 7,
            tid: 9,
            rundown,
        });
        assert_eq!(name, want);
        assert_eq!(
            (get(&f, "ProcessId"), get(&f, "TThreadId")),
            (Value::U64(7), Value::U64(9))
        );
    }
    assert_eq!(
        read_back(KernelEvent::ThreadEnd { pid: 7, tid: 9 }).0,
        "Thread/End"
    );

    let (name, f) = read_back(KernelEvent::ImageLoad {
        pid: 7,
        base: 0x7f00_0000_1000,
        size: 0x2000,
        file_offset: 0x1000,
        file_name: "/lib/x.so".into(),
        rundown: false,
    });
    assert_eq!(name, "Image/Load");
    assert_eq!(get(&f, "ImageBase"), hex(0x7f00_0000_1000));
    assert_eq!(get(&f, "ImageSize"), Value::U64(0x2000));
    assert_eq!(get(&f, "FileName"), Value::Str("/lib/x.so".into()));
    assert_eq!(get(&f, "FileOffset"), Value::U64(0x1000));
}

#[test]
fn tcp_records_in_both_families() {
    let tcp = |kind, saddr: IpAddr, daddr: IpAddr| KernelEvent::Tcp {
        kind,
        pid: 42,
        saddr,
        daddr,
        sport: 50000,
        dport: 80,
        old_state: 2,
        new_state: 1,
    };
    let (lo4, lo6) = (
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    );
    let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    let cases = [
        (TcpKind::Connect, lo4, "TcpIp/ConnectIPV4"),
        (TcpKind::Accept, lo4, "TcpIp/AcceptIPV4"),
        (TcpKind::Disconnect, lo4, "TcpIp/DisconnectIPV4"),
        (TcpKind::Retransmit, lo4, "TcpIp/RetransmitIPV4"),
        (TcpKind::StateChange, lo4, "TcpIp/StateChange"),
        (TcpKind::Connect, lo6, "TcpIp/ConnectIPV6"),
        (TcpKind::Accept, lo6, "TcpIp/AcceptIPV6"),
        (TcpKind::Disconnect, lo6, "TcpIp/DisconnectIPV6"),
        (TcpKind::Retransmit, lo6, "TcpIp/RetransmitIPV6"),
        (TcpKind::StateChange, lo6, "TcpIp/StateChangeIPV6"),
    ];
    for (kind, saddr, want) in cases {
        let daddr = if saddr.is_ipv4() { other } else { saddr };
        let (name, f) = read_back(tcp(kind, saddr, daddr));
        assert_eq!(name, want);
        assert_eq!(get(&f, "PID"), Value::U64(42));
        assert_eq!(get(&f, "saddr"), Value::Ip(saddr), "{want}");
        assert_eq!(get(&f, "daddr"), Value::Ip(daddr), "{want}");
        assert_eq!(
            (get(&f, "sport"), get(&f, "dport")),
            (Value::U64(50000), Value::U64(80))
        );
        assert_eq!(
            (get(&f, "OldState"), get(&f, "NewState")),
            (Value::U64(2), Value::U64(1))
        );
    }
}

#[test]
fn disk_cswitch_faults_calls_and_samples() {
    let disk = |init, op| KernelEvent::DiskIo {
        init,
        op,
        disk: 0xfe00000,
        byte_offset: 4096,
        size: 512,
        issuing_pid: 3,
        issuing_tid: 4,
        response_ns: 1_000,
        error: -5,
    };
    let (name, f) = read_back(disk(false, b'W'));
    assert_eq!(name, "DiskIo/Write");
    assert_eq!(get(&f, "TransferSize"), Value::U64(512));
    assert_eq!(get(&f, "ByteOffset"), Value::U64(4096));
    assert_eq!(get(&f, "IssuingThreadId"), Value::U64(4));
    // 1 µs in 100 ns ticks.
    assert_eq!(get(&f, "HighResResponseTime"), Value::U64(10));
    assert_eq!(get(&f, "Error"), Value::I64(-5));
    assert_eq!(read_back(disk(false, b'R')).0, "DiskIo/Read");
    let (name, f) = read_back(disk(false, b'F'));
    assert_eq!(name, "DiskIo/FlushBuffers");
    assert_eq!(get(&f, "DiskNumber"), Value::U64(0xfe00000));
    let (name, f) = read_back(disk(true, b'W'));
    assert_eq!(name, "DiskIo/WriteInit");
    assert_eq!(get(&f, "TransferSize"), Value::U64(512));
    assert_eq!(get(&f, "IssuingThreadId"), Value::U64(4));
    assert_eq!(read_back(disk(true, b'R')).0, "DiskIo/ReadInit");
    assert_eq!(read_back(disk(true, b'F')).0, "DiskIo/FlushInit");

    let (name, f) = read_back(KernelEvent::CSwitch {
        old_tid: 1,
        new_tid: 2,
        old_priority: 120,
        new_priority: 139,
        old_state: 0,
    });
    assert_eq!(name, "Thread/CSwitch");
    assert_eq!(
        (get(&f, "NewThreadId"), get(&f, "OldThreadId")),
        (Value::U64(2), Value::U64(1))
    );
    assert_eq!(get(&f, "OldThreadPriority"), Value::I64(120));
    assert_eq!(get(&f, "NewThreadPriority"), Value::I64(127), "saturated");
    assert_eq!(get(&f, "OldThreadState"), Value::I64(1), "preempted: Ready");

    let (name, f) = read_back(KernelEvent::PageFault {
        hard: false,
        address: 0x10,
        ip: 0x20,
    });
    assert_eq!(name, "PageFault/TransitionFault");
    assert_eq!(
        (get(&f, "VirtualAddress"), get(&f, "ProgramCounter")),
        (hex(0x10), hex(0x20))
    );
    let (name, f) = read_back(KernelEvent::PageFault {
        hard: true,
        address: 0x10,
        ip: 0x20,
    });
    assert_eq!(name, "PageFault/HardFault");
    assert_eq!(get(&f, "TThreadId"), Value::U64(8));
    assert_eq!(get(&f, "ProgramCounter"), hex(0x20));

    let (name, f) = read_back(KernelEvent::SysCallEnter { number: 110 });
    assert_eq!(name, "PerfInfo/SysClEnter");
    assert_eq!(get(&f, "SysCallNumber"), Value::I64(110));
    let (name, f) = read_back(KernelEvent::SysCallExit {
        number: 110,
        result: -2,
    });
    assert_eq!(name, "PerfInfo/SysClExit");
    assert_eq!(get(&f, "SysCallResult"), Value::I64(-2));
    assert_eq!(
        get(&f, "SysCallNtStatus"),
        Value::Hex {
            value: 0xFFFF_FFFE,
            width: 4
        }
    );
    let (name, f) = read_back(KernelEvent::Sample { ip: 0x30 });
    assert_eq!(name, "PerfInfo/SampleProfile");
    assert_eq!(
        (get(&f, "InstructionPointer"), get(&f, "ThreadId")),
        (hex(0x30), Value::U64(8))
    );
}

#[test]
fn a_system_record_reads_back_with_its_header() {
    use crate::etl::kernel::{write_system_record, SystemHeaderFields};
    use crate::etl::read::{parse_buffer, Record};
    use crate::etl::{BufferHeader, BUFFER_HEADER_SIZE};
    let h = SystemHeaderFields {
        version: 4,
        hook_id: 0x0301,
        thread_id: 8,
        process_id: 7,
        timestamp: 123_456,
    };
    let mut buf = vec![0u8; 4096];
    let len = write_system_record(&mut buf[BUFFER_HEADER_SIZE..], &h, &[b"abc", b"de"]);
    assert_eq!(len, 40, "32-byte header and 5 bytes, aligned to 8");
    BufferHeader {
        buffer_size: 4096,
        saved_offset: (BUFFER_HEADER_SIZE + len) as u32,
        ..Default::default()
    }
    .write_to(&mut buf);
    let parsed = parse_buffer(&buf, 0).unwrap();
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let Record::System(s) = &parsed.records[0].record else {
        panic!("{:?}", parsed.records)
    };
    assert_eq!((s.version, s.hook_id, s.pointer_size), (4, 0x0301, 8));
    assert_eq!(
        (s.thread_id, s.process_id, s.timestamp),
        (Some(8), Some(7), 123_456)
    );
    assert_eq!(s.payload, b"abcde");
}
