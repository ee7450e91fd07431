//! The model's tables: the sorted field-type table (each Rust type a field may be declared with,
//! its TraceLogging InType/OutType and payload encoding) with the resolving of a declared type by
//! it, and the named values of a descriptor (levels, opcodes, channels).

use syn::Type;

use super::{in_type, out_type};

/// How a value becomes payload bytes. Each variant names one helper of `evtrace::__private`
/// (or a std method), so the generated code stays a plain sequence of `let` statements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `to_le_bytes()`: integers and floats.
    Le,
    /// `to_be_bytes()`: a port, which TraceLogging stores in network order.
    Be,
    /// `as u64` / `as i64`, then `to_le_bytes()`: `usize` and `isize`.
    Widen,
    /// `__private::bool32`: 4 bytes, 0 or 1.
    Bool32,
    /// `__private::char_text`: the character as a NUL-terminated UTF-8 string.
    Char,
    /// `as u32`, then `to_le_bytes()`: a message's `char`, kept as its code point.
    CodePoint,
    /// `__private::u128_text` / `i128_text`: decimal text, NUL-terminated.
    Int128,
    /// `__private::ip_text`: an address of either family as text, NUL-terminated.
    IpText,
    /// `__private::text` + `NUL`: a `&str`'s bytes up to its first NUL, then a NUL.
    Str,
    /// As [`Encoding::Str`], borrowing the `String`.
    String,
    /// `__private::counted`: a u16 byte count, then the bytes.
    Bytes,
    /// `__private::array`: a u16 element count, then the elements' little-endian bytes.
    Array,
    /// `__private::guid`: the 16 bytes in Windows layout.
    Guid,
    /// `__private::systemtime`: a UTC `SYSTEMTIME` (8 x u16).
    SystemTime,
    /// `__private::nanos`: u64 nanoseconds, saturating.
    Duration,
    /// `__private::ipv4`: the 4 address bytes in network order.
    Ipv4,
    /// `__private::ipv6`: a u16 count of 16, then the address bytes.
    Ipv6,
    /// `__private::SockAddr`: a u16 count, then a Windows `sockaddr_in`/`sockaddr_in6`.
    SocketAddr,
}

/// One row of the field-type table.
#[derive(Debug)]
pub struct TypeEntry {
    /// The type as written (its last path segment), the key the table is sorted by.
    pub name: &'static str,
    /// InType without flags.
    pub in_type: u8,
    /// Default OutType (0 = none).
    pub out_type: u8,
    /// Payload encoding.
    pub encoding: Encoding,
    /// Width in bits for integers (0 for everything else); `{:x}` and `hex` need 8..=64.
    pub int_bits: u8,
    /// Whether `&[T]` of this type is supported (numbers only).
    pub sliceable: bool,
}

const fn row(
    name: &'static str,
    in_type: u8,
    out_type: u8,
    encoding: Encoding,
    int_bits: u8,
    sliceable: bool,
) -> TypeEntry {
    TypeEntry {
        name,
        in_type,
        out_type,
        encoding,
        int_bits,
        sliceable,
    }
}

use in_type as I;
use out_type as O;
use Encoding as E;

/// The supported field types, sorted by name (byte order) for binary search; `&str`, `&[u8]`
/// and `&[T]` are references and handled by [`resolve`] around this table. Why each encoding:
/// see the crate documentation.
#[rustfmt::skip]
pub static TYPES: &[TypeEntry] = &[
    row("Duration",   I::UINT64,      O::DEFAULT,       E::Duration,   0,  false),
    row("Guid",       I::GUID,        O::DEFAULT,       E::Guid,       0,  false),
    row("IpAddr",     I::ANSI_STRING, O::UTF8,          E::IpText,     0,  false),
    row("Ipv4Addr",   I::UINT32,      O::IPV4,          E::Ipv4,       0,  false),
    row("Ipv6Addr",   I::BINARY,      O::IPV6,          E::Ipv6,       0,  false),
    row("SocketAddr", I::BINARY,      O::SOCKETADDRESS, E::SocketAddr, 0,  false),
    row("String",     I::ANSI_STRING, O::UTF8,          E::String,     0,  false),
    row("SystemTime", I::SYSTEMTIME,  O::DATETIME_UTC,  E::SystemTime, 0,  false),
    row("bool",       I::BOOL32,      O::DEFAULT,       E::Bool32,     0,  false),
    row("char",       I::ANSI_STRING, O::UTF8,          E::Char,       0,  false),
    row("f32",        I::FLOAT,       O::DEFAULT,       E::Le,         0,  true),
    row("f64",        I::DOUBLE,      O::DEFAULT,       E::Le,         0,  true),
    row("i128",       I::ANSI_STRING, O::UTF8,          E::Int128,     0,  false),
    row("i16",        I::INT16,       O::DEFAULT,       E::Le,         16, true),
    row("i32",        I::INT32,       O::DEFAULT,       E::Le,         32, true),
    row("i64",        I::INT64,       O::DEFAULT,       E::Le,         64, true),
    row("i8",         I::INT8,        O::DEFAULT,       E::Le,         8,  true),
    row("isize",      I::INT64,       O::DEFAULT,       E::Widen,      64, true),
    row("u128",       I::ANSI_STRING, O::UTF8,          E::Int128,     0,  false),
    row("u16",        I::UINT16,      O::DEFAULT,       E::Le,         16, true),
    row("u32",        I::UINT32,      O::DEFAULT,       E::Le,         32, true),
    row("u64",        I::UINT64,      O::DEFAULT,       E::Le,         64, true),
    row("u8",         I::UINT8,       O::DEFAULT,       E::Le,         8,  true),
    row("usize",      I::UINT64,      O::DEFAULT,       E::Widen,      64, true),
];

