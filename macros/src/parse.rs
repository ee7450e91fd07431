//! Tokens -> [`model`]: every check of a provider declaration, with all errors collected so that
//! one build reports every problem, each on the user's token.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ForeignItemFn, Item, ItemMod, Lit, Pat, ReturnType, Token, Type};

use crate::model::{self, Descriptor, Event, Field, FieldType, Provider, Unsupported};

/// Errors collected while parsing; reported together.
#[derive(Default)]
pub struct Errors(Vec<syn::Error>);

impl Errors {
    /// Records an error on the tokens of `at`.
    pub fn add(&mut self, at: impl ToTokens, msg: impl std::fmt::Display) {
        self.0.push(syn::Error::new_spanned(at, msg));
    }

    /// Records an error at a span.
    pub fn add_at(&mut self, span: Span, msg: impl std::fmt::Display) {
        self.0.push(syn::Error::new(span, msg));
    }

    /// Records an error from syn.
    pub fn push(&mut self, e: syn::Error) {
        self.0.push(e);
    }

    /// `value` when nothing was recorded, else every error as one.
    pub fn finish<T>(self, value: T) -> Result<T, syn::Error> {
        let mut it = self.0.into_iter();
        match it.next() {
            None => Ok(value),
            Some(mut first) => {
                first.extend(it);
                Err(first)
            }
        }
    }
}

/// Parses `#[provider(...)]`'s arguments and the module it is on.
pub fn provider(args: TokenStream, item: TokenStream) -> Result<Provider, syn::Error> {
    let module: ItemMod = syn::parse2(item)?;
    let mut errors = Errors::default();

    let mut name: Option<(String, Span)> = None;
    let mut guid: Option<[u8; 16]> = None;
    let args_parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let s: syn::LitStr = meta.value()?.parse()?;
            name = Some((s.value(), s.span()));
        } else if meta.path.is_ident("guid") {
            let s: syn::LitStr = meta.value()?.parse()?;
            match model::parse_guid(&s.value()) {
                Some(g) => guid = Some(g),
                None => errors.add(
                    &s,
                    "not a GUID: expected `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`, optionally in braces",
                ),
            }
        } else {
            errors.add(
                &meta.path,
                "unknown provider option; expected `name = \"...\"` or `guid = \"...\"`",
            );
            // Skip the value so that the next option is still checked.
            if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<Expr>()?;
            }
        }
        Ok(())
    });
    if let Err(e) = args_parser.parse2(args) {
        errors.push(e);
    }

    let (name, name_span) =
        name.unwrap_or_else(|| (module.ident.unraw().to_string(), module.ident.span()));
    if let Err(msg) = model::check_name("provider", &name) {
        errors.add_at(name_span, msg);
    }
    let guid_from_name = guid.is_none();
    let guid = guid.unwrap_or_else(|| model::guid_from_name(&name));

    let Some((_, items)) = module.content else {
        errors.add(
            &module,
            "a provider module needs its events inline: `mod name { fn event(...); }`",
        );
        return Err(errors.finish(()).unwrap_err());
    };

    let mut decls = Vec::new();
    let mut other_items = Vec::new();
    for item in items {
        match item {
            Item::Verbatim(tokens) => match syn::parse2::<ForeignItemFn>(tokens.clone()) {
                Ok(f) => decls.push(f),
                Err(_) => other_items.push(Item::Verbatim(tokens)),
            },
            Item::Fn(f) => errors.add(
                &f.block,
                "an event function is declared without a body: `fn copied(src: &str, bytes: u64);`",
            ),
            other => other_items.push(other),
        }
    }

    let mut events: Vec<(Event, GivenId)> = Vec::new();
    for decl in decls {
        if let Some(ev) = event(decl, &mut errors) {
            events.push(ev);
        }
    }
    assign_ids(&mut events, &mut errors);
    check_activity_pairs(&events, &mut errors);

    let mut names: HashSet<&str> = HashSet::new();
    for (ev, _) in &events {
        if !names.insert(&ev.name) {
            errors.add_at(ev.name_span, format!("duplicate event name `{}`", ev.name));
        }
    }

    let provider = Provider {
        span: module.ident.span(),
        ident: module.ident,
        vis: module.vis,
        attrs: module.attrs,
        name,
        guid,
        guid_from_name,
        events: events.into_iter().map(|(e, _)| e).collect(),
        other_items,
    };
    errors.finish(provider)
}

/// Every Stop event needs a Start event of its task: the Stop ends the activity the Start began
/// (ETW pairs them by task, as WPA draws them).
fn check_activity_pairs(events: &[(Event, GivenId)], errors: &mut Errors) {
    for (ev, _) in events {
        if ev.descriptor.opcode != model::OPCODE_STOP {
            continue;
        }
        let task = ev.descriptor.task;
        let started = events
            .iter()
            .any(|(s, _)| s.descriptor.opcode == model::OPCODE_START && s.descriptor.task == task);
        if !started {
            errors.add_at(
                ev.opcode_span.unwrap_or(ev.name_span),
                format!(
                    "event `{}` has `opcode = stop` but no event of task {task} has `opcode = start`: a Stop ends the activity its Start began; declare the Start with the same `task`",
                    ev.ident
                ),
            );
        }
    }
}

