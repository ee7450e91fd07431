//! `evtrace fmt FILE...`: the log files' events as text, JSON lines or a summary.
//!
//! Exit status: 0 when everything was read; 1 when a file could not be opened or part of a
//! file was damaged (what was readable is still printed); 2 for bad arguments.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use evtrace_runtime::consume::{
    filetime_text, CpuTime, Event, Item, LogReader, Loss, LossSource, Message, RealTimeReader,
};
use evtrace_runtime::etl::{LossKind, Value};
use evtrace_runtime::Guid;
use serde_json::{json, Map, Value as Json};

use crate::input::{self, InputArgs, DAMAGE};

/// Arguments of `evtrace fmt`.
#[derive(Args, Debug)]
pub struct FmtArgs {
    /// Log files to read (up to 64), merged by time.
    #[arg(required_unless_present = "rt", conflicts_with = "rt")]
    files: Vec<PathBuf>,
    /// Consume the live real-time session NAME instead of files (tracefmt -rt); runs until the
    /// session stops.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["summary", "start", "end"])]
    rt: Option<String>,
    /// One JSON object per line instead of text.
    #[arg(long, conflicts_with = "summary")]
    json: bool,
    /// Counts per provider and event, losses and skipped records instead of the events.
    #[arg(long)]
    summary: bool,
    #[command(flatten)]
    window: InputArgs,
}

/// Runs the command.
pub fn run(args: FmtArgs) -> ExitCode {
    if let Some(name) = &args.rt {
        return run_real_time(name, args.json);
    }
    let mut reader = match input::open(&args.files, &args.window) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("evtrace fmt: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = if args.summary {
        summary(&mut reader, &args.files, &mut out)
    } else {
        let multi = reader.file_count() > 1;
        let mut r = Ok(());
        for item in &mut reader {
            r = if args.json {
                json_line(&item, multi, &mut out)
            } else {
                text_line(&item, &mut out)
            };
            if r.is_err() {
                break;
            }
        }
        r
    };
    match result.and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evtrace fmt: writing the output: {e}");
            return ExitCode::FAILURE;
        }
        Ok(()) => {}
    }
    drop(out);
    report_problems(&reader)
}

