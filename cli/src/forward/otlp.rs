//! An evtrace item as an OTLP log record, after OpenTelemetry's mapping of ETW events
//! (`etw.provider.id`, `etw.event.id`, fields as typed attributes, levels as severities), and
//! Start/Stop activity pairs as spans.

use std::collections::HashMap;

use evtrace_runtime::consume::{filetime_text, Event, Item};
use evtrace_runtime::etl::Value;
use evtrace_runtime::Guid;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, Span};

use crate::fmt::{hex, loss_text, message_source, provider_label};

/// ETW's Start and Stop opcodes.
const OPCODE_START: u8 = 1;
const OPCODE_STOP: u8 = 2;

/// The scope every record is sent under.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "evtrace".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// An event's decoded fields as attributes of their own types, or its payload in hex where
/// nothing decoded it; and why decoding stopped, if it did.
fn push_fields(
    a: &mut Vec<KeyValue>,
    fields: &Option<Vec<(String, Value)>>,
    payload: &[u8],
    decode_error: &Option<String>,
) {
    match fields {
        Some(fields) => a.extend(fields.iter().map(|(n, v)| KeyValue {
            key: n.clone(),
            value: Some(any(v)),
            ..Default::default()
        })),
        None => a.push(kv_str("etw.payload", hex(payload))),
    }
    if let Some(err) = decode_error {
        a.push(kv_str("evtrace.decode_error", err.clone()));
    }
}

/// A string attribute.
pub fn kv_str(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, any_value::Value::StringValue(v.into()))
}

/// An integer attribute.
pub fn kv_int(key: &str, v: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(v))
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

/// A decoded field as an OTLP value, keeping its type (integers past i64 as decimal text).
pub fn any(v: &Value) -> AnyValue {
    use any_value::Value as A;
    let value = match v {
        Value::Null => None,
        Value::I64(x) => Some(A::IntValue(*x)),
        Value::U64(x) => Some(i64::try_from(*x).map_or(A::StringValue(x.to_string()), A::IntValue)),
        Value::Hex { value, .. } => {
            Some(i64::try_from(*value).map_or(A::StringValue(format!("{value:#x}")), A::IntValue))
        }
        Value::F64(x) => Some(A::DoubleValue(*x)),
        Value::Bool(b) => Some(A::BoolValue(*b)),
        Value::Str(s) => Some(A::StringValue(s.clone())),
        Value::Bytes(b) => Some(A::BytesValue(b.clone())),
        Value::FileTime(ft) => Some(A::StringValue(filetime_text(*ft))),
        Value::Array(items) => Some(A::ArrayValue(ArrayValue {
            values: items.iter().map(any).collect(),
        })),
        Value::Struct(fields) => Some(A::KvlistValue(KeyValueList {
            values: fields
                .iter()
                .map(|(n, v)| KeyValue {
                    key: n.clone(),
                    value: Some(any(v)),
                    ..Default::default()
                })
                .collect(),
        })),
        other => Some(A::StringValue(other.to_string())),
    };
    AnyValue { value }
}

/// ETW level to OTLP severity number and text: 1 critical FATAL, 2 ERROR, 3 WARN, 4 INFO,
/// 5 verbose DEBUG; 0 (log always) unspecified; above 5 TRACE.
pub fn severity(level: u8) -> (i32, &'static str) {
    match level {
        0 => (0, ""),
        1 => (21, "FATAL"),
        2 => (17, "ERROR"),
        3 => (13, "WARN"),
        4 => (9, "INFO"),
        5 => (5, "DEBUG"),
        _ => (1, "TRACE"),
    }
}

/// 64-bit FNV-1a: span ids from activity ids, file identities (stable across runs and builds).
pub fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

fn span_id(activity: Guid) -> Vec<u8> {
    // Never all zero: that means "no span" in OTLP.
    fnv64(&[&activity.to_bytes()]).max(1).to_be_bytes().to_vec()
}

