//! Recording profiles: what sessions a recording starts (collectors), with which providers and
//! kernel flags. Read from evtrace's TOML files, from WPR's `.wprp` files ([`super::wprp`]), or
//! from the built-in profiles shipped in the binary; several are merged as WPR merges them.

use std::path::Path;

use evtrace_runtime::kernel::{KernelFlags, KERNEL_LOGGER_NAME};
use evtrace_runtime::provider::{EnableFilter, EnableSettings};
use evtrace_runtime::Guid;
use serde::Deserialize;

/// The built-in profiles: name and TOML text.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("general", include_str!("profiles/general.toml")),
    ("cpu", include_str!("profiles/cpu.toml")),
    ("network", include_str!("profiles/network.toml")),
    ("disk", include_str!("profiles/disk.toml")),
];

/// The provider name that stands for every provider (of the recorded command, with one).
pub const ANY_PROVIDER: &str = "*";

/// What a recording starts: one session per collector, and what reading the profiles warned of.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    /// The sessions, in order; the first writes the `-o` file.
    pub collectors: Vec<Collector>,
    /// Elements or settings that could not be honoured, each naming what and where.
    pub warnings: Vec<String>,
}

/// One session of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Collector {
    /// The session's name (the kernel logger's own name makes it the kernel logger).
    pub session: String,
    /// BufferSize in KB.
    pub buffer_kb: Option<u32>,
    /// MinimumBuffers.
    pub min_buffers: Option<u32>,
    /// MaximumBuffers.
    pub max_buffers: Option<u32>,
    /// A memory ring (BUFFERING, WPR's LoggingMode Memory) saved at the end, not a file
    /// written as it goes.
    pub memory: bool,
    /// Kernel events: a session other than the kernel logger becomes a system logger for them.
    pub kernel: KernelFlags,
    /// The providers it enables.
    pub providers: Vec<ProviderPlan>,
}

/// One provider enabled in a collector.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderPlan {
    /// As written: a name, a GUID, or `*`.
    pub name: String,
    /// Its GUID; `None` for `*`.
    pub guid: Option<Guid>,
    /// Level and keywords.
    pub settings: EnableSettings,
    /// Processes and event ids.
    pub filter: EnableFilter,
}

impl Collector {
    /// A collector with no settings, providers or flags yet.
    pub fn new(session: &str) -> Collector {
        Collector {
            session: session.to_string(),
            buffer_kb: None,
            min_buffers: None,
            max_buffers: None,
            memory: false,
            kernel: KernelFlags::empty(),
            providers: Vec::new(),
        }
    }

    /// Whether this is the NT Kernel Logger (which takes flags, never providers).
    pub fn is_kernel_logger(&self) -> bool {
        self.session.eq_ignore_ascii_case(KERNEL_LOGGER_NAME)
    }

    /// Adds `p`, merged with an enable of the same provider as WPR merges them: the higher
    /// level (0, all, wins), the keywords of either.
    pub fn add_provider(&mut self, p: ProviderPlan) {
        match self.providers.iter_mut().find(|q| q.guid == p.guid) {
            Some(q) => {
                let (a, b) = (q.settings, p.settings);
                q.settings = EnableSettings::new(
                    if a.level == 0 || b.level == 0 {
                        0
                    } else {
                        a.level.max(b.level)
                    },
                    if a.match_any == 0 || b.match_any == 0 {
                        0
                    } else {
                        a.match_any | b.match_any
                    },
                    a.match_all & b.match_all,
                );
                if !p.filter.is_empty() {
                    q.filter = p.filter;
                }
            }
            None => self.providers.push(p),
        }
    }

    /// Merges `other` (the same session) into this one: the larger buffers, either's flags
    /// and providers.
    fn merge(&mut self, other: Collector, warnings: &mut Vec<String>) {
        let max = |a: Option<u32>, b: Option<u32>| a.max(b);
        self.buffer_kb = max(self.buffer_kb, other.buffer_kb);
        self.min_buffers = max(self.min_buffers, other.min_buffers);
        self.max_buffers = max(self.max_buffers, other.max_buffers);
        if self.memory != other.memory {
            warnings.push(format!(
                "collector {}: one profile logs to memory and another to a file; it logs to a file",
                self.session
            ));
            self.memory = false;
        }
        self.kernel |= other.kernel;
        for p in other.providers {
            self.add_provider(p);
        }
    }
}

impl Plan {
    /// Merges `other` into this plan: collectors of the same session name become one.
    pub fn merge(&mut self, other: Plan) {
        self.warnings.extend(other.warnings);
        for c in other.collectors {
            match self
                .collectors
                .iter_mut()
                .find(|d| d.session.eq_ignore_ascii_case(&c.session))
            {
                Some(d) => d.merge(c, &mut self.warnings),
                None => self.collectors.push(c),
            }
        }
    }

