//! What the macros generate is what the runtime and independent readers expect: the metadata
//! equals the runtime's builders byte for byte, and events and messages written through a real
//! private session decode back to the values written, with evtrace's reader and with etl-parser.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use evtrace::consume::{Item, LogReader};
use evtrace::etl::message_format::{self, ArgType};
use evtrace::etl::{
    in_type, out_type, provider_traits, EventSchemaBuilder, SystemTimeValue, Value,
};
use evtrace::provider::EnableSettings;
use evtrace::session::{Session, SessionProperties};
use evtrace::Guid;

use evtrace_testkit::{readers, Scratch};

#[evtrace::provider(name = "Evtrace-UiTests-RoundTrip")]
mod rt {
    use evtrace::Guid;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::{Duration, SystemTime};

    /// Integers.
    #[event(level = verbose, keywords = 0x8000_0000_0000_0001)]
    pub fn integers(
        a: i8,
        b: i16,
        c: i32,
        d: i64,
        e: i128,
        f: isize,
        g: u8,
        h: u16,
        i: u32,
        j: u64,
        k: u128,
        l: usize,
    );
    /// Scalars and strings.
    pub fn scalars(a: f32, b: f64, c: bool, d: char, e: &str, f: String, g: &[u8]);
    /// Slices.
    pub fn slices(a: &[i8], b: &[u16], c: &[i64], d: &[f32], e: &[usize]);
    /// Other types.
    pub fn others(
        a: Guid,
        b: SystemTime,
        c: Duration,
        d: IpAddr,
        e: Ipv4Addr,
        f: Ipv6Addr,
        g: SocketAddr,
    );
    /// Options etl-parser reads.
    pub fn options(
        a: Option<u32>,
        b: Option<&str>,
        c: Option<String>,
        d: Option<char>,
        e: Option<Guid>,
    );
    /// Options of binary values (COUNTEDBINARY arrays, which etl-parser does not read).
    pub fn binary_options(a: Option<Ipv6Addr>, b: Option<SocketAddr>);
    /// Non-ASCII text (etl-parser decodes 8-bit strings as ASCII and fails on it).
    pub fn unicode(a: char, b: &str);
    /// Output formats.
    #[event(name = "Formats")]
    pub fn formats(
        #[field(format = hex)] a: u64,
        #[field(format = pid)] b: u32,
        #[field(format = tid)] c: u32,
        #[field(format = port)] d: u16,
        #[field(format = json, name = "Body")] e: &str,
    );
}

#[test]
fn macro_metadata_equals_the_runtime_builders() {
    assert_eq!(
        rt::PROVIDER.traits(),
        provider_traits("Evtrace-UiTests-RoundTrip")
    );
    assert_eq!(
        rt::PROVIDER.guid(),
        Guid::from_name("Evtrace-UiTests-RoundTrip")
    );
    use in_type as I;
    use out_type as O;
    let cases: [(&[u8], Vec<u8>); 4] = [
        (
            rt::scalars::SCHEMA,
            EventSchemaBuilder::new("scalars")
                .field("a", I::FLOAT, 0)
                .field("b", I::DOUBLE, 0)
                .field("c", I::BOOL32, 0)
                .field("d", I::ANSI_STRING, O::UTF8)
                .field("e", I::ANSI_STRING, O::UTF8)
                .field("f", I::ANSI_STRING, O::UTF8)
                .field("g", I::BINARY, 0)
                .build(),
        ),
        (
            rt::slices::SCHEMA,
            EventSchemaBuilder::new("slices")
                .array("a", I::INT8, 0)
                .array("b", I::UINT16, 0)
                .array("c", I::INT64, 0)
                .array("d", I::FLOAT, 0)
                .array("e", I::UINT64, 0)
                .build(),
        ),
        (
            rt::binary_options::SCHEMA,
            EventSchemaBuilder::new("binary_options")
                .array("a", I::COUNTED_BINARY, O::IPV6)
                .array("b", I::COUNTED_BINARY, O::SOCKETADDRESS)
                .build(),
        ),
        (
            rt::formats::SCHEMA,
            EventSchemaBuilder::new("Formats")
                .field("a", I::UINT64, O::HEX)
                .field("b", I::UINT32, O::PID)
                .field("c", I::UINT32, O::TID)
                .field("d", I::UINT16, O::PORT)
                .field("Body", I::ANSI_STRING, O::JSON)
                .build(),
        ),
    ];
    for (macro_bytes, builder_bytes) in cases {
        assert_eq!(macro_bytes, &builder_bytes[..]);
    }
    let d = rt::integers::EVENT.descriptor();
    assert_eq!(
        (d.id, d.level, d.keyword, d.channel),
        (1, 5, 0x8000_0000_0000_0001, 11)
    );
    assert_eq!(rt::formats::EVENT.descriptor().id, 8, "ids count in order");
}