/// `&str`: a NUL-terminated UTF-8 string.
pub static STR: TypeEntry = row("&str", I::ANSI_STRING, O::UTF8, E::Str, 0, false);
/// `&[u8]`: counted binary.
pub static BYTES: TypeEntry = row("&[u8]", I::BINARY, O::DEFAULT, E::Bytes, 0, false);

/// Looks a type name up in [`TYPES`].
pub fn lookup(name: &str) -> Option<&'static TypeEntry> {
    TYPES
        .binary_search_by(|e| e.name.cmp(name))
        .ok()
        .map(|i| &TYPES[i])
}

/// The supported types, for error messages (a test checks it names every row of [`TYPES`]).
pub const SUPPORTED: &str = "i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, \
f32, f64, bool, char, &str, String, &[u8], &[T] of a number up to 64 bits, Guid, SystemTime, \
Duration, IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, and Option<T> of a type that is not a slice";

/// A type as the user wrote it, without the token spacing of `to_string`.
pub fn type_text(ty: &Type) -> String {
    use quote::ToTokens;
    let s = ty.to_token_stream().to_string();
    s.replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace("& ", "&")
        .replace(" ,", ",")
        .replace("[ ", "[")
        .replace(" ]", "]")
        .replace("* ", "*")
}

/// A per-field output format (`#[field(format = ...)]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Integers shown in hexadecimal (OutType HEX).
    Hex,
    /// A process id (u32, OutType PID).
    Pid,
    /// A thread id (u32, OutType TID).
    Tid,
    /// A port (u16, stored big-endian, OutType PORT).
    Port,
    /// JSON text (strings, OutType JSON).
    Json,
}

/// The formats by name, sorted.
pub static FORMATS: &[(&str, Format)] = &[
    ("hex", Format::Hex),
    ("json", Format::Json),
    ("pid", Format::Pid),
    ("port", Format::Port),
    ("tid", Format::Tid),
];

/// The resolved type of a field or message argument.
#[derive(Clone, Copy, Debug)]
pub struct FieldType {
    /// The table row of the value (the element for slices and options).
    pub entry: &'static TypeEntry,
    /// InType with its array flag, without the chain flag.
    pub in_type: u8,
    /// OutType (0 = none).
    pub out_type: u8,
    /// Payload encoding of one value.
    pub encoding: Encoding,
    /// `Option<T>`: a variable-count array of 0 or 1 element.
    pub optional: bool,
}

impl FieldType {
    /// A plain (non-optional) value of a table row.
    pub fn of(entry: &'static TypeEntry) -> Self {
        let in_type = if entry.encoding == Encoding::Array {
            entry.in_type | in_type::VCOUNT
        } else {
            entry.in_type
        };
        FieldType {
            entry,
            in_type,
            out_type: entry.out_type,
            encoding: entry.encoding,
            optional: false,
        }
    }

    /// Applies a per-field format; `Err` says which types the format needs.
    pub fn with_format(mut self, format: Format) -> Result<Self, &'static str> {
        let e = self.entry;
        match format {
            Format::Hex if e.int_bits != 0 => self.out_type = out_type::HEX,
            Format::Hex => return Err("`hex` needs an integer type of at most 64 bits"),
            Format::Pid | Format::Tid if e.name == "u32" && self.encoding == Encoding::Le => {
                self.out_type = if format == Format::Pid {
                    out_type::PID
                } else {
                    out_type::TID
                };
            }
            Format::Pid | Format::Tid => return Err("`pid` and `tid` need a `u32`"),
            Format::Port if e.name == "u16" && self.encoding == Encoding::Le => {
                self.out_type = out_type::PORT;
                self.encoding = Encoding::Be;
            }
            Format::Port => return Err("`port` needs a `u16`"),
            Format::Json if matches!(e.encoding, Encoding::Str | Encoding::String) => {
                self.out_type = out_type::JSON
            }
            Format::Json => return Err("`json` needs a `&str` or a `String`"),
        }
        Ok(self)
    }

    /// Whether `{:x}` may format it (an integer of at most 64 bits, not in an array).
    pub fn is_hexable(&self) -> bool {
        self.entry.int_bits != 0 && self.encoding != Encoding::Array
    }
}