/// An open activity: its Start event, waiting for its Stop.
struct Open {
    parent: Option<Guid>,
    name: String,
    start: u64,
    attributes: Vec<KeyValue>,
}

/// Activities closed lately, remembered for their children's trace ids: files are read buffer
/// by buffer, and a processor's buffer can hold a child's Stop before another's holds the
/// parent's.
const CLOSED_KEPT: usize = 1 << 16;

/// How many further records a span waits for its unseen parent's Start (its trace is its
/// root's, known only then) before it goes with the trace known so far.
const WAIT_RECORDS: u64 = 4096;

/// Turns items into log records and Start/Stop pairs into spans.
#[derive(Default)]
pub struct Mapper {
    open: HashMap<Guid, Open>,
    /// Stops read before their Start (another processor's buffer): end time and record id.
    early_stops: HashMap<Guid, (u64, String)>,
    /// Parents of closed activities, oldest first out.
    closed: HashMap<Guid, Option<Guid>>,
    closed_order: std::collections::VecDeque<Guid>,
    /// Spans whose chain of parents ends at an activity not seen yet, by that activity.
    waiting: HashMap<Guid, Vec<(Guid, Span)>>,
    /// When each entry of `waiting` began to wait (records mapped), oldest first.
    waiting_order: std::collections::VecDeque<(u64, Guid)>,
    mapped: u64,
}

/// What one item gives: its log record, and a span when it ends an activity.
pub struct Mapped {
    /// The log record.
    pub log: LogRecord,
    /// Spans complete now: the activity this item ended, or ones that waited for it.
    pub spans: Vec<Span>,
}

fn nanos(t: Option<i64>) -> u64 {
    t.and_then(|t| u64::try_from(t).ok()).unwrap_or(0)
}

impl Mapper {
    /// Starts still waiting for their Stop, and Stops for their Start.
    pub fn open_activities(&self) -> usize {
        self.open.len() + self.early_stops.len()
    }

