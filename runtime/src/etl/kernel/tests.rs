use super::classes::Ty;
use super::layouts::LAYOUTS;
use super::*;
use crate::etl::Value;

/// Builds payloads the way Windows lays them out.
struct P(Vec<u8>, usize);

impl P {
    fn new(ptr: usize) -> P {
        P(Vec::new(), ptr)
    }
    fn u8(mut self, v: u8) -> P {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> P {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> P {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn ptr(mut self, v: u64) -> P {
        let n = self.1;
        self.0.extend_from_slice(&v.to_le_bytes()[..n]);
        self
    }
    fn bytes(mut self, b: &[u8]) -> P {
        self.0.extend_from_slice(b);
        self
    }
    fn ansi(self, s: &str) -> P {
        self.bytes(s.as_bytes()).u8(0)
    }
    fn utf16(mut self, s: &str) -> P {
        for u in s.encode_utf16().chain([0]) {
            self.0.extend_from_slice(&u.to_le_bytes());
        }
        self
    }
    /// TOKEN_USER (two pointers) + S-1-5-21-100-200-300-1001.
    fn sid(self) -> P {
        let p = self.ptr(0xFFFF_A000_0000_1000).ptr(0);
        let mut p = p.u8(1).u8(5).bytes(&[0, 0, 0, 0, 0, 5]);
        for s in [21u32, 100, 200, 300, 1001] {
            p = p.u32(s);
        }
        p
    }
}

fn field<'a>(fields: &'a [(String, Value)], name: &str) -> &'a Value {
    &fields
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
        .1
}

fn process_v4(ptr: usize, with_sid: bool) -> Vec<u8> {
    let p = P::new(ptr)
        .ptr(0xFFFF_8000_1234_5678)
        .u32(4242)
        .u32(1)
        .u32(3)
        .u32(7)
        .ptr(0x1AB000)
        .u32(0);
    let p = if with_sid { p.sid() } else { p.u32(0) };
    p.ansi("cmd.exe")
        .utf16("cmd /c echo ü")
        .utf16("")
        .utf16("")
        .0
}

#[test]
fn process_start_decodes_for_both_pointer_sizes() {
    for ptr in [4u8, 8] {
        for with_sid in [true, false] {
            let payload = process_v4(usize::from(ptr), with_sid);
            let f = decode(3, 1, 4, ptr, &payload).unwrap().unwrap();
            assert_eq!(field(&f, "ProcessId"), &Value::U64(4242), "ptr {ptr}");
            assert_eq!(field(&f, "ParentId"), &Value::U64(1));
            assert_eq!(field(&f, "SessionId"), &Value::U64(3));
            assert_eq!(field(&f, "ExitStatus"), &Value::I64(7));
            let key = if ptr == 8 {
                0xFFFF_8000_1234_5678
            } else {
                0x1234_5678
            };
            assert_eq!(
                field(&f, "UniqueProcessKey"),
                &Value::Hex {
                    value: key,
                    width: ptr
                }
            );
            let sid = if with_sid {
                Value::Sid("S-1-5-21-100-200-300-1001".into())
            } else {
                Value::Null
            };
            assert_eq!(field(&f, "UserSID"), &sid);
            assert_eq!(field(&f, "ImageFileName"), &Value::Str("cmd.exe".into()));
            assert_eq!(
                field(&f, "CommandLine"),
                &Value::Str("cmd /c echo ü".into())
            );
            assert_eq!(field(&f, "ApplicationId"), &Value::Str(String::new()));
        }
    }
    assert_eq!(event_name(3, 1).as_deref(), Some("Process/Start"));
    assert_eq!(event_name(3, 39).as_deref(), Some("Process/Defunct"));
    assert_eq!(event_name(3, 77).as_deref(), Some("Process/type 77"));
    assert_eq!(event_name(200, 1), None);
}

#[test]
fn tcp_connect_ports_and_addresses_are_in_network_order() {
    for ptr in [4u8, 8] {
        let payload = P::new(usize::from(ptr))
            .u32(99)
            .u32(0)
            .bytes(&[10, 0, 0, 2])
            .bytes(&[127, 0, 0, 1])
            .bytes(&8080u16.to_be_bytes())
            .bytes(&50000u16.to_be_bytes())
            .u16(1460)
            .u16(1)
            .u16(0)
            .u16(1)
            .u32(65535)
            .u16(7)
            .u16(7)
            .u32(0)
            .ptr(0xABCD)
            .0;
        let f = decode(6, 12, 2, ptr, &payload).unwrap().unwrap();
        assert_eq!(field(&f, "PID"), &Value::U64(99));
        assert_eq!(field(&f, "daddr"), &Value::Ip("10.0.0.2".parse().unwrap()));
        assert_eq!(field(&f, "saddr"), &Value::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(field(&f, "dport"), &Value::U64(8080));
        assert_eq!(field(&f, "sport"), &Value::U64(50000));
        assert_eq!(field(&f, "mss"), &Value::U64(1460));
        assert_eq!(
            field(&f, "connid"),
            &Value::Hex {
                value: 0xABCD,
                width: ptr
            }
        );
        assert_eq!(payload.len(), 40 + usize::from(ptr));
    }
    assert_eq!(event_name(6, 28).as_deref(), Some("TcpIp/ConnectIPV6"));
}

#[test]
fn thread_cswitch_image_and_disk_layouts_have_windows_sizes() {
    // Fixed-size classes: the documented sizes for 32- and 64-bit pointers.
    let cases: &[(u8, u8, u16, usize, usize)] = &[
        (5, 1, 3, 44, 72),   // Thread_V3_TypeGroup1
        (5, 36, 2, 24, 24),  // CSwitch
        (1, 10, 3, 44, 52),  // DiskIo_TypeGroup1 V3
        (1, 12, 3, 8, 12),   // DiskIo_TypeGroup2 V3
        (1, 14, 3, 24, 28),  // DiskIo_TypeGroup3 V3
        (2, 10, 2, 8, 16),   // PageFault_TypeGroup1
        (2, 32, 2, 32, 40),  // PageFault_HardFault
        (15, 46, 2, 12, 16), // SampledProfile
        (15, 51, 2, 4, 8),   // SysCallEnter
        (15, 52, 2, 4, 4),   // SysCallExit
    ];
    for &(group, ty, version, size32, size64) in cases {
        for (ptr, size) in [(4u8, size32), (8, size64)] {
            let payload: Vec<u8> = (0..size as u8).collect();
            let f = decode(group, ty, version, ptr, &payload).unwrap();
            assert!(f.is_ok(), "{group}/{ty} v{version} ptr {ptr}: {f:?}");
            let short = decode(group, ty, version, ptr, &payload[..size - 1]).unwrap();
            let err = short.unwrap_err();
            assert!(err.what.contains("needs"), "{}", err.what);
        }
    }
    let cs: Vec<u8> = P::new(8)
        .u32(200)
        .u32(100)
        .u8(9)
        .u8(0xF8)
        .bytes(&[0, 0, 5, 1, 5, 0])
        .u32(3)
        .u32(0)
        .0;
    let f = decode(5, 36, 2, 8, &cs).unwrap().unwrap();
    assert_eq!(field(&f, "NewThreadId"), &Value::U64(200));
    assert_eq!(field(&f, "OldThreadPriority"), &Value::I64(-8));
    assert_eq!(field(&f, "OldThreadState"), &Value::I64(5));
    let image = P::new(8)
        .ptr(0x7FF6_0000_0000)
        .ptr(0x5000)
        .u32(77)
        .u32(0)
        .u32(0)
        .u32(0)
        .ptr(0)
        .u32(0)
        .u32(0)
        .u32(0)
        .u32(0)
        .utf16("/usr/bin/true")
        .0;
    let f = decode(0x14, 10, 3, 8, &image).unwrap().unwrap();
    assert_eq!(field(&f, "ImageSize"), &Value::U64(0x5000));
    assert_eq!(field(&f, "ProcessId"), &Value::U64(77));
    assert_eq!(field(&f, "FileName"), &Value::Str("/usr/bin/true".into()));
    assert_eq!(event_name(0x14, 2).as_deref(), Some("Image/Unload"));
}

#[test]
fn unknown_versions_and_pointer_sizes_have_no_layout() {
    let payload = process_v4(8, true);
    assert!(decode(3, 1, 9, 8, &payload).is_none());
    assert!(decode(3, 1, 4, 2, &payload).is_none());
    assert!(decode(3, 250, 4, 8, &payload).is_none());
    assert!(decode(0x30, 1, 2, 8, &payload).is_none());
}

#[test]
fn a_truncated_string_is_an_error_that_keeps_the_fields_before_it() {
    let mut payload = process_v4(8, true);
    let cut = payload.len() - 3;
    payload.truncate(cut);
    let err = decode(3, 1, 4, 8, &payload).unwrap().unwrap_err();
    // One byte is left where PackageFullName's two-byte terminator should be.
    assert!(err.what.contains("PackageFullName"), "{}", err.what);
    assert_eq!(
        field(&err.fields, "ImageFileName"),
        &Value::Str("cmd.exe".into())
    );
}

#[test]
fn classic_headers_name_their_group_by_guid() {
    let process: Guid = "3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c".parse().unwrap();
    assert_eq!(group_of_guid(&process), Some(3));
    let tcp: Guid = "9a280ac0-c8e0-11d1-84e2-00c04fb998a2".parse().unwrap();
    assert_eq!(group_of_guid(&tcp), Some(6));
    assert_eq!(group_of_guid(&Guid::ZERO), None);
}

#[test]
fn every_layout_survives_hostile_payloads() {
    // A fixed pseudo-random sequence: every layout, both pointer sizes, every length up to 300.
    let mut x: u32 = 0x1234_5678;
    let mut noise = vec![0u8; 300];
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    for l in LAYOUTS {
        for ptr in [4u8, 8] {
            for n in 0..noise.len() {
                for data in [&noise[..n], &vec![0xFF; n][..], &vec![0; n][..]] {
                    let r = decode(l.group, l.types[0], l.versions[0], ptr, data).unwrap();
                    if let Ok(fields) = r {
                        let named = |f: &&(&str, Ty)| f.1 != Ty::Align8 && f.1 != Ty::Extension;
                        let windows = l
                            .fields
                            .iter()
                            .take_while(|f| f.1 != Ty::Extension)
                            .filter(named)
                            .count();
                        let all = l.fields.iter().filter(named).count();
                        assert!((windows..=all).contains(&fields.len()), "{fields:?}");
                    }
                }
            }
        }
    }
}

#[test]
fn the_log_file_header_event_decodes_as_eventtrace_header() {
    use crate::etl::{write_header_buffer, LogfileHeader, BUFFER_HEADER_SIZE};
    let h = LogfileHeader {
        buffer_size: 65536,
        number_of_processors: 4,
        perf_freq: 1_000_000_000,
        logger_name: "Relogged".into(),
        log_file_name: "/tmp/r.etl".into(),
        time_zone_bias: -60,
        ..Default::default()
    };
    let mut buf = vec![0u8; 4096];
    write_header_buffer(&mut buf, &h);
    let rec = &buf[BUFFER_HEADER_SIZE..];
    let size = usize::from(u16::from_le_bytes([rec[4], rec[5]]));
    let payload = &rec[0x20..size];
    let f = decode(0, 0, 2, 8, payload).unwrap().unwrap();
    assert_eq!(field(&f, "BufferSize"), &Value::U64(65536));
    assert_eq!(field(&f, "NumberOfProcessors"), &Value::U64(4));
    assert_eq!(field(&f, "PointerSize"), &Value::U64(8));
    assert_eq!(field(&f, "PerfFreq"), &Value::U64(1_000_000_000));
    assert_eq!(
        field(&f, "TimeZoneInformation"),
        &Value::Struct(vec![
            ("Bias".into(), Value::I64(-60)),
            ("StandardName".into(), Value::Str(String::new())),
            ("DaylightName".into(), Value::Str(String::new())),
        ])
    );
    assert_eq!(
        field(&f, "SessionNameString"),
        &Value::Str("Relogged".into())
    );
    assert_eq!(
        field(&f, "LogFileNameString"),
        &Value::Str("/tmp/r.etl".into())
    );
    assert_eq!(event_name(0, 0).as_deref(), Some("EventTrace/Header"));
    assert_eq!(
        event_name(0, 8).as_deref(),
        Some("EventTrace/RundownComplete")
    );
    assert_eq!(decode(0, 8, 2, 8, &[]), Some(Ok(vec![])));
}
