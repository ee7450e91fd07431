//! The timeline as a Perfetto trace: a stream of `TracePacket`s, each framed as field 1 of
//! `Trace`. Field numbers are perfetto_trace.proto's (checked against Google's own
//! `perfetto_trace_pb2` by cli/tests/convert.rs).

use std::collections::HashMap;
use std::io::{self, Write};

use evtrace_runtime::etl::Value;

use super::proto::Msg;
use super::{Sink, Slice, Track};

// TracePacket.
const P_TIMESTAMP: u32 = 8;
const P_SEQUENCE_ID: u32 = 10;
const P_TRACK_EVENT: u32 = 11;
const P_INTERNED_DATA: u32 = 12;
const P_SEQUENCE_FLAGS: u32 = 13;
const P_CLOCK_SNAPSHOT: u32 = 6;
const P_DEFAULTS: u32 = 59;
const P_TRACK_DESCRIPTOR: u32 = 60;
const P_TIMESTAMP_CLOCK_ID: u32 = 58;
const SEQ_INCREMENTAL_STATE_CLEARED: u64 = 1;
const SEQ_NEEDS_INCREMENTAL_STATE: u64 = 2;
// TrackDescriptor, ProcessDescriptor, ThreadDescriptor.
const TD_UUID: u32 = 1;
const TD_NAME: u32 = 2;
const TD_PROCESS: u32 = 3;
const TD_THREAD: u32 = 4;
const TD_PARENT_UUID: u32 = 5;
const PD_PID: u32 = 1;
const PD_NAME: u32 = 6;
const THD_PID: u32 = 1;
const THD_TID: u32 = 2;
// TrackEvent.
const TE_DEBUG_ANNOTATIONS: u32 = 4;
const TE_CATEGORY_IIDS: u32 = 3;
const TE_TYPE: u32 = 9;
const TE_NAME_IID: u32 = 10;
const TE_TRACK_UUID: u32 = 11;
const TYPE_SLICE_BEGIN: u64 = 1;
const TYPE_SLICE_END: u64 = 2;
const TYPE_INSTANT: u64 = 3;
// DebugAnnotation.
const DA_NAME_IID: u32 = 1;
const DA_BOOL: u32 = 2;
const DA_UINT: u32 = 3;
const DA_INT: u32 = 4;
const DA_DOUBLE: u32 = 5;
const DA_STRING: u32 = 6;
const DA_NAME: u32 = 10;
const DA_DICT: u32 = 11;
const DA_ARRAY: u32 = 12;
// InternedData: categories, names, annotation names (each an {iid = 1, name = 2}).
const ID_CATEGORIES: u32 = 1;
const ID_NAMES: u32 = 2;
const ID_ANNOTATION_NAMES: u32 = 3;
// ClockSnapshot.
const CS_CLOCKS: u32 = 1;
const CS_PRIMARY: u32 = 2;
const CLOCK_REALTIME: u64 = 1;
const CLOCK_BOOTTIME: u64 = 6;

/// The one sequence this writer's packets are on.
const SEQUENCE: u64 = 1;
/// Interned strings kept before the tables start again (bounds memory on huge traces).
const INTERN_LIMIT: usize = 1 << 16;
const LOSSES_UUID: u64 = 1;
const UNATTRIBUTED_UUID: u64 = 2;

/// Writes a Perfetto trace to `W`.
pub struct Writer<W> {
    out: W,
    packet: Vec<u8>,
    /// Per interned kind (category, name, annotation name): string to iid.
    interned: [HashMap<String, u64>; 3],
    next_iid: u64,
    cleared: bool,
    clock_written: bool,
    tracks_written: [bool; 2],
}

/// A track uuid from its kind and ids (kept clear of the fixed ones, 1 and 2).
fn uuid(kind: u64, a: u64, b: u64) -> u64 {
    let mut x = kind.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ a.rotate_left(21) ^ b.rotate_left(42);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x | 0x100
}

/// A process's track uuid.
pub fn process_uuid(pid: u32) -> u64 {
    uuid(1, pid.into(), 0)
}

