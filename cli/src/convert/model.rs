//! Items to a timeline: threads and processes (named by the kernel logger's Process events),
//! activities paired into slices, everything else as instants, losses on their own track.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::io;

use evtrace_runtime::consume::{Event, Item, LogReader};
use evtrace_runtime::etl::Value;
use evtrace_runtime::Guid;

use super::progress::Progress;
use super::{Sink, Slice, Track};
use crate::fmt::{hex, loss_text, message_source, provider_label};

/// The kernel logger's Process class: its Start, DCStart and Exec events name processes (as
/// classic records; files from evtrace versions that wrote kernel events as TraceLogging events
/// under the class GUID carry them that way).
const PROCESS_CLASS: Guid = Guid::from_fields(
    0x3d6fa8d0,
    0xfe05,
    0x11d0,
    [0x9d, 0xda, 0x00, 0xc0, 0x4f, 0xd7, 0xba, 0x7c],
);
/// `EVENT_TRACE_GROUP_PROCESS`, and its event types that name a process: Start, DCStart and
/// evtrace's Exec.
const PROCESS_GROUP: u8 = 0x03;
const NAMING_TYPES: [u8; 3] = [1, 3, 64];
/// ETW's start and stop opcodes.
const OPCODE_START: u8 = 1;
const OPCODE_STOP: u8 = 2;

/// An activity started and not yet stopped.
struct Open {
    pid: u32,
    tid: u32,
    time: i64,
    name: String,
    category: String,
    args: Vec<(String, Value)>,
}

struct Model<S> {
    sink: S,
    processes: HashMap<u32, Option<String>>,
    threads: HashSet<(u32, u32)>,
    open: HashMap<Guid, Open>,
    /// Per thread, the activities started on it and still open, oldest first.
    started_on: HashMap<(u32, u32), Vec<Guid>>,
    last_time: i64,
}

