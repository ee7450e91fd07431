//! evtrace: Event Tracing for Windows' model for Rust on Linux.
//!
//! This is the one crate an application adds. It re-exports the engine's public API (providers,
//! sessions, consumers, the ETL format) and the macros:
//!
//! - [`provider`](macro@provider): a module of typed event functions with compile-time schemas;
//! - [`write!`](macro@write): calls an event function only when a session wants the event;
//! - [`trace_message!`]: a TraceMessage-style formatted message, checked at compile time.
//!
//! ```
//! #[evtrace::provider(name = "MyCompany-CopyTool")]
//! pub mod copy_events {
//!     /// A file was copied.
//!     #[event(level = info, keywords = 0x1)]
//!     pub fn copied(src: &str, bytes: u64);
//! }
//!
//! evtrace::write!(copy_events::copied("a.txt", 42));
//! evtrace::trace_message!(copy_events, "copied {} bytes", 42u64);
//! ```
//!
//! `write!` shares its name with `std::write!`: call it by path, do not glob-import it.
//!
//! Activities: a Start event's function returns the guard of a fresh activity, current on the
//! thread until it is dropped; across `.await` the future carries it
//! ([`activity::ActivityGuard::carry`]):
//!
//! ```
//! #[evtrace::provider(name = "MyCompany-Server")]
//! pub mod server {
//!     /// A request began.
//!     #[event(opcode = start, task = 1)]
//!     pub fn request_start(id: u64);
//!     /// A request ended.
//!     #[event(opcode = stop, task = 1)]
//!     pub fn request_stop(id: u64, status: u16);
//!     /// Something inside it.
//!     #[event(level = verbose)]
//!     pub fn cache_miss(key: &str);
//! }
//!
//! {
//!     let _request = evtrace::write!(server::request_start(7));
//!     evtrace::write!(server::cache_miss("user:7"));
//!     evtrace::write!(server::request_stop(7, 200));
//! }
//!
//! async fn step() {}
//! let handler = async {
//!     evtrace::write!(server::request_start(8))
//!         .carry(async {
//!             step().await;
//!             evtrace::write!(server::request_stop(8, 200));
//!         })
//!         .await;
//! };
//! tokio::runtime::Runtime::new().unwrap().block_on(handler);
//! ```
#![warn(missing_docs)]

pub use evtrace_macros::{provider, trace_message, write};
pub use evtrace_runtime::{
    activity, boot, clock, consume, etl, kernel, provider, session, system, Error, ErrorCode, Guid,
    Result,
};

/// What the macros' generated code needs; not a public API.
#[doc(hidden)]
pub mod __private {
    use std::fmt::Write as _;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    pub use evtrace_runtime::etl::EventDescriptor;
    pub use evtrace_runtime::provider::{Event, Message, Provider};
    pub use evtrace_runtime::Guid;

    /// The terminator of a NUL-terminated string.
    pub const NUL: &[u8] = b"\0";

    /// A string's bytes up to its first NUL: a NUL inside would end the string early for readers
    /// and shift every field after it.
    #[inline]
    pub fn text(s: &str) -> &[u8] {
        let b = s.as_bytes();
        match b.iter().position(|&c| c == 0) {
            Some(n) => &b[..n],
            None => b,
        }
    }

    /// A u16 byte count and the bytes, cut to 65535 (no event is larger than 64 KB anyway).
    #[inline]
    pub fn counted(b: &[u8]) -> ([u8; 2], &[u8]) {
        let n = b.len().min(usize::from(u16::MAX));
        ((n as u16).to_le_bytes(), &b[..n])
    }

    mod sealed {
        pub trait Sealed {}
    }

    /// Numbers whose slices are written as they are in memory: plain little-endian values
    /// without padding.
    pub trait Number: sealed::Sealed + Copy {}
    macro_rules! numbers {
        ($($t:ty)*) => {$(
            impl sealed::Sealed for $t {}
            impl Number for $t {}
        )*};
    }
    numbers!(u8 i8 u16 i16 u32 i32 u64 i64 f32 f64);
    #[cfg(target_pointer_width = "64")]
    numbers!(usize isize);

    #[cfg(target_endian = "big")]
    compile_error!("evtrace writes little-endian records and supports little-endian targets only");

