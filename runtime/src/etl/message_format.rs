//! Self-describing TraceMessage arguments: the metadata `evtrace::trace_message!` puts in front
//! of a message's arguments, and the renderer that rebuilds the text from the log file alone.
//!
//! WPP records carry no types; their text needs the TMF files of the build. evtrace's messages
//! carry their format instead. A message record's argument area is:
//!
//! ```text
//! "EvTm"                 4 bytes, magic
//! u16 meta length        little-endian, the whole metadata, magic included
//! format                 UTF-8, NUL-terminated
//! u8 argument count
//! per argument:          u8 InType, u8 OutType (TraceLogging values, see `tracelogging`;
//!                        InType may carry 0x40, a variable-count array)
//! arguments              TraceLogging payload layout, in order
//! ```
//!
//! The format syntax is Rust's, restricted: `{}` (display), `{:?}` (debug: strings quoted and
//! escaped; a `char`, kept as a UINT32 code point with OutType STRING, in single quotes; text with
//! no OutType, which 128-bit integers and addresses are kept as, unquoted), `{:x}` `{:X}` `{:#x}` `{:#X}` (hexadecimal, integers), `{{` and `}}` (braces).
//! Arguments are positional. The macro checks count and types at compile time; the renderer
//! still copes with damaged records (missing arguments show as `<missing>`).

use std::fmt::Write as _;

use super::tracelogging::{in_type, EventSchema, FieldDef, Repeat};
use super::{FormatError, Value};

/// Magic at the start of the metadata.
pub const MAGIC: [u8; 4] = *b"EvTm";

/// The type of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgType {
    /// InType, with [`in_type::VCOUNT`] for arrays.
    pub in_type: u8,
    /// OutType (0 = default).
    pub out_type: u8,
}

/// Parsed metadata of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageMeta {
    /// The format string.
    pub format: String,
    /// The arguments' types, in order.
    pub args: Vec<ArgType>,
    /// Length of the metadata in bytes; the arguments follow.
    pub len: usize,
}

/// Builds a metadata blob (the bytes `trace_message!` generates at compile time). Panics past
/// 255 arguments or 65535 bytes, which the macro rejects at compile time.
pub fn encode_meta(format: &str, args: &[ArgType]) -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(format.as_bytes());
    v.push(0);
    v.push(u8::try_from(args.len()).expect("at most 255 message arguments"));
    for a in args {
        v.extend_from_slice(&[a.in_type, a.out_type]);
    }
    let n = u16::try_from(v.len()).expect("message metadata over 64 KB");
    v[4..6].copy_from_slice(&n.to_le_bytes());
    v
}

/// Parses the metadata at the start of a message's argument area.
pub fn parse_meta(data: &[u8]) -> Result<MessageMeta, FormatError> {
    let err = |at: usize, what: String| FormatError::new(at as u64, what);
    if data.len() < 6 || data[..4] != MAGIC {
        return Err(err(0, "no evtrace message metadata (magic `EvTm`)".into()));
    }
    let len = usize::from(u16::from_le_bytes([data[4], data[5]]));
    if len < 8 || len > data.len() {
        return Err(err(
            4,
            format!(
                "message metadata length {len} does not fit the {} bytes of arguments",
                data.len()
            ),
        ));
    }
    let meta = &data[..len];
    let Some(nul) = meta[6..].iter().position(|&c| c == 0) else {
        return Err(err(6, "message format is not NUL-terminated".into()));
    };
    let format = String::from_utf8_lossy(&meta[6..6 + nul]).into_owned();
    let at = 6 + nul + 1;
    let Some(&count) = meta.get(at) else {
        return Err(err(at, "message argument count missing".into()));
    };
    let types = &meta[at + 1..];
    if types.len() != usize::from(count) * 2 {
        return Err(err(
            at,
            format!(
                "{count} message arguments need {} type bytes, the metadata has {}",
                usize::from(count) * 2,
                types.len()
            ),
        ));
    }
    let args = types
        .chunks_exact(2)
        .map(|t| ArgType {
            in_type: t[0],
            out_type: t[1],
        })
        .collect();
    Ok(MessageMeta { format, args, len })
}