/// Converts every item of `reader` into `sink`; returns the sink to flush.
pub fn convert<S: Sink>(reader: &mut LogReader, sink: S, mut progress: Progress) -> io::Result<S> {
    let mut m = Model {
        sink,
        processes: HashMap::new(),
        threads: HashSet::new(),
        open: HashMap::new(),
        started_on: HashMap::new(),
        last_time: 0,
    };
    for item in &mut *reader {
        let time = item.time().unwrap_or(item.timestamp());
        m.last_time = m.last_time.max(time);
        m.item(&item, time)?;
        progress.tick(time);
    }
    progress.done();
    m.finish(reader)?;
    Ok(m.sink)
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn event_name(e: &Event) -> String {
    e.name
        .clone()
        .unwrap_or_else(|| format!("id {}", e.descriptor.id))
}

/// A GUID folded to the 64 bits of a track id.
fn fold(g: Guid) -> u64 {
    let b = g.to_bytes();
    let (lo, hi) = b.split_at(8);
    u64::from_le_bytes(lo.try_into().unwrap()) ^ u64::from_le_bytes(hi.try_into().unwrap())
}

impl<S: Sink> Model<S> {
    fn thread(&mut self, pid: u32, tid: u32) -> io::Result<()> {
        self.process(pid)?;
        if self.threads.insert((pid, tid)) {
            self.sink.thread(pid, tid)?;
        }
        Ok(())
    }

    /// The thread's track when the item names its thread, else the unattributed one.
    fn track_of(&mut self, pid: Option<u32>, tid: Option<u32>) -> io::Result<Track> {
        Ok(match (pid, tid) {
            (Some(pid), Some(tid)) => {
                self.thread(pid, tid)?;
                Track::Thread { pid, tid }
            }
            _ => Track::Unattributed,
        })
    }

    fn name_process(&mut self, pid: u32, name: &str) -> io::Result<()> {
        let known = self.processes.get(&pid).and_then(|n| n.as_deref());
        if known != Some(name) {
            self.processes.insert(pid, Some(name.to_string()));
            self.sink.process(pid, Some(name))?;
        }
        Ok(())
    }

    fn item(&mut self, item: &Item, time: i64) -> io::Result<()> {
        match item {
            Item::Event(e) => self.event(e, time),
            Item::Message(msg) => {
                let track = self.track_of(msg.process_id, msg.thread_id)?;
                let mut args = Vec::new();
                if let Some(s) = msg.sequence {
                    args.push(("sequence".to_string(), Value::U64(s.into())));
                }
                let name = match &msg.text {
                    Some(t) => t.clone(),
                    None => {
                        args.push(("args".to_string(), Value::Str(hex(&msg.args))));
                        format!("message {}", msg.message_number)
                    }
                };
                let category = message_source(msg);
                self.sink.instant(&Slice {
                    track,
                    name: &name,
                    category: &category,
                    time,
                    args: &args,
                })
            }
            Item::Classic(c) => {
                if c.kernel_group() == Some(PROCESS_GROUP) && NAMING_TYPES.contains(&c.event_type) {
                    if let (Some(Value::U64(p)), Some(Value::Str(image))) =
                        (c.field("ProcessId"), c.field("ImageFileName"))
                    {
                        if let (Ok(p), false) = (u32::try_from(*p), image.is_empty()) {
                            self.process(p)?;
                            self.name_process(p, basename(image))?;
                        }
                    }
                }
                let track = self.track_of(c.process_id, c.thread_id)?;
                let args = match &c.fields {
                    Some(fields) => fields.clone(),
                    None => vec![
                        ("version".to_string(), Value::U64(c.version.into())),
                        ("payload".to_string(), Value::Str(hex(&c.payload))),
                    ],
                };
                let name = c
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("type {}", c.event_type));
                self.sink.instant(&Slice {
                    track,
                    name: &name,
                    category: &c.source(),
                    time,
                    args: &args,
                })
            }
            Item::Loss(l) => self.sink.instant(&Slice {
                track: Track::Losses,
                name: &loss_text(l),
                category: "losses",
                time,
                args: &[],
            }),
        }
    }

    fn event(&mut self, e: &Event, time: i64) -> io::Result<()> {
        let (pid, tid) = (e.process_id, e.thread_id);
        self.thread(pid, tid)?;
        let fields = e
            .fields
            .clone()
            .unwrap_or_else(|| vec![("payload".to_string(), Value::Str(hex(&e.payload)))]);
        if e.provider_id == PROCESS_CLASS {
            if let (Some(Value::U64(p)), Some(Value::Str(image))) =
                (e.field("ProcessId"), e.field("ImageFileName"))
            {
                if let Ok(p) = u32::try_from(*p) {
                    self.process(p)?;
                    self.name_process(p, basename(image))?;
                }
            }
        }
        let activity = e.activity_id;
        if activity != Guid::ZERO && e.descriptor.opcode == OPCODE_START {
            // A start whose id is still open: the first one ends here as an instant.
            if let Some(old) = self.open.remove(&activity) {
                self.unstarted(&activity, &old);
                self.not_stopped(old)?;
            }
            self.started_on
                .entry((pid, tid))
                .or_default()
                .push(activity);
            self.open.insert(
                activity,
                Open {
                    pid,
                    tid,
                    time,
                    name: event_name(e),
                    category: provider_label(e),
                    args: fields,
                },
            );
            return Ok(());
        }
        if activity != Guid::ZERO && e.descriptor.opcode == OPCODE_STOP {
            if let Some(open) = self.open.remove(&activity) {
                let list = self.started_on.entry((open.pid, open.tid)).or_default();
                // Nested on its own thread: a thread slice; else one of its own.
                let innermost =
                    list.last() == Some(&activity) && (open.pid, open.tid) == (pid, tid);
                list.retain(|g| *g != activity);
                let track = if innermost {
                    Track::Thread { pid, tid }
                } else {
                    Track::Async {
                        pid: open.pid,
                        tid: open.tid,
                        id: fold(activity),
                    }
                };
                let mut args = open.args;
                args.extend(fields.into_iter().map(|(n, v)| (format!("stop.{n}"), v)));
                return self.sink.slice(
                    &Slice {
                        track,
                        name: &open.name,
                        category: &open.category,
                        time: open.time,
                        args: &args,
                    },
                    time,
                );
            }
        }
        self.sink.instant(&Slice {
            track: Track::Thread { pid, tid },
            name: &event_name(e),
            category: &provider_label(e),
            time,
            args: &fields,
        })
    }

    /// A process, announced when first seen (perhaps in another's event: a Start is
    /// recorded by the parent).
    fn process(&mut self, pid: u32) -> io::Result<()> {
        if let Entry::Vacant(v) = self.processes.entry(pid) {
            v.insert(None);
            self.sink.process(pid, None)?;
        }
        Ok(())
    }

    fn unstarted(&mut self, activity: &Guid, open: &Open) {
        if let Some(list) = self.started_on.get_mut(&(open.pid, open.tid)) {
            list.retain(|g| g != activity);
        }
    }

    /// An activity that never stopped: an instant at its start.
    fn not_stopped(&mut self, open: Open) -> io::Result<()> {
        self.sink.instant(&Slice {
            track: Track::Thread {
                pid: open.pid,
                tid: open.tid,
            },
            name: &format!("{} (not stopped)", open.name),
            category: &open.category,
            time: open.time,
            args: &open.args,
        })
    }

    fn finish(&mut self, reader: &LogReader) -> io::Result<()> {
        let mut left: Vec<Open> = self.open.drain().map(|(_, o)| o).collect();
        left.sort_by_key(|o| o.time);
        for o in left {
            self.not_stopped(o)?;
        }
        let s = reader.loss_stats();
        if s.header_events_lost > 0 || s.header_buffers_lost > 0 {
            let name = format!(
                "{} events, {} buffers lost (log file headers)",
                s.header_events_lost, s.header_buffers_lost
            );
            self.sink.instant(&Slice {
                track: Track::Losses,
                name: &name,
                category: "losses",
                time: self.last_time,
                args: &[],
            })?;
        }
        self.sink.finish()
    }
}