/// A thread's track uuid.
pub fn thread_uuid(pid: u32, tid: u32) -> u64 {
    uuid(2, pid.into(), tid.into())
}

impl<W: Write> Writer<W> {
    /// A writer to `out`.
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            packet: Vec::with_capacity(4096),
            interned: Default::default(),
            next_iid: 1,
            cleared: false,
            clock_written: false,
            tracks_written: [false; 2],
        }
    }

    /// The output.
    pub fn out(&mut self) -> &mut W {
        &mut self.out
    }

    fn write(&mut self, p: &Msg) -> io::Result<()> {
        self.packet.clear();
        let mut framed = Msg(std::mem::take(&mut self.packet));
        framed.msg(1, p);
        self.out.write_all(&framed.0)?;
        self.packet = framed.0;
        Ok(())
    }

    fn descriptor(&mut self, d: &Msg) -> io::Result<()> {
        let mut p = Msg::new();
        p.uint(P_SEQUENCE_ID, SEQUENCE).msg(P_TRACK_DESCRIPTOR, d);
        self.write(&p)
    }

    /// The iid of `s` in table `kind`, adding it to `new` when it is new.
    fn intern(&mut self, kind: usize, s: &str, new: &mut [Msg; 3]) -> u64 {
        if let Some(&iid) = self.interned[kind].get(s) {
            return iid;
        }
        let iid = self.next_iid;
        self.next_iid += 1;
        self.interned[kind].insert(s.to_string(), iid);
        let mut entry = Msg::new();
        entry.uint(1, iid).str(2, s);
        let field = [ID_CATEGORIES, ID_NAMES, ID_ANNOTATION_NAMES][kind];
        new[kind].msg(field, &entry);
        iid
    }

    fn ensure_track(&mut self, track: Track, name: &str) -> io::Result<u64> {
        Ok(match track {
            Track::Thread { pid, tid } => thread_uuid(pid, tid),
            Track::Async { pid, tid, id } => {
                let u = uuid(3, id, u64::from(pid) << 32 | u64::from(tid));
                let mut d = Msg::new();
                d.uint(TD_UUID, u)
                    .str(TD_NAME, name)
                    .uint(TD_PARENT_UUID, process_uuid(pid));
                self.descriptor(&d)?;
                u
            }
            Track::Losses | Track::Unattributed => {
                let (i, u, name) = if track == Track::Losses {
                    (0, LOSSES_UUID, "losses")
                } else {
                    (1, UNATTRIBUTED_UUID, "no process")
                };
                if !self.tracks_written[i] {
                    self.tracks_written[i] = true;
                    let mut d = Msg::new();
                    d.uint(TD_UUID, u).str(TD_NAME, name);
                    self.descriptor(&d)?;
                }
                u
            }
        })
    }

    fn track_event(&mut self, s: &Slice<'_>, ty: u64, time: i64, uuid: u64) -> io::Result<()> {
        if !self.clock_written {
            // The trace's own clock: Unix time, with boot time made the same so that the
            // trace's times are the file's.
            self.clock_written = true;
            let mut cs = Msg::new();
            for id in [CLOCK_REALTIME, CLOCK_BOOTTIME] {
                let mut c = Msg::new();
                c.uint(1, id).uint(2, time as u64);
                cs.msg(CS_CLOCKS, &c);
            }
            cs.uint(CS_PRIMARY, CLOCK_REALTIME);
            let mut p = Msg::new();
            p.uint(P_TIMESTAMP, time as u64)
                .msg(P_CLOCK_SNAPSHOT, &cs)
                .uint(P_SEQUENCE_ID, SEQUENCE);
            self.write(&p)?;
        }
        if self.interned.iter().map(HashMap::len).sum::<usize>() > INTERN_LIMIT {
            self.interned = Default::default();
            self.next_iid = 1;
            self.cleared = false;
        }
        let mut p = Msg::new();
        p.uint(P_TIMESTAMP, time as u64)
            .uint(P_SEQUENCE_ID, SEQUENCE);
        if !self.cleared {
            self.cleared = true;
            let mut defaults = Msg::new();
            defaults.uint(P_TIMESTAMP_CLOCK_ID, CLOCK_REALTIME);
            p.uint(
                P_SEQUENCE_FLAGS,
                SEQ_INCREMENTAL_STATE_CLEARED | SEQ_NEEDS_INCREMENTAL_STATE,
            )
            .msg(P_DEFAULTS, &defaults);
        } else {
            p.uint(P_SEQUENCE_FLAGS, SEQ_NEEDS_INCREMENTAL_STATE);
        }
        let mut new: [Msg; 3] = Default::default();
        let mut te = Msg::new();
        te.uint(TE_TYPE, ty).uint(TE_TRACK_UUID, uuid);
        if ty != TYPE_SLICE_END {
            let cat = self.intern(0, s.category, &mut new);
            let name = self.intern(1, s.name, &mut new);
            te.uint(TE_CATEGORY_IIDS, cat).uint(TE_NAME_IID, name);
            for (n, v) in s.args {
                let iid = self.intern(2, n, &mut new);
                let mut a = Msg::new();
                a.uint(DA_NAME_IID, iid);
                annotation_value(&mut a, v);
                te.msg(TE_DEBUG_ANNOTATIONS, &a);
            }
        }
        if new.iter().any(|m| !m.0.is_empty()) {
            let mut data = Msg::new();
            for m in &new {
                data.0.extend_from_slice(&m.0);
            }
            p.msg(P_INTERNED_DATA, &data);
        }
        p.msg(P_TRACK_EVENT, &te);
        self.write(&p)
    }
}

