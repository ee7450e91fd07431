//! The four systems, each behind the same two phases (`micro`, `sustain`) that return one JSON
//! object for the report.

pub mod evtrace;
pub mod evtrace_system;
pub mod lttng;
#[cfg(feature = "perfetto")]
pub mod perfetto;
pub mod tracing_peer;

use serde_json::Value;

use crate::{Opts, Phase, System};

/// Whether `system` can run here; the reason to skip it if not. Builds what it needs (the LTTng
/// tracepoint provider) on the way.
pub fn available(system: System, opts: &Opts) -> Result<(), String> {
    match system {
        System::Evtrace | System::EvtraceCompressed | System::EvtraceSystem | System::Tracing => {
            Ok(())
        }
        System::Lttng => lttng::prepare(opts),
        System::Perfetto => {
            if cfg!(feature = "perfetto") {
                Ok(())
            } else {
                Err("built without the `perfetto` feature (perfetto-sdk)".into())
            }
        }
    }
}

/// Runs one phase of one system in this (child) process.
pub fn run_child(system: System, phase: Phase, opts: &Opts) -> Result<Value, String> {
    match (system, phase) {
        (System::Evtrace, Phase::Micro) => evtrace::micro(opts),
        (System::Evtrace, Phase::Sustain) => evtrace::sustain(opts, false),
        (System::EvtraceCompressed, Phase::Sustain) => evtrace::sustain(opts, true),
        (System::EvtraceCompressed, Phase::Micro) => Err("same write path as evtrace".into()),
        (System::EvtraceSystem, Phase::Micro) => evtrace_system::micro(opts),
        (System::EvtraceSystem, Phase::Sustain) => evtrace_system::sustain(opts),
        (System::Lttng, Phase::Micro) => lttng::micro(opts),
        (System::Lttng, Phase::Sustain) => lttng::sustain(opts),
        (System::Tracing, Phase::Micro) => tracing_peer::micro(opts),
        (System::Tracing, Phase::Sustain) => tracing_peer::sustain(opts),
        #[cfg(feature = "perfetto")]
        (System::Perfetto, Phase::Micro) => perfetto::micro(opts),
        #[cfg(feature = "perfetto")]
        (System::Perfetto, Phase::Sustain) => perfetto::sustain(opts),
        #[cfg(not(feature = "perfetto"))]
        (System::Perfetto, _) => {
            Err("built without `--features perfetto` (which compiles the Perfetto C++ SDK)".into())
        }
    }
}
