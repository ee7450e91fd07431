//! Providers: registration, the enable state the write path reads, enable callbacks and the
//! low-level write API that the macros generate calls to.
//!
//! A [`Provider`] and its [`Event`]s are usually `static`s made by the macros, but the same API
//! works by hand:
//!
//! ```
//! use evtrace_runtime::etl::{in_type, EventSchemaBuilder};
//! use evtrace_runtime::provider::{Event, EventDescriptor, Provider};
//!
//! let provider = Provider::leak("MyCompany-MyApp");
//! let schema = EventSchemaBuilder::new("Started").field("port", in_type::UINT16, 0).build();
//! let started = Event::leak(provider, EventDescriptor { id: 1, level: 4, ..Default::default() }, schema);
//! if started.enabled() {
//!     started.write(&[&8080u16.to_le_bytes()]).ok();
//! }
//! ```
//!
//! The write path: [`Event::enabled`] is one relaxed load of a word that holds one bit per session
//! that wants this event (the filter of [`filter`] is applied when a session enables the provider,
//! not per write). The first call of a static event attaches it to its provider and registers the
//! provider if needed; every later call pays nothing for that.

pub use crate::model::filter;
mod control;
mod registry;
pub use crate::model::scope;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::error::Result;
pub use crate::etl::EventDescriptor;
use crate::Guid;
pub use filter::{EnableInfo, EnableSettings};
pub use registry::{registered_providers, MAX_PROVIDERS_PER_PROCESS, MAX_SESSIONS_PER_PROVIDER};
pub use scope::{EnableFilter, EventIdFilter};

/// Bit set in a fresh static event's mask: its first use attaches it to the provider.
const UNATTACHED: u64 = 1 << 63;

/// An enable callback: called with the combined state whenever a session enables, changes,
/// disables or stops for this provider.
pub type EnableCallback = Arc<dyn Fn(&EnableInfo) + Send + Sync>;

/// A registered event source, named and identified by a GUID.
pub struct Provider {
    name: &'static str,
    guid: Guid,
    traits: &'static [u8],
    pub(crate) state: Mutex<registry::ProviderState>,
    registered: OnceLock<()>,
}

impl Provider {
    /// A provider for a `static`: its name, GUID and TraceLogging provider-traits blob
    /// ([`crate::etl::provider_traits`] gives the bytes; the macros compute them at compile time).
    pub const fn new(name: &'static str, guid: Guid, traits: &'static [u8]) -> Provider {
        Provider {
            name,
            guid,
            traits,
            state: Mutex::new(registry::ProviderState::new()),
            registered: OnceLock::new(),
        }
    }

    /// A provider made at run time, its GUID derived from the name by the EventSource rule. It lives
    /// for the rest of the process, as registered providers do.
    pub fn leak(name: &str) -> &'static Provider {
        Provider::leak_with_guid(name, Guid::from_name(name))
    }

    /// A provider made at run time with a given GUID.
    pub fn leak_with_guid(name: &str, guid: Guid) -> &'static Provider {
        let name: &'static str = Box::leak(name.to_string().into_boxed_str());
        let traits: &'static [u8] = Box::leak(crate::etl::provider_traits(name).into_boxed_slice());
        Box::leak(Box::new(Provider::new(name, guid, traits)))
    }

    /// The provider's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The provider's GUID.
    pub fn guid(&self) -> Guid {
        self.guid
    }

    /// The TraceLogging provider-traits blob.
    pub fn traits(&self) -> &'static [u8] {
        self.traits
    }

    /// Registers the provider (idempotent). Sessions that enabled its GUID before are applied now.
    /// Fails with `ERROR_NO_SYSTEM_RESOURCES` past 1024 providers in the process.
    pub fn register(&'static self) -> Result<()> {
        if self.registered.get().is_some() {
            return Ok(());
        }
        registry::register(self)?;
        let _ = self.registered.set(());
        Ok(())
    }

    /// Whether the provider is registered.
    pub fn is_registered(&self) -> bool {
        self.registered.get().is_some()
    }

    /// Sets the enable callback, and calls it once with the current state.
    pub fn set_enable_callback(
        &'static self,
        callback: impl Fn(&EnableInfo) + Send + Sync + 'static,
    ) {
        let cb: EnableCallback = Arc::new(callback);
        let info = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            st.callback = Some(cb.clone());
            st.info()
        };
        cb(&info);
    }

    /// The combined enable state of every session enabling this provider.
    pub fn enable_info(&self) -> EnableInfo {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).info()
    }

    /// Whether some session wants events of this level and keyword (the slow, general check; the
    /// write path uses the per-event word instead).
    pub fn is_enabled(&self, level: u8, keyword: u64) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sessions_for(level, keyword, None)
            != 0
    }
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("guid", &self.guid)
            .finish()
    }
}

