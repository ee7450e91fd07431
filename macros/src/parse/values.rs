//! The values of attribute arguments and field types: integers in range, levels and keywords
//! by name or number, and the field type table's answer for a declared type.

use syn::ext::IdentExt;
use syn::{Expr, ExprLit, Lit, Type};

use super::Errors;
use crate::model::{self, FieldType, Unsupported};

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
pub(super) fn int_in(e: &Expr, what: &str, max: u128, errors: &mut Errors) -> Option<u128> {
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
pub(super) fn named(e: &Expr, what: &str, table: &[(&str, u8)], errors: &mut Errors) -> Option<u8> {
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
