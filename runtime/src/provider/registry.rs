//! The process's provider registry: which sessions enable which provider GUID (stored even before
//! the provider registers), and the per-event enable words derived from that.

use std::collections::HashMap;
use std::sync::Mutex;

use std::sync::Arc;

use super::filter::{EnableInfo, EnableSettings};
use super::scope::{EnableFilter, EventIdFilter};
use super::{EnableCallback, EnableCell, Provider};
use crate::error::{Error, ErrorCode, Result};
use crate::Guid;

/// At most this many providers per process, as ETW allows.
pub const MAX_PROVIDERS_PER_PROCESS: usize = 1024;
/// A provider can be enabled by at most this many sessions at once.
pub const MAX_SESSIONS_PER_PROVIDER: usize = 8;

/// One session's enable of a provider: its slot, level and keywords, and the event ids its
/// filter takes (none: all).
#[derive(Clone)]
struct Entry {
    slot: u8,
    settings: EnableSettings,
    ids: Option<Arc<EventIdFilter>>,
}

impl Entry {
    /// Whether the session wants a site of `level`, `keyword` and event `id`.
    fn wants(&self, level: u8, keyword: u64, id: Option<u16>) -> bool {
        self.settings.passes(level, keyword) && self.ids.as_ref().is_none_or(|f| f.takes(id))
    }
}

/// Per-provider state, behind the provider's own lock.
pub(crate) struct ProviderState {
    sessions: Vec<Entry>,
    sites: Vec<&'static EnableCell>,
    pub(crate) callback: Option<EnableCallback>,
}

impl ProviderState {
    pub(crate) const fn new() -> Self {
        ProviderState {
            sessions: Vec::new(),
            sites: Vec::new(),
            callback: None,
        }
    }

    pub(crate) fn info(&self) -> EnableInfo {
        EnableInfo::combine(self.sessions.iter().map(|e| &e.settings))
    }

    /// The sessions wanting a site of `level`, `keyword` and event `id`, one bit per slot.
    pub(crate) fn sessions_for(&self, level: u8, keyword: u64, id: Option<u16>) -> u64 {
        self.sessions
            .iter()
            .filter(|e| e.wants(level, keyword, id))
            .fold(0, |m, e| m | 1 << e.slot)
    }

    fn refresh(&self) {
        for c in &self.sites {
            c.store(self.sessions_for(c.level, c.keyword, c.id));
        }
    }
}

struct Registry {
    providers: Vec<&'static Provider>,
    /// Every session's enable of a GUID, registered or not: applied to providers as they register.
    enables: HashMap<Guid, Vec<Entry>>,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
    let mut guard = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
    let reg = guard.get_or_insert_with(|| {
        // Enable state exists from here on, so from here on a stopping session clears its own.
        crate::session::on_session_stopped(session_stopped);
        // And the daemon link, which calls back here for what it is told.
        crate::link::install(crate::link::Registry {
            registered: || registered_providers().into_iter().map(|(_, g)| g).collect(),
            enable: |s, guid, settings, filter, notify| {
                if notify {
                    s.enable_provider_filtered(guid, settings, filter)
                } else {
                    s.enable_provider_quietly(guid, settings, filter)
                }
            },
            disable: |s, guid| s.disable_provider(guid),
        });
        Registry {
            providers: Vec::new(),
            enables: HashMap::new(),
        }
    });
    f(reg)
}

/// Applies `sessions` to one provider and returns its callback and new state to report.
fn apply(p: &Provider, sessions: &[Entry]) -> Option<(EnableCallback, EnableInfo)> {
    let mut st = p.state.lock().unwrap_or_else(|e| e.into_inner());
    st.sessions = sessions.to_vec();
    st.refresh();
    st.callback.clone().map(|cb| (cb, st.info()))
}

fn notify(calls: Vec<(EnableCallback, EnableInfo)>) {
    // Outside every lock: a callback may itself write events or query the provider.
    for (cb, info) in calls {
        cb(&info);
    }
}

