//! One event declaration (`fn name(fields...);` with its `#[event(...)]` attribute) parsed into
//! an [`Event`] of the model.

use std::collections::{HashMap, HashSet};

use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ForeignItemFn, Lit, Pat, ReturnType, Token, Type};

use super::values::{field_type, int_in, keywords, level, named};
use super::{Errors, GivenId};
use crate::model::{self, Descriptor, Event, Field};

/// Parses one event declaration; `None` when it is too broken to generate anything for.
pub(super) fn event(decl: ForeignItemFn, errors: &mut Errors) -> Option<(Event, GivenId)> {
    let sig = &decl.sig;
    if sig.ident == "register" {
        errors.add(
            &sig.ident,
            "`register` is the provider's registration function; name the event differently",
        );
    }
    const NOT_GENERIC: &str = "an event function cannot be generic: its fields need fixed types";
    if !sig.generics.params.is_empty() {
        errors.add(&sig.generics, NOT_GENERIC);
    } else if let Some(w) = &sig.generics.where_clause {
        // `Generics` without parameters has no tokens of its own to point at.
        errors.add(w, NOT_GENERIC);
    }
    if let ReturnType::Type(_, ty) = &sig.output {
        let unit = matches!(&**ty, Type::Tuple(t) if t.elems.is_empty());
        if !unit {
            errors.add(
                &sig.output,
                "an event function returns nothing: remove the return type",
            );
        }
    }
    if let Some(t) = &sig.constness {
        errors.add(t, "an event function cannot be `const`");
    }
    if let Some(t) = &sig.asyncness {
        errors.add(t, "an event function cannot be `async`");
    }
    if let Some(t) = &sig.unsafety {
        errors.add(t, "an event function cannot be `unsafe`");
    }
    if let Some(t) = &sig.abi {
        errors.add(t, "an event function cannot have an ABI");
    }
    if let Some(t) = &sig.variadic {
        errors.add(t, "an event function cannot be variadic");
    }

    let mut descriptor = Descriptor {
        channel: model::TRACELOGGING_CHANNEL,
        ..Descriptor::default()
    };
    let mut name = sig.ident.unraw().to_string();
    let mut name_span = sig.ident.span();
    let mut id = GivenId::Absent;
    let mut attrs = Vec::new();
    let mut seen_event_attr = false;
    let mut level_given = false;
    let mut opcode_span = None;
    let mut given: HashSet<String> = HashSet::new();
    for attr in decl.attrs {
        if !attr.path().is_ident("event") {
            attrs.push(attr);
            continue;
        }
        if seen_event_attr {
            errors.add(&attr, "more than one `#[event(...)]` attribute");
            continue;
        }
        seen_event_attr = true;
        let r = attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let value: Expr = meta.value()?.parse()?;
            // `keyword` and `keywords` are one option under two spellings.
            let option = if key == "keyword" { "keywords" } else { &key };
            if !option.is_empty() && !given.insert(option.to_string()) {
                errors.add(&meta.path, format!("`{option}` is given twice"));
                return Ok(());
            }
            match key.as_str() {
                "id" => {
                    id = match int_in(&value, "id", u16::MAX as u128, errors) {
                        Some(v) => {
                            descriptor.id = v as u16;
                            GivenId::Valid(value)
                        }
                        None => GivenId::Invalid,
                    };
                }
                "version" => {
                    if let Some(v) = int_in(&value, "version", 255, errors) {
                        descriptor.version = v as u8;
                    }
                }
                "task" => {
                    if let Some(v) = int_in(&value, "task", u16::MAX as u128, errors) {
                        descriptor.task = v as u16;
                    }
                }
                "level" => {
                    level_given = true;
                    if let Some(v) = level(&value, errors) {
                        descriptor.level = v;
                    }
                }
                "opcode" => {
                    if let Some(v) = named(&value, "opcode", model::OPCODES, errors) {
                        descriptor.opcode = v;
                        opcode_span = Some(value.span());
                    }
                }
                "channel" => {
                    if let Some(v) = named(&value, "channel", model::CHANNELS, errors) {
                        descriptor.channel = v;
                    }
                }
                "keywords" | "keyword" => {
                    if let Some(v) = keywords(&value, errors) {
                        descriptor.keyword = v;
                    }
                }
                "name" => match &value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) => {
                        name = s.value();
                        name_span = s.span();
                    }
                    _ => errors.add(&value, "expected the event name as a string"),
                },
                _ => errors.add(
                    &meta.path,
                    "unknown event option; expected id, version, level, keywords, opcode, task, channel or name",
                ),
            }
            Ok(())
        });
        if let Err(e) = r {
            errors.push(e);
        }
    }
    if !level_given {
        // Informational unless stated: TraceLogging's default (5, verbose) would hide events
        // from sessions enabled at the usual level 4.
        descriptor.level = 4;
    }
    if let Err(msg) = model::check_name("event", &name) {
        errors.add_at(name_span, msg);
    }

    let mut fields = Vec::new();
    let mut field_names: HashMap<String, ()> = HashMap::new();
    for (i, input) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(arg) = input else {
            errors.add(input, "an event function takes no `self`");
            continue;
        };
        if i == model::MAX_FIELDS {
            errors.add(
                input,
                format!(
                    "an event has at most {} fields; this is field {}",
                    model::MAX_FIELDS,
                    i + 1
                ),
            );
        }
        let ident = match &*arg.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => p.ident.clone(),
            other => {
                errors.add(other, "expected a plain parameter name");
                continue;
            }
        };
        let mut field_name = ident.unraw().to_string();
        let mut field_name_span = ident.span();
        let mut format = None;
        let mut given: HashSet<String> = HashSet::new();
        for attr in &arg.attrs {
            if !attr.path().is_ident("field") {
                errors.add(
                    attr,
                    "unknown field attribute; expected `#[field(name = \"...\", format = hex|pid|tid|port|json)]`",
                );
                continue;
            }
            let r = attr.parse_nested_meta(|meta| {
                if let Some(option) = meta.path.get_ident().map(ToString::to_string) {
                    if !given.insert(option.clone()) {
                        errors.add(&meta.path, format!("`{option}` is given twice"));
                    }
                }
                if meta.path.is_ident("name") {
                    let s: syn::LitStr = meta.value()?.parse()?;
                    field_name = s.value();
                    field_name_span = s.span();
                } else if meta.path.is_ident("format") {
                    let f: syn::Ident = meta.value()?.parse()?;
                    let key = f.to_string();
                    match model::FORMATS.binary_search_by(|(n, _)| n.cmp(&key.as_str())) {
                        Ok(i) => format = Some((model::FORMATS[i].1, f)),
                        Err(_) => errors.add(
                            &f,
                            "unknown format; expected one of hex, pid, tid, port, json",
                        ),
                    }
                } else {
                    errors.add(
                        &meta.path,
                        "unknown field option; expected `name` or `format`",
                    );
                    // Its value, if any, is read so that it is not reported again.
                    if meta.input.peek(Token![=]) {
                        let _: Expr = meta.value()?.parse()?;
                    }
                }
                Ok(())
            });
            if let Err(e) = r {
                errors.push(e);
            }
        }
        if let Err(msg) = model::check_name("field", &field_name) {
            errors.add_at(field_name_span, msg);
        }
        if field_names.insert(field_name.clone(), ()).is_some() {
            errors.add_at(
                field_name_span,
                format!("duplicate field name `{field_name}`"),
            );
        }
        let Some(mut kind) = field_type(&arg.ty, errors) else {
            continue;
        };
        if let Some((format, token)) = format {
            match kind.with_format(format) {
                Ok(k) => kind = k,
                Err(msg) => errors.add(&token, msg),
            }
        }
        let mut ty = (*arg.ty).clone();
        strip_groups(&mut ty);
        fields.push(Field {
            ident,
            ty,
            name: field_name,
            kind,
        });
    }

    let ev = Event {
        ident: sig.ident.clone(),
        vis: decl.vis,
        attrs,
        name,
        name_span,
        opcode_span,
        descriptor,
        fields,
    };
    let size = ev.schema().bytes.len();
    if size > model::MAX_METADATA {
        errors.add(
            &ev.ident,
            format!(
                "the metadata of event `{}` is {size} bytes; TraceLogging allows at most {}",
                ev.name,
                model::MAX_METADATA
            ),
        );
    }
    Some((ev, id))
}

fn strip_groups(ty: &mut Type) {
    if let Type::Group(g) = ty {
        *ty = (*g.elem).clone();
    }
}