/// A field's value into a DebugAnnotation (arrays and structs as nested annotations).
fn annotation_value(a: &mut Msg, v: &Value) {
    match v {
        Value::Bool(b) => a.uint(DA_BOOL, u64::from(*b)),
        Value::U64(x) => a.uint(DA_UINT, *x),
        Value::Hex { value, .. } => a.str(DA_STRING, &format!("{value:#x}")),
        Value::I64(x) => a.int(DA_INT, *x),
        Value::F64(x) => a.double(DA_DOUBLE, *x),
        Value::Str(s) => a.str(DA_STRING, s),
        Value::Array(items) => {
            for item in items {
                let mut e = Msg::new();
                annotation_value(&mut e, item);
                a.msg(DA_ARRAY, &e);
            }
            a
        }
        Value::Struct(fields) => {
            for (n, item) in fields {
                let mut e = Msg::new();
                e.str(DA_NAME, n);
                annotation_value(&mut e, item);
                a.msg(DA_DICT, &e);
            }
            a
        }
        other => a.str(DA_STRING, &other.to_string()),
    };
}

impl<W: Write> Sink for Writer<W> {
    fn process(&mut self, pid: u32, name: Option<&str>) -> io::Result<()> {
        let mut pd = Msg::new();
        pd.uint(PD_PID, pid.into());
        if let Some(n) = name {
            pd.str(PD_NAME, n);
        }
        let mut d = Msg::new();
        d.uint(TD_UUID, process_uuid(pid)).msg(TD_PROCESS, &pd);
        self.descriptor(&d)
    }

    fn thread(&mut self, pid: u32, tid: u32) -> io::Result<()> {
        let mut td = Msg::new();
        td.uint(THD_PID, pid.into()).uint(THD_TID, tid.into());
        let mut d = Msg::new();
        d.uint(TD_UUID, thread_uuid(pid, tid))
            .uint(TD_PARENT_UUID, process_uuid(pid))
            .msg(TD_THREAD, &td);
        self.descriptor(&d)
    }

    fn slice(&mut self, s: &Slice<'_>, end: i64) -> io::Result<()> {
        let uuid = self.ensure_track(s.track, s.name)?;
        self.track_event(s, TYPE_SLICE_BEGIN, s.time, uuid)?;
        self.track_event(s, TYPE_SLICE_END, end, uuid)
    }

    fn instant(&mut self, s: &Slice<'_>) -> io::Result<()> {
        let uuid = self.ensure_track(s.track, s.name)?;
        self.track_event(s, TYPE_INSTANT, s.time, uuid)
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}
