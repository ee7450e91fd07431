//! [`model`] -> tokens. The output is meant to read like code a person would write: one
//! `static` per provider and event with its metadata as a byte-string constant, and one small
//! function per event that turns each argument into bytes and hands them to `Event::write`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, LitInt};

use crate::model::{
    in_type, out_type, Blob, Descriptor, Encoding, Event, Field, FieldType, Provider,
};

/// The path of the support module generated code calls into.
fn private(span: Span) -> TokenStream {
    quote_spanned!(span=> ::evtrace::__private)
}

/// A metadata blob as a byte-string literal (see [`Blob::literal_source`]).
pub fn blob(b: &Blob, span: Span) -> Literal {
    let mut lit: Literal = b.literal_source().parse().expect("a byte-string literal");
    lit.set_span(span);
    lit
}

/// Keywords in hexadecimal, as bit masks are written.
pub fn keyword_literal(k: u64) -> LitInt {
    if k == 0 {
        LitInt::new("0", Span::call_site())
    } else {
        hex(k, 1)
    }
}

fn hex(v: u64, digits: usize) -> LitInt {
    LitInt::new(&format!("0x{v:0digits$X}"), Span::call_site())
}

/// A provider module.
pub fn provider(p: &Provider) -> TokenStream {
    let Provider {
        ident, vis, attrs, ..
    } = p;
    let pv = private(Span::call_site());
    let name = &p.name;
    let g = &p.guid;
    let d1 = hex(u32::from_le_bytes([g[0], g[1], g[2], g[3]]).into(), 8);
    let d2 = hex(u16::from_le_bytes([g[4], g[5]]).into(), 4);
    let d3 = hex(u16::from_le_bytes([g[6], g[7]]).into(), 4);
    let d4 = g[8..].iter().map(|b| hex(u64::from(*b), 2));
    let traits = blob(&p.traits(), p.span);
    let guid_doc = format!(
        " The provider `{name}`, GUID `{{{}}}`{}.",
        crate::model::guid_text(g),
        if p.guid_from_name {
            " (from its name, as EventSource derives it)"
        } else {
            ""
        }
    );
    let other = &p.other_items;
    let events = p.events.iter().map(event);
    quote! {
        #(#attrs)*
        #vis mod #ident {
            #(#other)*

            #[doc = #guid_doc]
            pub static PROVIDER: #pv::Provider = #pv::Provider::new(
                #name,
                #pv::Guid::from_fields(#d1, #d2, #d3, [#(#d4),*]),
                #traits,
            );

            /// Registers the provider now instead of at its first enabled check (idempotent).
            pub fn register() -> ::evtrace::Result<()> {
                PROVIDER.register()
            }

            #(#events)*
        }
    }
}

fn descriptor(d: &Descriptor) -> TokenStream {
    let Descriptor {
        id,
        version,
        channel,
        level,
        opcode,
        task,
        keyword,
    } = d;
    let keyword = keyword_literal(*keyword);
    let [id, task] = [*id, *task].map(Literal::u16_unsuffixed);
    let [version, channel, level, opcode] =
        [*version, *channel, *level, *opcode].map(Literal::u8_unsuffixed);
    let pv = private(Span::call_site());
    quote! {
        #pv::EventDescriptor {
            id: #id,
            version: #version,
            channel: #channel,
            level: #level,
            opcode: #opcode,
            task: #task,
            keyword: #keyword,
        }
    }
}

/// How a field's type reads in documentation: `UINT32`, `ANSISTRING+UTF8`, `UINT16[]`.
fn type_doc(k: &FieldType) -> String {
    let mut s = in_type::name(k.in_type).to_string();
    if k.out_type != 0 {
        s.push('+');
        s.push_str(out_type::name(k.out_type));
    }
    if k.in_type & in_type::VCOUNT != 0 {
        s.push_str("[]");
    }
    s
}

