//! `evtrace-tracing`: a [`tracing_subscriber::Layer`] that records `tracing` events and spans in
//! evtrace sessions, private or system, as ETW TraceLogging events of a provider you name.
//!
//! - Each `tracing` event becomes a TraceLogging event named as its callsite, with level
//!   ERROR..TRACE as ETW levels 2..5 (TRACE also marked by [`keyword::TRACE`]), its target as the
//!   first field, and its fields with their native types (u64, i64, u128, i128, f64, bool, str
//!   and bytes stay typed; `Debug` and `Display` values become strings).
//! - Each span is one ETW activity: a Start record when it is created, a Stop record when it
//!   closes (not one per enter and exit: an async span polled 200 times is still one activity),
//!   the Stop carrying its duration, busy and idle time in nanoseconds and the values
//!   `record`ed after creation. A span's activity id is fresh (see
//!   [`evtrace_runtime::activity::new_id`]), its parent's is its related activity id, and
//!   events inside it carry it. WPA and PerfView draw them as regions.
//! - A callsite's TraceLogging metadata is built once, the first time a session wants it, and
//!   cached; with no session wanting the provider, nothing is built or formatted.
//! - `register_callsite`, `enabled` and `max_level_hint` answer from the sessions' enable state,
//!   and the interest `tracing` caches is rebuilt whenever a session enables, changes or
//!   disables the provider.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let layer = evtrace_tracing::EvtraceLayer::new("MyCompany-MyApp")?;
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("request", id = 7u64).entered();
//!     tracing::info!(bytes = 512u64, "sent");
//!     drop(span);
//! });
//! # Ok::<(), evtrace_runtime::Error>(())
//! ```
//!
//! Alone in a subscriber the layer's answers filter the whole subscriber, which is what makes a
//! disabled `tracing::info!` cost what it costs with no subscriber. Beside other layers (an
//! `fmt` layer, say) give it its own filter, so that it does not turn the others' events away:
//! `registry().with(layer.filtered()).with(fmt::layer())`.
//!
//! Install the subscriber as the global default, as applications do. With scoped subscribers
//! (`with_default`) and only one dispatcher registered, `tracing` rebuilds interest from the
//! rebuilding thread's default alone, so a session enabled from another thread may not reach
//! them until the next rebuild (`tracing-core`'s behaviour; the tests keep a second dispatcher
//! alive for that reason).
//!
//! Bad input never panics the application: a name that breaks ETW's rule (printable ASCII, 1 to
//! 255 bytes) is recorded fit to it, fields past 128 are left out, a record too large for ETW or
//! for the session is dropped and counted (in the session's EventsLost and in
//! [`EvtraceLayer::records_dropped`]); each is reported once per callsite (to stderr, or to
//! [`EvtraceLayer::with_report`]). A provider name that is not valid is an error from
//! [`EvtraceLayer::new`].

#![warn(missing_docs)]

mod enable;
mod encode;
mod sites;
mod spans;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use evtrace_runtime::provider::Provider;
use evtrace_runtime::{activity, Error, ErrorCode, Guid};
use evtrace_schema::MAX_FIELDS;
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::{Interest, Subscriber};
use tracing_core::{Event, LevelFilter, Metadata};
use tracing_subscriber::filter::Filtered;
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use encode::{Payload, Slot};
pub use sites::keyword;
use sites::{prefix, problem, Kind, Site, Sites};
use spans::{Held, SpanActivity};

/// Where problems are reported.
type Report = Box<dyn Fn(String) + Send + Sync>;

struct Shared {
    provider: &'static Provider,
    sites: Sites,
    enable: enable::EnableState,
    report: Report,
    dropped: AtomicU64,
}

/// The `tracing` layer: see the [crate] documentation. Cloning gives another handle on the same
/// layer (one provider, one cache).
#[derive(Clone)]
pub struct EvtraceLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EvtraceLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvtraceLayer")
            .field("provider", &self.shared.provider)
            .finish()
    }
}

impl EvtraceLayer {
    /// A layer whose records belong to the provider `name` (its GUID derived from the name, as
    /// EventSource does). Fails with ERROR_INVALID_PARAMETER when the name breaks ETW's rule:
    /// printable ASCII, 1 to 255 bytes.
    pub fn new(name: &str) -> Result<EvtraceLayer, Error> {
        EvtraceLayer::with_report(name, Box::new(|m| eprintln!("evtrace-tracing: {m}")))
    }

