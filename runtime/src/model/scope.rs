//! Enable filters: which processes and which events one session's enable of a provider applies
//! to (EnableTraceEx2's EVENT_FILTER_DESCRIPTORs of type PID, EXECUTABLE_NAME and EVENT_ID).
//!
//! Both kinds are resolved when the provider is enabled, never per write: a process the filter
//! does not take is simply not enabled (its events' enable words stay 0, one relaxed load), and
//! an event whose id the filter drops gets no bit for that session in its own enable word. The
//! only cost is at enable time: reading `/proc` for the process test, one look-up per event site
//! for the id test.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// At most this many process ids in a filter (ETW's MAX_EVENT_FILTER_PID_COUNT).
pub const MAX_FILTER_PIDS: usize = 8;
/// At most this many event ids in a filter (ETW's MAX_EVENT_FILTER_EVENT_ID_COUNT).
pub const MAX_FILTER_EVENT_IDS: usize = 64;

/// Which processes and events an enable applies to. The empty filter (the default) takes all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnableFilter {
    /// Only these processes (EVENT_FILTER_TYPE_PID); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pids: Vec<u32>,
    /// Only processes whose executable file has one of these names, compared without case as
    /// ETW does (EVENT_FILTER_TYPE_EXECUTABLE_NAME); empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exe_names: Vec<String>,
    /// Only this process and its descendants (`evtrace record -- COMMAND`'s process tree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_of: Option<u32>,
    /// Only, or all but, these event ids (EVENT_FILTER_TYPE_EVENT_ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_ids: Option<EventIdFilter>,
}

/// EVENT_FILTER_EVENT_ID: a set of event ids and whether it lists those taken or those dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventIdFilter {
    /// `true`: only these ids pass (FilterIn); `false`: these ids are dropped.
    pub include: bool,
    /// The ids.
    pub ids: Vec<u16>,
}

impl EventIdFilter {
    /// Whether an event with `id` passes. Sites without an id (TraceMessage sites) always pass:
    /// the filter is about events, as ETW's is.
    pub fn takes(&self, id: Option<u16>) -> bool {
        id.is_none_or(|id| self.ids.contains(&id) == self.include)
    }
}

impl EnableFilter {
    /// Whether the filter takes every process and every event.
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty()
            && self.exe_names.is_empty()
            && self.tree_of.is_none()
            && self.event_ids.is_none()
    }

    /// Whether the filter has a process part (pids, names or a tree).
    pub fn filters_processes(&self) -> bool {
        !self.pids.is_empty() || !self.exe_names.is_empty() || self.tree_of.is_some()
    }

    /// ERROR_INVALID_PARAMETER if the filter is past ETW's limits or names nothing.
    pub fn check(&self) -> Result<()> {
        if self.pids.len() > MAX_FILTER_PIDS {
            return Err(Error::invalid(format!(
                "{} process ids in one filter: at most {MAX_FILTER_PIDS} (MAX_EVENT_FILTER_PID_COUNT)",
                self.pids.len()
            )));
        }
        if let Some(n) = self
            .exe_names
            .iter()
            .find(|n| n.is_empty() || n.contains('/'))
        {
            return Err(Error::invalid(format!(
                "executable name {n:?}: give a file name (like echo_server), not a path or nothing"
            )));
        }
        if let Some(f) = &self.event_ids {
            if f.ids.is_empty() || f.ids.len() > MAX_FILTER_EVENT_IDS {
                return Err(Error::invalid(format!(
                    "{} event ids in one filter: give 1 to {MAX_FILTER_EVENT_IDS} (MAX_EVENT_FILTER_EVENT_ID_COUNT)",
                    f.ids.len()
                )));
            }
        }
        Ok(())
    }

    /// Whether the filter takes process `pid`, judged from `/proc`. A process that is gone, or
    /// whose executable cannot be read, is not taken by a name or tree filter.
    pub fn takes_process(&self, pid: u32) -> bool {
        if !self.pids.is_empty() && !self.pids.contains(&pid) {
            return false;
        }
        if !self.exe_names.is_empty() {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
            let name = exe
                .as_deref()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str());
            // A deleted (replaced) executable reads as "NAME (deleted)".
            let name = name.map(|n| n.strip_suffix(" (deleted)").unwrap_or(n));
            let Some(name) = name else { return false };
            if !self.exe_names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                return false;
            }
        }
        match self.tree_of {
            Some(root) => descends_from(pid, root),
            None => true,
        }
    }

    /// [`EnableFilter::takes_process`] for this process.
    pub fn takes_this_process(&self) -> bool {
        !self.filters_processes() || self.takes_process(std::process::id())
    }

    /// An event-id filter from `include` and `exclude` lists as commands write them
    /// (`1,2,5-7`); at most one of the two may be given.
    pub fn event_ids_from(
        include: Option<&str>,
        exclude: Option<&str>,
    ) -> Result<Option<EventIdFilter>> {
        match (include, exclude) {
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(Error::invalid(
                "give event ids to include or to exclude, not both (ETW's EVENT_ID filter is one list with FilterIn true or false)",
            )),
            (Some(s), None) => Ok(Some(EventIdFilter { include: true, ids: parse_ids(s)? })),
            (None, Some(s)) => Ok(Some(EventIdFilter { include: false, ids: parse_ids(s)? })),
        }
    }
}