/// An event's `id` option.
enum GivenId {
    /// Not given: the id comes from the event's position.
    Absent,
    /// Given, and valid (the expression, for errors about it).
    Valid(Expr),
    /// Given but refused (already reported).
    Invalid,
}

/// Gives every event its id: all given, or all by position from 1.
fn assign_ids(events: &mut [(Event, GivenId)], errors: &mut Errors) {
    let given = events
        .iter()
        .filter(|(_, id)| !matches!(id, GivenId::Absent))
        .count();
    if given == 0 {
        for (i, (ev, _)) in events.iter_mut().enumerate() {
            match u16::try_from(i + 1) {
                Ok(id) => ev.descriptor.id = id,
                Err(_) => errors.add(&ev.ident, "more than 65535 events"),
            }
        }
        return;
    }
    // Only a valid id is named as the example; ids that were all refused are reported already.
    let with = events
        .iter()
        .find(|(_, id)| matches!(id, GivenId::Valid(_)))
        .map(|(e, _)| e.ident.to_string());
    if let Some(with) = with.filter(|_| given != events.len()) {
        for (ev, id) in events.iter() {
            if matches!(id, GivenId::Absent) {
                errors.add(
                    &ev.ident,
                    format!(
                        "event `{}` has no id while `{with}` has one: give every event an id, or none (ids then count from 1 in order)",
                        ev.ident
                    ),
                );
            }
        }
    }
    let mut seen: HashMap<u16, String> = HashMap::new();
    for (ev, id) in events.iter() {
        let GivenId::Valid(id_expr) = id else {
            continue;
        };
        if let Some(first) = seen.get(&ev.descriptor.id) {
            errors.add(
                id_expr,
                format!(
                    "duplicate event id {}: `{first}` has it already",
                    ev.descriptor.id
                ),
            );
        } else {
            seen.insert(ev.descriptor.id, ev.ident.to_string());
        }
    }
}

/// Parses one event declaration; `None` when it is too broken to generate anything for.
fn event(decl: ForeignItemFn, errors: &mut Errors) -> Option<(Event, GivenId)> {
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

/// Resolves a field or argument type, reporting an unsupported one.
pub fn field_type(ty: &Type, errors: &mut Errors) -> Option<FieldType> {
    match model::resolve(ty) {
        Ok(t) => Some(t),
        Err(why) => {
            let shown = model::type_text(ty);
            let msg = match why {
                Unsupported::Type => format!(
                    "unsupported field type `{shown}`; supported: {}",
                    model::SUPPORTED
                ),
                Unsupported::OptionOf => format!(
                    "unsupported field type `{shown}`: an Option holds a single value, not a slice or another Option"
                ),
                Unsupported::SliceOf => format!(
                    "unsupported field type `{shown}`: slices hold numbers (integers up to 64 bits, f32, f64) or are `&[u8]`"
                ),
                Unsupported::ByReference if shown.replace(' ', "").ends_with("String") => {
                    format!("unsupported field type `{shown}`: write `&str` (or `String` by value)")
                }
                Unsupported::ByReference => format!(
                    "unsupported field type `{shown}`: take it by value, `{}`",
                    shown.trim_start_matches('&').trim_start()
                ),
                Unsupported::NamedLifetime => format!(
                    "unsupported field type `{shown}`: leave the lifetime out (`&str`, `&[u8]`); an event function declares no lifetimes and takes borrows of any"
                ),
                Unsupported::Array => format!(
                    "unsupported field type `{shown}`: a fixed-size array is written as a slice, `&[T]`"
                ),
            };
            errors.add(ty, msg);
            None
        }
    }
}

/// An integer literal, checked against `max`.
fn int_in(e: &Expr, what: &str, max: u128, errors: &mut Errors) -> Option<u128> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(i), ..
    }) = e
    {
        if i.base10_parse::<u128>().is_err() {
            errors.add(e, format!("{what} {i} is out of range 0-{max}"));
            return None;
        }
    }
    let v = int(e, what, errors)?;
    if v > max {
        errors.add(e, format!("{what} {v} is out of range 0-{max}"));
        return None;
    }
    Some(v)
}

fn int(e: &Expr, what: &str, errors: &mut Errors) -> Option<u128> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<u128>() {
            Ok(v) => Some(v),
            Err(_) => {
                errors.add(e, format!("{what} {i} is out of range"));
                None
            }
        },
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => {
            errors.add(e, format!("{what} cannot be negative"));
            None
        }
        _ => {
            errors.add(e, format!("expected the {what} as an integer literal"));
            None
        }
    }
}