/// Decodes the arguments that follow the metadata. `base` is their offset, for errors.
pub fn decode_args(meta: &MessageMeta, args: &[u8], base: u64) -> Result<Vec<Value>, FormatError> {
    let schema = EventSchema {
        name: String::new(),
        tags: 0,
        fields: meta
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| FieldDef {
                name: format!("arg{i}"),
                in_type: a.in_type & in_type::TYPE_MASK,
                out_type: a.out_type,
                tags: 0,
                repeat: if a.in_type & in_type::COUNT_MASK == in_type::VCOUNT {
                    Repeat::Variable
                } else {
                    Repeat::One
                },
                custom: None,
                members: Vec::new(),
            })
            .collect(),
    };
    let decoded = schema.decode(args, base);
    match decoded.error {
        Some(e) => Err(e),
        None => Ok(decoded.fields.into_iter().map(|(_, v)| v).collect()),
    }
}

/// Whether a TraceMessage argument area starts with evtrace's metadata.
pub fn is_self_describing(area: &[u8]) -> bool {
    area.len() >= MAGIC.len() && area[..MAGIC.len()] == MAGIC
}

/// Formats a whole argument area (metadata, then arguments) into the message text.
pub fn format_message(area: &[u8]) -> Result<String, FormatError> {
    let meta = parse_meta(area)?;
    let values = decode_args(&meta, &area[meta.len..], meta.len as u64)?;
    Ok(render(&meta.format, &meta.args, &values))
}

/// Renders a format string with decoded values; `types` gives integer widths for `{:x}` and
/// tells f32 from f64.
pub fn render(format: &str, types: &[ArgType], values: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + values.len() * 8);
    let mut next = 0;
    let mut chars = format.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let Some(close) = format[start..].find('}') else {
                    out.push_str(&format[start..]);
                    break;
                };
                let spec = &format[start + 1..start + close];
                while chars.peek().is_some_and(|&(i, _)| i <= start + close) {
                    chars.next();
                }
                let i = next;
                next += 1;
                let (Some(v), t) = (values.get(i), types.get(i).copied()) else {
                    out.push_str("<missing>");
                    continue;
                };
                let t = t.unwrap_or(ArgType {
                    in_type: 0,
                    out_type: 0,
                });
                match spec {
                    "" => display(&mut out, v, t),
                    ":?" => debug(&mut out, v, t),
                    ":x" | ":X" | ":#x" | ":#X" => {
                        hex(&mut out, v, t, spec.ends_with('X'), spec.contains('#'))
                    }
                    // Not a placeholder the macro generates: keep the text as it was.
                    _ => out.push_str(&format[start..=start + close]),
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn display(out: &mut String, v: &Value, t: ArgType) {
    match v {
        // Show f32 values with f32's shortest representation, not the widened f64's.
        Value::F64(f) if t.in_type & in_type::TYPE_MASK == in_type::FLOAT => {
            let _ = write!(out, "{}", *f as f32);
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                display(out, item, t);
            }
            out.push(']');
        }
        v => {
            let _ = write!(out, "{v}");
        }
    }
}

fn debug(out: &mut String, v: &Value, t: ArgType) {
    match v {
        // Text with no OutType is a value kept as text (a 128-bit integer, an address): shown
        // as Rust shows the value, unquoted.
        Value::Str(_) if t.out_type == 0 => display(out, v, t),
        Value::Str(s) => {
            let _ = write!(out, "{s:?}");
        }
        Value::Char(c) => {
            let _ = write!(out, "{c:?}");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                debug(out, item, t);
            }
            out.push(']');
        }
        v => display(out, v, t),
    }
}