    /// A variable-count array: u16 element count and the elements' bytes, cut to 65535 elements.
    #[inline]
    pub fn array<T: Number>(s: &[T]) -> ([u8; 2], &[u8]) {
        let n = s.len().min(usize::from(u16::MAX));
        // SAFETY: `Number` types are plain integers and floats without padding or invalid bit
        // patterns; on a little-endian target their memory is their little-endian encoding.
        let bytes = unsafe {
            std::slice::from_raw_parts(s.as_ptr().cast::<u8>(), std::mem::size_of_val(&s[..n]))
        };
        ((n as u16).to_le_bytes(), bytes)
    }

    /// BOOL32.
    #[inline]
    pub fn bool32(b: bool) -> [u8; 4] {
        u32::from(b).to_le_bytes()
    }

    /// The 16 bytes of a GUID.
    #[inline]
    pub fn guid(g: Guid) -> [u8; 16] {
        g.to_bytes()
    }

    /// Nanoseconds in a u64, saturating (584 years).
    #[inline]
    pub fn nanos(d: Duration) -> [u8; 8] {
        u64::try_from(d.as_nanos())
            .unwrap_or(u64::MAX)
            .to_le_bytes()
    }

    /// An IPv4 address for OutType IPV4: its bytes in network order.
    #[inline]
    pub fn ipv4(a: Ipv4Addr) -> [u8; 4] {
        a.octets()
    }

    /// An IPv6 address as BINARY: the u16 length 16, then the bytes.
    #[inline]
    pub fn ipv6(a: Ipv6Addr) -> [u8; 18] {
        let mut v = [0u8; 18];
        v[0] = 16;
        v[2..].copy_from_slice(&a.octets());
        v
    }

