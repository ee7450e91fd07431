//! WPR's recording profiles (`.wprp`, "Authoring Recording Profiles"), read directly: system
//! and event collectors with their buffers, system providers' keywords as kernel flags, event
//! providers' name, level and keywords, and profiles with `LoggingMode` and `Base`
//! inheritance. What evtrace cannot honour is named in a warning with its line.

use evtrace_runtime::kernel::KernelFlags;
use evtrace_runtime::provider::{EnableFilter, EnableSettings};
use roxmltree::{Document, Node};

use super::profile::{provider, Collector, Plan};

/// WPR's system-provider keywords and the kernel flags that serve them here.
const SYSTEM_KEYWORDS: &[(&str, KernelFlags)] = &[
    (
        "ProcessThread",
        KernelFlags::PROCESS.union(KernelFlags::THREAD),
    ),
    ("Loader", KernelFlags::IMAGE_LOAD),
    ("CSwitch", KernelFlags::CSWITCH),
    ("SampledProfile", KernelFlags::PROFILE),
    ("DiskIO", KernelFlags::DISK_IO),
    ("DiskIOInit", KernelFlags::DISK_IO_INIT),
    ("HardFaults", KernelFlags::MEMORY_HARD_FAULTS),
    ("AllFaults", KernelFlags::MEMORY_PAGE_FAULTS),
    ("Network", KernelFlags::NETWORK_TCPIP),
    ("SystemCall", KernelFlags::SYSTEMCALL),
];

/// Elements that only describe (for people and WPR's UI): nothing to honour or to warn of.
const DESCRIPTIVE: &[&str] = &["ProblemCategories", "ProblemCategory"];

/// One `.wprp` file being read.
struct Reader<'a, 'input> {
    doc: &'a Document<'input>,
    file: &'a str,
    warnings: Vec<String>,
}

impl<'a, 'input> Reader<'a, 'input> {
    fn at(&self, n: Node) -> String {
        format!(
            "{}:{}",
            self.file,
            self.doc.text_pos_at(n.range().start).row
        )
    }

    fn err(&self, n: Node, msg: impl std::fmt::Display) -> String {
        format!("{}: <{}>: {msg}", self.at(n), n.tag_name().name())
    }

    fn warn(&mut self, n: Node, msg: impl std::fmt::Display) {
        let w = format!("{}: <{}>: {msg}", self.at(n), n.tag_name().name());
        self.warnings.push(w);
    }

    /// Warns of an element not read by the caller (unless it only describes).
    fn unsupported(&mut self, n: Node, within: &str) {
        if !DESCRIPTIVE.contains(&n.tag_name().name()) {
            self.warn(n, format!("not supported in {within}; left out"));
        }
    }

    fn attr<'n>(&self, n: Node<'n, 'input>, name: &str) -> Result<&'n str, String> {
        n.attribute(name)
            .ok_or_else(|| self.err(n, format!("the {name} attribute is missing")))
    }

    fn number(&self, n: Node, value: &str) -> Result<u64, String> {
        evtrace_runtime::number::parse(value.trim()).ok_or_else(|| {
            self.err(
                n,
                format!("{value:?} is not a number (decimal, or hex with 0x)"),
            )
        })
    }
}

