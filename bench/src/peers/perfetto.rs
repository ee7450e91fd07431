//! The `perfetto-sdk` crate's in-process backend: track events with three debug arguments into an
//! in-process tracing session whose buffer this process drains into a file every
//! --perfetto-drain-ms (what `write_into_file` does inside the service; the crate's C API cannot
//! hand the service a file descriptor). Events are counted as the file's TracePackets that carry
//! a TrackEvent.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use perfetto_sdk::heap_buffer::HeapBuffer;
use perfetto_sdk::pb_msg::{PbMsg, PbMsgWriter};
use perfetto_sdk::producer::{Backends, Producer, ProducerInitArgsBuilder};
use perfetto_sdk::protos::config::data_source_config::DataSourceConfig;
use perfetto_sdk::protos::config::trace_config::{
    TraceConfig, TraceConfigBufferConfig, TraceConfigDataSource,
};
use perfetto_sdk::protos::config::track_event::track_event_config::TrackEventConfig;
use perfetto_sdk::tracing_session::TracingSession;
use perfetto_sdk::track_event::{EventContext, TrackEvent, TrackEventDebugArg};
use perfetto_sdk::{track_event_categories, track_event_instant};
use serde_json::{json, Value};

use crate::drive::{self, Workload, TAG_STR};
use crate::util::{self, Mapped};
use crate::Opts;

track_event_categories! {
    pub mod bench_te_ns {
        ( "bench", "evtrace benchmark workload", [] ),
    }
}
use bench_te_ns as perfetto_te_ns;

struct Perfetto;

impl Workload for Perfetto {
    fn write_n(&self, start: u64, n: u64, thread: u32) {
        for i in start..start + n {
            track_event_instant!("bench", "Sample", |ctx: &mut EventContext| {
                ctx.add_debug_arg("counter", TrackEventDebugArg::Uint64(i));
                ctx.add_debug_arg("thread", TrackEventDebugArg::Uint64(thread as u64));
                ctx.add_debug_arg("tag", TrackEventDebugArg::String(TAG_STR));
            });
        }
    }
}

/// Initialises the in-process backend and registers the category (once per process).
/// `shmem_kb` sizes the buffer between the writers and the service (0 = Perfetto's default).
fn init(shmem_kb: u32) -> Result<(), String> {
    Producer::init(
        ProducerInitArgsBuilder::new()
            .backends(Backends::IN_PROCESS)
            .shmem_size_hint_kb(shmem_kb)
            .build(),
    );
    TrackEvent::init();
    perfetto_te_ns::register().map_err(|e| format!("registering the category: {e:?}"))
}

/// The encoded TraceConfig: one buffer of `size_kb` (default fill policy, a ring) and the
/// track_event data source with the benchmark's category.
fn config(size_kb: u32) -> Vec<u8> {
    let writer = PbMsgWriter::new();
    let hb = HeapBuffer::new(writer.stream_writer());
    let mut msg = PbMsg::new(&writer).expect("a new protobuf message");
    {
        let mut cfg = TraceConfig { msg: &mut msg };
        cfg.set_buffers(|b: &mut TraceConfigBufferConfig| {
            b.set_size_kb(size_kb);
        });
        cfg.set_data_sources(|ds: &mut TraceConfigDataSource| {
            ds.set_config(|c: &mut DataSourceConfig| {
                c.set_name("track_event");
                c.set_track_event_config(|te: &mut TrackEventConfig| {
                    te.set_enabled_categories("bench");
                });
            });
        });
    }
    msg.finalize();
    let size = writer.stream_writer().get_written_size();
    let mut out = vec![0u8; size];
    hb.copy_into(&mut out);
    out
}

/// A started session and the file its buffer is drained into.
struct Traced {
    session: TracingSession,
    out: Arc<Mutex<BufWriter<File>>>,
}

impl Traced {
    fn start(file: &Path, size_kb: u32) -> Result<Traced, String> {
        let f = File::create(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut session =
            TracingSession::in_process().map_err(|e| format!("in-process session: {e:?}"))?;
        session.setup(&config(size_kb));
        session.start_blocking();
        Ok(Traced {
            session,
            out: Arc::new(Mutex::new(BufWriter::with_capacity(1 << 20, f))),
        })
    }

    /// Moves what the buffer holds into the file (reading is destructive, so nothing is read twice).
    fn drain(&mut self) {
        let out = Arc::clone(&self.out);
        self.session.read_trace_blocking(move |data, _more| {
            let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = o.write_all(data);
        });
    }

    fn stop(mut self) -> Result<(), String> {
        self.session.stop_blocking();
        self.drain();
        let mut o = self.out.lock().unwrap_or_else(|e| e.into_inner());
        o.flush().map_err(|e| e.to_string())
    }
}

/// Reads a protobuf varint at `*at`.
fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Whether a TracePacket's bytes hold field 11 (`track_event`).
fn has_track_event(p: &[u8]) -> bool {
    let mut at = 0;
    while at < p.len() {
        let Some(key) = varint(p, &mut at) else {
            return false;
        };
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                if varint(p, &mut at).is_none() {
                    return false;
                }
            }
            1 => at += 8,
            2 => {
                let Some(len) = varint(p, &mut at) else {
                    return false;
                };
                if field == 11 {
                    return true;
                }
                at += len as usize;
            }
            5 => at += 4,
            _ => return false,
        }
    }
    false
}