    /// Maps `item`; `record_id` is its deterministic `evtrace.record.id`.
    pub fn map(&mut self, item: &Item, record_id: &str, observed: u64) -> Mapped {
        let mut log = LogRecord {
            time_unix_nano: nanos(item.time()),
            observed_time_unix_nano: observed,
            ..Default::default()
        };
        let mut spans = Vec::new();
        self.mapped += 1;
        let a = &mut log.attributes;
        a.push(kv_str("evtrace.record.id", record_id));
        a.push(kv_int("etw.cpu", i64::from(item.cpu())));
        match item {
            Item::Event(e) => {
                let d = &e.descriptor;
                let name = e.name.clone().unwrap_or_else(|| format!("id {}", d.id));
                a.push(kv_str("etw.provider.id", e.provider_id.to_string()));
                a.push(kv_str("etw.provider.name", provider_label(e)));
                a.push(kv_int("etw.event.id", i64::from(d.id)));
                if let Some(n) = &e.name {
                    a.push(kv_str("etw.event.name", n.clone()));
                }
                a.push(kv_int("etw.event.version", i64::from(d.version)));
                a.push(kv_int("etw.level", i64::from(d.level)));
                a.push(kv_int("etw.opcode", i64::from(d.opcode)));
                a.push(kv_int("etw.task", i64::from(d.task)));
                a.push(kv_int("etw.keyword", d.keyword as i64));
                a.push(kv_int("etw.channel", i64::from(d.channel)));
                a.push(kv_int("process.pid", i64::from(e.process_id)));
                a.push(kv_int("thread.id", i64::from(e.thread_id)));
                if e.activity_id != Guid::ZERO {
                    a.push(kv_str("etw.activity.id", e.activity_id.to_string()));
                }
                if let Some(r) = e.related_activity_id {
                    a.push(kv_str("etw.related_activity.id", r.to_string()));
                }
                push_fields(a, &e.fields, &e.payload, &e.decode_error);
                let (n, text) = severity(d.level);
                log.severity_number = n;
                log.severity_text = text.into();
                log.event_name = name.clone();
                log.body = Some(AnyValue {
                    value: Some(any_value::Value::StringValue(name.clone())),
                });
                if e.activity_id != Guid::ZERO {
                    self.activity(e, &name, &mut log, record_id, &mut spans);
                }
            }
            Item::Message(m) => {
                a.push(kv_str("etw.provider.name", message_source(m)));
                if let Some(g) = m.guid {
                    a.push(kv_str("etw.provider.id", g.to_string()));
                }
                a.push(kv_int("etw.message.number", i64::from(m.message_number)));
                if let Some(p) = m.process_id {
                    a.push(kv_int("process.pid", i64::from(p)));
                }
                if let Some(t) = m.thread_id {
                    a.push(kv_int("thread.id", i64::from(t)));
                }
                a.push(kv_str("etw.message.args", hex(&m.args)));
                let text = m.text.clone().unwrap_or_else(|| "message".into());
                log.body = Some(AnyValue {
                    value: Some(any_value::Value::StringValue(text)),
                });
            }
            Item::Classic(c) => {
                a.push(kv_str("etw.provider.name", c.source()));
                if let Some(g) = c.guid {
                    a.push(kv_str("etw.provider.id", g.to_string()));
                    let (n, text) = severity(c.level);
                    log.severity_number = n;
                    log.severity_text = text.into();
                }
                a.push(kv_int("etw.event.type", i64::from(c.event_type)));
                a.push(kv_int("etw.event.version", i64::from(c.version)));
                if let Some(p) = c.process_id {
                    a.push(kv_int("process.pid", i64::from(p)));
                }
                if let Some(t) = c.thread_id {
                    a.push(kv_int("thread.id", i64::from(t)));
                }
                // Kernel records decoded by their MOF class: named, with typed fields.
                if let Some(n) = &c.name {
                    a.push(kv_str("etw.event.name", n.clone()));
                    log.event_name = n.clone();
                }
                push_fields(a, &c.fields, &c.payload, &c.decode_error);
                let body = c
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{} type {}", c.source(), c.event_type));
                log.body = Some(AnyValue {
                    value: Some(any_value::Value::StringValue(body)),
                });
            }
            Item::Loss(l) => {
                a.push(kv_str(
                    "evtrace.loss.kind",
                    format!("{:?}", l.kind).to_lowercase(),
                ));
                if let Some(n) = l.count {
                    a.push(kv_int("evtrace.loss.count", n.min(i64::MAX as u64) as i64));
                }
                log.severity_number = 13;
                log.severity_text = "WARN".into();
                log.body = Some(AnyValue {
                    value: Some(any_value::Value::StringValue(loss_text(l))),
                });
            }
        }
        self.release_aged(&mut spans);
        Mapped { log, spans }
    }

    /// The root of activity `id` following the parents seen so far, and the parent not seen
    /// yet where the chain stops, if it stops at one.
    fn walk(&self, id: Guid) -> (Guid, Option<Guid>) {
        let mut cur = id;
        for _ in 0..64 {
            let parent = match self.open.get(&cur) {
                Some(o) => o.parent,
                None => self.closed.get(&cur).copied().flatten(),
            };
            match parent {
                Some(p) if self.open.contains_key(&p) || self.closed.contains_key(&p) => cur = p,
                Some(p) => return (cur, Some(p)),
                None => break,
            }
        }
        (cur, None)
    }

    /// The trace of activity `id`: its root's id.
    fn trace_of(&self, id: Guid) -> Vec<u8> {
        self.walk(id).0.to_bytes().to_vec()
    }

    /// A complete span of activity `id`: out now, or waiting for an unseen ancestor.
    fn place(&mut self, id: Guid, mut span: Span, out: &mut Vec<Span>) {
        let (root, missing) = self.walk(id);
        span.trace_id = root.to_bytes().to_vec();
        match missing {
            Some(m) => {
                if !self.waiting.contains_key(&m) {
                    self.waiting_order.push_back((self.mapped, m));
                }
                self.waiting.entry(m).or_default().push((id, span));
            }
            None => out.push(span),
        }
    }