pub(super) fn register(p: &'static Provider) -> Result<()> {
    let call = with_registry(|reg| {
        if reg.providers.iter().any(|q| std::ptr::eq(*q, p)) {
            return Ok(None);
        }
        if reg.providers.len() >= MAX_PROVIDERS_PER_PROCESS {
            return Err(Error::new(
                ErrorCode::NoSystemResources,
                format!(
                    "cannot register provider {}: a process may register at most {MAX_PROVIDERS_PER_PROCESS} providers",
                    p.name()
                ),
            ));
        }
        reg.providers.push(p);
        let sessions = reg.enables.get(&p.guid()).cloned().unwrap_or_default();
        Ok(Some(apply(p, &sessions)))
    })?;
    if let Some(call) = call {
        notify(call.into_iter().collect());
        // System sessions hear of it too (through the daemon, if one runs).
        crate::link::registered(p.guid());
    }
    Ok(())
}

/// Links an event or message site to its provider so that enable changes reach its word.
pub(super) fn attach(p: &'static Provider, c: &'static EnableCell) {
    let mut st = p.state.lock().unwrap_or_else(|e| e.into_inner());
    if !st.sites.iter().any(|x| std::ptr::eq(*x, c)) {
        st.sites.push(c);
    }
    c.store(st.sessions_for(c.level, c.keyword, c.id));
}

/// Session `slot` enables provider `guid` (or replaces its settings). Stored if the provider is not
/// registered yet. A 9th session gets `ERROR_NO_SYSTEM_RESOURCES`.
pub(crate) fn enable_for_session(slot: u8, guid: Guid, settings: EnableSettings) -> Result<()> {
    enable_for_session_with(slot, guid, settings, &EnableFilter::default(), true)
}

/// [`enable_for_session`] with a `filter`; without `callbacks`, the provider's enable callback
/// is not told (the Global Logger sends providers no enable notification: they query for it).
/// A filter whose process part does not take this process leaves the provider disabled for
/// the session here, as if it had not been enabled.
pub(crate) fn enable_for_session_with(
    slot: u8,
    guid: Guid,
    settings: EnableSettings,
    filter: &EnableFilter,
    callbacks: bool,
) -> Result<()> {
    filter.check()?;
    if !filter.takes_this_process() {
        disable_for_session(slot, guid);
        return Ok(());
    }
    let entry = Entry {
        slot,
        settings,
        ids: filter.event_ids.clone().map(Arc::new),
    };
    let calls = with_registry(|reg| {
        let list = reg.enables.entry(guid).or_default();
        let count = list.len();
        match list.iter_mut().find(|e| e.slot == slot) {
            Some(old) => *old = entry,
            None if count >= MAX_SESSIONS_PER_PROVIDER => {
                return Err(Error::new(
                    ErrorCode::NoSystemResources,
                    format!("provider {guid} is already enabled by {MAX_SESSIONS_PER_PROVIDER} sessions, the most ETW allows"),
                ))
            }
            None => list.push(entry),
        }
        Ok(refresh_guid(reg, guid))
    })?;
    if callbacks {
        notify(calls);
    }
    Ok(())
}

/// Session `slot` disables provider `guid`. Disabling a provider the session never enabled is a no-op.
pub(crate) fn disable_for_session(slot: u8, guid: Guid) {
    let calls = with_registry(|reg| {
        if let Some(list) = reg.enables.get_mut(&guid) {
            list.retain(|e| e.slot != slot);
        }
        refresh_guid(reg, guid)
    });
    notify(calls);
}

/// Session `slot` stopped: it no longer enables anything.
pub(crate) fn session_stopped(slot: u8) {
    let calls = with_registry(|reg| {
        let guids: Vec<Guid> = reg
            .enables
            .iter_mut()
            .filter_map(|(g, list)| {
                let before = list.len();
                list.retain(|e| e.slot != slot);
                (list.len() != before).then_some(*g)
            })
            .collect();
        guids
            .into_iter()
            .flat_map(|g| refresh_guid(reg, g))
            .collect::<Vec<_>>()
    });
    notify(calls);
}

fn refresh_guid(reg: &mut Registry, guid: Guid) -> Vec<(EnableCallback, EnableInfo)> {
    let sessions = reg.enables.get(&guid).cloned().unwrap_or_default();
    if sessions.is_empty() {
        reg.enables.remove(&guid);
    }
    reg.providers
        .iter()
        .filter(|p| p.guid() == guid)
        .filter_map(|p| apply(p, &sessions))
        .collect()
}

/// The providers registered in this process, as (name, GUID).
pub fn registered_providers() -> Vec<(&'static str, Guid)> {
    with_registry(|reg| reg.providers.iter().map(|p| (p.name(), p.guid())).collect())
}