    /// A layer named after the running program: the executable's file name, fit to ETW's rule.
    pub fn for_this_program() -> Result<EvtraceLayer, Error> {
        let exe = std::env::current_exe().ok();
        let stem = exe
            .as_deref()
            .and_then(|p| p.file_stem())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name: String = stem
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .take(evtrace_schema::MAX_NAME_LEN)
            .collect();
        EvtraceLayer::new(if name.is_empty() {
            "evtrace-tracing"
        } else {
            &name
        })
    }

    /// [`EvtraceLayer::new`] reporting problems to `report` instead of stderr.
    pub fn with_report(name: &str, report: Report) -> Result<EvtraceLayer, Error> {
        evtrace_schema::check_name("provider", name).map_err(|m| {
            Error::new(ErrorCode::InvalidParameter, format!("evtrace-tracing: {m}"))
        })?;
        static LAYERS: AtomicU64 = AtomicU64::new(0);
        let provider = Provider::leak(name);
        provider.register()?;
        let shared = Arc::new(Shared {
            provider,
            sites: Sites::new(LAYERS.fetch_add(1, Ordering::Relaxed), provider),
            enable: enable::EnableState::default(),
            report,
            dropped: AtomicU64::new(0),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        provider.set_enable_callback(move |info| {
            if let Some(s) = weak.upgrade() {
                s.enable.set(info);
            }
            // Callsites cached `never` (or `always`) must ask again. One rebuild at a time: two
            // at once (two providers' sessions changing) could store the older max level last.
            static REBUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one = REBUILD.lock().unwrap_or_else(|e| e.into_inner());
            tracing_core::callsite::rebuild_interest_cache();
        });
        Ok(EvtraceLayer { shared })
    }

    /// The provider the records belong to: enable it in a session by its GUID or name.
    pub fn provider(&self) -> &'static Provider {
        self.shared.provider
    }

    /// Records dropped: refused by every session that wanted them (too large for ETW or the
    /// session), each also counted in the session's EventsLost.
    pub fn records_dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// How many TraceLogging events (callsite and kind) have been built so far.
    pub fn sites_built(&self) -> usize {
        self.shared.sites.built()
    }

    /// The layer with its own per-layer filter, for a subscriber it shares with other layers.
    pub fn filtered<S>(self) -> Filtered<EvtraceLayer, SessionFilter, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let filter = SessionFilter {
            shared: self.shared.clone(),
        };
        self.with_filter(filter)
    }
}

/// The layer's per-layer filter: see [`EvtraceLayer::filtered`].
#[derive(Clone)]
pub struct SessionFilter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SessionFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionFilter").finish_non_exhaustive()
    }
}

impl<S> Filter<S> for SessionFilter {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.shared.enable.wants(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        self.shared.interest(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.shared.enable.max_level())
    }
}