/// The test's own folder, removed when it passes.
fn dir(test: &str) -> Scratch {
    Scratch::new(&format!("ui-{test}"))
}

const WHEN_MS: u64 = 1_631_199_575_799; // 2021-09-09T14:59:35.799Z

/// Writes one of each event and two messages into `file`.
/// Recording sessions of this binary's tests enable the same provider, so each would record
/// the other's events too: they take turns.
static RECORDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn record(session: &str, file: &Path) {
    let _turn = RECORDING.lock().unwrap_or_else(|e| e.into_inner());
    let s = Session::start_private(SessionProperties::new(session).log_file(file)).unwrap();
    s.enable_provider(rt::PROVIDER.guid(), EnableSettings::new(5, 0, 0))
        .unwrap();
    let g: Guid = "D3DD3DD4-AAC2-4E2A-8DD4-A8FB61B77615".parse().unwrap();
    let when = UNIX_EPOCH + Duration::from_millis(WHEN_MS);
    let v6: Ipv6Addr = "fe80::1".parse().unwrap();
    let sa: SocketAddr = "10.0.0.1:8080".parse().unwrap();
    evtrace::write!(rt::integers(
        -1,
        -2,
        -3,
        -4,
        -5,
        -6,
        1,
        2,
        3,
        4,
        u128::MAX,
        6
    ));
    evtrace::write!(rt::scalars(
        1.5,
        -2.25,
        true,
        'x',
        "plain\0cut",
        String::from("owned"),
        &[0xAB, 0xCD]
    ));
    evtrace::write!(rt::slices(&[-1, 2], &[3], &[], &[0.5], &[7, 8]));
    evtrace::write!(rt::others(
        g,
        when,
        Duration::from_micros(1500),
        IpAddr::V6(v6),
        Ipv4Addr::new(192, 168, 1, 2),
        v6,
        sa
    ));
    evtrace::write!(rt::options(Some(9), None, Some("s".into()), None, Some(g)));
    evtrace::write!(rt::binary_options(Some(v6), Some(sa)));
    evtrace::write!(rt::unicode('é', "größe"));
    evtrace::write!(rt::formats(0xBEEF, 1234, 5678, 443, "{\"a\":1}"));
    let n = 42u64;
    evtrace::trace_message!(rt, "copied {} bytes from {:?} ({:#x})", n: u64, "a.txt", 0x10u8);
    evtrace::trace_message!(rt, level = warning, "{{{}}} {:X} {}", -1i16, -1i16: i16, sa: SocketAddr);
    // The macro's own names do not capture the caller's: these are the caller's `arg0` and
    // `MESSAGE`.
    const MESSAGE: u32 = 7;
    let (nr, arg0) = (3u64, 0xABu64);
    evtrace::trace_message!(rt, "{} {:x} {}", nr: u64, arg0: u64, MESSAGE: u32);
    // `{:?}` as Rust shows these: a char in single quotes, numbers and addresses unquoted.
    let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    evtrace::trace_message!(rt, "{:?} {:?} {:?} {}", 'é', 5u128, ip: IpAddr, 'x');
    s.stop().unwrap();
}

