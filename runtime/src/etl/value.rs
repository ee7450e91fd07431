//! Typed field values decoded from TraceLogging payloads.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::time::{days_from_civil, filetime_to_rfc3339, FILETIME_UNIX_EPOCH};
use crate::Guid;

/// A Windows `SYSTEMTIME`, as stored (eight u16).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SystemTimeValue {
    /// Year.
    pub year: u16,
    /// Month, 1-12.
    pub month: u16,
    /// Day of the week, 0 = Sunday.
    pub day_of_week: u16,
    /// Day of the month.
    pub day: u16,
    /// Hour.
    pub hour: u16,
    /// Minute.
    pub minute: u16,
    /// Second.
    pub second: u16,
    /// Milliseconds.
    pub milliseconds: u16,
}

impl SystemTimeValue {
    /// The same instant as a FILETIME, when the fields form a valid date.
    pub fn to_filetime(&self) -> Option<i64> {
        if !(1..=12).contains(&self.month)
            || !(1..=31).contains(&self.day)
            || self.hour > 23
            || self.minute > 59
            || self.second > 60
            || self.milliseconds > 999
        {
            return None;
        }
        let days = days_from_civil(
            i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        );
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        Some(secs * 10_000_000 + i64::from(self.milliseconds) * 10_000 + FILETIME_UNIX_EPOCH)
    }
}

impl fmt::Display for SystemTimeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.milliseconds
        )
    }
}

/// One decoded field value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No data (InType NULL).
    Null,
    /// Signed integers of every width.
    I64(i64),
    /// Unsigned integers of every width, pids, tids, ports (already in host order).
    U64(u64),
    /// A signed 128-bit integer: 16 bytes of BINARY, little-endian, OutType SIGNED (no
    /// 128-bit InType exists; other readers show the bytes).
    I128(i128),
    /// An unsigned 128-bit integer: as [`Value::I128`], OutType UNSIGNED.
    U128(u128),
    /// Integers shown in hexadecimal (hex InTypes, OutType hex, error codes); the width in bytes
    /// sets the digits shown.
    Hex {
        /// The value.
        value: u64,
        /// Width in bytes of the stored integer.
        width: u8,
    },
    /// Floating point (f32 widened).
    F64(f64),
    /// Booleans (Bool32, or an integer with OutType boolean).
    Bool(bool),
    /// A character (an 8/16-bit integer with OutType string).
    Char(char),
    /// Text of every string InType.
    Str(String),
    /// Binary data.
    Bytes(Vec<u8>),
    /// A GUID.
    Guid(Guid),
    /// A FILETIME (100 ns units since 1601, UTC).
    FileTime(i64),
    /// A SYSTEMTIME.
    SystemTime(SystemTimeValue),
    /// A security identifier, as `S-1-...` text.
    Sid(String),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A socket address (sockaddr_in / sockaddr_in6).
    Socket(SocketAddr),
    /// An array (constant or variable count).
    Array(Vec<Value>),
    /// A struct's fields in order.
    Struct(Vec<(String, Value)>),
}

/// Writes bytes as `0x` + upper-case hex.
pub(crate) fn write_hex_bytes(f: &mut impl fmt::Write, b: &[u8]) -> fmt::Result {
    f.write_str("0x")?;
    for x in b {
        write!(f, "{x:02X}")?;
    }
    Ok(())
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::I64(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::I128(v) => write!(f, "{v}"),
            Value::U128(v) => write!(f, "{v}"),
            Value::Hex { value, width } => write!(f, "0x{value:0w$X}", w = usize::from(*width) * 2),
            Value::F64(v) => write!(f, "{v}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Char(c) => write!(f, "{c}"),
            Value::Str(s) => f.write_str(s),
            Value::Bytes(b) => write_hex_bytes(f, b),
            Value::Guid(g) => write!(f, "{{{g}}}"),
            Value::FileTime(ft) => f.write_str(&filetime_to_rfc3339(*ft)),
            Value::SystemTime(st) => write!(f, "{st}"),
            Value::Sid(s) => f.write_str(s),
            Value::Ip(ip) => write!(f, "{ip}"),
            Value::Socket(sa) => write!(f, "{sa}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Struct(fields) => {
                f.write_str("{")?;
                for (i, (n, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{n}={v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_readable() {
        assert_eq!(
            Value::Hex {
                value: 0x1F,
                width: 4
            }
            .to_string(),
            "0x0000001F"
        );
        assert_eq!(Value::Bytes(vec![1, 0xAB]).to_string(), "0x01AB");
        assert_eq!(
            Value::Array(vec![Value::I64(-1), Value::Str("a".into())]).to_string(),
            "[-1, a]"
        );
        assert_eq!(
            Value::Struct(vec![("x".into(), Value::Bool(true))]).to_string(),
            "{x=true}"
        );
        let st = SystemTimeValue {
            year: 2021,
            month: 9,
            day_of_week: 4,
            day: 9,
            hour: 14,
            minute: 59,
            second: 35,
            milliseconds: 799,
        };
        assert_eq!(st.to_string(), "2021-09-09T14:59:35.799");
        assert_eq!(
            filetime_to_rfc3339(st.to_filetime().unwrap()),
            "2021-09-09T14:59:35.7990000Z"
        );
    }
}
