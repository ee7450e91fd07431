//! The timeline in the Trace Event Format (Chrome JSON): `B`/`E` slices on threads, `b`/`e`
//! async slices, `i` instants, `M` process names; written event by event.
//!
//! Times are microseconds since the first item, so that they keep nanoseconds within a
//! double; the first item's Unix time is in `otherData`.

use std::io::{self, Write};

use evtrace_runtime::etl::Value;
use serde_json::{json, Map, Value as Json};

use super::{Sink, Slice, Track};
use crate::fmt::json_value;

/// The pid the losses and unattributed items are shown under.
const NO_PROCESS: u32 = u32::MAX;

/// Writes a Trace Event Format file to `W`.
pub struct Writer<W> {
    out: W,
    origin: Option<i64>,
    events: u64,
}

impl<W: Write> Writer<W> {
    /// A writer to `out`.
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            origin: None,
            events: 0,
        }
    }

    /// The output.
    pub fn out(&mut self) -> &mut W {
        &mut self.out
    }

    fn emit(&mut self, e: &Json) -> io::Result<()> {
        self.out.write_all(if self.events == 0 {
            b"{\"traceEvents\":[\n"
        } else {
            b",\n"
        })?;
        self.events += 1;
        serde_json::to_writer(&mut self.out, e).map_err(io::Error::other)
    }

    /// `time` as microseconds since the first item.
    fn ts(&mut self, time: i64) -> Json {
        let origin = *self.origin.get_or_insert(time);
        json!((time - origin) as f64 / 1000.0)
    }

    fn base(&mut self, ph: &str, s: &Slice<'_>, time: i64) -> Map<String, Json> {
        let (pid, tid) = match s.track {
            Track::Thread { pid, tid } | Track::Async { pid, tid, .. } => (pid, tid),
            Track::Losses => (NO_PROCESS, 0),
            Track::Unattributed => (NO_PROCESS, 1),
        };
        let mut o = Map::new();
        o.insert("ph".into(), json!(ph));
        o.insert("name".into(), json!(s.name));
        o.insert("cat".into(), json!(s.category));
        o.insert("ts".into(), self.ts(time));
        o.insert("pid".into(), json!(pid));
        o.insert("tid".into(), json!(tid));
        if let Track::Async { id, .. } = s.track {
            o.insert("id".into(), json!(format!("{id:#x}")));
        }
        o
    }
}

fn args(fields: &[(String, Value)]) -> Json {
    Json::Object(
        fields
            .iter()
            .map(|(n, v)| (n.clone(), json_value(v)))
            .collect(),
    )
}

impl<W: Write> Sink for Writer<W> {
    fn process(&mut self, pid: u32, name: Option<&str>) -> io::Result<()> {
        match name {
            Some(n) => self.emit(&json!({
                "ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": n}
            })),
            None => Ok(()),
        }
    }

    fn thread(&mut self, _pid: u32, _tid: u32) -> io::Result<()> {
        // Viewers show a thread by its pid and tid; the trace knows no thread names.
        Ok(())
    }

    fn slice(&mut self, s: &Slice<'_>, end: i64) -> io::Result<()> {
        let (b, e) = match s.track {
            Track::Async { .. } => ("b", "e"),
            _ => ("B", "E"),
        };
        let mut begin = self.base(b, s, s.time);
        begin.insert("args".into(), args(s.args));
        self.emit(&Json::Object(begin))?;
        let stop = self.base(e, s, end);
        self.emit(&Json::Object(stop))
    }

    fn instant(&mut self, s: &Slice<'_>) -> io::Result<()> {
        let mut o = self.base("i", s, s.time);
        let scope = if matches!(s.track, Track::Thread { .. }) {
            "t"
        } else {
            "g"
        };
        o.insert("s".into(), json!(scope));
        o.insert("args".into(), args(s.args));
        self.emit(&Json::Object(o))
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.events == 0 {
            self.out.write_all(b"{\"traceEvents\":[\n")?;
        }
        self.emit_names()?;
        let origin = self.origin.unwrap_or(0);
        write!(
            self.out,
            "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{{\"origin_unix_ns\":\"{origin}\"}}}}\n"
        )
    }
}

impl<W: Write> Writer<W> {
    /// Names for the pseudo-process of losses and unattributed items.
    fn emit_names(&mut self) -> io::Result<()> {
        if self.events == 0 {
            return Ok(());
        }
        self.emit(&json!({
            "ph": "M", "name": "process_name", "pid": NO_PROCESS, "tid": 0,
            "args": {"name": "losses and unattributed items"}
        }))
    }
}
