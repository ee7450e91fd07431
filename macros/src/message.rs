//! `trace_message!`: the format string, checked against the arguments' count and types at
//! compile time, and the self-describing metadata blob the message carries (its layout is
//! documented in `evtrace_runtime::etl::message_format`).

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, LitStr, Path, Token, Type};

use crate::model::{self, FieldType};
use crate::parse::Errors;

/// How a placeholder formats its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spec {
    /// `{}`
    Display,
    /// `{:?}`
    Debug,
    /// `{:x}`, `{:X}`, `{:#x}`, `{:#X}`
    Hex,
}

/// The placeholders of a format string, in order; `Err` says what is wrong.
pub fn placeholders(fmt: &str) -> Result<Vec<Spec>, String> {
    let mut out = Vec::new();
    let mut chars = fmt.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
            }
            '{' => {
                let mut inner = String::new();
                loop {
                    match chars.next() {
                        Some((_, '}')) => break,
                        Some((_, c)) => inner.push(c),
                        None => {
                            return Err(format!(
                                "unclosed `{{` at byte {at}; write `{{{{` for a literal brace"
                            ))
                        }
                    }
                }
                out.push(match inner.as_str() {
                    "" => Spec::Display,
                    ":?" => Spec::Debug,
                    ":x" | ":X" | ":#x" | ":#X" => Spec::Hex,
                    other => {
                        return Err(format!(
                            "unsupported placeholder `{{{other}}}`: use {{}}, {{:?}}, {{:x}}, {{:X}}, {{:#x}} or {{:#X}}, with arguments in order"
                        ))
                    }
                });
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
            }
            '}' => {
                return Err(format!(
                    "unmatched `}}` at byte {at}; write `}}}}` for a literal brace"
                ))
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Magic at the start of a message's metadata.
pub const MAGIC: &[u8; 4] = b"EvTm";

/// The metadata blob: `EvTm`, u16 total length, format NUL, u8 argument count, then per
/// argument InType and OutType.
pub fn meta(fmt: &str, args: &[FieldType]) -> model::Blob {
    let mut b = model::Blob::new(&[]);
    b.text("EvTm");
    b.raw(&[0, 0]);
    b.text(fmt);
    b.raw(&[0, args.len() as u8]);
    for a in args {
        b.raw(&[a.in_type, a.out_type]);
    }
    b.finish(MAGIC.len())
}

/// How a message keeps an argument, where that differs from an event field: so that `{:?}`
/// shows it as Rust would. A `char` is kept as its code point (UINT32, OutType STRING: shown in
/// single quotes), and 128-bit integers and IP addresses as text with no OutType (shown
/// unquoted, where an event's UTF-8 text would be quoted like a string).
fn as_message_arg(mut k: FieldType) -> FieldType {
    match k.encoding {
        model::Encoding::Char => {
            k.in_type = model::in_type::UINT32;
            k.out_type = model::out_type::STRING;
            k.encoding = model::Encoding::CodePoint;
        }
        model::Encoding::Int128 | model::Encoding::IpText => k.out_type = model::out_type::DEFAULT,
        _ => {}
    }
    k
}

/// One argument: the expression and its type.
pub struct Arg {
    pub expr: Expr,
    pub ty: Option<Type>,
}

/// The parsed invocation.
pub struct Input {
    pub provider: Path,
    pub options: Vec<(syn::Ident, Expr)>,
    pub format: LitStr,
    pub args: Vec<Arg>,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let provider: Path = input.parse()?;
        input.parse::<Token![,]>()?;
        let mut options = Vec::new();
        while input.peek(syn::Ident) && input.peek2(Token![=]) {
            let key: syn::Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            options.push((key, value));
            input.parse::<Token![,]>()?;
        }
        let format: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the format string (after the provider and `level = ..`, `keywords = ..`)",
            )
        })?;
        let mut args = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let expr: Expr = input.parse()?;
            let ty = if input.peek(Token![:]) {
                input.parse::<Token![:]>()?;
                Some(input.parse()?)
            } else {
                None
            };
            args.push(Arg { expr, ty });
        }
        Ok(Input {
            provider,
            options,
            format,
            args,
        })
    }
}

/// The type of an argument: as annotated, or the type of a literal.
fn arg_type(a: &Arg) -> Option<Type> {
    if let Some(t) = &a.ty {
        return Some(t.clone());
    }
    // A negative literal is a negation of one.
    let lit_expr = match &a.expr {
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => &*u.expr,
        e => e,
    };
    let Expr::Lit(ExprLit { lit, .. }) = lit_expr else {
        return None;
    };
    let s = match lit {
        Lit::Str(_) => "&str".to_string(),
        Lit::Bool(_) => "bool".to_string(),
        Lit::Char(_) => "char".to_string(),
        Lit::Int(i) if !i.suffix().is_empty() => i.suffix().to_string(),
        Lit::Float(f) if !f.suffix().is_empty() => f.suffix().to_string(),
        _ => return None,
    };
    // Spanned on the literal, so that errors about the type point at it.
    let tokens: TokenStream = s.parse().ok()?;
    let span = a.expr.span();
    let tokens = tokens.into_iter().map(|mut t| {
        t.set_span(span);
        t
    });
    syn::parse2(tokens.collect()).ok()
}

