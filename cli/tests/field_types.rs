//! Every field type a macro-generated event can carry comes out of `evtrace fmt --json` with the
//! value written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use evtrace::provider::EnableSettings;
use evtrace::session::{Session, SessionProperties};
use evtrace::Guid;
use serde_json::{json, Value};

#[evtrace::provider(name = "Evtrace-Cli-FieldTypes")]
mod ft {
    use evtrace::Guid;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::{Duration, SystemTime};

    /// Integers.
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
    /// Slices of numbers.
    pub fn slices(a: &[i8], b: &[u16], c: &[i64], d: &[f64]);
    /// Times, GUIDs and addresses.
    pub fn others(
        a: Guid,
        b: SystemTime,
        c: Duration,
        d: IpAddr,
        e: Ipv4Addr,
        f: Ipv6Addr,
        g: SocketAddr,
    );
    /// Options.
    pub fn options(a: Option<u32>, b: Option<&str>, c: Option<Guid>, d: Option<Ipv6Addr>);
    /// Output formats.
    pub fn formats(
        #[field(format = hex)] a: u64,
        #[field(format = pid)] b: u32,
        #[field(format = tid)] c: u32,
        #[field(format = port)] d: u16,
        #[field(format = json)] e: &str,
    );
}

#[test]
fn every_field_type_through_fmt_json() {
    let dir = evtrace_testkit::Scratch::new("cli-fieldtypes");
    let file = dir.join("fieldtypes.etl");
    let s =
        Session::start_private(SessionProperties::new("cli-field-types").log_file(&file)).unwrap();
    s.enable_provider(ft::PROVIDER.guid(), EnableSettings::new(5, 0, 0))
        .unwrap();
    let g: Guid = "D3DD3DD4-AAC2-4E2A-8DD4-A8FB61B77615".parse().unwrap();
    let v6: Ipv6Addr = "fe80::1".parse().unwrap();
    let sa: SocketAddr = "10.0.0.1:8080".parse().unwrap();
    evtrace::write!(ft::integers(
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
    evtrace::write!(ft::scalars(
        1.5,
        -2.25,
        true,
        'é',
        "text",
        "owned".into(),
        &[0xAB, 0xCD]
    ));
    evtrace::write!(ft::slices(&[-1, 2], &[3], &[], &[0.5]));
    let when = UNIX_EPOCH + Duration::from_millis(1_631_199_575_799);
    evtrace::write!(ft::others(
        g,
        when,
        Duration::from_micros(1500),
        IpAddr::V6(v6),
        Ipv4Addr::new(192, 168, 1, 2),
        v6,
        sa
    ));
    evtrace::write!(ft::options(Some(9), None, Some(g), Some(v6)));
    evtrace::write!(ft::formats(0xBEEF, 1234, 5678, 443, "{\"a\":1}"));
    s.stop().unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_evtrace"))
        .args(["fmt", "--json"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fields = |event: &str| -> Value {
        let e = lines
            .iter()
            .find(|l| l["event"] == event)
            .unwrap_or_else(|| panic!("no {event}"));
        assert_eq!(e["provider"], "Evtrace-Cli-FieldTypes");
        e["fields"].clone()
    };
    assert_eq!(
        fields("integers"),
        json!({"a": -1, "b": -2, "c": -3, "d": -4, "e": "-5", "f": -6, "g": 1, "h": 2, "i": 3, "j": 4,
               "k": u128::MAX.to_string(), "l": 6})
    );
    assert_eq!(
        fields("scalars"),
        json!({"a": 1.5, "b": -2.25, "c": true, "d": "é", "e": "text", "f": "owned", "g": "0xABCD"})
    );
    assert_eq!(
        fields("slices"),
        json!({"a": [-1, 2], "b": [3], "c": [], "d": [0.5]})
    );
    let o = fields("others");
    assert_eq!(o["a"], "{D3DD3DD4-AAC2-4E2A-8DD4-A8FB61B77615}");
    assert!(
        o["b"]
            .as_str()
            .unwrap()
            .starts_with("2021-09-09T14:59:35.799"),
        "{}",
        o["b"]
    );
    assert_eq!(o["c"], 1_500_000, "Duration in nanoseconds");
    assert_eq!(
        (
            o["d"].clone(),
            o["e"].clone(),
            o["f"].clone(),
            o["g"].clone()
        ),
        (
            json!("fe80::1"),
            json!("192.168.1.2"),
            json!("fe80::1"),
            json!("10.0.0.1:8080")
        )
    );
    assert_eq!(
        fields("options"),
        json!({"a": [9], "b": [], "c": ["{D3DD3DD4-AAC2-4E2A-8DD4-A8FB61B77615}"], "d": ["fe80::1"]})
    );
    let f = fields("formats");
    assert_eq!(
        (f["b"].clone(), f["c"].clone(), f["d"].clone()),
        (json!(1234), json!(5678), json!(443))
    );
    assert_eq!(
        f["a"], 0xBEEF,
        "hex is a display format: JSON keeps the number"
    );
    assert_eq!(f["e"], "{\"a\":1}");
}
