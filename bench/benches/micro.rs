//! Criterion micro-benchmarks of evtrace's hot paths: the enabled and disabled checks, one write
//! of the workload event into a private session (reserve, stamp, copy), the record copy alone
//! (header template, metadata and fields), XPRESS compression of a 64 KB buffer of real records
//! and its decompression (reading a compressed file), the flusher's file write of a buffer, and
//! the clock reads.
//!
//! ```text
//! cargo bench -p evtrace-bench --bench micro
//! ```

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use evtrace::clock::{self, ClockType};
use evtrace::etl::read::scan_buffers;
use evtrace::etl::{
    align8, compress_buffer, decompress_buffer, event_record_template, in_type, out_type,
    provider_traits, tracelogging_extended_items, write_event_from_template, EventSchemaBuilder,
};
use evtrace::provider::{EnableSettings, Event, EventDescriptor, Provider};
use evtrace::session::{processor_count, LogFileMode, Session, SessionProperties};

const TAG: &[u8; 16] = b"0123456789abcdef";

fn event(provider: &'static Provider) -> &'static Event {
    let schema = EventSchemaBuilder::new("Sample")
        .field("counter", in_type::UINT64, 0)
        .field("thread", in_type::UINT32, 0)
        .field("tag", in_type::ANSI_STRING, out_type::UTF8)
        .build();
    Event::leak(
        provider,
        EventDescriptor {
            id: 1,
            level: 4,
            ..Default::default()
        },
        schema,
    )
}

fn data_dir() -> PathBuf {
    let d = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data"));
    std::fs::create_dir_all(&d).expect("the bench data directory");
    d
}

fn session(name: &str, file: &PathBuf, provider: &'static Provider) -> Session {
    let _ = std::fs::remove_file(file);
    let s = Session::start_private(
        SessionProperties::new(name)
            .log_file(file)
            .mode(LogFileMode::SEQUENTIAL)
            .buffer_size_kb(64)
            .buffers(0, 256),
    )
    .expect("a private session");
    s.enable_provider(provider.guid(), EnableSettings::new(5, 0, 0))
        .expect("enable");
    s
}

fn checks(c: &mut Criterion) {
    let on = Provider::leak("evtrace-bench-micro-on");
    let off = Provider::leak("evtrace-bench-micro-off");
    let (ev_on, ev_off) = (event(on), event(off));
    let file = data_dir().join("micro-checks.etl");
    let s = session("evtrace-bench-micro-checks", &file, on);
    c.bench_function("enabled check (enabled)", |b| {
        b.iter(|| black_box(ev_on.enabled()))
    });
    c.bench_function("enabled check (disabled)", |b| {
        b.iter(|| black_box(ev_off.enabled()))
    });
    let _ = s.stop();
    let _ = std::fs::remove_file(&file);
}

fn write(c: &mut Criterion) {
    let provider = Provider::leak("evtrace-bench-micro-write");
    let ev = event(provider);
    let file = data_dir().join("micro-write.etl");
    let s = session("evtrace-bench-micro-write", &file, provider);
    let thread = 0u32.to_le_bytes();
    c.bench_function("write workload event, private session, 1 thread", |b| {
        // Bursts with untimed pauses, so the flusher keeps up and the write path is measured,
        // not the cost of dropping events when every buffer is full.
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut i = 0u64;
            while i < iters {
                let n = (iters - i).min(5_000);
                let t = Instant::now();
                for k in i..i + n {
                    if ev.enabled() {
                        let _ = ev.write(&[&k.to_le_bytes(), &thread, TAG, &[0]]);
                    }
                }
                timed += t.elapsed();
                i += n;
                // Untimed: wait until the flusher has written the burst's buffers out (all but
                // the per-processor current ones are free again), so no burst meets a full pool.
                let deadline = Instant::now() + Duration::from_secs(1);
                loop {
                    let q = s.query();
                    let busy = q.number_of_buffers.saturating_sub(q.free_buffers) as usize;
                    if busy <= processor_count() || Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            timed
        })
    });
    let stats = s.stop().expect("stop");
    eprintln!("write bench: events lost {}", stats.events_lost);
    let _ = std::fs::remove_file(&file);
}

/// A full 64 KB buffer of workload records, as the session wrote it.
fn real_buffer() -> Vec<u8> {
    let provider = Provider::leak("evtrace-bench-micro-xpress");
    let ev = event(provider);
    let file = data_dir().join("micro-xpress.etl");
    let s = session("evtrace-bench-micro-xpress", &file, provider);
    for k in 0..5_000u64 {
        let _ = ev.write(&[&k.to_le_bytes(), &(k as u32 % 2).to_le_bytes(), TAG, &[0]]);
    }
    let stats = s.stop().expect("stop");
    let path = stats.files.first().cloned().unwrap_or(file);
    let data = std::fs::read(&path).expect("the file");
    let _ = std::fs::remove_file(&path);
    let scan = scan_buffers(&data);
    // The first buffer after the header buffer; full, since 5,000 events fill several.
    let span = scan
        .buffers
        .iter()
        .find(|b| b.offset > 0)
        .expect("a data buffer");
    span.load(&data, scan.nominal)
        .expect("a readable buffer")
        .into_owned()
}

fn xpress(c: &mut Criterion) {
    let buf = real_buffer();
    let mut out = Vec::with_capacity(buf.len());
    let mut g = c.benchmark_group("xpress");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("compress_buffer 64 KB of workload records", |b| {
        b.iter(|| black_box(compress_buffer(black_box(&buf), &mut out)))
    });
    assert!(compress_buffer(&buf, &mut out), "the buffer compresses");
    let stored = out.clone();
    let nominal = buf.len() as u32;
    g.bench_function("decompress_buffer 64 KB of workload records", |b| {
        b.iter(|| black_box(decompress_buffer(black_box(&stored), nominal, 0)))
    });
    g.finish();
    eprintln!("xpress: {} -> {} bytes", buf.len(), stored.len());
}

/// The copy of one record into a buffer: template (header and TraceLogging metadata), fields,
/// padding, and the patched header fields. What a write does besides reserving and the clock.
fn record_copy(c: &mut Criterion) {
    let schema = EventSchemaBuilder::new("Sample")
        .field("counter", in_type::UINT64, 0)
        .field("thread", in_type::UINT32, 0)
        .field("tag", in_type::ANSI_STRING, out_type::UTF8)
        .build();
    let ext = tracelogging_extended_items(&provider_traits("evtrace-bench"), &schema);
    let provider = evtrace::Guid::from_name("evtrace-bench");
    let template = event_record_template(
        provider,
        &EventDescriptor {
            id: 1,
            level: 4,
            ..Default::default()
        },
        &ext,
    );
    let payload: [&[u8]; 4] = [&7u64.to_le_bytes(), &1u32.to_le_bytes(), TAG, &[0]];
    let size = align8(template.len() + 29);
    let mut buf = vec![0u8; 64 * 1024];
    let mut g = c.benchmark_group("record");
    g.throughput(Throughput::Bytes(size as u64));
    g.bench_function(format!("copy one {size}-byte workload record"), |b| {
        let mut at = 0;
        b.iter(|| {
            if at + size > buf.len() {
                at = 0;
            }
            let dst = &mut buf[at..at + size];
            write_event_from_template(
                dst,
                &template,
                0,
                1,
                2,
                black_box(3),
                &evtrace::Guid::ZERO,
                black_box(&payload),
            );
            at += size;
        })
    });
    g.finish();
}

/// The flusher's file write: one 64 KB buffer appended with `pwrite` (page cache).
fn file_write(c: &mut Criterion) {
    use std::os::unix::fs::FileExt;
    let path = data_dir().join("micro-file-write.bin");
    let file = std::fs::File::create(&path).expect("a file");
    let buf = vec![0x5Au8; 64 * 1024];
    let mut g = c.benchmark_group("file");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    let mut at = 0u64;
    g.bench_function("pwrite one 64 KB buffer (page cache)", |b| {
        b.iter(|| {
            // Wrap at 256 MB so the file stays bounded.
            if at >= 256 << 20 {
                at = 0;
            }
            file.write_all_at(black_box(&buf), at).expect("write");
            at += buf.len() as u64;
        })
    });
    g.finish();
    let _ = std::fs::remove_file(&path);
}

fn clocks(c: &mut Criterion) {
    c.bench_function("clock PerfCounter (clock_gettime MONOTONIC)", |b| {
        b.iter(|| black_box(clock::monotonic_ns()))
    });
    c.bench_function("clock SystemTime (clock_gettime REALTIME)", |b| {
        b.iter(|| black_box(clock::filetime_now()))
    });
    c.bench_function("clock CpuCycle (rdtsc)", |b| {
        b.iter(|| black_box(clock::rdtsc()))
    });
    c.bench_function("ClockType::now (PerfCounter)", |b| {
        let ct = black_box(ClockType::PerfCounter.effective());
        b.iter(|| black_box(ct.now()))
    });
    c.bench_function(
        "clock SystemTime from the TSC (clock::wall::REALTIME)",
        |b| b.iter(|| black_box(clock::wall::REALTIME.now())),
    );
}

criterion_group!(
    benches,
    checks,
    write,
    record_copy,
    xpress,
    file_write,
    clocks
);
criterion_main!(benches);