impl Shared {
    fn interest(&self, meta: &'static Metadata<'static>) -> Interest {
        if enable::provider_wants(self.provider, meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    /// Encodes `prefix_bytes` then `record`'s values in the thread's scratch buffer, looks the
    /// event up and hands both to `write`.
    fn encode_and_write(
        &self,
        meta: &'static Metadata<'static>,
        kind: Kind,
        fill_prefix: impl FnOnce(&mut Vec<u8>),
        record: impl FnOnce(&mut Payload<'_>),
        write: impl FnOnce(
            &'static evtrace_runtime::provider::Event,
            &[u8],
        ) -> evtrace_runtime::Result<()>,
    ) {
        with_scratch(|bytes, slots| {
            fill_prefix(bytes);
            let cached = self.sites.cached(meta, kind);
            let expect = cached.map_or(&[][..], |(s, _, _)| s);
            let mut p = Payload::expecting(bytes, slots, MAX_FIELDS - prefix(kind).len(), expect);
            record(&mut p);
            let dropped = p.dropped_fields;
            let (site, event) = match cached {
                Some((_, site, event)) if p.matches_expected() => (site, event),
                _ => self
                    .sites
                    .lookup(meta, kind, p.slots(), &|m: String| (self.report)(m)),
            };
            let bytes = p.bytes;
            if dropped > 0 {
                self.fields_dropped(site, meta, dropped);
            }
            if let Err(e) = write(event, bytes) {
                self.write_failed(site, meta, &e);
            }
        });
    }

    #[cold]
    fn fields_dropped(&self, site: &Site, meta: &Metadata<'_>, n: usize) {
        site.report_once(
            problem::FIELDS,
            &|m| (self.report)(m),
            format!(
                "callsite `{}` ({}) has more fields than ETW's {MAX_FIELDS}; {n} left out of its {:?} records",
                meta.name(),
                meta.target(),
                site.kind
            ),
        );
    }

    #[cold]
    fn write_failed(&self, site: &Site, meta: &Metadata<'_>, e: &Error) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        site.report_once(
            problem::WRITE,
            &|m| (self.report)(m),
            format!(
                "a {:?} record of callsite `{}` ({}) was dropped and counted: {e} (said once per callsite)",
                site.kind,
                meta.name(),
                meta.target()
            ),
        );
    }
}

thread_local! {
    /// The thread's payload buffer and slots, reused by every record.
    static SCRATCH: RefCell<(Vec<u8>, Vec<Slot>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` on cleared scratch buffers: the thread's, or fresh ones when a `Debug` impl that
/// logs has re-entered the layer.
fn with_scratch(f: impl FnOnce(&mut Vec<u8>, &mut Vec<Slot>)) {
    let mut f = Some(f);
    let done = SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => {
            let (b, sl) = &mut *s;
            b.clear();
            sl.clear();
            if let Some(f) = f.take() {
                f(b, sl);
            }
            true
        }
        Err(_) => false,
    });
    if !done {
        if let Some(f) = f.take() {
            f(&mut Vec::new(), &mut Vec::new());
        }
    }
}

impl<S> Layer<S> for EvtraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        self.shared.interest(meta)
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        self.shared.enable.wants(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.shared.enable.max_level())
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if !self.shared.enable.wants(meta) {
            return;
        }
        // A contextual event carries the thread's activity (the entered span's, set on enter);
        // one with an explicit parent carries that span's; a root event none.
        let explicit = match event.parent() {
            Some(parent) => Some(held(&ctx, parent).map_or(Guid::ZERO, |a| a.id)),
            None if event.is_root() => Some(Guid::ZERO),
            None => None,
        };
        self.shared.encode_and_write(
            meta,
            Kind::Event,
            |b| Payload::push_str(b, meta.target()),
            |p| event.record(p),
            |e, bytes| match explicit {
                None => e.write(&[bytes]),
                Some(a) => e.write_with_activity(a, Guid::ZERO, &[bytes]),
            },
        );
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if !self.shared.enable.wants(meta) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        // The parent span's activity, or the thread's (an evtrace activity) for a root span.
        let related = match span.parent() {
            Some(p) => p.extensions().get::<Held>().map_or(Guid::ZERO, |a| a.0.id),
            None if attrs.is_root() => Guid::ZERO,
            None => activity::current(),
        };
        let data = SpanActivity::new(activity::new_id());
        let aid = data.id;
        self.shared.encode_and_write(
            meta,
            Kind::Start,
            |b| Payload::push_str(b, meta.target()),
            |p| attrs.record(p),
            |e, bytes| e.write_with_activity(aid, related, &[bytes]),
        );
        let data = Arc::new(data);
        spans::remember(self.shared.sites.layer(), id.into_u64(), &data);
        span.extensions_mut().insert(Held(data));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let ext = span.extensions();
        let Some(Held(a)) = ext.get::<Held>() else {
            return;
        };
        let mut r = a.recorded.lock().unwrap_or_else(|e| e.into_inner());
        let spans::Recorded {
            bytes,
            slots,
            dropped,
        } = &mut *r;
        let mut p = Payload::collecting(bytes, slots, MAX_FIELDS - prefix(Kind::Stop).len());
        values.record(&mut p);
        *dropped += p.dropped_fields;
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let layer = self.shared.sites.layer();
        spans::with_cached(layer, id.into_u64(), || held(&ctx, id), SpanActivity::enter);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let layer = self.shared.sites.layer();
        spans::with_cached(layer, id.into_u64(), || held(&ctx, id), SpanActivity::exit);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(Held(a)) = span.extensions_mut().remove::<Held>() else {
            return;
        };
        a.close();
        let meta = span.metadata();
        let (duration, busy, idle) = a.times();
        let recorded = std::mem::take(&mut *a.recorded.lock().unwrap_or_else(|e| e.into_inner()));
        self.shared.encode_and_write(
            meta,
            Kind::Stop,
            |b| {
                for v in [duration, busy, idle] {
                    b.extend_from_slice(&v.to_le_bytes());
                }
                b.extend_from_slice(&recorded.bytes);
            },
            |p| {
                for s in &recorded.slots {
                    p.push_slot(*s);
                }
                p.dropped_fields += recorded.dropped;
            },
            |e, bytes| e.write_with_activity(a.id, Guid::ZERO, &[bytes]),
        );
    }
}

/// The activity of span `id`, shared, when it has one.
fn held<S>(ctx: &Context<'_, S>, id: &Id) -> Option<Arc<SpanActivity>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = ctx.span(id)?;
    let ext = span.extensions();
    ext.get::<Held>().map(|a| a.0.clone())
}
