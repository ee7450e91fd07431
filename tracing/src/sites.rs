//! One TraceLogging event per `tracing` callsite and record kind, built the first time a session
//! wants it and cached for the life of the process (callsite metadata is static, and so are the
//! events made from it): never rebuilt per event.
//!
//! A callsite's fields have one type each in practice, but `tracing` only tells the type when a
//! value is recorded, so a site keeps one event per field-type signature it has seen (nearly
//! always exactly one). Each thread keeps a small cache of what it has looked up, so the lookup
//! on the write path takes no lock.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use evtrace_runtime::etl::{EventDescriptor, EventSchemaBuilder};
use evtrace_runtime::provider::{Event, Provider};
use evtrace_schema::MAX_NAME_LEN;
use tracing_core::{Level, Metadata};

use crate::encode::{FieldType, Slot};

/// What a site records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A `tracing` event.
    Event,
    /// A span's creation: the Start of its activity.
    Start,
    /// A span's close: the Stop, with its times and the values recorded after creation.
    Stop,
}

/// The fields a record of each kind has before the callsite's own.
pub fn prefix(kind: Kind) -> &'static [(&'static str, FieldType)] {
    use crate::encode::types::{STR, U64};
    match kind {
        Kind::Event | Kind::Start => &[("target", STR)],
        Kind::Stop => &[("duration_ns", U64), ("busy_ns", U64), ("idle_ns", U64)],
    }
}

/// Keywords of the records, for sessions to choose by.
pub mod keyword {
    /// `tracing` events.
    pub const EVENT: u64 = 0x1;
    /// Span Start and Stop records.
    pub const SPAN: u64 = 0x2;
    /// Records of level TRACE (ETW has one verbose level for DEBUG and TRACE).
    pub const TRACE: u64 = 0x4;
}

/// The ETW level of a `tracing` level: ERROR 2, WARN 3, INFO 4, DEBUG and TRACE 5.
pub fn etw_level(l: &Level) -> u8 {
    match *l {
        Level::ERROR => 2,
        Level::WARN => 3,
        Level::INFO => 4,
        _ => 5,
    }
}

/// The keyword of a callsite's records.
pub fn etw_keyword(meta: &Metadata<'_>) -> u64 {
    let kind = if meta.is_span() {
        keyword::SPAN
    } else {
        keyword::EVENT
    };
    if *meta.level() == Level::TRACE {
        kind | keyword::TRACE
    } else {
        kind
    }
}

/// Problems a site reports, once each.
pub mod problem {
    /// A name had to be changed to fit ETW's rule.
    pub const NAME: u8 = 0x1;
    /// Fields past the limit were left out.
    pub const FIELDS: u8 = 0x2;
    /// A record was refused by a session (too large): dropped and counted.
    pub const WRITE: u8 = 0x4;
}

/// The events of a site, one per field-type signature (both live as long as the process).
type Variants = Vec<(&'static [Slot], &'static Event)>;

/// What is shared about one callsite and kind.
pub struct Site {
    pub kind: Kind,
    /// The event name, fit to ETW's rule.
    name: String,
    /// The callsite's field names by index, fit to ETW's rule.
    field_names: Vec<String>,
    descriptor: EventDescriptor,
    /// Every signature seen, with its event.
    variants: Mutex<Variants>,
    /// [`problem`] bits already reported.
    reported: AtomicU8,
}

impl Site {
    /// Builds the site; `report` hears once about names that had to change.
    fn new(meta: &'static Metadata<'static>, kind: Kind, report: &dyn Fn(String)) -> Site {
        let mut changed = Vec::new();
        let name = fit_name(meta.name(), &mut changed);
        let field_names = meta
            .fields()
            .iter()
            .map(|f| fit_name(f.name(), &mut changed))
            .collect();
        let opcode = match kind {
            Kind::Event => 0,
            Kind::Start => 1,
            Kind::Stop => 2,
        };
        let site = Site {
            kind,
            name,
            field_names,
            descriptor: EventDescriptor {
                level: etw_level(meta.level()),
                keyword: etw_keyword(meta),
                opcode,
                channel: 11,
                ..EventDescriptor::default()
            },
            variants: Mutex::new(Vec::new()),
            reported: AtomicU8::new(0),
        };
        if !changed.is_empty() {
            site.report_once(
                problem::NAME,
                report,
                format!(
                    "callsite `{}` ({}): {}; recorded under the names shown",
                    meta.name(),
                    meta.target(),
                    changed.join("; ")
                ),
            );
        }
        site
    }

    /// Says `msg` through `report` unless this problem was said already.
    pub fn report_once(&self, what: u8, report: &dyn Fn(String), msg: String) {
        if self.reported.fetch_or(what, Ordering::Relaxed) & what == 0 {
            report(msg);
        }
    }

