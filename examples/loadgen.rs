//! Writes N events from T threads through a private session and prints one JSON line with the
//! session's figures. The event is the benchmark workload: three fields (u64, u32, a 16-byte
//! string).
//!
//! ```text
//! cargo run --release --example loadgen -- --events 1000000 --threads 2 --mode circular --max-file 8
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::{Parser, ValueEnum};
use evtrace::clock::ClockType;
use evtrace::etl::{in_type, out_type, EventSchemaBuilder};
use evtrace::provider::{EnableSettings, Event, EventDescriptor, Provider};
use evtrace::session::{LogFileMode, Session, SessionProperties};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Sequential file (stops at --max-file if given).
    Sequential,
    /// Circular file of --max-file.
    Circular,
    /// A new file (name with %d) every --max-file.
    Newfile,
    /// Memory ring of --min buffers, saved to the file once at the end.
    Buffering,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Clock {
    /// CLOCK_MONOTONIC (ETW's performance counter).
    Perf,
    /// System time.
    System,
    /// TSC.
    Cycle,
}

/// Writes events through a private evtrace session and reports what was recorded and lost.
#[derive(Parser, Debug)]
struct Args {
    /// Events to write in all.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Writer threads.
    #[arg(long, default_value_t = 1)]
    threads: u64,
    /// Log file (for newfile, a name with %d).
    #[arg(long, default_value = "loadgen.etl")]
    file: PathBuf,
    /// File mode.
    #[arg(long, value_enum, default_value_t = Mode::Sequential)]
    mode: Mode,
    /// MaximumFileSize in MB (KB with --kbytes); 0 = none.
    #[arg(long, default_value_t = 0)]
    max_file: u32,
    /// Interpret --max-file in KB.
    #[arg(long)]
    kbytes: bool,
    /// Buffer size in KB.
    #[arg(long, default_value_t = 64)]
    buffer_kb: u32,
    /// MinimumBuffers (0 = 2 per processor).
    #[arg(long, default_value_t = 0)]
    min: u32,
    /// MaximumBuffers (0 = default).
    #[arg(long, default_value_t = 0)]
    max: u32,
    /// Clock type.
    #[arg(long, value_enum, default_value_t = Clock::Perf)]
    clock: Clock,
    /// One buffer for all processors.
    #[arg(long)]
    no_per_processor: bool,
    /// Compressed log mode: each buffer stored compressed (MS-XCA LZ77).
    #[arg(long)]
    compressed: bool,
    /// Flush timer in seconds.
    #[arg(long, default_value_t = 0)]
    flush_timer: u32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let provider = Provider::leak("evtrace-loadgen");
    let schema = EventSchemaBuilder::new("Sample")
        .field("counter", in_type::UINT64, 0)
        .field("thread", in_type::UINT32, 0)
        .field("tag", in_type::ANSI_STRING, out_type::UTF8)
        .build();
    let event = Event::leak(
        provider,
        EventDescriptor {
            id: 1,
            level: 4,
            ..Default::default()
        },
        schema,
    );

    let mut mode = match args.mode {
        Mode::Sequential => LogFileMode::SEQUENTIAL,
        Mode::Circular => LogFileMode::CIRCULAR,
        Mode::Newfile => LogFileMode::NEWFILE,
        Mode::Buffering => LogFileMode::BUFFERING,
    };
    if args.kbytes {
        mode |= LogFileMode::USE_KBYTES_FOR_SIZE;
    }
    if args.no_per_processor {
        mode |= LogFileMode::NO_PER_PROCESSOR_BUFFERING;
    }
    if args.compressed {
        mode |= LogFileMode::COMPRESSED;
    }
    let clock = match args.clock {
        Clock::Perf => ClockType::PerfCounter,
        Clock::System => ClockType::SystemTime,
        Clock::Cycle => ClockType::CpuCycle,
    };
    let session = Session::start_private(
        SessionProperties::new("evtrace-loadgen")
            .log_file(&args.file)
            .mode(mode)
            .maximum_file_size(args.max_file)
            .buffer_size_kb(args.buffer_kb)
            .buffers(args.min, args.max)
            .flush_timer(args.flush_timer)
            .clock(clock),
    )?;
    session.enable_provider(provider.guid(), EnableSettings::new(5, 0, 0))?;

    let start = Instant::now();
    let per_thread = args.events / args.threads.max(1);
    let extra = args.events % args.threads.max(1);
    let accepted: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.threads.max(1))
            .map(|t| {
                let n = per_thread + u64::from(t < extra);
                s.spawn(move || {
                    let tag = b"loadgen-payload!";
                    let thread = (t as u32).to_le_bytes();
                    let mut ok = 0u64;
                    for i in 0..n {
                        if event.enabled()
                            && event.write(&[&i.to_le_bytes(), &thread, tag, &[0]]).is_ok()
                        {
                            ok += 1;
                        }
                    }
                    ok
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let elapsed = start.elapsed();
    if matches!(args.mode, Mode::Buffering) {
        session.flush()?;
    }
    let stats = session.stop()?;
    let file = stats
        .files
        .first()
        .cloned()
        .or(stats.log_file.clone())
        .unwrap_or_default();
    println!(
        "{{\"events_attempted\":{},\"events_written\":{},\"events_lost\":{},\"buffers_written\":{},\"log_buffers_lost\":{},\"buffers_overwritten\":{},\"state\":\"{:?}\",\"seconds\":{:.6},\"file\":{:?},\"files\":{}}}",
        args.events,
        accepted,
        stats.events_lost,
        stats.buffers_written,
        stats.log_buffers_lost,
        stats.buffers_overwritten,
        stats.state,
        elapsed.as_secs_f64(),
        file.display().to_string(),
        stats.files.len()
    );
    Ok(())
}