/// `--rt NAME`: prints a live session's events as they come, until it stops.
fn run_real_time(name: &str, json: bool) -> ExitCode {
    let mut reader = match RealTimeReader::attach(name) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("evtrace fmt: {}: {}", e.code().name(), e.message());
            return ExitCode::FAILURE;
        }
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    for item in &mut reader {
        let r = if json {
            json_line(&item, false, &mut out)
        } else {
            text_line(&item, &mut out)
        };
        // Line by line: someone is watching.
        if r.and_then(|()| out.flush()).is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let diag = reader.diagnostics();
    let mut failed = false;
    for (_, kind, n) in diag.counts() {
        if DAMAGE.contains(&kind) {
            eprintln!("evtrace fmt: session {name}: {n} x {kind}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints unopenable files and damage to stderr; the exit status says whether there was any.
fn report_problems(reader: &LogReader) -> ExitCode {
    if input::report_problems("evtrace fmt", reader) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn provider_label(e: &Event) -> String {
    e.provider_name
        .clone()
        .unwrap_or_else(|| format!("{{{}}}", e.provider_id))
}

pub(crate) fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + b.len() * 2);
    s.push_str("0x");
    for x in b {
        s.push_str(&format!("{x:02X}"));
    }
    s
}

/// A value in text output: strings quoted (they may hold spaces), the rest as displayed.
fn text_value(v: &Value) -> String {
    match v {
        Value::Str(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(text_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Struct(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(n, v)| format!("{n}={}", text_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        v => v.to_string(),
    }
}

pub(crate) fn loss_text(l: &Loss) -> String {
    let what = match l.kind {
        LossKind::Events => "events",
        LossKind::Buffers => "buffers",
        LossKind::File => "log file writes",
    };
    match (l.count, l.source) {
        (Some(n), _) => format!("{n} {what} lost"),
        (None, LossSource::BufferFlag) => format!("{what} lost (buffer flag)"),
        (None, LossSource::Record) => format!("{what} lost"),
    }
}

fn text_line(item: &Item, out: &mut impl Write) -> io::Result<()> {
    let time = item.time_text();
    match item {
        Item::Event(e) => {
            write!(
                out,
                "[{}]{:04X}.{:04X}::{time} [{}]",
                e.cpu,
                e.process_id,
                e.thread_id,
                provider_label(e)
            )?;
            match (&e.name, &e.fields) {
                (Some(name), Some(fields)) => {
                    write!(out, " {name}")?;
                    for (n, v) in fields {
                        write!(out, " {n}={}", text_value(v))?;
                    }
                    if let Some(err) = &e.decode_error {
                        write!(out, " (undecoded: {err})")?;
                    }
                }
                _ => {
                    let d = &e.descriptor;
                    write!(
                        out,
                        " id={} version={} level={} opcode={} task={} keyword={:#x} channel={} payload={}",
                        d.id, d.version, d.level, d.opcode, d.task, d.keyword, d.channel, hex(&e.payload)
                    )?;
                }
            }
            writeln!(out)
        }
        Item::Message(m) => {
            let who = match (m.process_id, m.thread_id) {
                (Some(p), Some(t)) => format!("{p:04X}.{t:04X}"),
                _ => String::new(),
            };
            write!(
                out,
                "[{}]{who}::{time} [{}] message {}",
                m.cpu,
                message_source(m),
                m.message_number
            )?;
            if let Some(s) = m.sequence {
                write!(out, " sequence={s}")?;
            }
            match &m.text {
                Some(t) => writeln!(out, " {t}"),
                None => writeln!(out, " args={}", hex(&m.args)),
            }
        }
        Item::Classic(c) => {
            let who = match (c.process_id, c.thread_id) {
                (Some(p), Some(t)) => format!("{p:04X}.{t:04X}"),
                _ => String::new(),
            };
            write!(
                out,
                "[{}]{who}::{time} [{}] type={} version={}",
                c.cpu,
                c.source(),
                c.event_type,
                c.version
            )?;
            if c.guid.is_some() {
                write!(out, " level={}", c.level)?;
            }
            if let Some(name) = &c.name {
                write!(out, " {name}")?;
            }
            match &c.fields {
                Some(fields) => {
                    for (n, v) in fields {
                        write!(out, " {n}={}", text_value(v))?;
                    }
                    match &c.decode_error {
                        Some(err) => {
                            writeln!(out, " (undecoded: {err}) payload={}", hex(&c.payload))
                        }
                        None => writeln!(out),
                    }
                }
                None => writeln!(out, " payload={}", hex(&c.payload)),
            }
        }
        Item::Loss(l) => writeln!(out, "[{}]::{time} [lost] {}", l.cpu, loss_text(l)),
    }
}

pub(crate) fn message_source(m: &Message) -> String {
    match (m.guid, m.component_id) {
        (Some(g), _) => format!("{{{g}}}"),
        (None, Some(c)) => format!("component {c}"),
        _ => "message".into(),
    }
}

pub(crate) fn json_value(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::I64(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::Hex { value, .. } => json!(value),
        Value::F64(x) => serde_json::Number::from_f64(*x).map_or(Json::Null, Json::Number),
        Value::Bool(b) => json!(b),
        Value::Array(items) => Json::Array(items.iter().map(json_value).collect()),
        Value::Struct(fields) => Json::Object(
            fields
                .iter()
                .map(|(n, v)| (n.clone(), json_value(v)))
                .collect(),
        ),
        Value::FileTime(ft) => json!(filetime_text(*ft)),
        other => json!(other.to_string()),
    }
}

fn json_line(item: &Item, multi: bool, out: &mut impl Write) -> io::Result<()> {
    let mut o = Map::new();
    let guid = |g: Guid| format!("{{{g}}}");
    match item {
        Item::Event(e) => {
            o.insert("type".into(), json!("event"));
            o.insert("provider".into(), json!(provider_label(e)));
            o.insert("provider_id".into(), json!(guid(e.provider_id)));
            o.insert("event".into(), json!(e.name));
        }
        Item::Message(m) => {
            o.insert("type".into(), json!("message"));
            o.insert("provider".into(), json!(message_source(m)));
            o.insert("message_number".into(), json!(m.message_number));
        }
        Item::Classic(c) => {
            o.insert("type".into(), json!("classic"));
            o.insert("provider".into(), json!(c.source()));
            o.insert("event".into(), json!(c.name));
            o.insert("event_type".into(), json!(c.event_type));
        }
        Item::Loss(l) => {
            o.insert("type".into(), json!("loss"));
            o.insert("kind".into(), json!(format!("{:?}", l.kind).to_lowercase()));
            o.insert("count".into(), json!(l.count));
        }
    }
    o.insert("timestamp".into(), json!(item.time_text()));
    o.insert("raw_timestamp".into(), json!(item.timestamp()));
    match item {
        Item::Event(e) => {
            o.insert("pid".into(), json!(e.process_id));
            o.insert("tid".into(), json!(e.thread_id));
        }
        Item::Message(m) => {
            o.insert("pid".into(), json!(m.process_id));
            o.insert("tid".into(), json!(m.thread_id));
        }
        Item::Classic(c) => {
            o.insert("pid".into(), json!(c.process_id));
            o.insert("tid".into(), json!(c.thread_id));
        }
        Item::Loss(_) => {}
    }
    o.insert("cpu".into(), json!(item.cpu()));
    if multi {
        o.insert("file".into(), json!(item.file()));
    }
    match item {
        Item::Event(e) => {
            let d = &e.descriptor;
            match &e.fields {
                Some(f) => {
                    let fields: Map<String, Json> =
                        f.iter().map(|(n, v)| (n.clone(), json_value(v))).collect();
                    o.insert("fields".into(), Json::Object(fields));
                }
                None => {
                    o.insert("fields".into(), json!({}));
                    o.insert("payload".into(), json!(hex(&e.payload)));
                }
            }
            if let Some(err) = &e.decode_error {
                o.insert("decode_error".into(), json!(err));
            }
            o.insert("id".into(), json!(d.id));
            o.insert("version".into(), json!(d.version));
            o.insert("level".into(), json!(d.level));
            o.insert("opcode".into(), json!(d.opcode));
            o.insert("task".into(), json!(d.task));
            o.insert("keyword".into(), json!(d.keyword));
            o.insert("channel".into(), json!(d.channel));
            if e.activity_id != Guid::ZERO {
                o.insert("activity_id".into(), json!(guid(e.activity_id)));
            }
            if let Some(r) = e.related_activity_id {
                o.insert("related_activity_id".into(), json!(guid(r)));
            }
            o.insert("flags".into(), json!(e.flags));
            match e.cpu_time {
                CpuTime::KernelUser { kernel, user } => {
                    o.insert("kernel_time".into(), json!(kernel));
                    o.insert("user_time".into(), json!(user));
                }
                CpuTime::Processor(t) => {
                    o.insert("processor_time".into(), json!(t));
                }
            }
        }
        Item::Message(m) => {
            if let Some(s) = m.sequence {
                o.insert("sequence".into(), json!(s));
            }
            if let Some(g) = m.guid {
                o.insert("guid".into(), json!(guid(g)));
            }
            if let Some(c) = m.component_id {
                o.insert("component_id".into(), json!(c));
            }
            o.insert("args".into(), json!(hex(&m.args)));
            if let Some(t) = &m.text {
                o.insert("text".into(), json!(t));
            }
        }
        Item::Classic(c) => {
            o.insert("header".into(), json!(c.kind.name()));
            if let Some(h) = c.hook_id {
                o.insert("hook_id".into(), json!(h));
            }
            if let Some(g) = c.guid {
                o.insert("guid".into(), json!(guid(g)));
                o.insert("level".into(), json!(c.level));
            }
            o.insert("version".into(), json!(c.version));
            if let Some((id, parent, parent_guid)) = c.instance {
                o.insert("instance_id".into(), json!(id));
                o.insert("parent_instance_id".into(), json!(parent));
                o.insert("parent_guid".into(), json!(guid(parent_guid)));
            }
            if let Some(f) = &c.fields {
                let fields: Map<String, Json> =
                    f.iter().map(|(n, v)| (n.clone(), json_value(v))).collect();
                o.insert("fields".into(), Json::Object(fields));
            }
            if let Some(err) = &c.decode_error {
                o.insert("decode_error".into(), json!(err));
            }
            o.insert("payload".into(), json!(hex(&c.payload)));
        }
        Item::Loss(_) => {}
    }
    serde_json::to_writer(&mut *out, &Json::Object(o))?;
    writeln!(out)
}

/// Prints `fmt --summary` of `files` to stdout (what `record` ends with); false if a file
/// could not be read whole.
pub(crate) fn summary_of(files: &[PathBuf]) -> bool {
    let window = input::InputArgs {
        start: None,
        end: None,
    };
    let mut reader = match input::open(files, &window) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("evtrace record: {e}");
            return false;
        }
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let written = summary(&mut reader, files, &mut out).and_then(|()| out.flush());
    drop(out);
    written.is_ok() && !input::report_problems("evtrace record", &reader)
}

fn summary(reader: &mut LogReader, files: &[PathBuf], out: &mut impl Write) -> io::Result<()> {
    let mut events: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut messages: BTreeMap<String, u64> = BTreeMap::new();
    let (mut n_events, mut n_messages, mut first, mut last) =
        (0u64, 0u64, None::<String>, None::<String>);
    for item in &mut *reader {
        if first.is_none() {
            first = Some(item.time_text());
        }
        last = Some(item.time_text());
        match &item {
            Item::Event(e) => {
                n_events += 1;
                let name = e
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("id {}", e.descriptor.id));
                *events.entry((provider_label(e), name)).or_default() += 1;
            }
            Item::Message(m) => {
                n_messages += 1;
                *messages.entry(message_source(m)).or_default() += 1;
            }
            Item::Classic(c) => {
                n_events += 1;
                let name = c
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("type {}", c.event_type));
                *events.entry((c.source(), name)).or_default() += 1;
            }
            Item::Loss(_) => {}
        }
    }
    for i in 0..reader.file_count() {
        let (Some(p), Some(h)) = (reader.path(i), reader.header(i)) else {
            continue;
        };
        writeln!(out, "File {}", p.display())?;
        writeln!(
            out,
            "  logger {:?}, clock type {}, buffer size {} bytes, {} buffers written, {} processors",
            h.logger_name, h.clock_type, h.buffer_size, h.buffers_written, h.number_of_processors
        )?;
        writeln!(
            out,
            "  started {}, ended {}",
            filetime_text(h.start_time),
            filetime_text(h.end_time)
        )?;
        writeln!(
            out,
            "  lost per header: {} events, {} buffers",
            h.events_lost, h.buffers_lost
        )?;
    }
    if files.len() > reader.file_count() {
        writeln!(
            out,
            "{} file(s) could not be read",
            files.len() - reader.file_count()
        )?;
    }
    writeln!(out, "Events: {n_events}, messages: {n_messages}")?;
    if let (Some(f), Some(l)) = (first, last) {
        writeln!(out, "  from {f} to {l}")?;
    }
    let width = events
        .keys()
        .map(|(p, _)| p.len())
        .chain(messages.keys().map(String::len))
        .max()
        .unwrap_or(8)
        .max(8);
    writeln!(
        out,
        "  {:<width$}  {:<24}  {:>8}",
        "provider", "event", "count"
    )?;
    for ((p, e), n) in &events {
        writeln!(out, "  {p:<width$}  {e:<24}  {n:>8}")?;
    }
    for (src, n) in &messages {
        writeln!(out, "  {src:<width$}  {:<24}  {n:>8}", "(messages)")?;
    }
    let s = reader.loss_stats();
    writeln!(
        out,
        "Lost in band: {} events, {} buffers, {} file writes, {} reports without a count",
        s.events_lost, s.buffers_lost, s.files_lost, s.uncounted_reports
    )?;
    writeln!(
        out,
        "Lost per headers: {} events, {} buffers",
        s.header_events_lost, s.header_buffers_lost
    )?;
    let diag = reader.diagnostics();
    if diag.is_empty() {
        writeln!(out, "Skipped: none")?;
    } else {
        writeln!(out, "Skipped:")?;
        for (file, kind, n) in diag.counts() {
            let p = reader
                .path(file)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            writeln!(out, "  {p}: {n} x {kind}")?;
        }
    }
    Ok(())
}
