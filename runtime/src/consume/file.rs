//! One log file: its header, its buffers grouped by processor, and the decoding of a buffer
//! into delivered items.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::diag::Diagnostics;
use super::item::{ClassicEvent, CpuTime, Event, Item, Loss, LossSource, Message};
use super::ConsumeError;
use crate::etl::read::{self, is_logfile_header, BufferSpan, Record};
use crate::etl::tracelogging::decode_event;
use crate::etl::{
    buffer_flags, event_flags, message_flags, parse_header_buffer, LogfileHeader, LossKind,
    BUFFER_HEADER_SIZE,
};

/// An opened log file.
pub(crate) struct LogFile {
    pub path: PathBuf,
    pub index: usize,
    file: File,
    pub header: LogfileHeader,
    nominal: u32,
}

/// The buffers of one processor of one file, oldest first, and the items of the buffer being
/// delivered.
pub(crate) struct Stream {
    pub file: usize,
    spans: VecDeque<BufferSpan>,
    /// Items of the current buffer, with (sequence number, index) for stable ordering.
    pub items: VecDeque<(i64, u64, Item)>,
}

fn read_at(file: &File, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

impl LogFile {
    /// Opens a file, reads its header and indexes its buffers into per-processor streams
    /// (sorted by sequence number, so circular files come out oldest first).
    pub fn open(
        path: &Path,
        index: usize,
        diag: &mut Diagnostics,
    ) -> Result<(LogFile, Vec<Stream>), ConsumeError> {
        let io = |e: std::io::Error| ConsumeError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let not_etl = |e: crate::etl::FormatError| ConsumeError::NotEtl {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let head =
            read_at(&file, 0, (len.min(read::MAX_BUFFER_SIZE as u64)) as usize).map_err(io)?;
        let nominal = read::nominal_buffer_size(&head).map_err(not_etl)?;
        let header =
            parse_header_buffer(&head[..head.len().min(nominal as usize)]).map_err(not_etl)?;
        drop(head);

        let mut by_cpu: BTreeMap<u16, Vec<BufferSpan>> = BTreeMap::new();
        let mut at = 0u64;
        while at < len {
            let remaining = len - at;
            if remaining < BUFFER_HEADER_SIZE as u64 {
                diag.add(
                    index,
                    at,
                    "trailing bytes",
                    format!("{remaining} bytes after the last buffer"),
                );
                break;
            }
            let h = read_at(&file, at, BUFFER_HEADER_SIZE).map_err(io)?;
            match read::next_buffer(&h, at, nominal, remaining) {
                Ok(span) => {
                    if span.truncated {
                        diag.add(
                            index,
                            at,
                            "truncated buffer",
                            format!(
                                "file ends {} bytes into a buffer of {}",
                                span.len, span.header.buffer_size
                            ),
                        );
                    }
                    at += span.len as u64;
                    by_cpu
                        .entry(span.header.processor_index)
                        .or_default()
                        .push(span);
                }
                Err(e) => {
                    diag.add(index, at, "corrupt buffer", e.what);
                    at += u64::from(nominal);
                }
            }
        }
        let streams = by_cpu
            .into_values()
            .map(|mut spans| {
                spans.sort_by_key(|s| (s.header.sequence_number, s.offset));
                Stream {
                    file: index,
                    spans: spans.into(),
                    items: VecDeque::new(),
                }
            })
            .collect();
        Ok((
            LogFile {
                path: path.to_path_buf(),
                index,
                file,
                header,
                nominal,
            },
            streams,
        ))
    }

    /// Loads the stream's next buffers until one yields items (or none are left).
    pub fn refill(
        &self,
        s: &mut Stream,
        diag: &mut Diagnostics,
        formatter: Option<&super::Formatter>,
    ) {
        while s.items.is_empty() {
            let Some(span) = s.spans.pop_front() else {
                return;
            };
            let bytes = match read_at(&self.file, span.offset, span.len) {
                Ok(b) => b,
                Err(e) => {
                    diag.add(self.index, span.offset, "read error", e.to_string());
                    continue;
                }
            };
            let buf = match span.load_bytes(&bytes, self.nominal) {
                Ok(b) => b,
                Err(p) => {
                    diag.add(self.index, p.offset, p.kind.name(), p.reason);
                    continue;
                }
            };
            match read::parse_buffer(&buf, span.offset) {
                Ok(pb) => {
                    for p in &pb.problems {
                        diag.add(self.index, p.offset, p.kind.name(), p.reason.clone());
                    }
                    self.items_of(&pb, s, diag, formatter);
                }
                Err(p) => diag.add(self.index, p.offset, p.kind.name(), p.reason),
            }
        }
    }

    fn items_of(
        &self,
        pb: &read::ParsedBuffer<'_>,
        s: &mut Stream,
        diag: &mut Diagnostics,
        formatter: Option<&super::Formatter>,
    ) {
        let seq = pb.header.sequence_number;
        let out = buffer_items(&self.header, self.index, pb, diag, formatter);
        s.items.extend(
            out.into_iter()
                .enumerate()
                .map(|(i, it)| (seq, i as u64, it)),
        );
    }
}

/// The items of one parsed buffer of a session whose header is `h` (`index` names the file, or
/// the live session, in items and diagnostics).
pub(crate) fn buffer_items(
    h: &LogfileHeader,
    index: usize,
    pb: &read::ParsedBuffer<'_>,
    diag: &mut Diagnostics,
    formatter: Option<&super::Formatter>,
) -> Vec<Item> {
    let bh = &pb.header;
    let cpu = bh.processor_index;
    let mut out: Vec<Item> = Vec::new();
    // Buffer flags report losses without a count; a loss record of the same kind in the
    // buffer says more, so the flag is then not reported twice.
    let has_record = |k: LossKind| {
        pb.records
            .iter()
            .any(|r| matches!(&r.record, Record::Event(e) if e.loss().map(|l| l.0) == Some(k)))
    };
    let first_ts = pb
        .records
        .iter()
        .find_map(|r| r.record.timestamp())
        .unwrap_or(bh.timestamp);
    for (flag, kind) in [
        (buffer_flags::EVENTS_LOST, LossKind::Events),
        (buffer_flags::BUFFER_LOST, LossKind::Buffers),
    ] {
        if bh.flags & flag != 0 && !has_record(kind) {
            out.push(Item::Loss(Loss {
                file: index,
                cpu,
                kind,
                count: None,
                timestamp: first_ts,
                time: h.to_unix_nanos(first_ts),
                source: LossSource::BufferFlag,
            }));
        }
    }
    let mut last_ts = first_ts;
    for r in &pb.records {
        match &r.record {
            Record::Event(e) => {
                last_ts = e.header.timestamp;
                if let Some((kind, count)) = e.loss() {
                    out.push(Item::Loss(Loss {
                        file: index,
                        cpu,
                        kind,
                        count: Some(count),
                        timestamp: last_ts,
                        time: h.to_unix_nanos(last_ts),
                        source: LossSource::Record,
                    }));
                    continue;
                }
                let payload_offset = r.offset + e.payload_at as u64;
                let mut ev = Event {
                    file: index,
                    provider_id: e.header.provider_id,
                    provider_name: None,
                    name: None,
                    descriptor: e.header.descriptor,
                    // As Windows' consumers do: the header type says the writer's bitness.
                    flags: e.flags
                        | if e.pointer_size == 4 {
                            event_flags::HEADER_32_BIT
                        } else {
                            event_flags::HEADER_64_BIT
                        },
                    event_property: e.event_property,
                    process_id: e.header.process_id,
                    thread_id: e.header.thread_id,
                    cpu,
                    timestamp: last_ts,
                    time: h.to_unix_nanos(last_ts),
                    activity_id: e.header.activity_id,
                    related_activity_id: e.related_activity_id(),
                    cpu_time: CpuTime::from_header(e.flags, e.processor_time),
                    fields: None,
                    decode_error: None,
                    payload: e.payload.to_vec(),
                };
                match decode_event(e, payload_offset) {
                    Some(Ok(tl)) => {
                        ev.provider_name = tl.provider.map(|p| p.name);
                        ev.name = Some(tl.schema.name);
                        if let Some(err) = &tl.decoded.error {
                            diag.add(index, r.offset, "undecodable field", err.what.clone());
                            ev.decode_error = Some(err.what.clone());
                        }
                        ev.fields = Some(tl.decoded.fields);
                    }
                    Some(Err(err)) => {
                        diag.add(
                            index,
                            r.offset,
                            "bad TraceLogging metadata",
                            err.what.clone(),
                        );
                        ev.decode_error = Some(err.what);
                    }
                    None => {}
                }
                out.push(Item::Event(ev));
            }
            Record::Message(m) => {
                let mh = &m.header;
                let recorded = mh.flags & message_flags::TIMESTAMP != 0;
                if recorded {
                    last_ts = mh.timestamp;
                }
                let has = |f: u16| mh.flags & f != 0;
                let mut msg = Message {
                    file: index,
                    cpu,
                    flags: mh.flags,
                    message_number: mh.message_number,
                    sequence: has(message_flags::SEQUENCE).then_some(mh.sequence),
                    guid: (has(message_flags::GUID) && !has(message_flags::COMPONENTID))
                        .then_some(mh.guid),
                    component_id: has(message_flags::COMPONENTID).then_some(mh.component_id),
                    timestamp: last_ts,
                    timestamp_recorded: recorded,
                    time: h.to_unix_nanos(last_ts),
                    thread_id: has(message_flags::SYSTEMINFO).then_some(mh.thread_id),
                    process_id: has(message_flags::SYSTEMINFO).then_some(mh.process_id),
                    args: m.args.to_vec(),
                    text: None,
                };
                if let Some(f) = formatter {
                    msg.text = f(&msg);
                }
                if msg.text.is_none() && crate::etl::message_format::is_self_describing(&msg.args) {
                    // evtrace's messages carry their format and argument types.
                    match crate::etl::message_format::format_message(&msg.args) {
                        Ok(text) => msg.text = Some(text),
                        Err(e) => diag.add(index, r.offset, "undecodable message", e.to_string()),
                    }
                }
                out.push(Item::Message(msg));
            }
            rec @ Record::System(x) => {
                if is_logfile_header(bh, rec) {
                    continue;
                }
                last_ts = x.timestamp;
                let mut c = ClassicEvent {
                    file: index,
                    cpu,
                    kind: x.kind,
                    hook_id: Some(x.hook_id),
                    guid: None,
                    event_type: x.hook_id as u8,
                    level: 0,
                    version: x.version,
                    process_id: x.process_id,
                    thread_id: x.thread_id,
                    instance: None,
                    timestamp: last_ts,
                    time: h.to_unix_nanos(last_ts),
                    pointer_size: x.pointer_size,
                    name: None,
                    fields: None,
                    decode_error: None,
                    payload: x.payload.to_vec(),
                };
                c.decode_kernel_class();
                if let Some(err) = &c.decode_error {
                    diag.add(index, r.offset, "undecodable kernel event", err.clone());
                }
                out.push(Item::Classic(c));
            }
            Record::Classic(x) => {
                last_ts = x.timestamp;
                let mut c = ClassicEvent {
                    file: index,
                    cpu,
                    kind: x.kind,
                    hook_id: None,
                    guid: Some(x.guid),
                    event_type: x.class_type,
                    level: x.level,
                    version: x.version,
                    process_id: Some(x.process_id),
                    thread_id: Some(x.thread_id),
                    instance: x.instance,
                    timestamp: last_ts,
                    time: h.to_unix_nanos(last_ts),
                    pointer_size: x.pointer_size,
                    name: None,
                    fields: None,
                    decode_error: None,
                    payload: x.payload.to_vec(),
                };
                c.decode_kernel_class();
                if let Some(err) = &c.decode_error {
                    diag.add(index, r.offset, "undecodable kernel event", err.clone());
                }
                out.push(Item::Classic(c));
            }
        }
    }
    out
}