    /// The plan of several `--profile` arguments, merged in order as WPR merges them.
    pub fn load_all(args: &[String]) -> Result<Plan, String> {
        let mut plan = Plan::default();
        for a in args {
            plan.merge(Plan::load(a)?);
        }
        Ok(plan)
    }

    /// Gives every session the command line's BufferSize (KB) and MaximumBuffers, where given.
    pub fn override_buffers(&mut self, buffer_kb: Option<u32>, max_buffers: Option<u32>) {
        for c in &mut self.collectors {
            if buffer_kb.is_some() {
                c.buffer_kb = buffer_kb;
            }
            if max_buffers.is_some() {
                c.max_buffers = max_buffers;
            }
        }
    }

    /// The plan a `--profile` argument names: a built-in profile, a `.toml` file, or a
    /// `.wprp` file (`FILE.wprp!PROFILE` picks one of its profiles, as `wpr -start` does).
    pub fn load(arg: &str) -> Result<Plan, String> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| n.eq_ignore_ascii_case(arg)) {
            return parse_toml(text, &format!("built-in profile {arg}"));
        }
        let (file, pick) = match arg.split_once('!') {
            Some((f, p)) => (f, Some(p)),
            None => (arg, None),
        };
        let path = Path::new(file);
        let is_wprp = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("wprp"));
        if !path.is_file() {
            let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "no profile {arg:?}: the built-in profiles are {}; or give a profile file (.toml, or WPR's .wprp, FILE.wprp!PROFILE for one of its profiles)",
                names.join(", ")
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read profile {}: {e}", path.display()))?;
        if is_wprp {
            super::wprp::parse(&text, &path.display().to_string(), pick)
        } else if pick.is_some() {
            Err(format!(
                "{arg:?}: only a .wprp file holds several profiles to pick with `!`"
            ))
        } else {
            parse_toml(&text, &path.display().to_string())
        }
    }
}

