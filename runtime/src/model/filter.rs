//! The level/keyword rule by which a session accepts an event (ETW-REFERENCE section 4), and the
//! combined state an enable callback receives.

/// Standard event levels.
pub mod level {
    /// 0: no level; passes every session.
    pub const ALWAYS: u8 = 0;
    /// 1: critical.
    pub const CRITICAL: u8 = 1;
    /// 2: error.
    pub const ERROR: u8 = 2;
    /// 3: warning.
    pub const WARNING: u8 = 3;
    /// 4: information.
    pub const INFORMATION: u8 = 4;
    /// 5: verbose.
    pub const VERBOSE: u8 = 5;
}

/// What one session asked of one provider: `EnableTrace(level, match-any, match-all)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnableSettings {
    /// Highest level the session wants; 0 means all levels.
    pub level: u8,
    /// Match-any keyword bits; 0 means all ones.
    pub match_any: u64,
    /// Match-all keyword bits: every one must be set in the event's keyword.
    pub match_all: u64,
}

impl Default for EnableSettings {
    /// Everything: all levels, all keywords.
    fn default() -> Self {
        EnableSettings {
            level: 0,
            match_any: 0,
            match_all: 0,
        }
    }
}

impl EnableSettings {
    /// Settings for `level`, match-any `any`, match-all `all`.
    pub const fn new(level: u8, match_any: u64, match_all: u64) -> Self {
        EnableSettings {
            level,
            match_any,
            match_all,
        }
    }

    /// The exact ETW rule: `(L <= S || S == 0 || L == 0) && (K == 0 || ((K & A) != 0 && (K & M) == M))`
    /// where `A == 0` stands for all ones.
    #[inline]
    pub const fn passes(&self, level: u8, keyword: u64) -> bool {
        let level_ok = level <= self.level || self.level == 0 || level == 0;
        let any = if self.match_any == 0 {
            u64::MAX
        } else {
            self.match_any
        };
        let keyword_ok =
            keyword == 0 || ((keyword & any) != 0 && (keyword & self.match_all) == self.match_all);
        level_ok && keyword_ok
    }
}

/// The state an enable callback receives: every session's settings for the provider, combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EnableInfo {
    /// Whether any session has the provider enabled.
    pub enabled: bool,
    /// The highest level of the sessions (0, all levels, wins).
    pub level: u8,
    /// The OR of the sessions' match-any keywords (0 = all, wins).
    pub match_any: u64,
    /// The AND of the sessions' match-all keywords.
    pub match_all: u64,
    /// How many sessions have the provider enabled.
    pub sessions: u32,
}

impl EnableInfo {
    /// Combines the settings of every session enabling a provider, as ETW's callback reports them.
    pub fn combine<'a>(settings: impl IntoIterator<Item = &'a EnableSettings>) -> EnableInfo {
        let mut info = EnableInfo {
            match_all: u64::MAX,
            ..EnableInfo::default()
        };
        let mut any_all_keywords = false;
        let mut all_levels = false;
        for s in settings {
            info.sessions += 1;
            info.enabled = true;
            all_levels |= s.level == 0;
            info.level = info.level.max(s.level);
            any_all_keywords |= s.match_any == 0;
            info.match_any |= s.match_any;
            info.match_all &= s.match_all;
        }
        if !info.enabled {
            return EnableInfo::default();
        }
        if all_levels {
            info.level = 0;
        }
        if any_all_keywords {
            info.match_any = 0;
        }
        info
    }
}