    /// `id`'s Start was seen: what waited for it is placed again.
    fn seen(&mut self, id: Guid, out: &mut Vec<Span>) {
        for (a, span) in self.waiting.remove(&id).unwrap_or_default() {
            self.place(a, span, out);
        }
    }

    /// Spans that waited too long go with the trace known so far.
    fn release_aged(&mut self, out: &mut Vec<Span>) {
        while let Some(&(since, m)) = self.waiting_order.front() {
            if since + WAIT_RECORDS > self.mapped {
                break;
            }
            self.waiting_order.pop_front();
            out.extend(
                self.waiting
                    .remove(&m)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, s)| s),
            );
        }
    }

    /// Every waiting span, with the trace known so far: at the end of the source, or when a
    /// batch goes out after its delay (nothing more came meanwhile).
    pub fn drain(&mut self) -> Vec<Span> {
        self.waiting_order.clear();
        self.waiting
            .drain()
            .flat_map(|(_, v)| v.into_iter().map(|(_, s)| s))
            .collect()
    }

    fn close(&mut self, id: Guid, parent: Option<Guid>) {
        if self.closed_order.len() >= CLOSED_KEPT {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
        self.closed.insert(id, parent);
        self.closed_order.push_back(id);
    }

    /// Follows Start/Stop of event `e`'s activity for its record `log`: a Start opens
    /// it, the Stop closes it as a span (in either order, as buffers may come); records
    /// inside an open activity join its span.
    fn activity(
        &mut self,
        e: &Event,
        name: &str,
        log: &mut LogRecord,
        record_id: &str,
        out: &mut Vec<Span>,
    ) {
        let (id, related, opcode) = (e.activity_id, e.related_activity_id, e.descriptor.opcode);
        let span = |o: Open, end: u64, stop_id: &str| {
            let mut attributes = o.attributes;
            attributes.push(kv_str("evtrace.record.id", stop_id));
            Span {
                span_id: span_id(id),
                parent_span_id: o.parent.map(span_id).unwrap_or_default(),
                name: o.name,
                kind: SpanKind::Internal as i32,
                start_time_unix_nano: o.start,
                end_time_unix_nano: end,
                attributes,
                ..Default::default()
            }
        };
        match opcode {
            OPCODE_START => {
                let o = Open {
                    parent: related,
                    name: name.strip_suffix("Start").unwrap_or(name).to_string(),
                    start: log.time_unix_nano,
                    attributes: log
                        .attributes
                        .iter()
                        .filter(|kv| kv.key != "evtrace.record.id")
                        .cloned()
                        .collect(),
                };
                match self.early_stops.remove(&id) {
                    Some((end, stop_id)) => {
                        self.close(id, related);
                        self.place(id, span(o, end, &stop_id), out);
                    }
                    None => {
                        self.open.insert(id, o);
                    }
                }
                self.seen(id, out);
            }
            OPCODE_STOP => match self.open.remove(&id) {
                Some(o) => {
                    let parent = o.parent;
                    // Known as closed before the trace is looked up, so it still resolves.
                    self.close(id, parent);
                    self.place(id, span(o, log.time_unix_nano, record_id), out);
                }
                None => {
                    self.early_stops
                        .insert(id, (log.time_unix_nano, record_id.to_string()));
                }
            },
            _ => {}
        }
        if self.open.contains_key(&id) || self.closed.contains_key(&id) {
            log.trace_id = self.trace_of(id);
            log.span_id = span_id(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evtrace_runtime::consume::CpuTime;
    use evtrace_runtime::etl::EventDescriptor;

    fn event(opcode: u8, id: u8, related: Option<u8>, time: i64) -> Item {
        let g = |n: u8| Guid::from_bytes([n; 16]);
        Item::Event(Event {
            file: 0,
            provider_id: g(9),
            provider_name: Some("P".into()),
            name: Some("Work".into()),
            descriptor: EventDescriptor {
                id: 1,
                version: 0,
                channel: 0,
                level: 3,
                opcode,
                task: 0,
                keyword: 0,
            },
            flags: 0,
            event_property: 0,
            process_id: 1,
            thread_id: 2,
            cpu: 0,
            timestamp: time,
            time: Some(time),
            activity_id: g(id),
            related_activity_id: related.map(g),
            cpu_time: CpuTime::Processor(0),
            fields: Some(vec![("n".into(), Value::U64(u64::MAX))]),
            decode_error: None,
            payload: Vec::new(),
        })
    }

    /// A child's Stop read before its Start (another processor's buffer): still one span, in
    /// its parent's trace, under its parent.
    #[test]
    fn start_and_stop_pair_in_either_order() {
        let mut m = Mapper::default();
        let mut spans = Vec::new();
        for (i, item) in [
            event(OPCODE_START, 1, None, 10),
            event(OPCODE_STOP, 2, None, 30),
            event(OPCODE_START, 2, Some(1), 20),
            event(OPCODE_STOP, 1, None, 40),
        ]
        .iter()
        .enumerate()
        {
            let mapped = m.map(item, &format!("r{i}"), 0);
            assert_eq!(mapped.log.severity_number, 13, "level 3 is WARN");
            spans.extend(mapped.spans);
        }
        assert_eq!(m.open_activities(), 0);
        let [inner, outer] = &spans[..] else {
            panic!("{spans:?}")
        };
        assert_eq!(
            (inner.start_time_unix_nano, inner.end_time_unix_nano),
            (20, 30)
        );
        assert_eq!(
            (outer.start_time_unix_nano, outer.end_time_unix_nano),
            (10, 40)
        );
        assert_eq!(inner.parent_span_id, outer.span_id);
        assert_eq!(inner.trace_id, outer.trace_id);
        assert_eq!(outer.trace_id, [1u8; 16].to_vec());
        assert!(outer.parent_span_id.is_empty());
        // The span is named by its Stop's record; the field past i64 travels as text.
        let attr = |s: &Span, k: &str| {
            s.attributes
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.clone())
        };
        assert_eq!(
            attr(inner, "evtrace.record.id").and_then(|v| v.value),
            Some(any_value::Value::StringValue("r1".into()))
        );
        assert_eq!(
            attr(outer, "n").and_then(|v| v.value),
            Some(any_value::Value::StringValue(u64::MAX.to_string()))
        );
    }

    /// A whole child activity read before its parent's Start (the parent's buffer came later
    /// in the file): the child's span waits and then goes in its parent's trace.
    #[test]
    fn a_child_read_before_its_parent_waits_for_the_parents_trace() {
        let mut m = Mapper::default();
        let mut spans = Vec::new();
        for (i, item) in [
            event(OPCODE_START, 2, Some(1), 20),
            event(OPCODE_STOP, 2, None, 30),
            event(OPCODE_START, 1, None, 10),
            event(OPCODE_STOP, 1, None, 40),
        ]
        .iter()
        .enumerate()
        {
            let mapped = m.map(item, &format!("r{i}"), 0);
            if i == 1 {
                assert!(mapped.spans.is_empty(), "the child waits for its parent");
            }
            spans.extend(mapped.spans);
        }
        assert_eq!(spans.len(), 2);
        assert!(
            spans.iter().all(|s| s.trace_id == [1u8; 16].to_vec()),
            "{spans:?}"
        );
        // A parent never seen (started before the file): the child goes when drained.
        let mut m = Mapper::default();
        for item in [
            event(OPCODE_START, 5, Some(4), 1),
            event(OPCODE_STOP, 5, None, 2),
        ] {
            assert!(m.map(&item, "x", 0).spans.is_empty());
        }
        let drained = m.drain();
        assert_eq!(drained.len(), 1);
        assert_eq!(drained[0].trace_id, [5u8; 16].to_vec());
        assert_eq!(
            drained[0].parent_span_id,
            span_id(Guid::from_bytes([4; 16]))
        );
        assert!(m.drain().is_empty());
    }
}