/// Checks and expands `trace_message!`.
pub fn expand(input: Input) -> Result<TokenStream, syn::Error> {
    let mut errors = Errors::default();
    let mut level = 4u8;
    let mut keyword = 0u64;
    for (key, value) in &input.options {
        match key.to_string().as_str() {
            "level" => {
                if let Some(v) = crate::parse::level(value, &mut errors) {
                    level = v;
                }
            }
            "keywords" | "keyword" => {
                if let Some(v) = crate::parse::keywords(value, &mut errors) {
                    keyword = v;
                }
            }
            _ => errors.add(
                key,
                "unknown message option; expected `level` or `keywords`",
            ),
        }
    }

    let fmt = input.format.value();
    let (specs, format_ok) = match placeholders(&fmt) {
        Ok(s) => (s, true),
        Err(msg) => {
            errors.add(&input.format, msg);
            (Vec::new(), false)
        }
    };
    if fmt.contains('\0') {
        errors.add(&input.format, "the format string contains a NUL");
    }
    if format_ok && specs.len() != input.args.len() {
        let msg = format!(
            "the format string has {} placeholder{} but {} argument{} given",
            specs.len(),
            if specs.len() == 1 { "" } else { "s" },
            input.args.len(),
            if input.args.len() == 1 {
                " is"
            } else {
                "s are"
            },
        );
        match input.args.get(specs.len()) {
            Some(extra) => errors.add(&extra.expr, msg),
            None => errors.add(&input.format, msg),
        }
    }
    if input.args.len() > 255 {
        errors.add(&input.format, "a message has at most 255 arguments");
    }

    let mut kinds = Vec::new();
    let mut types = Vec::new();
    for (i, a) in input.args.iter().enumerate() {
        let Some(ty) = arg_type(a) else {
            errors.add(
                &a.expr,
                "give the argument's type after it, as in `bytes: u64` (only suffixed literals, strings, chars and bools need none)",
            );
            continue;
        };
        let Some(kind) = crate::parse::field_type(&ty, &mut errors) else {
            continue;
        };
        let kind = as_message_arg(kind);
        if kind.optional {
            // The metadata cannot tell an Option from a slice, so `{}` could not show it.
            errors.add(
                &ty,
                "an Option cannot be a message argument; pass the value or write an event",
            );
        }
        if specs.get(i) == Some(&Spec::Hex) && !kind.is_hexable() {
            errors.add(
                &ty,
                format!(
                    "placeholder {} is hexadecimal but `{}` is not an integer of at most 64 bits",
                    i + 1,
                    model::type_text(&ty)
                ),
            );
        }
        kinds.push(kind);
        types.push(ty);
    }

    let meta = meta(&fmt, &kinds);
    if meta.bytes.len() > model::MAX_METADATA {
        errors.add(
            &input.format,
            format!(
                "the message metadata is {} bytes; at most {} fit",
                meta.bytes.len(),
                model::MAX_METADATA
            ),
        );
    }
    errors.finish(())?;

    let pv = quote!(::evtrace::__private);
    let provider = &input.provider;
    let meta = crate::generate::blob(&meta, input.format.span());
    let keyword = crate::generate::keyword_literal(keyword);
    let level = proc_macro2::Literal::u8_unsuffixed(level);
    let mut lets = Vec::new();
    let mut chunks = Vec::new();
    // The macro's own names are hygienic (`mixed_site`), so an argument expression that names
    // the user's `arg0` or `MESSAGE` sees the user's, not the macro's.
    let message = Ident::new("message", Span::mixed_site());
    for (i, ((a, ty), kind)) in input.args.iter().zip(&types).zip(&kinds).enumerate() {
        let var = Ident::new(&format!("arg{i}"), Span::mixed_site());
        let expr = &a.expr;
        lets.push(quote!(let #var: #ty = #expr;));
        let (l, c) = crate::generate::encode(&var, kind, ty.span());
        lets.push(l);
        chunks.extend(c);
    }
    Ok(quote! {
        {
            // The static is an item, which hygiene does not hide: it lives in a block of its own.
            let #message: &'static #pv::Message = {
                static MESSAGE: #pv::Message = #pv::Message::new(&#provider::PROVIDER, #level, #keyword, #meta);
                &MESSAGE
            };
            if #message.enabled() {
                ::core::hint::cold_path();
                #(#lets)*
                let _ = #message.write(&[#(#chunks),*]);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_rust_syntax() {
        assert_eq!(
            placeholders("{} {:?} {:x} {:#X} {{lit}}").unwrap(),
            vec![Spec::Display, Spec::Debug, Spec::Hex, Spec::Hex]
        );
        assert!(placeholders("{0}").unwrap_err().contains("unsupported"));
        assert!(placeholders("{:>8}").is_err());
        assert!(placeholders("{").unwrap_err().contains("unclosed"));
        assert!(placeholders("}").unwrap_err().contains("unmatched"));
        assert_eq!(placeholders("}} {{").unwrap(), vec![]);
    }

    #[test]
    fn meta_layout() {
        let u32t = model::FieldType::of(model::lookup("u32").unwrap());
        let s = model::FieldType::of(&model::STR);
        let m = meta("{} {}", &[u32t, s]).bytes;
        assert_eq!(&m, b"EvTm\x11\x00{} {}\x00\x02\x08\x00\x02\x23");
        assert_eq!(m.len(), 17);
    }
}
