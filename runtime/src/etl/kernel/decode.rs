//! Reads one payload by a field table, never trusting a length.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::classes::{Field, Ty};
use crate::etl::Value;
use crate::Guid;

/// Why a payload did not fit its layout: the fields read before the fault, and what it was.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// The fields decoded before the one that failed.
    pub fields: Vec<(String, Value)>,
    /// What was wrong, naming the field and the byte offset in the payload.
    pub what: String,
}

struct Cursor<'a> {
    data: &'a [u8],
    at: usize,
    ptr: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, name: &str) -> Result<&'a [u8], String> {
        match self.data.get(self.at..self.at + n) {
            Some(s) => {
                self.at += n;
                Ok(s)
            }
            None => Err(format!(
                "{name} at byte {} needs {n} bytes, the payload has {} left",
                self.at,
                self.data.len().saturating_sub(self.at)
            )),
        }
    }

    fn uint(&mut self, n: usize, name: &str) -> Result<u64, String> {
        let b = self.take(n, name)?;
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }

    fn field(&mut self, name: &str, ty: Ty) -> Result<Option<Value>, String> {
        Ok(Some(match ty {
            Ty::U8 => Value::U64(self.uint(1, name)?),
            Ty::I8 => Value::I64(i64::from(self.uint(1, name)? as u8 as i8)),
            Ty::U16 => Value::U64(self.uint(2, name)?),
            Ty::I16 => Value::I64(i64::from(self.uint(2, name)? as u16 as i16)),
            Ty::U32 => Value::U64(self.uint(4, name)?),
            Ty::I32 => Value::I64(i64::from(self.uint(4, name)? as u32 as i32)),
            Ty::X32 => Value::Hex {
                value: self.uint(4, name)?,
                width: 4,
            },
            Ty::U64 => Value::U64(self.uint(8, name)?),
            Ty::I64 => Value::I64(self.uint(8, name)? as i64),
            Ty::Ptr => Value::Hex {
                value: self.uint(self.ptr, name)?,
                width: self.ptr as u8,
            },
            Ty::PtrCount => Value::U64(self.uint(self.ptr, name)?),
            Ty::FileTime => Value::FileTime(self.uint(8, name)? as i64),
            Ty::Guid => {
                let b: [u8; 16] = self.take(16, name)?.try_into().expect("16 bytes");
                Value::Guid(Guid::from_bytes(b))
            }
            Ty::Ipv4 => {
                let b: [u8; 4] = self.take(4, name)?.try_into().expect("4 bytes");
                Value::Ip(IpAddr::V4(Ipv4Addr::from(b)))
            }
            Ty::Ipv6 => {
                let b: [u8; 16] = self.take(16, name)?.try_into().expect("16 bytes");
                Value::Ip(IpAddr::V6(Ipv6Addr::from(b)))
            }
            Ty::Port => {
                let b = self.take(2, name)?;
                Value::U64(u64::from(u16::from_be_bytes([b[0], b[1]])))
            }
            Ty::Sid => self.sid(name)?,
            Ty::Ansi => {
                let rest = &self.data[self.at.min(self.data.len())..];
                let n = rest.iter().position(|&c| c == 0).ok_or_else(|| {
                    format!(
                        "{name} at byte {}: no NUL terminator before the payload ends",
                        self.at
                    )
                })?;
                self.at += n + 1;
                // UTF-8 when it is (Linux names); else Latin-1, where every byte is a
                // character, so no byte of a Windows code-page name is lost.
                let bytes = &rest[..n];
                Value::Str(match std::str::from_utf8(bytes) {
                    Ok(s) => s.to_string(),
                    Err(_) => bytes.iter().map(|&c| char::from(c)).collect(),
                })
            }
            Ty::Utf16 => {
                let start = self.at;
                let mut units = Vec::new();
                loop {
                    let u = self.uint(2, name).map_err(|_| {
                        format!("{name} at byte {start}: no NUL terminator before the payload ends")
                    })? as u16;
                    if u == 0 {
                        break;
                    }
                    units.push(u);
                }
                Value::Str(String::from_utf16_lossy(&units))
            }
            Ty::TimeZone => {
                let b = self.take(172, name)?;
                let bias = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let text = |s: &[u8]| {
                    let units: Vec<u16> = s
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .take_while(|&u| u != 0)
                        .collect();
                    String::from_utf16_lossy(&units)
                };
                Value::Struct(vec![
                    ("Bias".into(), Value::I64(i64::from(bias))),
                    ("StandardName".into(), Value::Str(text(&b[4..68]))),
                    ("DaylightName".into(), Value::Str(text(&b[88..152]))),
                ])
            }
            Ty::Align8 => {
                let pad = (8 - self.at % 8) % 8;
                self.take(pad, "padding")?;
                return Ok(None);
            }
            Ty::Extension => return Ok(None),
        }))
    }

    /// `TOKEN_USER` then the SID: a zero first u32 means no SID (4 bytes); otherwise the
    /// structure is two pointers, then the SID, whose size its SubAuthorityCount gives.
    fn sid(&mut self, name: &str) -> Result<Value, String> {
        let start = self.at;
        let first = self.uint(4, name)?;
        if first == 0 {
            return Ok(Value::Null);
        }
        self.at = start;
        self.take(2 * self.ptr, name)?;
        let head = self.take(8, name)?;
        let (revision, count) = (head[0], usize::from(head[1]));
        if count > 15 {
            return Err(format!(
                "{name} at byte {start}: SID with {count} sub-authorities (at most 15)"
            ));
        }
        let auth = head[2..8]
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b));
        let mut text = format!("S-{revision}-{auth}");
        let subs = self.take(4 * count, name)?;
        for c in subs.chunks_exact(4) {
            text.push_str(&format!(
                "-{}",
                u32::from_le_bytes([c[0], c[1], c[2], c[3]])
            ));
        }
        Ok(Value::Sid(text))
    }
}

/// Reads `payload` by `fields` with `pointer_size`-byte pointers. Bytes after the last field
/// are left alone: newer Windows builds append fields to a class without a new version.
pub(crate) fn read_fields(
    fields: &[Field],
    pointer_size: usize,
    payload: &[u8],
) -> Result<Vec<(String, Value)>, FieldError> {
    let mut c = Cursor {
        data: payload,
        at: 0,
        ptr: pointer_size,
    };
    let mut out = Vec::with_capacity(fields.len());
    // Where evtrace's own fields begin: (fields decoded before them).
    let mut extension = None;
    for &(name, ty) in fields {
        if ty == Ty::Extension {
            if c.at >= payload.len() {
                break;
            }
            extension = Some(out.len());
        }
        match c.field(name, ty) {
            Ok(Some(v)) => out.push((name.to_string(), v)),
            Ok(None) => {}
            // Bytes after Windows' fields that are not evtrace's: left alone, as any
            // trailing bytes are.
            Err(_) if extension.is_some() => {
                out.truncate(extension.unwrap_or(0));
                break;
            }
            Err(what) => return Err(FieldError { fields: out, what }),
        }
    }
    Ok(out)
}