/// A level, opcode or channel: a name of `table`, as an identifier or a string, or a number.
fn named(e: &Expr, what: &str, table: &[(&str, u8)], errors: &mut Errors) -> Option<u8> {
    let name = match e {
        // `warning`, or a path to the constant such as `level::WARNING`: its last segment.
        Expr::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .filter(|seg| seg.arguments.is_none())
            .map(|seg| seg.ident.unraw().to_string()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        _ => None,
    };
    if let Some(name) = name {
        let key = name.to_ascii_lowercase();
        return match table.binary_search_by(|(n, _)| n.cmp(&key.as_str())) {
            Ok(i) => Some(table[i].1),
            Err(_) => {
                errors.add(
                    e,
                    format!(
                        "unknown {what} `{name}`; expected a number 0-255 or one of {}",
                        model::names(table)
                    ),
                );
                None
            }
        };
    }
    int_in(e, what, 255, errors).map(|v| v as u8)
}

/// A level: a name or 0-255 without the reserved 6-15.
pub fn level(e: &Expr, errors: &mut Errors) -> Option<u8> {
    let v = named(e, "level", model::LEVELS, errors)?;
    if (6..=15).contains(&v) {
        errors.add(
            e,
            format!("level {v} is reserved: use 0-5 or a provider-defined level 16-255"),
        );
        return None;
    }
    Some(v)
}

/// Keywords: an integer literal or literals joined with `|`, within 64 bits.
pub fn keywords(e: &Expr, errors: &mut Errors) -> Option<u64> {
    fn or(e: &Expr, errors: &mut Errors) -> Option<u128> {
        match e {
            Expr::Binary(b) if matches!(b.op, syn::BinOp::BitOr(_)) => {
                let l = or(&b.left, errors);
                let r = or(&b.right, errors);
                Some(l? | r?)
            }
            Expr::Paren(p) => or(&p.expr, errors),
            Expr::Binary(b) if matches!(b.op, syn::BinOp::Shl(_)) => {
                let v = or(&b.left, errors)?;
                let by = int(&b.right, "shift", errors)?;
                if by > 63
                    || v.checked_shl(by as u32)
                        .is_none_or(|r| r > u64::MAX as u128)
                {
                    errors.add(e, "this keyword is outside 64 bits");
                    return None;
                }
                Some(v << by)
            }
            _ => {
                let v = int(e, "keyword", errors)?;
                if v > u64::MAX as u128 {
                    errors.add(e, format!("keyword {v:#x} is outside 64 bits"));
                    return None;
                }
                Some(v)
            }
        }
    }
    or(e, errors).map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors_of(args: TokenStream, item: TokenStream) -> Vec<String> {
        match provider(args, item) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_problem_is_reported_in_one_pass() {
        let errs = errors_of(
            quote!(name = "P"),
            quote! {
                mod p {
                    #[event(id = 1, level = loud)]
                    fn a(x: Vec<u8>);
                    #[event(id = 2, opcode = 300)]
                    fn b<T>(x: T) -> u32;
                    fn c();
                }
            },
        );
        assert_eq!(errs.len(), 7, "{errs:#?}");
        assert!(errs[0].starts_with("unknown level `loud`"));
        assert!(errs[1].starts_with("unsupported field type `Vec<u8>`"));
        assert!(errs[2].contains("cannot be generic"));
        assert!(errs[3].contains("returns nothing"));
        assert!(errs[4].starts_with("opcode 300 is out of range"));
        assert!(errs[5].starts_with("unsupported field type `T`"));
        assert!(errs.iter().any(|e| e.contains("event `c` has no id")));
    }

    #[test]
    fn defaults_and_given_values() {
        let p = provider(
            quote!(name = "MyCompany-MyApp"),
            quote! {
                pub mod p {
                    /// Doc.
                    #[event(level = warning, keywords = 0x1 | 0x4, opcode = start, task = 7, version = 2)]
                    pub fn first(#[field(format = hex)] flags: u32, name: &str);
                    fn second();
                }
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.guid, model::guid_from_name("MyCompany-MyApp"));
        let d = p.events[0].descriptor;
        assert_eq!(
            d,
            Descriptor {
                id: 1,
                version: 2,
                channel: 11,
                level: 3,
                opcode: 1,
                task: 7,
                keyword: 5
            }
        );
        assert_eq!(p.events[1].descriptor.id, 2);
        assert_eq!(p.events[1].descriptor.level, 4);
        assert_eq!(p.events[0].attrs.len(), 1, "the doc comment is kept");
        assert_eq!(
            p.events[0].schema().bytes,
            b"\x18\x00\x00first\x00flags\x00\x88\x04name\x00\x82\x23"
        );
    }
}