/// TracePackets carrying a TrackEvent in a trace file (a `Trace` message: packets are its
/// repeated field 1). Returns (track-event packets, all packets).
pub fn count_packets(data: &[u8]) -> (u64, u64) {
    let (mut events, mut packets) = (0, 0);
    let mut at = 0;
    while at < data.len() {
        let Some(key) = varint(data, &mut at) else {
            break;
        };
        if key != (1 << 3 | 2) {
            break;
        }
        let Some(len) = varint(data, &mut at) else {
            break;
        };
        let end = at.saturating_add(len as usize).min(data.len());
        packets += 1;
        if has_track_event(&data[at..end]) {
            events += 1;
        }
        at = end;
    }
    (events, packets)
}

fn count(file: &Path) -> Result<u64, String> {
    let map = Mapped::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(count_packets(map.bytes()).0)
}

/// Disabled (no session), then a 64 MB in-process session in bursts, drained while it runs.
pub fn micro(opts: &Opts) -> Result<Value, String> {
    // Writers whose chunks do not fit the shared memory buffer drop them (Perfetto's default
    // policy for SDK writers); 16 MB holds a burst of both threads, so the write path is measured.
    init(16 * 1024)?;
    let w = Perfetto;
    let disabled = drive::disabled_ns(&w, opts);
    let (mono, real, tsc) = drive::clock_reads(opts);
    let file = opts.data_dir.join("perfetto-micro.pftrace");
    let mut traced = Traced::start(&file, 64 * 1024)?;
    let b1 = drive::bursts(&w, 1, opts, 0, &mut || traced.drain());
    let b2 = drive::bursts(&w, 2, opts, b1.attempted, &mut || traced.drain());
    traced.stop()?;
    let recorded = count(&file)?;
    util::cleanup(&file, opts.keep);
    Ok(json!({
        "disabled_ns": disabled,
        "clock": { "mono": mono, "real": real, "tsc": tsc },
        // Perfetto stamps track events with CLOCK_BOOTTIME, read like CLOCK_MONOTONIC.
        "enabled": [{ "row": "mono", "label": "BOOTTIME", "ns": b1.ns_per_event, "clock_read_ns": mono }],
        "one_thread_eps": b1.events_per_sec,
        "two_thread_eps": b2.events_per_sec,
        "micro_attempted": b1.attempted + b2.attempted,
        "micro_recorded": recorded,
        "micro_lost_reported": Value::Null,
    }))
}

/// A session of --perfetto-buffer-kb for --sustain-secs, drained every --perfetto-drain-ms.
pub fn sustain(opts: &Opts) -> Result<Value, String> {
    init(0)?;
    let file = opts.data_dir.join("perfetto-sustain.pftrace");
    let mut traced = Traced::start(&file, opts.perfetto_buffer_kb)?;
    let every = Duration::from_millis(opts.perfetto_drain_ms.max(1));
    let (attempted, elapsed) = drive::sustain(
        &Perfetto,
        opts.sustain_threads,
        opts.sustain_secs,
        opts.pace,
        &mut || traced.drain(),
        every,
    );
    let rss = util::peak_rss_kb();
    traced.stop()?;
    let rss = rss.max(util::peak_rss_kb());
    let t = std::time::Instant::now();
    let recorded = count(&file)?;
    let count_secs = t.elapsed().as_secs_f64();
    let bytes = util::disk_bytes(&file);
    util::cleanup(&file, opts.keep);
    Ok(json!({
        "threads": opts.sustain_threads,
        "secs": elapsed.as_secs_f64(),
        "attempted": attempted,
        "recorded": recorded,
        "lost_reported": Value::Null,
        "lost_how": "none reported to the writer",
        "bytes": bytes,
        "rss_kb": rss,
        "count_secs": count_secs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_track_event_packets() {
        // Trace { packet { timestamp: 5, track_event { } } packet { timestamp: 6 } }
        let with_event = [0x40, 5, 0x5a, 0];
        let without = [0x40, 6];
        let mut data = vec![0x0a, with_event.len() as u8];
        data.extend(with_event);
        data.extend([0x0a, without.len() as u8]);
        data.extend(without);
        assert_eq!(count_packets(&data), (1, 2));
    }
}