/// Why a type could not be resolved.
pub enum Unsupported {
    /// Not in the table.
    Type,
    /// `Option` of something that cannot be an array element (a slice or an option).
    OptionOf,
    /// A slice of something other than a number.
    SliceOf,
    /// A reference to a type taken by value (`&u32`, `&Guid`); `&String` wants `&str`.
    ByReference,
    /// A fixed-size array (`[u8; 16]`, `&[u8; 16]`), which a slice carries.
    Array,
    /// A reference with a named lifetime (`&'a str`): the event function declares none.
    NamedLifetime,
}

/// Resolves a type as written. Matching is by syntax (the last path segment), like the
/// `tracelogging` macros: the generated code then passes the value to a helper that takes the
/// real type, so a same-named type of another crate fails to compile on the user's token.
pub fn resolve(ty: &Type) -> Result<FieldType, Unsupported> {
    match ty {
        Type::Reference(r) if r.lifetime.as_ref().is_some_and(|l| l.ident != "static") => {
            Err(Unsupported::NamedLifetime)
        }
        Type::Reference(r) if r.mutability.is_none() => match &*r.elem {
            Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => Ok(FieldType::of(&STR)),
            Type::Slice(s) => {
                let elem = plain_name(&s.elem).ok_or(Unsupported::SliceOf)?;
                if elem == "u8" {
                    return Ok(FieldType::of(&BYTES));
                }
                match lookup(&elem) {
                    Some(e) if e.sliceable => {
                        let mut t = FieldType::of(e);
                        t.in_type = e.in_type | in_type::VCOUNT;
                        t.encoding = Encoding::Array;
                        Ok(t)
                    }
                    _ => Err(Unsupported::SliceOf),
                }
            }
            Type::Array(_) => Err(Unsupported::Array),
            by_value => match resolve(by_value) {
                Ok(t) if !t.optional => Err(Unsupported::ByReference),
                _ => Err(Unsupported::Type),
            },
        },
        Type::Array(_) => Err(Unsupported::Array),
        Type::Paren(p) => resolve(&p.elem),
        Type::Group(g) => resolve(&g.elem),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last().ok_or(Unsupported::Type)?;
            if last.ident == "Option" {
                let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
                    return Err(Unsupported::Type);
                };
                let Some(syn::GenericArgument::Type(inner)) = args.args.first() else {
                    return Err(Unsupported::Type);
                };
                let mut t = resolve(inner)?;
                if t.optional || t.encoding == Encoding::Array || t.encoding == Encoding::Bytes {
                    return Err(Unsupported::OptionOf);
                }
                // BINARY cannot be an array element; its counted twin can.
                let base = if t.in_type == in_type::BINARY {
                    in_type::COUNTED_BINARY
                } else {
                    t.in_type
                };
                t.in_type = base | in_type::VCOUNT;
                t.optional = true;
                return Ok(t);
            }
            let name = plain_name(ty).ok_or(Unsupported::Type)?;
            lookup(&name).map(FieldType::of).ok_or(Unsupported::Type)
        }
        _ => Err(Unsupported::Type),
    }
}

/// The last segment of a path type without generic arguments.
fn plain_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            last.arguments.is_none().then(|| last.ident.to_string())
        }
        Type::Paren(p) => plain_name(&p.elem),
        Type::Group(g) => plain_name(&g.elem),
        _ => None,
    }
}

pub use evtrace_schema::{check_name, MAX_FIELDS};
/// Largest metadata blob: its size is a u16.
pub const MAX_METADATA: usize = 0xFFFF;
/// The channel TraceLogging events use.
pub const TRACELOGGING_CHANNEL: u8 = 11;

/// Named levels (ETW-REFERENCE 4).
pub static LEVELS: &[(&str, u8)] = &[
    ("always", 0),
    ("critical", 1),
    ("error", 2),
    ("info", 4),
    ("information", 4),
    ("verbose", 5),
    ("warning", 3),
];

/// The Start opcode: the event begins an activity.
pub const OPCODE_START: u8 = 1;
/// The Stop opcode: the event ends the activity its Start began.
pub const OPCODE_STOP: u8 = 2;

/// Named opcodes (winmeta.xml).
pub static OPCODES: &[(&str, u8)] = &[
    ("dc_start", 3),
    ("dc_stop", 4),
    ("extension", 5),
    ("info", 0),
    ("receive", 240),
    ("reply", 6),
    ("resume", 7),
    ("send", 9),
    ("start", 1),
    ("stop", 2),
    ("suspend", 8),
];

/// Named channels (winmeta.xml, plus TraceLogging's 11).
pub static CHANNELS: &[(&str, u8)] = &[
    ("admin", 16),
    ("analytic", 18),
    ("debug", 19),
    ("operational", 17),
    ("trace_logging", TRACELOGGING_CHANNEL),
];

/// The names of a table, for error messages.
pub fn names(table: &[(&str, u8)]) -> String {
    table
        .iter()
        .map(|(n, v)| format!("{n} ({v})"))
        .collect::<Vec<_>>()
        .join(", ")
}