    /// A UTC SYSTEMTIME (year, month, day of week, day, hour, minute, second, milliseconds),
    /// clamped to the years 1601-30827 that SYSTEMTIME can hold.
    pub fn systemtime(t: SystemTime) -> [u8; 16] {
        let ms: i128 = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i128,
            Err(e) => -(e.duration().as_millis() as i128),
        };
        // 1601-01-01 and 30827-12-31T23:59:59.999, in ms from 1970.
        let ms = ms.clamp(-11_644_473_600_000, 910_670_515_200_000 - 1) as i64;
        let days = ms.div_euclid(86_400_000);
        let in_day = ms.rem_euclid(86_400_000);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday.
        let fields = [
            year,
            month,
            weekday,
            day,
            in_day / 3_600_000,
            in_day / 60_000 % 60,
            in_day / 1000 % 60,
            in_day % 1000,
        ];
        let mut v = [0u8; 16];
        for (i, f) in fields.iter().enumerate() {
            v[i * 2..i * 2 + 2].copy_from_slice(&(*f as u16).to_le_bytes());
        }
        v
    }

    /// Short text written on the stack, NUL-terminated: chars, 128-bit integers, IP addresses.
    #[derive(Clone, Copy)]
    pub struct Text {
        buf: [u8; 48],
        len: usize,
    }

    impl Text {
        fn of(v: impl std::fmt::Display) -> Text {
            let mut t = Text {
                buf: [0; 48],
                len: 0,
            };
            // Every caller's text fits (at most 45 bytes); a longer one would be cut.
            let _ = write!(t, "{v}");
            // Up to the first NUL, as `text` does.
            t.len = t.buf[..t.len].iter().position(|&c| c == 0).unwrap_or(t.len);
            t.buf[t.len] = 0;
            t
        }

        /// The text and its NUL.
        #[inline]
        pub fn as_bytes(&self) -> &[u8] {
            &self.buf[..=self.len]
        }
    }

    impl std::fmt::Write for Text {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let room = self.buf.len() - 1 - self.len;
            if s.len() > room {
                return Err(std::fmt::Error);
            }
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            Ok(())
        }
    }

    impl AsRef<[u8]> for Text {
        fn as_ref(&self) -> &[u8] {
            self.as_bytes()
        }
    }

    /// A char as a one-character string.
    pub fn char_text(c: char) -> Text {
        Text::of(c)
    }

    /// An i128 in decimal.
    pub fn i128_text(v: i128) -> Text {
        Text::of(v)
    }

    /// A u128 in decimal.
    pub fn u128_text(v: u128) -> Text {
        Text::of(v)
    }

    /// An address of either family as text.
    pub fn ip_text(a: IpAddr) -> Text {
        Text::of(a)
    }

    /// A socket address as BINARY with OutType SOCKETADDRESS: the u16 length, then a Windows
    /// `sockaddr_in` (family 2) or `sockaddr_in6` (family 23, AF_INET6 on Windows).
    #[derive(Clone, Copy)]
    pub struct SockAddr {
        buf: [u8; 30],
        len: usize,
    }

    impl SockAddr {
        /// Encodes `a`.
        pub fn new(a: SocketAddr) -> SockAddr {
            let mut buf = [0u8; 30];
            let len = match a {
                SocketAddr::V4(a) => {
                    buf[2..4].copy_from_slice(&2u16.to_le_bytes());
                    buf[4..6].copy_from_slice(&a.port().to_be_bytes());
                    buf[6..10].copy_from_slice(&a.ip().octets());
                    16
                }
                SocketAddr::V6(a) => {
                    buf[2..4].copy_from_slice(&23u16.to_le_bytes());
                    buf[4..6].copy_from_slice(&a.port().to_be_bytes());
                    buf[6..10].copy_from_slice(&a.flowinfo().to_be_bytes());
                    buf[10..26].copy_from_slice(&a.ip().octets());
                    buf[26..30].copy_from_slice(&a.scope_id().to_le_bytes());
                    28
                }
            };
            buf[..2].copy_from_slice(&(len as u16).to_le_bytes());
            SockAddr { buf, len: len + 2 }
        }

        /// The u16 length and the sockaddr.
        #[inline]
        pub fn as_bytes(&self) -> &[u8] {
            &self.buf[..self.len]
        }
    }

    impl AsRef<[u8]> for SockAddr {
        fn as_ref(&self) -> &[u8] {
            self.as_bytes()
        }
    }

    /// The element count of an `Option` written as a variable-count array.
    #[inline]
    pub fn count<T>(o: &Option<T>) -> &'static [u8] {
        if o.is_some() {
            &[1, 0]
        } else {
            &[0, 0]
        }
    }

    /// The encoded element of an `Option`, or nothing.
    #[inline]
    pub fn some<T: AsRef<[u8]>>(o: &Option<T>) -> &[u8] {
        o.as_ref().map_or(&[], AsRef::as_ref)
    }

    /// The NUL after an optional string, when there is one.
    #[inline]
    pub fn nul_if<T>(o: &Option<T>) -> &'static [u8] {
        if o.is_some() {
            NUL
        } else {
            &[]
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn systemtime_is_utc_calendar() {
            // 2021-09-09T14:59:35.799Z, a Thursday.
            let t = UNIX_EPOCH + Duration::from_millis(1_631_199_575_799);
            let w: Vec<u16> = systemtime(t)
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            assert_eq!(w, [2021, 9, 4, 9, 14, 59, 35, 799]);
            let before = UNIX_EPOCH - Duration::from_millis(1);
            let w: Vec<u16> = systemtime(before)
                .chunks(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            assert_eq!(w, [1969, 12, 3, 31, 23, 59, 59, 999]);
        }

        #[test]
        fn text_stops_at_nul_and_fits() {
            assert_eq!(text("a\0b"), b"a");
            assert_eq!(char_text('\0').as_bytes(), b"\0");
            assert_eq!(char_text('é').as_bytes(), "é\0".as_bytes());
            assert_eq!(
                i128_text(i128::MIN).as_bytes(),
                b"-170141183460469231731687303715884105728\0"
            );
            let v6: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
                .parse()
                .unwrap();
            assert_eq!(ip_text(v6).as_bytes().len(), 40);
        }

        #[test]
        fn arrays_and_counts() {
            let (n, b) = array(&[1u16, 0x0302]);
            assert_eq!((n, b), ([2, 0], &[1, 0, 2, 3][..]));
            let big = vec![0u8; 70_000];
            assert_eq!(counted(&big).1.len(), 65_535);
            assert_eq!(count(&Some(1)), &[1, 0]);
            assert_eq!(some(&None::<[u8; 2]>), b"");
            let sa = SockAddr::new("10.0.0.1:8080".parse().unwrap());
            assert_eq!(
                sa.as_bytes(),
                &[16, 0, 2, 0, 0x1F, 0x90, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
            );
        }
    }
}
