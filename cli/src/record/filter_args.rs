//! The enable-filter options that `enable` and `record` share: `--pid`, `--exe`, `--event-id`,
//! `--exclude-event-id` (EnableTraceEx2's PID, EXECUTABLE_NAME and EVENT_ID filters).

use clap::Args;
use evtrace_runtime::provider::EnableFilter;
use evtrace_runtime::Error;

/// Enable filters on the command line.
#[derive(Args, Clone, Debug, Default)]
pub struct FilterArgs {
    /// Only this process (EVENT_FILTER_TYPE_PID; repeat for up to 8).
    #[arg(long = "pid", value_name = "PID")]
    pids: Vec<u32>,
    /// Only processes whose executable file has this name, compared without case
    /// (EVENT_FILTER_TYPE_EXECUTABLE_NAME; repeatable).
    #[arg(long = "exe", value_name = "NAME")]
    exes: Vec<String>,
    /// Only these event ids, like `1,2,5-7` (EVENT_FILTER_TYPE_EVENT_ID, FilterIn).
    #[arg(
        long = "event-id",
        value_name = "IDS",
        conflicts_with = "exclude_event_id"
    )]
    event_id: Option<String>,
    /// Every event but these ids, like `3,4` (EVENT_FILTER_TYPE_EVENT_ID, FilterIn false).
    #[arg(long = "exclude-event-id", value_name = "IDS")]
    exclude_event_id: Option<String>,
}

impl FilterArgs {
    /// The filter the options give (empty when none is given), checked against ETW's limits.
    pub fn filter(&self) -> Result<EnableFilter, Error> {
        let f = EnableFilter {
            pids: self.pids.clone(),
            exe_names: self.exes.clone(),
            tree_of: None,
            event_ids: EnableFilter::event_ids_from(
                self.event_id.as_deref(),
                self.exclude_event_id.as_deref(),
            )?,
        };
        f.check()?;
        Ok(f)
    }

    /// Puts the parts of `given` (this command line's filter) over `target` (a profile's):
    /// each kind the command line names replaces the profile's.
    pub fn apply_to(&self, target: &mut EnableFilter, given: &EnableFilter) {
        if !given.pids.is_empty() {
            target.pids = given.pids.clone();
        }
        if !given.exe_names.is_empty() {
            target.exe_names = given.exe_names.clone();
        }
        if given.event_ids.is_some() {
            target.event_ids = given.event_ids.clone();
        }
    }
}