    /// The event for this signature (and the signature, kept), built now if new.
    fn event(
        &self,
        provider: &'static Provider,
        slots: &[Slot],
    ) -> (&'static [Slot], &'static Event) {
        let mut v = self.variants.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((s, e)) = v.iter().find(|(s, _)| **s == *slots) {
            return (s, e);
        }
        let mut b = EventSchemaBuilder::new(&self.name);
        for (name, (i, o)) in prefix(self.kind) {
            b = b.field(name, *i, *o);
        }
        for (index, (i, o)) in slots {
            let name = self.field_names.get(usize::from(*index)).map_or("?", |s| s);
            b = b.field(name, *i, *o);
        }
        let e = Event::leak(provider, self.descriptor, b.build());
        let kept: &'static [Slot] = Box::leak(slots.into());
        v.push((kept, e));
        (kept, e)
    }
}

/// `name` fit to ETW's rule (printable ASCII, 1 to 255 bytes); what changed goes to `changed`.
fn fit_name(name: &str, changed: &mut Vec<String>) -> String {
    if evtrace_schema::check_name("field", name).is_ok() {
        return name.to_string();
    }
    let mut fit: String = name
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '_' })
        .take(MAX_NAME_LEN)
        .collect();
    if fit.is_empty() {
        fit.push('_');
    }
    let why = evtrace_schema::check_name("the", name)
        .err()
        .unwrap_or_default();
    changed.push(format!("{why} (recorded as `{fit}`)"));
    fit
}

/// One entry of a thread's cache: a site's event for one signature.
#[derive(Clone, Copy)]
struct Entry {
    layer: u64,
    meta: usize,
    kind: Kind,
    slots: &'static [Slot],
    site: &'static Site,
    event: &'static Event,
}

/// Entries in a thread's cache (a power of two).
const CACHE_ENTRIES: usize = 128;

thread_local! {
    /// This thread's cache of the events it has used, direct-mapped by callsite and kind: a hit
    /// is one index and three compares, no lock and no hashing.
    static LOCAL: [Cell<Option<Entry>>; CACHE_ENTRIES] =
        const { [const { Cell::new(None) }; CACHE_ENTRIES] };
}

fn slot_of(meta: usize, kind: Kind) -> usize {
    ((meta >> 4) ^ (meta >> 12) ^ kind as usize) & (CACHE_ENTRIES - 1)
}

/// Every site of one layer.
pub struct Sites {
    layer: u64,
    provider: &'static Provider,
    all: Mutex<HashMap<(usize, Kind), &'static Site>>,
}

impl Sites {
    /// The sites of layer number `layer`, whose events belong to `provider`.
    pub fn new(layer: u64, provider: &'static Provider) -> Sites {
        Sites {
            layer,
            provider,
            all: Mutex::new(HashMap::new()),
        }
    }

    /// The layer's number.
    pub fn layer(&self) -> u64 {
        self.layer
    }

    /// How many sites have been built (a callsite counts once per kind).
    pub fn built(&self) -> usize {
        self.all.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The thread's last signature, site and event for `meta` and `kind`, if it has one: the
    /// payload then expects that signature.
    #[inline]
    pub fn cached(
        &self,
        meta: &'static Metadata<'static>,
        kind: Kind,
    ) -> Option<(&'static [Slot], &'static Site, &'static Event)> {
        let addr = meta as *const Metadata<'static> as usize;
        let e = LOCAL.with(|l| l[slot_of(addr, kind)].get())?;
        (e.meta == addr && e.layer == self.layer && e.kind == kind)
            .then_some((e.slots, e.site, e.event))
    }

    /// The site and event for `meta`, `kind` and the signature `slots` when [`Sites::cached`]
    /// had none or another signature: built if new, and cached for the thread.
    #[cold]
    pub fn lookup(
        &self,
        meta: &'static Metadata<'static>,
        kind: Kind,
        slots: &[Slot],
        report: &dyn Fn(String),
    ) -> (&'static Site, &'static Event) {
        let addr = meta as *const Metadata<'static> as usize;
        self.miss(addr, slot_of(addr, kind), meta, kind, slots, report)
    }

    fn miss(
        &self,
        addr: usize,
        i: usize,
        meta: &'static Metadata<'static>,
        kind: Kind,
        slots: &[Slot],
        report: &dyn Fn(String),
    ) -> (&'static Site, &'static Event) {
        let site: &'static Site = {
            let mut all = self.all.lock().unwrap_or_else(|e| e.into_inner());
            all.entry((addr, kind))
                .or_insert_with(|| Box::leak(Box::new(Site::new(meta, kind, report))))
        };
        let (slots, event) = site.event(self.provider, slots);
        LOCAL.with(|l| {
            l[i].set(Some(Entry {
                layer: self.layer,
                meta: addr,
                kind,
                slots,
                site,
                event,
            }))
        });
        (site, event)
    }
}
