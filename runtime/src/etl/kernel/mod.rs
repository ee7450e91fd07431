//! Windows' kernel event classes (the NT Kernel Logger's MOF classes), decoded from their
//! documented field layouts: event names such as `Process/Start` and named, typed fields.
//!
//! A kernel record is named by its HookId: the group (`EVENT_TRACE_GROUP_*`, high byte) and the
//! event type (low byte); its layout by the header's version and pointer size (4 or 8 bytes,
//! from the header type). The tables are in `classes` and `layouts`; a class, type or version
//! not in them has no layout, and its payload stays raw ([`decode`] returns `None`), never an error.
//! [`write_system_record`] and [`Mof`] write such records, as the kernel logger does.

mod classes;
mod decode;
mod encode;
mod layouts;

pub use decode::FieldError;
pub use encode::{system_record_size, write_system_record, Mof, SystemHeaderFields};

use crate::etl::Value;
use crate::Guid;

/// The name Windows' tools give a kernel group (`Process` for `EVENT_TRACE_GROUP_PROCESS`).
pub fn group_name(group: u8) -> Option<&'static str> {
    classes::GROUP_NAMES.get(usize::from(group)).copied()
}

/// The event's name, `Group/Type` (`Process/Start`, `TcpIp/ConnectIPV4`), when the type is
/// known; the group's name and the type number otherwise (`Process/type 77`), when the group is.
pub fn event_name(group: u8, event_type: u8) -> Option<String> {
    let g = group_name(group)?;
    Some(
        match classes::TYPE_NAMES
            .iter()
            .find(|(gr, ty, _)| *gr == group && *ty == event_type)
        {
            Some((_, _, name)) => format!("{g}/{name}"),
            None => format!("{g}/type {event_type}"),
        },
    )
}

/// The kernel group whose class GUID `guid` is (a relogged file's kernel events carry a classic
/// header with the class GUID instead of a HookId).
pub fn group_of_guid(guid: &Guid) -> Option<u8> {
    classes::GROUP_GUIDS
        .iter()
        .find(|(g, _)| g == guid)
        .map(|(_, group)| *group)
}

/// Decodes a kernel record's payload by its class's layout. `None`: no layout is known for
/// this group, type and version (the payload stays raw). `Some(Err)`: the payload does not fit
/// the layout; the error keeps the fields read before the fault.
pub fn decode(
    group: u8,
    event_type: u8,
    version: u16,
    pointer_size: u8,
    payload: &[u8],
) -> Option<Result<Vec<(String, Value)>, FieldError>> {
    if pointer_size != 4 && pointer_size != 8 {
        return None;
    }
    let layout = layouts::LAYOUTS.iter().find(|l| {
        l.group == group && l.types.contains(&event_type) && l.versions.contains(&version)
    })?;
    Some(decode::read_fields(
        layout.fields,
        usize::from(pointer_size),
        payload,
    ))
}

#[cfg(test)]
mod tests;
