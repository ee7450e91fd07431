//! The parsed provider, its events and fields, and the TraceLogging metadata they encode to.
//!
//! Everything here is plain data: `parse` fills it from the user's tokens (after every check),
//! `generate` turns it into code. The one table that matters is [`TYPES`], which maps the Rust
//! type a field is declared with to its TraceLogging InType/OutType and payload encoding.

use proc_macro2::{Ident, Span};
use syn::{Attribute, Type, Visibility};

/// TraceLogging's type codes, shared with the runtime that writes and reads them.
pub use evtrace_schema::{in_type, out_type};

mod tables;
pub use tables::*;

/// An event descriptor (ETW-REFERENCE 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub id: u16,
    pub version: u8,
    pub channel: u8,
    pub level: u8,
    pub opcode: u8,
    pub task: u16,
    pub keyword: u64,
}

/// One field of an event.
pub struct Field {
    /// The parameter name, as declared.
    pub ident: Ident,
    /// The type, as declared (the generated function takes exactly this type).
    pub ty: Type,
    /// The field name in the metadata.
    pub name: String,
    /// Its encoding.
    pub kind: FieldType,
}

/// One event: a typed write function.
pub struct Event {
    /// The function name.
    pub ident: Ident,
    /// Its visibility, as declared.
    pub vis: Visibility,
    /// Doc comments and other attributes carried over to the function.
    pub attrs: Vec<Attribute>,
    /// The event name in the metadata.
    pub name: String,
    /// Where the name comes from: the function's name, or its `name = "..."` option.
    pub name_span: Span,
    /// Where the `opcode` option's value is, when given.
    pub opcode_span: Option<Span>,
    pub descriptor: Descriptor,
    pub fields: Vec<Field>,
}

impl Event {
    /// The TraceLogging event-schema blob: `u16 size`, tag byte 0, name NUL, then per field
    /// name NUL, InType (| 0x80 when an OutType follows), OutType.
    pub fn schema(&self) -> Blob {
        let mut b = Blob::sized(&[0]);
        b.text(&self.name);
        b.raw(&[0]);
        for f in &self.fields {
            b.text(&f.name);
            b.raw(&[0]);
            if f.kind.out_type != 0 {
                b.raw(&[f.kind.in_type | in_type::CHAIN, f.kind.out_type]);
            } else {
                b.raw(&[f.kind.in_type]);
            }
        }
        b.finish(0)
    }
}

/// A metadata blob, and which of its bytes are text (names, formats), so that the generated
/// literal shows text as text and every structural byte as `\xNN`.
pub struct Blob {
    pub bytes: Vec<u8>,
    text: Vec<std::ops::Range<usize>>,
}

impl Blob {
    /// A blob that starts with a u16 size, then `head`.
    pub fn sized(head: &[u8]) -> Blob {
        let mut b = Blob {
            bytes: vec![0, 0],
            text: Vec::new(),
        };
        b.raw(head);
        b
    }

    /// A blob that starts with `head`.
    pub fn new(head: &[u8]) -> Blob {
        let mut b = Blob {
            bytes: Vec::new(),
            text: Vec::new(),
        };
        b.raw(head);
        b
    }

    /// Appends structural bytes.
    pub fn raw(&mut self, b: &[u8]) {
        self.bytes.extend_from_slice(b);
    }

    /// Appends text.
    pub fn text(&mut self, s: &str) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(s.as_bytes());
        self.text.push(at..self.bytes.len());
    }

    /// Writes the total length (capped at [`MAX_METADATA`]; callers report larger blobs) as a
    /// u16 at `at`.
    pub fn finish(mut self, at: usize) -> Blob {
        let n = self.bytes.len().min(MAX_METADATA) as u16;
        self.bytes[at..at + 2].copy_from_slice(&n.to_le_bytes());
        self
    }

    /// The blob as the source of a byte-string literal: text as text, the rest as `\xNN`.
    pub fn literal_source(&self) -> String {
        let mut s = String::from("b\"");
        let mut i = 0;
        let mut ranges = self.text.iter().peekable();
        while i < self.bytes.len() {
            if let Some(r) = ranges.next_if(|r| r.start == i) {
                for &c in &self.bytes[r.clone()] {
                    match c {
                        b'"' | b'\\' => {
                            s.push('\\');
                            s.push(char::from(c));
                        }
                        b' '..=b'~' => s.push(char::from(c)),
                        _ => s.push_str(&format!("\\x{c:02X}")),
                    }
                }
                i = r.end;
            } else {
                s.push_str(&format!("\\x{:02X}", self.bytes[i]));
                i += 1;
            }
        }
        s.push('"');
        s
    }
}

/// A provider: a module with one function per event.
pub struct Provider {
    /// The module name.
    pub ident: Ident,
    /// The module's visibility.
    pub vis: Visibility,
    /// The module's attributes (docs).
    pub attrs: Vec<Attribute>,
    /// The provider name.
    pub name: String,
    /// The GUID, bytes in Windows layout.
    pub guid: [u8; 16],
    /// Whether the GUID was derived from the name.
    pub guid_from_name: bool,
    pub events: Vec<Event>,
    /// Items of the module that are not event declarations (`use` and the like), kept as they are.
    pub other_items: Vec<syn::Item>,
    /// Where the provider was declared, for spans of generated items.
    pub span: Span,
}

impl Provider {
    /// The TraceLogging provider-traits blob: `u16 size`, name, NUL.
    pub fn traits(&self) -> Blob {
        let mut b = Blob::sized(&[]);
        b.text(&self.name);
        b.raw(&[0]);
        b.finish(0)
    }
}

/// The provider GUID Windows tools derive from a name, as the runtime derives it.
pub fn guid_from_name(name: &str) -> [u8; 16] {
    evtrace_schema::Guid::from_name(name).to_bytes()
}

/// Parses `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX` (braces optional) into the Windows layout.
pub fn parse_guid(s: &str) -> Option<[u8; 16]> {
    s.parse::<evtrace_schema::Guid>().ok().map(|g| g.to_bytes())
}

/// A GUID in registry format, upper case, for documentation.
pub fn guid_text(g: &[u8; 16]) -> String {
    evtrace_schema::Guid::from_bytes(*g).to_string()
}

#[cfg(test)]
mod tests;
