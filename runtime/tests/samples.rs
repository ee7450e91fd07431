//! The three real Windows files in `shared/etl-samples` decode with the counts NOTICE.md gives,
//! and damaged copies of them never panic the reader and still yield their intact buffers.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use evtrace_runtime::etl::read::{for_each_record, Record, RecordKind};
use evtrace_runtime::etl::tracelogging::decode_event;
use evtrace_runtime::etl::Value;

fn sample(name: &str) -> Option<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/etl-samples");
    if !dir.is_dir() {
        support::skip(&format!("{} is missing", dir.display()));
        return None;
    }
    Some(std::fs::read(dir.join(name)).expect("sample file"))
}

/// (provider name, event name, fields) of one TraceLogging event.
type Tl = (String, String, Vec<(String, Value)>);

#[derive(Default, Debug)]
struct Seen {
    kinds: BTreeMap<RecordKind, usize>,
    tl: Vec<Tl>,
    manifest: usize,
    problems: usize,
}

fn read(data: &[u8]) -> Seen {
    let mut s = Seen::default();
    let scan = for_each_record(data, |_, r| {
        *s.kinds.entry(r.record.kind()).or_default() += 1;
        if let Record::Event(e) = &r.record {
            match decode_event(e, 0) {
                Some(Ok(tl)) => {
                    assert_eq!(tl.decoded.error, None, "{}", tl.schema.name);
                    s.tl.push((
                        tl.provider.map(|p| p.name).unwrap_or_default(),
                        tl.schema.name,
                        tl.decoded.fields,
                    ))
                }
                Some(Err(err)) => panic!("metadata: {err}"),
                None => s.manifest += 1,
            }
        }
    });
    s.problems = scan.problems.len();
    s
}

fn field<'a>(fields: &'a [(String, Value)], name: &str) -> &'a Value {
    &fields
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .1
}

#[test]
fn lxcore_kernel() {
    let Some(data) = sample("lxcore_kernel.etl") else {
        return;
    };
    let s = read(&data);
    assert_eq!(s.problems, 0);
    assert_eq!(s.kinds.get(&RecordKind::System), Some(&2));
    assert_eq!(s.kinds.get(&RecordKind::Event), Some(&2));
    assert_eq!(s.tl.len(), 2);
    for (provider, name, fields) in &s.tl {
        assert_eq!(provider, "Microsoft.Windows.Subsystem.LxCore");
        assert_eq!(name, "BreakPoint");
        let names: Vec<_> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "ErrorLevel",
                "instanceId",
                "LxPid",
                "LxTid",
                "LxNs",
                "ExecutablePath",
                "Function",
                "Line",
                "Message"
            ]
        );
    }
    let f = &s.tl[0].2;
    assert_eq!(field(f, "ErrorLevel"), &Value::U64(2));
    assert_eq!(field(f, "LxPid"), &Value::I64(-1));
    assert_eq!(field(f, "Function"), &Value::Str("LxpInstanceStart".into()));
    assert_eq!(field(f, "Line"), &Value::U64(2659));
    assert_eq!(
        field(f, "Message"),
        &Value::Str("[0xc0000034] LxpInstanceInitialize\n".into())
    );
    assert_eq!(
        field(&s.tl[1].2, "Function"),
        &Value::Str("LxpDrvFsTypeMount".into())
    );
}

