//! `evtrace enable` and `evtrace disable`: a provider in a running session.

use std::process::ExitCode;

use clap::Args;
use evtrace_runtime::provider::EnableSettings;
use evtrace_runtime::system::control::Controller;
use evtrace_runtime::{Error, ErrorCode};

use super::report::{done, fail};

/// `evtrace enable` / `evtrace disable`.
#[derive(Args)]
pub struct EnableArgs {
    /// Session name.
    name: String,
    /// `PROVIDER[:LEVEL[:MATCH_ANY[:MATCH_ALL]]]`, the provider a GUID or a name.
    provider: String,
    /// Enable filters (enable only; see `evtrace record --help`).
    #[command(flatten)]
    filter: crate::record::filter_args::FilterArgs,
}

/// `evtrace enable`.
pub fn enable(a: EnableArgs) -> ExitCode {
    let filtered = |(g, s)| {
        let f = a.filter.filter()?;
        Controller::connect().and_then(|c| c.enable_filtered(&a.name, Some(g), s, &f))
    };
    done(EnableSettings::parse_spec(&a.provider).and_then(filtered))
}

/// `evtrace disable`.
pub fn disable(a: EnableArgs) -> ExitCode {
    if a.provider.contains(':') {
        return fail(&Error::new(
            ErrorCode::InvalidParameter,
            format!(
                "{:?}: disable takes the provider alone (a name or GUID), no level or keywords",
                a.provider
            ),
        ));
    }
    done(
        EnableSettings::parse_spec(&a.provider)
            .and_then(|(g, _)| Controller::connect().and_then(|c| c.disable(&a.name, g))),
    )
}
