//! The payload decoder: an event's fields read by its schema into typed values.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::schema::{EventSchema, FieldDef, Repeat};
use super::{in_type, out_type};
use crate::etl::layout::Bytes;
use crate::etl::value::{SystemTimeValue, Value};
use crate::etl::FormatError;
use crate::Guid;

/// Most values one event may decode into (zero-size array elements could otherwise multiply).
const MAX_VALUES: usize = 1 << 18;

struct Payload<'a> {
    b: Bytes<'a>,
    at: usize,
    budget: usize,
}

/// Decodes 8-bit text: UTF-8 when it is valid or the OutType says so, else Windows-1252.
fn ansi(bytes: &[u8], out_t: u8) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    if matches!(out_t, out_type::UTF8 | out_type::JSON | out_type::XML) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    bytes.iter().map(|&c| cp1252(c)).collect()
}

fn cp1252(c: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    match c {
        0x80..=0x9F => char::from_u32(u32::from(HIGH[usize::from(c - 0x80)])).unwrap_or('\u{FFFD}'),
        _ => char::from(c),
    }
}

fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

fn socket_addr(d: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_le_bytes(d.get(..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(d.get(2..4)?.try_into().ok()?);
    match family {
        2 => {
            let ip: [u8; 4] = d.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        // AF_INET6 is 23 on Windows, 10 on Linux.
        23 | 10 => {
            let flow = u32::from_be_bytes(d.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = d.get(8..24)?.try_into().ok()?;
            let scope = d
                .get(24..28)
                .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])));
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

impl<'a> Payload<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        let s = self.b.slice(self.at, n, what)?;
        self.at += n;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FormatError> {
        let v = self.b.array::<N>(self.at, what)?;
        self.at += N;
        Ok(v)
    }

    fn counted(&mut self, what: &str) -> Result<&'a [u8], FormatError> {
        let n = usize::from(u16::from_le_bytes(self.arr::<2>(what)?));
        self.take(n, what)
    }

    fn field(&mut self, f: &FieldDef, depth: usize) -> Result<Value, FormatError> {
        let count = match f.repeat {
            Repeat::One => return self.one(f, depth),
            Repeat::Const(n) => usize::from(n),
            Repeat::Variable => usize::from(u16::from_le_bytes(self.arr::<2>("array count")?)),
        };
        let mut items = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            items.push(self.one(f, depth)?);
        }
        Ok(Value::Array(items))
    }

    fn one(&mut self, f: &FieldDef, depth: usize) -> Result<Value, FormatError> {
        if self.budget == 0 {
            return Err(self
                .b
                .err(self.at, format!("more than {MAX_VALUES} values")));
        }
        self.budget -= 1;
        if f.custom.is_some() {
            return Ok(Value::Bytes(self.counted("custom field")?.to_vec()));
        }
        let o = f.out_type;
        let what = f.name.as_str();
        Ok(match f.in_type {
            in_type::NULL => Value::Null,
            in_type::UNICODE_STRING => {
                let rest = &self.b.data[self.at.min(self.b.len())..];
                let Some(n) = rest.chunks_exact(2).position(|c| c == [0, 0]) else {
                    return Err(self.b.err(
                        self.at,
                        format!("`{what}`: UTF-16 string is not NUL-terminated"),
                    ));
                };
                let s = utf16(&rest[..n * 2]);
                self.at += n * 2 + 2;
                Value::Str(s)
            }
            in_type::ANSI_STRING => {
                let rest = &self.b.data[self.at.min(self.b.len())..];
                let Some(n) = rest.iter().position(|&c| c == 0) else {
                    return Err(self
                        .b
                        .err(self.at, format!("`{what}`: string is not NUL-terminated")));
                };
                let s = ansi(&rest[..n], o);
                self.at += n + 1;
                Value::Str(s)
            }
            in_type::INT8 => {
                let v = self.arr::<1>(what)?[0];
                match o {
                    out_type::STRING => Value::Char(cp1252(v)),
                    out_type::HEX => Value::Hex {
                        value: u64::from(v),
                        width: 1,
                    },
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    _ => Value::I64(i64::from(v as i8)),
                }
            }
            in_type::UINT8 => {
                let v = self.arr::<1>(what)?[0];
                match o {
                    out_type::STRING => Value::Char(cp1252(v)),
                    out_type::HEX => Value::Hex {
                        value: u64::from(v),
                        width: 1,
                    },
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    _ => Value::U64(u64::from(v)),
                }
            }
            in_type::INT16 => {
                let v = i16::from_le_bytes(self.arr(what)?);
                match o {
                    out_type::HEX => Value::Hex {
                        value: u64::from(v as u16),
                        width: 2,
                    },
                    _ => Value::I64(i64::from(v)),
                }
            }
            in_type::UINT16 => {
                let raw = self.arr::<2>(what)?;
                let v = u16::from_le_bytes(raw);
                match o {
                    out_type::STRING => {
                        Value::Char(char::from_u32(u32::from(v)).unwrap_or('\u{FFFD}'))
                    }
                    out_type::HEX => Value::Hex {
                        value: u64::from(v),
                        width: 2,
                    },
                    out_type::PORT => Value::U64(u64::from(u16::from_be_bytes(raw))),
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    _ => Value::U64(u64::from(v)),
                }
            }
            in_type::INT32 => {
                let v = i32::from_le_bytes(self.arr(what)?);
                match o {
                    out_type::HEX
                    | out_type::HRESULT
                    | out_type::NTSTATUS
                    | out_type::WIN32ERROR => Value::Hex {
                        value: u64::from(v as u32),
                        width: 4,
                    },
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    _ => Value::I64(i64::from(v)),
                }
            }
            in_type::UINT32 | in_type::HEXINT32 => {
                let raw = self.arr::<4>(what)?;
                let v = u32::from_le_bytes(raw);
                match o {
                    out_type::IPV4 => Value::Ip(IpAddr::V4(Ipv4Addr::from(raw))),
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    // A Unicode code point (UINT8 and UINT16 take STRING the same way): how
                    // evtrace's messages keep a Rust `char`.
                    out_type::STRING if f.in_type == in_type::UINT32 => {
                        Value::Char(char::from_u32(v).unwrap_or('\u{FFFD}'))
                    }
                    out_type::HEX
                    | out_type::WIN32ERROR
                    | out_type::NTSTATUS
                    | out_type::HRESULT
                    | out_type::CODE_POINTER => Value::Hex {
                        value: u64::from(v),
                        width: 4,
                    },
                    _ if f.in_type == in_type::HEXINT32 => Value::Hex {
                        value: u64::from(v),
                        width: 4,
                    },
                    _ => Value::U64(u64::from(v)),
                }
            }
            in_type::INT64 => {
                let v = i64::from_le_bytes(self.arr(what)?);
                match o {
                    out_type::HEX => Value::Hex {
                        value: v as u64,
                        width: 8,
                    },
                    _ => Value::I64(v),
                }
            }
            in_type::UINT64 | in_type::HEXINT64 | in_type::POINTER => {
                let v = u64::from_le_bytes(self.arr(what)?);
                match o {
                    out_type::HEX | out_type::CODE_POINTER => Value::Hex { value: v, width: 8 },
                    _ if f.in_type != in_type::UINT64 => Value::Hex { value: v, width: 8 },
                    _ => Value::U64(v),
                }
            }
            in_type::FLOAT => Value::F64(f64::from(f32::from_le_bytes(self.arr(what)?))),
            in_type::DOUBLE => Value::F64(f64::from_le_bytes(self.arr(what)?)),
            in_type::BOOL32 => Value::Bool(u32::from_le_bytes(self.arr(what)?) != 0),
            in_type::BINARY | in_type::COUNTED_BINARY => {
                let d = self.counted(what)?;
                match o {
                    out_type::IPV6 if d.len() == 16 => {
                        let a: [u8; 16] = d.try_into().unwrap_or([0; 16]);
                        Value::Ip(IpAddr::V6(Ipv6Addr::from(a)))
                    }
                    out_type::SOCKETADDRESS => {
                        socket_addr(d).map_or_else(|| Value::Bytes(d.to_vec()), Value::Socket)
                    }
                    out_type::SIGNED | out_type::UNSIGNED if d.len() == 16 => {
                        let a: [u8; 16] = d.try_into().unwrap_or([0; 16]);
                        if o == out_type::SIGNED {
                            Value::I128(i128::from_le_bytes(a))
                        } else {
                            Value::U128(u128::from_le_bytes(a))
                        }
                    }
                    _ => Value::Bytes(d.to_vec()),
                }
            }
            in_type::GUID => Value::Guid(Guid(self.arr(what)?)),
            in_type::FILETIME => Value::FileTime(i64::from_le_bytes(self.arr(what)?)),
            in_type::SYSTEMTIME => {
                let r: [u8; 16] = self.arr(what)?;
                let w = |i: usize| u16::from_le_bytes([r[i * 2], r[i * 2 + 1]]);
                Value::SystemTime(SystemTimeValue {
                    year: w(0),
                    month: w(1),
                    day_of_week: w(2),
                    day: w(3),
                    hour: w(4),
                    minute: w(5),
                    second: w(6),
                    milliseconds: w(7),
                })
            }
            in_type::SID => {
                let head = self.b.slice(self.at, 8, what)?;
                let n = usize::from(head[1]);
                if n > 15 {
                    return Err(self
                        .b
                        .err(self.at, format!("`{what}`: SID with {n} sub-authorities")));
                }
                let d = self.take(8 + 4 * n, what)?;
                let auth = d[2..8].iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
                let mut s = format!("S-{}-{auth}", d[0]);
                for c in d[8..].chunks_exact(4) {
                    s.push_str(&format!(
                        "-{}",
                        u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                    ));
                }
                Value::Sid(s)
            }
            in_type::COUNTED_STRING => Value::Str(utf16(self.counted(what)?)),
            in_type::COUNTED_ANSI_STRING => {
                let d = self.counted(what)?;
                Value::Str(ansi(d, o))
            }
            in_type::STRUCT => {
                let mut members = Vec::with_capacity(f.members.len());
                for m in &f.members {
                    let v = self.field(m, depth + 1)?;
                    members.push((m.name.clone(), v));
                }
                Value::Struct(members)
            }
            t => return Err(self.b.err(self.at, format!("`{what}`: unknown InType {t}"))),
        })
    }
}

/// Fields decoded from a payload.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DecodedFields {
    /// Fields in schema order, as far as the payload allowed.
    pub fields: Vec<(String, Value)>,
    /// Why decoding stopped early, if it did (the fields before it are kept).
    pub error: Option<FormatError>,
    /// Payload bytes left over after the last field.
    pub trailing: usize,
}

impl EventSchema {
    /// Decodes a payload with this schema; `base` is the payload's file offset, for errors.
    pub fn decode(&self, payload: &[u8], base: u64) -> DecodedFields {
        let mut p = Payload {
            b: Bytes::new(payload, base),
            at: 0,
            budget: MAX_VALUES,
        };
        let mut out = DecodedFields::default();
        for f in &self.fields {
            match p.field(f, 0) {
                Ok(v) => out.fields.push((f.name.clone(), v)),
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
        out.trailing = payload.len().saturating_sub(p.at);
        out
    }
}