fn event(ev: &Event) -> TokenStream {
    let Event {
        ident, vis, attrs, ..
    } = ev;
    let pv = private(Span::call_site());
    // An event compiled out is compiled out whole: its module goes with its function.
    let cfgs = attrs.iter().filter(|a| a.path().is_ident("cfg"));
    let params = ev.fields.iter().map(|f| {
        let (ident, ty) = (&f.ident, &f.ty);
        quote!(#ident: #ty)
    });
    // An event takes as many arguments as it has fields; clippy's limit of 7 does not apply.
    let allow_many = (ev.fields.len() > 7).then(|| quote!(#[allow(clippy::too_many_arguments)]));
    let mut lets = Vec::new();
    let mut chunks = Vec::new();
    for f in &ev.fields {
        let (l, c) = encode(&f.ident, &f.kind, f.ty.span());
        lets.push(l);
        chunks.extend(c);
    }
    let schema = blob(&ev.schema(), ident.span());
    let descriptor = descriptor(&ev.descriptor);
    let fields_doc = if ev.fields.is_empty() {
        "no fields".to_string()
    } else {
        ev.fields
            .iter()
            .map(|f: &Field| format!("`{}` {}", f.name, type_doc(&f.kind)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let schema_doc = format!(" The TraceLogging schema of `{}`: {fields_doc}.", ev.name);
    let module_doc = format!(" The event behind [`{ident}()`](fn@{ident}).");
    let d = &ev.descriptor;
    let event_doc = format!(
        " Event `{}`: id {}, version {}, level {}, keywords {:#x}, opcode {}, task {}, channel {}.",
        ev.name, d.id, d.version, d.level, d.keyword, d.opcode, d.task, d.channel
    );
    // `inline(always)`: `write!` puts the call in a cold branch, where LLVM would not inline a
    // plain `#[inline]` function; the body is only the field encodings and one runtime call.
    // A Start event begins an activity: its function returns the guard that keeps it current.
    let (ret, body) = if ev.descriptor.opcode == crate::model::OPCODE_START {
        (
            quote!(-> ::evtrace::activity::ActivityGuard),
            quote!(#ident::EVENT.write_start(&[#(#chunks),*])),
        )
    } else {
        (
            quote!(),
            quote!(let _ = #ident::EVENT.write(&[#(#chunks),*]);),
        )
    };
    quote! {
        #(#attrs)*
        #[inline(always)]
        #allow_many
        #vis fn #ident(#(#params),*) #ret {
            #(#lets)*
            #body
        }

        #(#cfgs)*
        #[doc = #module_doc]
        #vis mod #ident {
            #[doc = #event_doc]
            pub static EVENT: #pv::Event = #pv::Event::new(&super::PROVIDER, #descriptor, SCHEMA);

            #[doc = #schema_doc]
            pub const SCHEMA: &[u8] = #schema;
        }
    }
}

/// The `let` that turns the value in `var` into its encoded form (shadowing it), and the
/// payload chunks of that form. Helpers are spanned on the declared type, so a type of the same
/// name from elsewhere fails to compile there.
pub fn encode(var: &Ident, k: &FieldType, span: Span) -> (TokenStream, Vec<TokenStream>) {
    let pv = private(span);
    // Only numbers reach the `to_le_bytes` paths, and their names are identifiers.
    let prim = || format_ident!("{}", k.entry.name, span = span);
    let wide = if k.entry.name == "isize" {
        quote!(i64)
    } else {
        quote!(u64)
    };
    if k.optional {
        let f = match k.encoding {
            Encoding::Le => {
                let prim = prim();
                quote_spanned!(span=> #prim::to_le_bytes)
            }
            Encoding::Be => {
                let prim = prim();
                quote_spanned!(span=> #prim::to_be_bytes)
            }
            Encoding::Widen => quote_spanned!(span=> |v| (v as #wide).to_le_bytes()),
            Encoding::String => {
                let l = quote!(let #var = #var.as_deref().map(#pv::text););
                let c = vec![
                    quote!(#pv::count(&#var)),
                    quote!(#pv::some(&#var)),
                    quote!(#pv::nul_if(&#var)),
                ];
                return (l, c);
            }
            other => helper(&pv, other, k),
        };
        let l = quote!(let #var = #var.map(#f););
        let mut c = vec![quote!(#pv::count(&#var)), quote!(#pv::some(&#var))];
        if k.encoding == Encoding::Str {
            c.push(quote!(#pv::nul_if(&#var)));
        }
        return (l, c);
    }
    let l = match k.encoding {
        Encoding::Le => quote!(let #var = #var.to_le_bytes();),
        Encoding::Be => quote!(let #var = #var.to_be_bytes();),
        Encoding::Widen => quote!(let #var = (#var as #wide).to_le_bytes();),
        Encoding::CodePoint => quote!(let #var = (#var as u32).to_le_bytes();),
        Encoding::String => quote!(let #var = #pv::text(&#var);),
        other => {
            let f = helper(&pv, other, k);
            quote!(let #var = #f(#var);)
        }
    };
    let c = match k.encoding {
        Encoding::Str | Encoding::String => vec![quote!(#var), quote!(#pv::NUL)],
        Encoding::Bytes | Encoding::Array => vec![quote!(&#var.0), quote!(#var.1)],
        Encoding::Char | Encoding::Int128 | Encoding::IpText | Encoding::SocketAddr => {
            vec![quote!(#var.as_bytes())]
        }
        _ => vec![quote!(&#var)],
    };
    (l, c)
}

/// The `__private` function that encodes one value of an encoding that needs one.
fn helper(pv: &TokenStream, e: Encoding, k: &FieldType) -> TokenStream {
    match e {
        Encoding::Bool32 => quote!(#pv::bool32),
        Encoding::Char => quote!(#pv::char_text),
        Encoding::Int128 if k.entry.name == "i128" => quote!(#pv::i128_text),
        Encoding::Int128 => quote!(#pv::u128_text),
        Encoding::IpText => quote!(#pv::ip_text),
        Encoding::Str => quote!(#pv::text),
        Encoding::Bytes => quote!(#pv::counted),
        Encoding::Array => quote!(#pv::array),
        Encoding::Guid => quote!(#pv::guid),
        Encoding::SystemTime => quote!(#pv::systemtime),
        Encoding::Duration => quote!(#pv::nanos),
        Encoding::Ipv4 => quote!(#pv::ipv4),
        Encoding::Ipv6 => quote!(#pv::ipv6),
        Encoding::SocketAddr => quote!(#pv::SockAddr::new),
        // Handled inline by `encode`.
        Encoding::Le | Encoding::Be | Encoding::Widen | Encoding::CodePoint | Encoding::String => {
            quote!()
        }
    }
}

/// `evtrace::write!(path::event(args))`: the arguments are evaluated only when enabled. The
/// enabled branch is marked cold (LTTng's `caa_unlikely`) so that the disabled path stays a
/// load, a test and a fall-through in the caller's loop, with the write placed out of line.
///
/// The disabled branch gives the function's result type's default: nothing for most events, an
/// inactive activity guard for a Start event.
pub fn write(call: &syn::ExprCall, path: &syn::ExprPath) -> TokenStream {
    quote! {
        if #path::EVENT.enabled() {
            ::core::hint::cold_path();
            #call
        } else {
            ::core::default::Default::default()
        }
    }
}
