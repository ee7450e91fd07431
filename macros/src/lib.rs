//! Procedural macros of evtrace: providers with compile-time checked TraceLogging event schemas,
//! and TraceMessage-style formatted messages. Use them through the `evtrace` crate, which
//! re-exports them; the generated code calls `evtrace::__private`.
//!
//! The crate is split like `tracing-attributes`: `parse` checks the tokens and
//! builds the `model`, collecting every error; `generate` turns the model into code;
//! `message` checks format strings. Nothing here runs at run time.
//!
//! # Field types
//! Each declared type maps to one TraceLogging InType/OutType (the `model::TYPES` table). The
//! choice favours what independent readers decode: `etl-parser` (PyPI) decodes InTypes 1-15,
//! 18 and 20 and variable-count arrays of them, but not 17 (FILETIME), 21 (HEXINT64),
//! 22 and 25 (counted strings and binary), and decodes 8-bit strings as ASCII; `dissect.etl`
//! shows the provider traits and the raw payload of TraceLogging events. Windows' TDH and
//! evtrace's own reader decode all of them.
//!
//! | Rust type | InType | OutType | payload |
//! |---|---|---|---|
//! | `i8`..`i64`, `u8`..`u64` | INT8..UINT64 | - (or HEX, PID, TID, PORT by format) | little-endian (a port big-endian) |
//! | `isize`, `usize` | INT64, UINT64 | - | widened to 64 bits |
//! | `i128`, `u128` | ANSISTRING | UTF8 | decimal text, NUL (no 128-bit InType exists) |
//! | `f32`, `f64` | FLOAT, DOUBLE | - | little-endian |
//! | `bool` | BOOL32 | - | u32 0 or 1 (etl-parser ignores OutType BOOLEAN on UINT8) |
//! | `char` | ANSISTRING | UTF8 | the character as UTF-8, NUL |
//! | `&str`, `String` | ANSISTRING | UTF8 (or JSON by format) | UTF-8 up to the first NUL, then NUL |
//! | `&[u8]` | BINARY | - | u16 length, bytes |
//! | `&[T]`, T a number | T's InType \| VCOUNT | - | u16 count, elements |
//! | `Guid` | GUID | - | 16 bytes, Windows layout |
//! | `SystemTime` | SYSTEMTIME | DATETIME_UTC | 8 x u16, UTC, milliseconds (etl-parser cannot read FILETIME) |
//! | `Duration` | UINT64 | - | nanoseconds, saturating |
//! | `Ipv4Addr` | UINT32 | IPV4 | 4 bytes, network order |
//! | `Ipv6Addr` | BINARY | IPV6 | u16 16, 16 bytes |
//! | `IpAddr` | ANSISTRING | UTF8 | its text (no OutType covers both families) |
//! | `SocketAddr` | BINARY | SOCKETADDRESS | u16 length, Windows `sockaddr_in` (16 B) / `sockaddr_in6` (28 B, family 23) |
//! | `Option<T>` | T's InType \| VCOUNT (BINARY becomes COUNTEDBINARY) | T's | u16 count 0 or 1, then T |
//!
//! What etl-parser shows (checked by `ui-tests/tests/roundtrip.rs`): every type above with its
//! value, except that it ignores OutTypes (a port shows byte-swapped, an `Ipv4Addr` as a u32,
//! `Ipv6Addr`/`SocketAddr` as byte lists), fails on non-ASCII text, and cannot read
//! `Option<Ipv6Addr>`/`Option<SocketAddr>` (arrays of COUNTEDBINARY). Strings are
//! NUL-terminated rather than counted because etl-parser misreads counted 8-bit strings.

#[cfg(test)]
mod expanded;
mod generate;
mod message;
mod model;
mod parse;

use proc_macro::TokenStream;