/// Event ids `1,2,5-7` (decimal or 0x hex).
fn parse_ids(s: &str) -> Result<Vec<u16>> {
    let id = |v: &str| -> Result<u16> {
        crate::number::parse(v.trim())
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "event id {v:?} in {s:?} is not a number from 0 to 65535 (decimal, or hex with 0x)"
                ))
            })
    };
    let mut ids = Vec::new();
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (id(a)?, id(b)?);
                if b < a || usize::from(b - a) >= MAX_FILTER_EVENT_IDS {
                    return Err(Error::invalid(format!(
                        "event id range {part:?} in {s:?}: write LOW-HIGH, at most {MAX_FILTER_EVENT_IDS} ids"
                    )));
                }
                ids.extend(a..=b);
            }
            None => ids.push(id(part)?),
        }
    }
    if ids.is_empty() || ids.len() > MAX_FILTER_EVENT_IDS {
        return Err(Error::invalid(format!(
            "{s:?}: give 1 to {MAX_FILTER_EVENT_IDS} event ids, like 1,2,5-7"
        )));
    }
    Ok(ids)
}

/// Whether process `pid` is `root` or one of its descendants, by the parent links in `/proc`.
fn descends_from(mut pid: u32, root: u32) -> bool {
    // Bounded: a parent chain is far shorter than this, and a race cannot loop forever.
    for _ in 0..4096 {
        if pid == root {
            return true;
        }
        match parent_of(pid) {
            Some(p) if p != 0 && p != pid => pid = p,
            _ => return false,
        }
    }
    false
}

/// The parent of `pid`, from `/proc/PID/stat` (the field after the parenthesised name, which
/// may itself hold spaces and parentheses).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_parse_with_ranges_and_refuse_both_lists() {
        let f = EnableFilter::event_ids_from(Some("1, 3-5,0x10"), None)
            .unwrap()
            .unwrap();
        assert_eq!((f.include, f.ids), (true, vec![1, 3, 4, 5, 16]));
        let f = EnableFilter::event_ids_from(None, Some("2"))
            .unwrap()
            .unwrap();
        assert!(!f.takes(Some(2)) && f.takes(Some(3)) && f.takes(None));
        let e = EnableFilter::event_ids_from(Some("1"), Some("2")).unwrap_err();
        assert!(e.message().contains("not both"), "{}", e.message());
        let e = EnableFilter::event_ids_from(Some("1,x"), None).unwrap_err();
        assert!(e.message().contains("\"x\""), "{}", e.message());
        assert!(EnableFilter::event_ids_from(Some("5-1"), None).is_err());
        assert!(EnableFilter::event_ids_from(Some("0-100"), None).is_err());
    }

    #[test]
    fn this_process_is_taken_by_its_pid_name_and_tree() {
        let me = std::process::id();
        let exe = std::env::current_exe().unwrap();
        let name = exe.file_name().unwrap().to_str().unwrap().to_uppercase();
        let f = EnableFilter {
            pids: vec![me],
            exe_names: vec![name],
            tree_of: Some(1),
            ..Default::default()
        };
        assert!(f.takes_this_process());
        let other = EnableFilter {
            exe_names: vec!["no-such-program".into()],
            ..Default::default()
        };
        assert!(!other.takes_this_process());
        let parent = parent_of(me).unwrap();
        assert!(EnableFilter {
            tree_of: Some(parent),
            ..Default::default()
        }
        .takes_this_process());
        assert!(!EnableFilter {
            pids: vec![me + 1],
            ..Default::default()
        }
        .takes_this_process());
        let too_many = EnableFilter {
            pids: (1..=9).collect(),
            ..Default::default()
        };
        assert!(too_many
            .check()
            .unwrap_err()
            .message()
            .contains("at most 8"));
    }
}