fn field<'a>(fields: &'a [(String, Value)], name: &str) -> &'a Value {
    &fields.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn events_and_messages_read_back() {
    let d = dir("roundtrip");
    let file = d.join("rt.etl");
    record("ui-roundtrip", &file);

    let mut events = Vec::new();
    let mut messages = Vec::new();
    for item in LogReader::open(&[&file]).unwrap() {
        match item {
            Item::Event(e) => events.push(e),
            Item::Message(m) => messages.push(message_format::format_message(&m.args).unwrap()),
            other => panic!("only events and messages were written: {other:?}"),
        }
    }
    assert_eq!(events.len(), 8);
    let get = |name: &str| {
        let e = events
            .iter()
            .find(|e| e.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no event {name}"));
        assert_eq!(e.decode_error, None, "{name}");
        assert_eq!(
            e.provider_name.as_deref(),
            Some("Evtrace-UiTests-RoundTrip")
        );
        e.fields.clone().unwrap()
    };
    let f = get("integers");
    let want = [
        ("a", Value::I64(-1)),
        ("b", Value::I64(-2)),
        ("c", Value::I64(-3)),
        ("d", Value::I64(-4)),
        ("e", Value::Str("-5".into())),
        ("f", Value::I64(-6)),
        ("g", Value::U64(1)),
        ("h", Value::U64(2)),
        ("i", Value::U64(3)),
        ("j", Value::U64(4)),
        ("k", Value::Str(u128::MAX.to_string())),
        ("l", Value::U64(6)),
    ];
    for (n, v) in want {
        assert_eq!(field(&f, n), &v, "integers.{n}");
    }
    let f = get("scalars");
    assert_eq!(field(&f, "a"), &Value::F64(1.5));
    assert_eq!(field(&f, "b"), &Value::F64(-2.25));
    assert_eq!(field(&f, "c"), &Value::Bool(true));
    assert_eq!(field(&f, "d"), &Value::Str("x".into()));
    assert_eq!(
        field(&f, "e"),
        &Value::Str("plain".into()),
        "cut at the NUL"
    );
    assert_eq!(field(&f, "f"), &Value::Str("owned".into()));
    assert_eq!(field(&f, "g"), &Value::Bytes(vec![0xAB, 0xCD]));
    let f = get("slices");
    let arr = |v: Vec<Value>| Value::Array(v);
    assert_eq!(field(&f, "a"), &arr(vec![Value::I64(-1), Value::I64(2)]));
    assert_eq!(field(&f, "b"), &arr(vec![Value::U64(3)]));
    assert_eq!(field(&f, "c"), &arr(vec![]));
    assert_eq!(field(&f, "d"), &arr(vec![Value::F64(0.5)]));
    assert_eq!(field(&f, "e"), &arr(vec![Value::U64(7), Value::U64(8)]));
    let f = get("others");
    let g: Guid = "D3DD3DD4-AAC2-4E2A-8DD4-A8FB61B77615".parse().unwrap();
    let v6: Ipv6Addr = "fe80::1".parse().unwrap();
    assert_eq!(field(&f, "a"), &Value::Guid(g));
    assert_eq!(
        field(&f, "b"),
        &Value::SystemTime(SystemTimeValue {
            year: 2021,
            month: 9,
            day_of_week: 4,
            day: 9,
            hour: 14,
            minute: 59,
            second: 35,
            milliseconds: 799
        })
    );
    assert_eq!(field(&f, "c"), &Value::U64(1_500_000));
    assert_eq!(field(&f, "d"), &Value::Str("fe80::1".into()));
    assert_eq!(field(&f, "e").to_string(), "192.168.1.2");
    assert_eq!(field(&f, "f"), &Value::Ip(IpAddr::V6(v6)));
    assert_eq!(field(&f, "g").to_string(), "10.0.0.1:8080");
    let f = get("options");
    assert_eq!(field(&f, "a"), &arr(vec![Value::U64(9)]));
    assert_eq!(field(&f, "b"), &arr(vec![]));
    assert_eq!(field(&f, "c"), &arr(vec![Value::Str("s".into())]));
    assert_eq!(field(&f, "d"), &arr(vec![]));
    assert_eq!(field(&f, "e"), &arr(vec![Value::Guid(g)]));
    let f = get("binary_options");
    assert_eq!(field(&f, "a"), &arr(vec![Value::Ip(IpAddr::V6(v6))]));
    assert_eq!(field(&f, "b").to_string(), "[10.0.0.1:8080]");
    let f = get("unicode");
    assert_eq!(field(&f, "a"), &Value::Str("é".into()));
    assert_eq!(field(&f, "b"), &Value::Str("größe".into()));
    let f = get("Formats");
    assert_eq!(field(&f, "a").to_string(), "0x000000000000BEEF");
    assert_eq!(field(&f, "b"), &Value::U64(1234));
    assert_eq!(field(&f, "c"), &Value::U64(5678));
    assert_eq!(field(&f, "d"), &Value::U64(443), "ports are big-endian");
    assert_eq!(field(&f, "Body"), &Value::Str("{\"a\":1}".into()));

    assert_eq!(
        messages,
        [
            "copied 42 bytes from \"a.txt\" (0x10)",
            "{-1} FFFF 10.0.0.1:8080",
            "3 ab 7",
            "'é' 5 10.0.0.1 x"
        ]
    );

    check_with_etl_parser(&file);
}

#[test]
fn message_metadata_matches_the_runtime_encoder() {
    // The meta blob the macro generated is the first chunk of the argument area; rebuild it.
    let meta = message_format::encode_meta(
        "copied {} bytes from {:?} ({:#x})",
        &[
            ArgType {
                in_type: in_type::UINT64,
                out_type: 0,
            },
            ArgType {
                in_type: in_type::ANSI_STRING,
                out_type: out_type::UTF8,
            },
            ArgType {
                in_type: in_type::UINT8,
                out_type: 0,
            },
        ],
    );
    let d = dir("meta");
    let file = d.join("meta.etl");
    record("ui-meta", &file);
    let m = LogReader::open(&[&file])
        .unwrap()
        .find_map(|i| match i {
            Item::Message(m) => Some(m),
            _ => None,
        })
        .unwrap();
    assert_eq!(&m.args[..meta.len()], &meta[..]);
}

/// etl-parser (PyPI), which shares no code with evtrace, decodes every event whose types it
/// knows (all but COUNTEDBINARY arrays) with the values written. Skips without Python, unless
/// `EVTRACE_REQUIRE_PYTHON` is set (as CI does).
fn check_with_etl_parser(file: &Path) {
    let Some(py) = readers::python() else { return };
    let v = readers::read_with(&py, file, &[]);
    let text = v.to_string();
    let events = v["etl_parser"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{text}"));
    let by_name = |n: &str| {
        events
            .iter()
            .find(|e| e["event"] == n)
            .unwrap_or_else(|| panic!("etl-parser did not decode `{n}`: {text}"))["fields"]
            .clone()
    };
    let f = by_name("integers");
    assert_eq!(f["a"], -1);
    assert_eq!(f["d"], -4);
    assert_eq!(f["e"], "-5");
    assert_eq!(f["j"], 4);
    assert_eq!(f["k"], u128::MAX.to_string());
    let f = by_name("scalars");
    assert_eq!(f["a"], 1.5);
    assert_eq!(f["c"], true);
    assert_eq!(f["d"], "x");
    assert_eq!(f["e"], "plain");
    assert_eq!(f["g"], serde_json::json!([0xAB, 0xCD]));
    let f = by_name("slices");
    assert_eq!(f["a"], serde_json::json!([-1, 2]));
    assert_eq!(f["e"], serde_json::json!([7, 8]));
    let f = by_name("others");
    assert_eq!(f["c"], 1_500_000);
    assert_eq!(f["d"], "fe80::1");
    assert!(f["b"].as_str().unwrap().contains("2021"), "{f}");
    let f = by_name("options");
    assert_eq!(f["a"], serde_json::json!([9]));
    assert_eq!(f["b"], serde_json::json!([]));
    assert_eq!(f["c"], serde_json::json!(["s"]));
    let f = by_name("Formats");
    assert_eq!(f["a"], 0xBEEF);
    assert_eq!(f["b"], 1234);
    assert_eq!(f["Body"], "{\"a\":1}");
    // What etl-parser cannot read (documented): arrays of COUNTEDBINARY, non-ASCII text.
    assert!(events
        .iter()
        .all(|e| e["event"] != "binary_options" && e["event"] != "unicode"));
    assert_eq!(events.len(), 8);
}