/// The enable word of one event or message site: one bit per session slot that wants it.
/// Level, keyword and event id are read only when sessions change, to compute the word.
pub(crate) struct EnableCell {
    mask: AtomicU64,
    pub(crate) level: u8,
    pub(crate) keyword: u64,
    /// The event id (for event-id filters); `None` for message sites.
    pub(crate) id: Option<u16>,
}

impl EnableCell {
    const fn new(level: u8, keyword: u64, id: Option<u16>) -> EnableCell {
        EnableCell {
            mask: AtomicU64::new(UNATTACHED),
            level,
            keyword,
            id,
        }
    }

    #[inline(always)]
    fn load(&self) -> u64 {
        self.mask.load(Ordering::Relaxed)
    }

    pub(crate) fn store(&self, mask: u64) {
        self.mask.store(mask, Ordering::Relaxed);
    }

    /// Whether some session wants the site: one relaxed load once attached. `attach` runs once,
    /// out of line; taking it as a function (rather than the provider) keeps the provider pointer
    /// from being loaded on the disabled path.
    #[inline(always)]
    fn enabled(&self, attach: impl FnOnce() -> u64) -> bool {
        let m = self.load();
        m != 0 && (m & UNATTACHED == 0 || attach() != 0)
    }

    /// The session mask; the first call attaches the cell to its provider.
    #[inline(always)]
    fn sessions(&self, attach: impl FnOnce() -> u64) -> u64 {
        let m = self.load();
        if m & UNATTACHED == 0 {
            m
        } else {
            attach()
        }
    }

    #[cold]
    fn attach(&'static self, provider: &'static Provider) -> u64 {
        if provider.register().is_err() {
            // Past the provider limit nothing can enable this site; stay disabled, retry later.
            return 0;
        }
        registry::attach(provider, self);
        self.load() & !UNATTACHED
    }
}

/// One event of a provider: its descriptor, its TraceLogging schema and the enable word.
pub struct Event {
    cell: EnableCell,
    provider: &'static Provider,
    descriptor: EventDescriptor,
    schema: &'static [u8],
    /// The constant start of every record: EVENT_HEADER template and TraceLogging items.
    template: OnceLock<Box<[u8]>>,
}

impl Event {
    /// An event for a `static`. `schema` is the TraceLogging event-schema blob
    /// ([`crate::etl::EventSchemaBuilder`] or the macros make it).
    pub const fn new(
        provider: &'static Provider,
        descriptor: EventDescriptor,
        schema: &'static [u8],
    ) -> Event {
        Event {
            cell: EnableCell::new(descriptor.level, descriptor.keyword, Some(descriptor.id)),
            provider,
            descriptor,
            schema,
            template: OnceLock::new(),
        }
    }