impl EnableSettings {
    /// A provider and its settings as commands write them: `PROVIDER[:LEVEL[:ANY[:ALL]]]`, the
    /// provider a GUID or a name (its GUID by the EventSource rule), numbers in decimal or `0x`
    /// hex, missing ones 0 (all levels, all keywords).
    pub fn parse_spec(s: &str) -> crate::Result<(crate::Guid, EnableSettings)> {
        use crate::{Error, Guid};
        let mut parts = s.split(':');
        let p = parts.next().unwrap_or_default();
        if p.is_empty() {
            return Err(Error::invalid(format!(
                "{s:?} names no provider: give a provider name or GUID before the first ':'"
            )));
        }
        let guid = match p.parse::<Guid>() {
            Ok(g) => g,
            // A mistyped GUID would otherwise be taken for a name, enabling nothing.
            Err(_) if p.starts_with('{') || (p.len() == 36 && p.matches('-').count() == 4) => {
                return Err(Error::invalid(format!(
                    "{p:?} is not a valid GUID: write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits), or give the provider's name"
                )))
            }
            Err(_) => Guid::from_name(p),
        };
        let num = |v: Option<&str>, what: &str| -> crate::Result<u64> {
            match v {
                None | Some("") => Ok(0),
                Some(v) => crate::number::parse(v).ok_or_else(|| {
                    Error::invalid(format!(
                        "{what} {v:?} in {s:?} is not a number (decimal, or hex with 0x)"
                    ))
                }),
            }
        };
        let level = num(parts.next(), "level")?;
        if level > 255 {
            return Err(Error::invalid(format!(
                "level {level} in {s:?} is out of range: levels are 0 to 255"
            )));
        }
        let any = num(parts.next(), "match-any keyword")?;
        let all = num(parts.next(), "match-all keyword")?;
        if let Some(extra) = parts.next() {
            return Err(Error::invalid(format!(
                "{s:?} has a fifth part {extra:?}: write PROVIDER[:LEVEL[:MATCH_ANY[:MATCH_ALL]]]"
            )));
        }
        Ok((guid, EnableSettings::new(level as u8, any, all)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_spec_with_a_mistyped_guid_or_no_provider_is_refused() {
        use super::EnableSettings;
        assert!(EnableSettings::parse_spec("P:4:0x1:0x2:5")
            .unwrap_err()
            .message()
            .contains("fifth part"));
        let (g, s) = EnableSettings::parse_spec("MyCompany-CopyTool:5:0x10").unwrap();
        assert_eq!(g, crate::Guid::from_name("MyCompany-CopyTool"));
        assert_eq!((s.level, s.match_any), (5, 0x10));
        let e = EnableSettings::parse_spec("3d6fa8d0-fe05-11d0-9dda-00c04fd7bz7c:4").unwrap_err();
        assert!(e.message().contains("not a valid GUID"), "{}", e.message());
        assert!(EnableSettings::parse_spec("{bogus}").is_err());
        assert!(EnableSettings::parse_spec(":4")
            .unwrap_err()
            .message()
            .contains("names no provider"));
    }

    use super::*;

    #[test]
    fn level_rule() {
        let s = EnableSettings::new(level::WARNING, 0, 0);
        assert!(s.passes(level::ERROR, 0));
        assert!(s.passes(level::WARNING, 0));
        assert!(!s.passes(level::INFORMATION, 0));
        assert!(s.passes(0, 0), "level 0 events always pass");
        assert!(
            EnableSettings::new(0, 0, 0).passes(200, 0),
            "session level 0 takes everything"
        );
    }

    #[test]
    fn keyword_rule() {
        let s = EnableSettings::new(0, 0b0110, 0b0100);
        assert!(s.passes(4, 0), "keyword 0 always passes");
        assert!(s.passes(4, 0b0100));
        assert!(!s.passes(4, 0b0010), "match-all bit missing");
        assert!(!s.passes(4, 0b1000), "no match-any bit");
        assert!(
            s.passes(4, 0b1100),
            "any bit 0b0100 present and all bits present"
        );
        let all = EnableSettings::new(0, 0, 0);
        assert!(
            all.passes(4, 0x8000_0000_0000_0000),
            "match-any 0 means all ones"
        );
        let all_needs = EnableSettings::new(0, 0, 0b11);
        assert!(!all_needs.passes(4, 0b01));
        assert!(all_needs.passes(4, 0b11));
    }

    #[test]
    fn combined_state_takes_highest_level_or_and_and() {
        let a = EnableSettings::new(2, 0b0011, 0b0011);
        let b = EnableSettings::new(4, 0b0100, 0b0001);
        let info = EnableInfo::combine([&a, &b]);
        assert_eq!(
            info,
            EnableInfo {
                enabled: true,
                level: 4,
                match_any: 0b0111,
                match_all: 0b0001,
                sessions: 2
            }
        );
        let c = EnableSettings::new(0, 0, 0);
        let info = EnableInfo::combine([&a, &c]);
        assert_eq!(
            (info.level, info.match_any),
            (0, 0),
            "0 means everything and wins"
        );
        assert_eq!(EnableInfo::combine([]), EnableInfo::default());
    }
}
