//! Every supported field type, plain and in an Option, compiles and can be written.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime};

#[evtrace::provider(name = "Evtrace-UiTests-AllTypes")]
mod all_types {
    use evtrace::Guid;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::{Duration, SystemTime};

    /// Integers of every width.
    pub fn integers(a: i8, b: i16, c: i32, d: i64, e: i128, f: isize, g: u8, h: u16, i: u32, j: u64, k: u128, l: usize);
    /// Floats, bool and char.
    pub fn scalars(a: f32, b: f64, c: bool, d: char);
    /// Strings and bytes.
    pub fn strings(a: &str, b: String, c: &'static str, d: &[u8]);
    /// Slices of numbers.
    pub fn slices(a: &[i8], b: &[i16], c: &[i32], d: &[i64], e: &[isize], f: &[u16], g: &[u32], h: &[u64], i: &[usize], j: &[f32], k: &[f64]);
    /// GUIDs, times and addresses.
    pub fn others(a: Guid, b: SystemTime, c: Duration, d: IpAddr, e: Ipv4Addr, f: Ipv6Addr, g: SocketAddr);
    /// Options of each kind.
    pub fn options(
        a: Option<u8>,
        b: Option<i64>,
        c: Option<usize>,
        d: Option<u128>,
        e: Option<f64>,
        f: Option<bool>,
        g: Option<char>,
        h: Option<&str>,
        i: Option<String>,
        j: Option<Guid>,
        k: Option<SystemTime>,
        l: Option<Duration>,
        m: Option<IpAddr>,
        n: Option<Ipv4Addr>,
        o: Option<Ipv6Addr>,
        p: Option<SocketAddr>,
    );
    /// Output formats.
    pub fn formats(
        #[field(format = hex)] a: u64,
        #[field(format = hex)] b: &[u32],
        #[field(format = pid)] c: u32,
        #[field(format = tid)] d: u32,
        #[field(format = port)] e: u16,
        #[field(format = port)] f: Option<u16>,
        #[field(format = json)] g: &str,
        #[field(format = json, name = "Body")] h: String,
    );
}

fn main() {
    let now = SystemTime::now();
    let v4 = Ipv4Addr::LOCALHOST;
    let v6 = Ipv6Addr::LOCALHOST;
    let sa: SocketAddr = "[::1]:443".parse().unwrap();
    evtrace::write!(all_types::integers(-1, -2, -3, -4, -5, -6, 1, 2, 3, 4, 5, 6));
    evtrace::write!(all_types::scalars(1.5, 2.5, true, 'x'));
    evtrace::write!(all_types::strings("a", String::from("b"), "c", &[1, 2]));
    evtrace::write!(all_types::slices(&[1], &[2], &[3], &[4], &[5], &[6], &[7], &[8], &[9], &[1.0], &[2.0]));
    evtrace::write!(all_types::others(evtrace::Guid::ZERO, now, Duration::from_millis(5), IpAddr::V4(v4), v4, v6, sa));
    evtrace::write!(all_types::options(
        Some(1), None, Some(2), None, Some(1.0), Some(false), None, Some("s"), None,
        Some(evtrace::Guid::ZERO), Some(now), None, Some(IpAddr::V6(v6)), None, Some(v6), Some(sa),
    ));
    evtrace::write!(all_types::formats(0xFF, &[1, 2], 1, 2, 80, None, "{}", "[]".to_string()));
    // A direct call works too; it evaluates its arguments first.
    all_types::scalars(0.0, 0.0, false, '\0');
}
