//! Tokens -> [`model`]: every check of a provider declaration, with all errors collected so that
//! one build reports every problem, each on the user's token.

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::{Expr, ForeignItemFn, Item, ItemMod};

use crate::model::{self, Event, Provider};

mod event;
mod values;

use event::event;
pub use values::{field_type, keywords, level};

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

#[cfg(test)]
mod tests;