fn hex(out: &mut String, v: &Value, t: ArgType, upper: bool, alternate: bool) {
    let bits = match t.in_type & in_type::TYPE_MASK {
        in_type::INT8 | in_type::UINT8 => 8,
        in_type::INT16 | in_type::UINT16 => 16,
        in_type::INT32 | in_type::UINT32 | in_type::HEXINT32 => 32,
        _ => 64,
    };
    // Negative numbers show their two's complement at their own width, as Rust's `{:x}` does.
    let raw = match v {
        Value::U64(x) => *x,
        Value::I64(x) => (*x as u64) & (u64::MAX >> (64 - bits)),
        Value::Hex { value, .. } => *value,
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                hex(out, item, t, upper, alternate);
            }
            out.push(']');
            return;
        }
        other => return display(out, other, t),
    };
    let _ = match (upper, alternate) {
        (false, false) => write!(out, "{raw:x}"),
        (true, false) => write!(out, "{raw:X}"),
        (false, true) => write!(out, "{raw:#x}"),
        (true, true) => write!(out, "{raw:#X}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::out_type;

    fn t(in_type: u8) -> ArgType {
        ArgType {
            in_type,
            out_type: 0,
        }
    }

    #[test]
    fn renders_every_placeholder_kind() {
        let utf8 = ArgType {
            in_type: in_type::ANSI_STRING,
            out_type: out_type::UTF8,
        };
        let types = [
            t(in_type::INT8),
            utf8,
            t(in_type::UINT32),
            t(in_type::FLOAT),
            t(in_type::UINT16 | in_type::VCOUNT),
        ];
        let values = [
            Value::I64(-1),
            Value::Str("a\"b".into()),
            Value::U64(0xBEEF),
            Value::F64(f64::from(0.1f32)),
            Value::Array(vec![Value::U64(1), Value::U64(255)]),
        ];
        assert_eq!(
            render("{:x} {:?} {:#X} {} {:x} {{{}}}", &types, &values),
            "ff \"a\\\"b\" 0xBEEF 0.1 [1, ff] {<missing>}"
        );
        // Text with no OutType (a u128, an address) and a char, as `{:?}` shows them in Rust.
        let code_point = ArgType {
            in_type: in_type::UINT32,
            out_type: out_type::STRING,
        };
        assert_eq!(
            render(
                "{:?} {:?} {}",
                &[t(in_type::ANSI_STRING), code_point, code_point],
                &[Value::Str("5".into()), Value::Char('é'), Value::Char('x')],
            ),
            "5 'é' x"
        );
        assert_eq!(render("{:>5} }", &[], &[Value::U64(1)]), "{:>5} }");
    }

    #[test]
    fn whole_area_round_trips() {
        let meta = encode_meta(
            "copied {} bytes from {:?} at {}",
            &[
                t(in_type::UINT64),
                ArgType {
                    in_type: in_type::ANSI_STRING,
                    out_type: out_type::UTF8,
                },
                ArgType {
                    in_type: in_type::UINT32,
                    out_type: out_type::IPV4,
                },
            ],
        );
        let mut area = meta.clone();
        area.extend_from_slice(&42u64.to_le_bytes());
        area.extend_from_slice(b"a.txt\0");
        area.extend_from_slice(&[10, 0, 0, 1]);
        assert_eq!(
            format_message(&area).unwrap(),
            "copied 42 bytes from \"a.txt\" at 10.0.0.1"
        );
        assert!(is_self_describing(&area) && !is_self_describing(b"EvT"));
        let m = parse_meta(&area).unwrap();
        assert_eq!((m.len, m.args.len()), (meta.len(), 3));
        // Truncated arguments and damaged metadata are errors, never panics.
        for cut in 0..area.len() {
            let _ = format_message(&area[..cut]);
        }
        assert!(format_message(&area[..area.len() - 1]).is_err());
        let mut bad = area.clone();
        bad[0] = b'X';
        assert!(parse_meta(&bad).is_err());
        let mut bad = area.clone();
        bad[4] = 200;
        assert!(parse_meta(&bad).is_err());
    }
}