    /// An event made at run time; lives for the rest of the process.
    pub fn leak(
        provider: &'static Provider,
        descriptor: EventDescriptor,
        schema: Vec<u8>,
    ) -> &'static Event {
        let schema: &'static [u8] = Box::leak(schema.into_boxed_slice());
        Box::leak(Box::new(Event::new(provider, descriptor, schema)))
    }

    /// The event's descriptor.
    pub fn descriptor(&self) -> &EventDescriptor {
        &self.descriptor
    }

    /// The event's provider.
    pub fn provider(&self) -> &'static Provider {
        self.provider
    }

    /// Whether any session wants this event: one relaxed load (after the first call).
    #[inline(always)]
    pub fn enabled(&'static self) -> bool {
        self.cell.enabled(|| self.attach())
    }

    /// Writes the event with its payload given as the fields' bytes in order (TraceLogging layout),
    /// with the thread's current activity ([`crate::activity::current`]) as its activity id.
    /// A disabled event does nothing and succeeds. Errors say why the event was not recorded in
    /// some session; the loss is counted in that session's EventsLost.
    #[inline]
    pub fn write(&'static self, payload: &[&[u8]]) -> Result<()> {
        let mask = self.cell.sessions(|| self.attach());
        if mask == 0 {
            return Ok(());
        }
        crate::session::write_event(mask, self.template(), crate::activity::current(), payload)
    }

    /// [`Event::write`] with ids managed by hand: `activity` goes in the header's ActivityId,
    /// `related` (unless zero) in a RELATED_ACTIVITYID extended item, as ETW records them. The
    /// thread's current activity is not looked at.
    #[inline]
    pub fn write_with_activity(
        &'static self,
        activity: Guid,
        related: Guid,
        payload: &[&[u8]],
    ) -> Result<()> {
        let mask = self.cell.sessions(|| self.attach());
        if mask == 0 {
            return Ok(());
        }
        crate::session::write_event_related(mask, self.template(), activity, related, payload)
    }

    /// Writes the event as the Start of a new activity: a fresh id ([`crate::activity::new_id`])
    /// as its activity id, the thread's current activity as its related activity id, and the
    /// new activity made current on the thread until the returned guard is dropped. With no
    /// session wanting the event nothing is written and the guard changes nothing.
    pub fn write_start(&'static self, payload: &[&[u8]]) -> crate::activity::ActivityGuard {
        if !self.enabled() {
            return crate::activity::ActivityGuard::inactive();
        }
        let id = crate::activity::new_id();
        // A loss is counted by the session; the activity begins all the same, so that the
        // events inside it and its Stop keep one id.
        let _ = self.write_with_activity(id, crate::activity::current(), payload);
        crate::activity::enter(id)
    }

    #[inline(always)]
    fn template(&self) -> &[u8] {
        match self.template.get() {
            Some(t) => t,
            None => self.build_template(),
        }
    }

    #[cold]
    fn build_template(&self) -> &[u8] {
        self.template.get_or_init(|| {
            let ext = crate::etl::tracelogging_extended_items(self.provider.traits, self.schema);
            crate::etl::event_record_template(self.provider.guid, &self.descriptor, &ext).into()
        })
    }

    /// Attaches the enable word to the provider on first use: out of line, so that the disabled
    /// path reads nothing but the enable word.
    #[cold]
    #[inline(never)]
    fn attach(&'static self) -> u64 {
        self.cell.attach(self.provider)
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("provider", &self.provider.name)
            .field("descriptor", &self.descriptor)
            .finish()
    }
}

/// A TraceMessage-style message site (the WPP model): a format string and typed arguments,
/// written as a TraceMessage record whose argument area starts with the site's self-describing
/// metadata (`etl::message_format`), so the text can be rebuilt from the log file alone.
///
/// Sessions started with GLOBAL_SEQUENCE or LOCAL_SEQUENCE stamp each message with a sequence
/// number: global ones share one process-wide counter, local ones count per session; both start at
/// 1 and are only consumed by messages that are recorded.
pub struct Message {
    cell: EnableCell,
    provider: &'static Provider,
    meta: &'static [u8],
}

impl Message {
    /// A message site for a `static`: its level, keyword (WPP flags) and metadata blob.
    pub const fn new(
        provider: &'static Provider,
        level: u8,
        keyword: u64,
        meta: &'static [u8],
    ) -> Message {
        Message {
            cell: EnableCell::new(level, keyword, None),
            provider,
            meta,
        }
    }

    /// A message site made at run time; lives for the rest of the process.
    pub fn leak(
        provider: &'static Provider,
        level: u8,
        keyword: u64,
        meta: Vec<u8>,
    ) -> &'static Message {
        let meta: &'static [u8] = Box::leak(meta.into_boxed_slice());
        Box::leak(Box::new(Message::new(provider, level, keyword, meta)))
    }

    /// The message's provider.
    pub fn provider(&self) -> &'static Provider {
        self.provider
    }

    /// Whether any session wants this message: one relaxed load (after the first call).
    #[inline(always)]
    pub fn enabled(&'static self) -> bool {
        self.cell.enabled(|| self.attach())
    }

    /// Writes the message with its arguments' bytes (TraceLogging layout, in order).
    #[inline]
    pub fn write(&'static self, args: &[&[u8]]) -> Result<()> {
        let mask = self.cell.sessions(|| self.attach());
        if mask == 0 {
            return Ok(());
        }
        crate::session::write_message(mask, self.provider.guid, self.number(), self.meta, args)
    }

    /// The message number recorded in the TraceMessage header: a hash of the metadata, so the
    /// same site gets the same number in every run.
    fn number(&self) -> u16 {
        let mut h: u32 = 0x811C_9DC5;
        for &b in self.meta {
            h = (h ^ b as u32).wrapping_mul(0x0100_0193);
        }
        (h ^ (h >> 16)) as u16
    }

    /// Attaches the enable word to the provider on first use: out of line, so that the disabled
    /// path reads nothing but the enable word.
    #[cold]
    #[inline(never)]
    fn attach(&'static self) -> u64 {
        self.cell.attach(self.provider)
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("provider", &self.provider.name)
            .finish()
    }
}

pub(crate) use registry::{disable_for_session, enable_for_session, enable_for_session_with};
