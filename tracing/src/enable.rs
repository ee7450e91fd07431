//! What the sessions want of the layer's provider, as `tracing` asks it: per callsite (its
//! `Interest`, cached by `tracing` and rebuilt when a session enables or disables the provider),
//! per record (a few relaxed loads), and the most verbose level any session wants.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use evtrace_runtime::provider::{EnableInfo, Provider};
use tracing_core::{LevelFilter, Metadata};

use crate::sites::{etw_keyword, etw_level};

/// The provider's combined enable state (level, match-any, match-all), as the enable callback
/// last reported it.
#[derive(Default)]
pub struct EnableState {
    enabled: AtomicBool,
    level: AtomicU8,
    any: AtomicU64,
    all: AtomicU64,
}

impl EnableState {
    /// Takes the state the provider's enable callback reports.
    pub fn set(&self, info: &EnableInfo) {
        self.level.store(info.level, Ordering::Relaxed);
        self.any.store(info.match_any, Ordering::Relaxed);
        self.all.store(info.match_all, Ordering::Relaxed);
        self.enabled.store(info.enabled, Ordering::Release);
    }

    /// Whether some session may want records of this callsite: ETW's level and keyword rule on
    /// the combined state (each session's own filter is applied again when writing).
    #[inline]
    pub fn wants(&self, meta: &Metadata<'_>) -> bool {
        if !self.enabled.load(Ordering::Acquire) {
            return false;
        }
        let level = self.level.load(Ordering::Relaxed);
        if level != 0 && etw_level(meta.level()) > level {
            return false;
        }
        let kw = etw_keyword(meta);
        let any = self.any.load(Ordering::Relaxed);
        let all = self.all.load(Ordering::Relaxed);
        (any == 0 || kw & any != 0) && kw & all == all
    }

    /// The most verbose `tracing` level a session wants: OFF with none, so that `tracing`'s
    /// first check (the global max level) turns every callsite away, as with no subscriber.
    pub fn max_level(&self) -> LevelFilter {
        if !self.enabled.load(Ordering::Acquire) {
            return LevelFilter::OFF;
        }
        match self.level.load(Ordering::Relaxed) {
            0 | 5.. => LevelFilter::TRACE,
            4 => LevelFilter::INFO,
            3 => LevelFilter::WARN,
            2 => LevelFilter::ERROR,
            // Critical (1) only: no `tracing` level is that severe.
            _ => LevelFilter::OFF,
        }
    }
}

/// Whether some session wants this callsite, from the provider's exact per-session state: what
/// `register_callsite` answers (once per callsite and per rebuild, so the lock does not matter).
pub fn provider_wants(provider: &Provider, meta: &Metadata<'_>) -> bool {
    provider.is_enabled(etw_level(meta.level()), etw_keyword(meta))
}