/// Declares a provider: a module with one typed write function per event.
///
/// ```ignore
/// #[evtrace::provider(name = "MyCompany-CopyTool")]
/// pub mod copy_events {
///     use std::net::SocketAddr;
///
///     /// A file was copied.
///     #[event(level = info, keywords = 0x1)]
///     pub fn copied(src: &str, bytes: u64, #[field(format = hex)] flags: u32);
///
///     /// A peer connected.
///     #[event(level = verbose, opcode = start, task = 2)]
///     pub fn connected(peer: SocketAddr, retries: Option<u8>);
/// }
///
/// evtrace::write!(copy_events::copied("a.txt", 42, 0x10));
/// ```
///
/// Provider options: `name = "..."` (default: the module name) and `guid = "..."` (default: the
/// GUID EventSource derives from the name). Event options in `#[event(...)]`: `id` (all events
/// or none; default 1, 2, ... in order), `version`, `level` (`always`, `critical`, `error`,
/// `warning`, `info`, `verbose` or 0-255 without the reserved 6-15; default `info`), `keywords`
/// (literals joined by `|`, 64 bits), `opcode` (a name of winmeta.xml or 0-255), `task`
/// (0-65535), `channel` (default 11, TraceLogging) and `name` (default: the function name).
/// Field options in `#[field(...)]`: `name` and `format` (`hex`, `pid`, `tid`, `port`, `json`).
///
/// For each event `e` the module gets `fn e(...)`, which writes the event (when a session wants
/// it), and `mod e` with `EVENT` (the `static Event`) and `SCHEMA`. An `opcode = start` event
/// begins an activity: its function returns the `evtrace::activity::ActivityGuard` that keeps
/// the fresh activity current (events written meanwhile carry its id); an `opcode = stop` event
/// needs a Start of the same `task` in the provider. The module also has
/// `PROVIDER` and `register()`; registration otherwise happens at the first enabled check.
#[proc_macro_attribute]
pub fn provider(args: TokenStream, item: TokenStream) -> TokenStream {
    match parse::provider(args.into(), item.into()) {
        Ok(p) => generate::provider(&p).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Writes an event when some session wants it, evaluating the arguments only then:
/// `evtrace::write!(copy_events::copied(src, n, flags))` expands to
/// `if copy_events::copied::EVENT.enabled() { copy_events::copied(src, n, flags) }`.
#[proc_macro]
pub fn write(input: TokenStream) -> TokenStream {
    let call: syn::ExprCall = match syn::parse(input) {
        Ok(c) => c,
        Err(e) => {
            return syn::Error::new(
                e.span(),
                "expected a call of an event function, as in `evtrace::write!(my_provider::copied(src, n))`",
            )
            .to_compile_error()
            .into()
        }
    };
    match &*call.func {
        syn::Expr::Path(p) if p.qself.is_none() => generate::write(&call, p).into(),
        other => syn::Error::new_spanned(
            other,
            "expected the path of an event function, as in `my_provider::copied`",
        )
        .to_compile_error()
        .into(),
    }
}

/// Writes a TraceMessage-style formatted message:
/// `trace_message!(provider_module, [level = .., keywords = ..,] "format", args...)`.
///
/// Placeholders are `{}`, `{:?}` and `{:x}`/`{:X}`/`{:#x}`/`{:#X}` (integers), `{{`/`}}` escape
/// braces. Each argument states its type as `expr: Type` (suffixed literals, strings, chars and
/// bools need none); count and types are checked against the format string at compile time.
/// Argument types are those of event fields except `Option` (the metadata could not tell it from
/// a slice when rendering `{}`).
/// The format and the argument types travel in the record, so `evtrace fmt` prints the text from
/// the log file alone. Arguments are evaluated only when a session wants the message.
///
/// ```ignore
/// evtrace::trace_message!(copy_events, level = warning, "copied {} bytes from {:?}", n: u64, src: &str);
/// ```
#[proc_macro]
pub fn trace_message(input: TokenStream) -> TokenStream {
    let input: message::Input = match syn::parse(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error().into(),
    };
    match message::expand(input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}