/// An evtrace TOML profile.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlProfile {
    #[allow(dead_code)] // shown to people reading the file, not used
    description: Option<String>,
    collector: Vec<TomlCollector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlCollector {
    name: String,
    buffer_kb: Option<u32>,
    min_buffers: Option<u32>,
    max_buffers: Option<u32>,
    mode: Option<TomlMode>,
    kernel_flags: Option<toml::Spanned<String>>,
    #[serde(default)]
    provider: Vec<TomlProvider>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum TomlMode {
    File,
    Memory,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlProvider {
    name: toml::Spanned<String>,
    level: Option<u8>,
    any: Option<Keyword>,
    all: Option<Keyword>,
    #[serde(default)]
    pids: Vec<u32>,
    #[serde(default)]
    exe: Vec<String>,
    event_ids: Option<Vec<u16>>,
    exclude_event_ids: Option<Vec<u16>>,
}

/// A keyword mask: a TOML integer, or a string (`"0xFFFFFFFFFFFFFFFF"` does not fit TOML's).
#[derive(Deserialize)]
#[serde(untagged)]
enum Keyword {
    Number(u64),
    Text(String),
}

/// Line (1-based) of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// Parses TOML profile `text` of `file` into a plan. Errors name the file, the line and the
/// key or value that is wrong.
pub fn parse_toml(text: &str, file: &str) -> Result<Plan, String> {
    let p: TomlProfile = toml::from_str(text).map_err(|e| {
        let Some(span) = e.span() else {
            return format!("{file}: {}", e.message().trim());
        };
        let line = line_of(text, span.start);
        // The line itself names the key or table, which toml's message may not.
        let source = text.lines().nth(line - 1).unwrap_or("").trim();
        format!("{file}:{line}: {} (at `{source}`)", e.message().trim())
    })?;
    let at = |span: std::ops::Range<usize>| format!("{file}:{}", line_of(text, span.start));
    let mut plan = Plan::default();
    for c in p.collector {
        let mut out = Collector::new(&c.name);
        out.buffer_kb = c.buffer_kb;
        out.min_buffers = c.min_buffers;
        out.max_buffers = c.max_buffers;
        out.memory = matches!(c.mode, Some(TomlMode::Memory));
        if let Some(k) = &c.kernel_flags {
            out.kernel = KernelFlags::parse(k.get_ref())
                .map_err(|e| format!("{}: kernel_flags: {}", at(k.span()), e.message()))?;
        }
        for pr in c.provider {
            let where_ = at(pr.name.span());
            let keyword = |k: &Option<Keyword>, what: &str| -> Result<u64, String> {
                match k {
                    None => Ok(0),
                    Some(Keyword::Number(n)) => Ok(*n),
                    Some(Keyword::Text(t)) => evtrace_runtime::number::parse(t).ok_or_else(|| {
                        format!("{where_}: provider {}: {what} {t:?} is not a number (decimal, or hex with 0x)", pr.name.get_ref())
                    }),
                }
            };
            let settings = EnableSettings::new(
                pr.level.unwrap_or(0),
                keyword(&pr.any, "any")?,
                keyword(&pr.all, "all")?,
            );
            let list = |v: &Option<Vec<u16>>| {
                v.as_ref()
                    .map(|ids| ids.iter().map(u16::to_string).collect::<Vec<_>>().join(","))
            };
            let filter = EnableFilter {
                pids: pr.pids,
                exe_names: pr.exe,
                tree_of: None,
                event_ids: EnableFilter::event_ids_from(
                    list(&pr.event_ids).as_deref(),
                    list(&pr.exclude_event_ids).as_deref(),
                )
                .map_err(|e| {
                    format!("{where_}: provider {}: {}", pr.name.get_ref(), e.message())
                })?,
            };
            filter.check().map_err(|e| {
                format!("{where_}: provider {}: {}", pr.name.get_ref(), e.message())
            })?;
            let p = provider(pr.name.get_ref(), settings, filter)
                .map_err(|e| format!("{where_}: provider: {e}"))?;
            out.add_provider(p);
        }
        if out.is_kernel_logger() && !out.providers.is_empty() {
            return Err(format!(
                "{file}: collector {:?} is the kernel logger, which takes kernel_flags and no providers; put providers in a collector of another name",
                c.name
            ));
        }
        plan.collectors.push(out);
    }
    Ok(plan)
}

/// A provider of a profile or the command line: a name, a GUID or `*`.
pub fn provider(
    name: &str,
    settings: EnableSettings,
    filter: EnableFilter,
) -> Result<ProviderPlan, String> {
    let guid = if name == ANY_PROVIDER {
        None
    } else {
        let (g, _) = EnableSettings::parse_spec(name).map_err(|e| e.message().to_string())?;
        if name.contains(':') {
            return Err(format!(
                "{name:?}: give the provider alone here; level and keywords are settings of their own"
            ));
        }
        Some(g)
    };
    Ok(ProviderPlan {
        name: name.to_string(),
        guid,
        settings,
        filter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_profile_parses() {
        for (name, _) in BUILT_IN {
            let p = Plan::load(name).unwrap();
            assert!(!p.collectors.is_empty() && p.warnings.is_empty(), "{name}");
            assert!(!p.collectors[0].kernel.is_empty(), "{name}");
        }
    }

    #[test]
    fn a_bad_toml_profile_names_its_file_line_and_key() {
        let text = "[[collector]]\nname = \"S\"\nbufer_kb = 4\n";
        let e = parse_toml(text, "p.toml").unwrap_err();
        assert!(e.starts_with("p.toml:3:") && e.contains("bufer_kb"), "{e}");
        let text = "[[collector]]\nname = \"S\"\nkernel_flags = \"process,nope\"\n";
        let e = parse_toml(text, "p.toml").unwrap_err();
        assert!(
            e.starts_with("p.toml:3: kernel_flags") && e.contains("nope"),
            "{e}"
        );
        let text =
            "[[collector]]\nname = \"S\"\n[[collector.provider]]\nname = \"P\"\nany = \"0xZ\"\n";
        let e = parse_toml(text, "p.toml").unwrap_err();
        assert!(e.starts_with("p.toml:4: provider P: any"), "{e}");
        let e = Plan::load("no-such-profile").unwrap_err();
        assert!(e.contains("general, cpu, network, disk"), "{e}");
    }

    #[test]
    fn profiles_merge_by_collector_as_wpr_merges_them() {
        let mut a = Plan::load("network").unwrap();
        a.merge(Plan::load("disk").unwrap());
        assert_eq!(a.collectors.len(), 1);
        let k = a.collectors[0].kernel;
        assert!(
            k.contains(KernelFlags::NETWORK_TCPIP | KernelFlags::DISK_IO_INIT),
            "{k:?}"
        );
        let mut c = Collector::new("S");
        let f = EnableFilter::default();
        c.add_provider(provider("P", EnableSettings::new(3, 0x1, 0x3), f.clone()).unwrap());
        c.add_provider(provider("P", EnableSettings::new(5, 0x4, 0x1), f).unwrap());
        assert_eq!(c.providers.len(), 1);
        assert_eq!(c.providers[0].settings, EnableSettings::new(5, 0x5, 0x1));
    }
}