/// Elements of `n`.
fn elements<'a, 'i>(n: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

/// A collector definition's buffers, its name and whether it is the system collector.
fn collector(r: &mut Reader, n: Node) -> Result<Collector, String> {
    let mut c = Collector::new(r.attr(n, "Name")?);
    for a in n.attributes() {
        if !matches!(a.name(), "Id" | "Name" | "Base") {
            r.warn(
                n,
                format!(
                    "attribute {}: not supported (evtrace names the files from -o); left out",
                    a.name()
                ),
            );
        }
    }
    for e in elements(n) {
        let value = |r: &Reader| -> Result<u32, String> {
            let v = r.number(e, r.attr(e, "Value")?)?;
            u32::try_from(v).map_err(|_| r.err(e, format!("{v} is out of range")))
        };
        match e.tag_name().name() {
            "BufferSize" => c.buffer_kb = Some(value(r)?),
            "Buffers" if e.attribute("PercentageOfTotalMemory") == Some("true") => {
                r.warn(
                    e,
                    "PercentageOfTotalMemory is not supported; the default MaximumBuffers is kept",
                );
            }
            "Buffers" => c.max_buffers = Some(value(r)?),
            _ => r.unsupported(e, "a collector"),
        }
    }
    Ok(c)
}

/// A provider definition (`SystemProvider` or `EventProvider`), resolved later by Id.
struct ProviderDef<'a, 'i> {
    node: Node<'a, 'i>,
}

/// The kernel flags of a `SystemProvider` (its `Keywords`).
fn system_flags(r: &mut Reader, n: Node) -> Result<KernelFlags, String> {
    let mut flags = KernelFlags::empty();
    for e in elements(n) {
        match e.tag_name().name() {
            "Keywords" => {
                for k in elements(e) {
                    let name = r.attr(k, "Value")?;
                    match SYSTEM_KEYWORDS
                        .iter()
                        .find(|(w, _)| w.eq_ignore_ascii_case(name))
                    {
                        Some((_, f)) => flags |= *f,
                        None => r.warn(
                            k,
                            format!(
                                "system keyword {name}: no kernel source for it here; left out"
                            ),
                        ),
                    }
                }
            }
            "Stacks" | "PoolTags" if elements(e).next().is_none() => {}
            _ => r.unsupported(e, "a system provider"),
        }
    }
    Ok(flags)
}

/// An `EventProvider`: its name (or GUID), level and keywords.
fn event_provider(r: &mut Reader, n: Node) -> Result<super::profile::ProviderPlan, String> {
    let name = r.attr(n, "Name")?;
    let level = match n.attribute("Level") {
        Some(l) => {
            let v = r.number(n, l)?;
            u8::try_from(v).map_err(|_| r.err(n, format!("Level {v}: levels are 0 to 255")))?
        }
        None => 0,
    };
    for a in n.attributes() {
        match (a.name(), a.value()) {
            ("Id" | "Name" | "Level" | "NonPagedMemory" | "Base", _) => {}
            ("Stack", "false") => {}
            (other, v) => r.warn(
                n,
                format!("attribute {other}={v:?}: not supported; left out"),
            ),
        }
    }
    let mut any = 0u64;
    for e in elements(n) {
        match e.tag_name().name() {
            "Keywords" => {
                for k in elements(e) {
                    any |= r.number(k, r.attr(k, "Value")?)?;
                }
            }
            _ => r.unsupported(e, "an event provider"),
        }
    }
    provider(
        name,
        EnableSettings::new(level, any, 0),
        EnableFilter::default(),
    )
    .map_err(|e| r.err(n, e))
}

/// Parses `.wprp` `text` (of `file`) and returns the plan of profile `pick` (an Id or a Name;
/// without one, the file's only profile or its `Default="true"` one).
pub fn parse(text: &str, file: &str, pick: Option<&str>) -> Result<Plan, String> {
    let doc = Document::parse(text).map_err(|e| format!("{file}: not XML: {e}"))?;
    let mut r = Reader {
        doc: &doc,
        file,
        warnings: Vec::new(),
    };
    let root = doc.root_element();
    if root.tag_name().name() != "WindowsPerformanceRecorder" {
        return Err(r.err(
            root,
            "a recording profile's root element is <WindowsPerformanceRecorder>",
        ));
    }
    let mut collectors: Vec<(String, Collector, bool)> = Vec::new();
    let mut providers: Vec<(String, ProviderDef)> = Vec::new();
    let mut profiles: Vec<Node> = Vec::new();
    let mut saw_profiles = false;
    for top in elements(root) {
        if top.tag_name().name() != "Profiles" {
            r.unsupported(top, "<WindowsPerformanceRecorder>");
            continue;
        }
        saw_profiles = true;
        for e in elements(top) {
            match e.tag_name().name() {
                t @ ("SystemCollector" | "EventCollector") => {
                    let id = r.attr(e, "Id")?.to_string();
                    let c = collector(&mut r, e)?;
                    collectors.push((id, c, t == "SystemCollector"));
                }
                "SystemProvider" | "EventProvider" => {
                    providers.push((r.attr(e, "Id")?.to_string(), ProviderDef { node: e }));
                }
                "Profile" => profiles.push(e),
                _ => r.unsupported(e, "<Profiles>"),
            }
        }
    }
    if !saw_profiles {
        return Err(r.err(
            root,
            "no <Profiles> element: it holds the collectors, providers and profiles",
        ));
    }
    let chosen = choose(&r, &profiles, pick)?;
    let mut plan = Plan::default();
    let mut seen = Vec::new();
    profile_plan(
        &mut r,
        chosen,
        &profiles,
        &collectors,
        &providers,
        &mut plan,
        &mut seen,
    )?;
    plan.warnings.splice(0..0, r.warnings);
    Ok(plan)
}

/// The profile to record: by Id or Name, else the only one, else the default one.
fn choose<'a, 'i>(
    r: &Reader,
    profiles: &[Node<'a, 'i>],
    pick: Option<&str>,
) -> Result<Node<'a, 'i>, String> {
    let ids = || {
        profiles
            .iter()
            .filter_map(|p| p.attribute("Id"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let found = match pick {
        Some(want) => profiles
            .iter()
            .find(|p| p.attribute("Id") == Some(want))
            .or_else(|| profiles.iter().find(|p| p.attribute("Name") == Some(want))),
        None if profiles.len() == 1 => profiles.first(),
        None => profiles
            .iter()
            .find(|p| p.attribute("Default") == Some("true")),
    };
    found.copied().ok_or_else(|| match pick {
        Some(want) => format!("{}: no profile {want:?}; its profiles are {}", r.file, ids()),
        None => format!(
            "{}: holds several profiles and none is Default=\"true\": pick one with {}!PROFILE, from {}",
            r.file,
            r.file,
            ids()
        ),
    })
}

/// Adds profile `p` (its `Base` first) to `plan`.
fn profile_plan<'a, 'i>(
    r: &mut Reader<'_, 'i>,
    p: Node<'a, 'i>,
    profiles: &[Node<'a, 'i>],
    collectors: &[(String, Collector, bool)],
    providers: &[(String, ProviderDef<'a, 'i>)],
    plan: &mut Plan,
    seen: &mut Vec<String>,
) -> Result<(), String> {
    let id = r.attr(p, "Id")?.to_string();
    if seen.contains(&id) {
        return Err(r.err(
            p,
            format!("Base makes a loop: {} -> {id}", seen.join(" -> ")),
        ));
    }
    seen.push(id);
    if let Some(base) = p.attribute("Base").filter(|b| !b.is_empty()) {
        let b = profiles
            .iter()
            .find(|q| q.attribute("Id") == Some(base))
            .ok_or_else(|| r.err(p, format!("Base {base:?} names no profile of this file")))?;
        profile_plan(r, *b, profiles, collectors, providers, plan, seen)?;
    }
    let memory = match p.attribute("LoggingMode") {
        None | Some("File") => false,
        Some("Memory") => true,
        Some(m) => return Err(r.err(p, format!("LoggingMode {m:?}: say File or Memory"))),
    };
    let mut own = Plan::default();
    for e in elements(p) {
        if e.tag_name().name() != "Collectors" {
            r.unsupported(e, "a profile");
            continue;
        }
        if let Some(op) = e.attribute("Operation").filter(|o| *o != "Add") {
            r.warn(
                e,
                format!("Operation={op:?} is not supported: collectors are added to the base's"),
            );
        }
        for cid in elements(e) {
            let tag = cid.tag_name().name();
            if !matches!(tag, "SystemCollectorId" | "EventCollectorId") {
                r.unsupported(cid, "<Collectors>");
                continue;
            }
            let value = r.attr(cid, "Value")?;
            let (_, def, system) = collectors
                .iter()
                .find(|(i, _, _)| i == value)
                .ok_or_else(|| r.err(cid, format!("{value:?} names no collector of this file")))?;
            if (tag == "SystemCollectorId") != *system {
                return Err(r.err(
                    cid,
                    format!("{value:?} is not a {}", tag.trim_end_matches("Id")),
                ));
            }
            let mut c = def.clone();
            c.memory = memory;
            collector_providers(r, cid, &mut c, providers)?;
            own.collectors.push(c);
        }
    }
    // The profile's LoggingMode holds for what it inherits too.
    for c in &mut plan.collectors {
        c.memory = memory;
    }
    plan.merge(own);
    Ok(())
}

/// The providers a `SystemCollectorId` or `EventCollectorId` names or defines, into `c`.
fn collector_providers<'a, 'i>(
    r: &mut Reader<'_, 'i>,
    cid: Node<'a, 'i>,
    c: &mut Collector,
    providers: &[(String, ProviderDef<'a, 'i>)],
) -> Result<(), String> {
    let defined = |r: &Reader, n: Node<'a, 'i>| -> Result<Node<'a, 'i>, String> {
        let v = r.attr(n, "Value")?;
        providers
            .iter()
            .find(|(i, _)| i == v)
            .map(|(_, d)| d.node)
            .ok_or_else(|| r.err(n, format!("{v:?} names no provider of this file")))
    };
    let mut each = Vec::new();
    for e in elements(cid) {
        match e.tag_name().name() {
            "SystemProviderId" => each.push(defined(r, e)?),
            "SystemProvider" => each.push(e),
            "EventProviders" => {
                for p in elements(e) {
                    match p.tag_name().name() {
                        "EventProviderId" => each.push(defined(r, p)?),
                        "EventProvider" => each.push(p),
                        _ => r.unsupported(p, "<EventProviders>"),
                    }
                }
            }
            _ => r.unsupported(e, "a collector of a profile"),
        }
    }
    for n in each {
        match n.tag_name().name() {
            "SystemProvider" => c.kernel |= system_flags(r, n)?,
            _ if c.is_kernel_logger() => {
                r.warn(n, "the NT Kernel Logger takes no event providers; left out")
            }
            _ => {
                let p = event_provider(r, n)?;
                c.add_provider(p);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../tests/data/example.wprp");

    #[test]
    fn the_documented_example_reads_with_base_inheritance_and_named_warnings() {
        let plan = parse(SAMPLE, "example.wprp", Some("Example.Verbose.File")).unwrap();
        let names: Vec<&str> = plan.collectors.iter().map(|c| c.session.as_str()).collect();
        assert_eq!(names, ["NT Kernel Logger", "Evtrace-Wprp-Events"]);
        let k = &plan.collectors[0];
        assert_eq!((k.buffer_kb, k.max_buffers), (Some(1024), Some(32)));
        assert_eq!(
            k.kernel,
            KernelFlags::PROCESS
                | KernelFlags::THREAD
                | KernelFlags::IMAGE_LOAD
                | KernelFlags::CSWITCH
        );
        let e = &plan.collectors[1];
        assert_eq!(
            e.providers.len(),
            2,
            "the base's provider and the profile's own"
        );
        assert_eq!(e.providers[1].settings.match_any, 0x3);
        let w = plan.warnings.join("\n");
        assert!(w.contains("system keyword CPUConfig"), "{w}");
        assert!(w.contains("<Stacks>"), "{w}");
        assert!(w.contains("<TraceMergeProperties>"), "{w}");
        assert!(w.contains("<CaptureStateOnSave>"), "{w}");
        assert!(!w.contains("ProblemCategor"), "{w}");
        let memory = parse(SAMPLE, "example.wprp", Some("Example.Light.Memory")).unwrap();
        assert!(memory.collectors.iter().all(|c| c.memory));
    }

    #[test]
    fn bad_wprp_files_name_the_line_and_element() {
        let e = parse(
            "<WindowsPerformanceRecorder><Profiles>\n<EventCollector Id=\"x\"/>",
            "b.wprp",
            None,
        )
        .unwrap_err();
        assert!(e.starts_with("b.wprp: not XML"), "{e}");
        let e = parse("<WindowsPerformanceRecorder><Profiles>\n<EventCollector Id=\"x\"/></Profiles></WindowsPerformanceRecorder>", "b.wprp", None).unwrap_err();
        assert!(
            e.starts_with("b.wprp:2: <EventCollector>: the Name attribute is missing"),
            "{e}"
        );
        let e = parse(SAMPLE, "example.wprp", None).unwrap_err();
        assert!(e.contains("Example.Verbose.File"), "{e}");
        let e = parse(SAMPLE, "example.wprp", Some("Nope")).unwrap_err();
        assert!(e.contains("no profile \"Nope\""), "{e}");
    }
}