#[test]
fn primitive_types() {
    let Some(data) = sample("primitive-types.etl") else {
        return;
    };
    let s = read(&data);
    assert_eq!(s.problems, 0);
    assert_eq!(s.kinds.get(&RecordKind::System), Some(&2));
    assert_eq!(s.tl.len(), 5);
    let planets: Vec<_> =
        s.tl.iter()
            .map(|(p, n, f)| {
                assert_eq!(p, "solar_system");
                assert_eq!(n, "PrimitiveTypesTest");
                field(f, "string_type").to_string()
            })
            .collect();
    assert_eq!(planets, ["Mercury", "Venus", "Earth", "Mars", "Jupiter"]);
    let f = &s.tl[0].2;
    assert_eq!(field(f, "boolean_type"), &Value::Bool(false));
    assert_eq!(field(f, "char_type"), &Value::Char('M'));
    assert_eq!(field(f, "int16_type"), &Value::I64(-51));
    assert_eq!(field(f, "uint64_type"), &Value::U64(204));
    assert_eq!(
        field(f, "file_time_type").to_string(),
        "2021-09-09T14:59:35.7990000Z"
    );
    assert_eq!(
        field(f, "system_time_type").to_string(),
        "2021-09-09T14:59:35.799"
    );
    assert!(matches!(field(f, "guid_type"), Value::Guid(_)));
}

#[test]
fn powershell() {
    let Some(data) = sample("powershell.etl") else {
        return;
    };
    let s = read(&data);
    assert_eq!(s.problems, 0);
    assert_eq!(s.kinds.get(&RecordKind::System), Some(&2));
    assert_eq!(s.manifest, 112);
    assert_eq!(s.tl.len(), 0);
}

/// Records per buffer offset, for comparing a damaged file with the original.
fn per_buffer(data: &[u8]) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for_each_record(data, |span, _| *m.entry(span.offset).or_default() += 1);
    m
}

#[test]
fn damaged_samples_never_panic_and_keep_intact_buffers() {
    for name in ["lxcore_kernel.etl", "primitive-types.etl", "powershell.etl"] {
        let Some(data) = sample(name) else { return };
        let good = per_buffer(&data);
        let nominal = 8192usize;
        // Truncation anywhere: every buffer wholly before the cut is still read in full.
        for cut in (0..data.len()).step_by(97).chain([data.len() - 1]) {
            let got = per_buffer(&data[..cut]);
            for (off, n) in &good {
                if (*off as usize) + nominal <= cut {
                    assert_eq!(
                        got.get(off),
                        Some(n),
                        "{name} cut at {cut}: buffer {off:#x}"
                    );
                }
            }
        }
        // Byte flips: buffers other than the damaged one keep all their records.
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..1500 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x >> 11) as usize % data.len();
            let mut d = data.clone();
            d[i] ^= (x as u8) | 1;
            let got = per_buffer(&d);
            let damaged = (i / nominal * nominal) as u64;
            for (off, n) in &good {
                if *off != damaged && damaged != 0 {
                    assert_eq!(
                        got.get(off),
                        Some(n),
                        "{name} flip at {i:#x}: buffer {off:#x}"
                    );
                }
            }
        }
    }
}

/// Each sample's kernel record (the header buffer's second system record) comes out of the
/// reader named by its class, with its fields, and nothing left undecoded.
#[test]
fn kernel_records_come_out_named_with_fields() {
    use evtrace_runtime::consume::{Item, LogReader};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/etl-samples");
    for name in ["lxcore_kernel.etl", "primitive-types.etl", "powershell.etl"] {
        if sample(name).is_none() {
            return;
        }
        let mut r = LogReader::open(&[dir.join(name)]).unwrap();
        let classic: Vec<_> = (&mut r)
            .filter_map(|it| match it {
                Item::Classic(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(classic.len(), 1, "{name}: {classic:?}");
        let c = &classic[0];
        assert_eq!(
            c.name.as_deref(),
            Some("EventTrace/PartitionInfoExtension"),
            "{name}"
        );
        assert_eq!(c.decode_error, None, "{name}");
        assert_eq!(c.pointer_size, 8, "{name}");
        assert_eq!(c.field("PartitionType"), Some(&Value::U64(0)), "{name}");
        assert_eq!(c.fields.as_ref().map(Vec::len), Some(4), "{name}");
        assert_eq!(r.diagnostics().counts().count(), 0, "{name}");
    }
}
