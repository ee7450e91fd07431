//! The main job: declare a provider, record a few events and messages in a
//! private session to `quickstart.etl`, then read the file back and print it.
//!
//! ```text
//! cargo run --example quickstart
//! cargo run -p evtrace-cli -- fmt quickstart.etl      # the same file, formatted by the tool
//! ```

use std::time::{Duration, Instant};

use evtrace::consume::{Item, LogReader};
use evtrace::provider::{filter::level, EnableSettings};
use evtrace::session::{LogFileMode, Session, SessionProperties};

/// Events of the quickstart program.
#[evtrace::provider(name = "Evtrace-Quickstart")]
pub mod quickstart {
    /// The program started.
    #[event(level = info)]
    pub fn started(program: &str, #[field(format = pid)] pid: u32);

    /// One unit of work finished.
    #[event(level = verbose, keywords = 0x1)]
    pub fn step(index: u32, took: std::time::Duration);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = "quickstart.etl";
    let session = Session::start_private(
        SessionProperties::new("evtrace-quickstart")
            .log_file(file)
            .mode(LogFileMode::LOCAL_SEQUENCE),
    )?;
    session.enable_provider(
        quickstart::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )?;

    evtrace::write!(quickstart::started("quickstart", std::process::id()));
    for i in 0..3u32 {
        let t = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let took = t.elapsed();
        evtrace::write!(quickstart::step(i, took));
        evtrace::trace_message!(quickstart, "step {} took {} us", i: u32, took.as_micros() as u64: u64);
    }
    let stats = session.stop()?;
    println!(
        "recorded {} ({} buffers written, {} events lost)\n",
        stats.log_file.as_deref().unwrap_or(file.as_ref()).display(),
        stats.buffers_written,
        stats.events_lost
    );

    for item in LogReader::open(&[file])? {
        let time = item.time_text();
        match item {
            Item::Event(e) => {
                let fields: Vec<String> = e
                    .fields
                    .iter()
                    .flatten()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect();
                println!(
                    "[{}]{}.{}::{} [{}] {} {}",
                    e.cpu,
                    e.process_id,
                    e.thread_id,
                    time,
                    e.provider_name.as_deref().unwrap_or("?"),
                    e.name.as_deref().unwrap_or("?"),
                    fields.join(" ")
                );
            }
            Item::Message(m) => println!(
                "[{}]{}.{}::{} [message #{}] {}",
                m.cpu,
                m.process_id.unwrap_or(0),
                m.thread_id.unwrap_or(0),
                time,
                m.sequence.unwrap_or(0),
                m.text.as_deref().unwrap_or("(no text)")
            ),
            Item::Loss(l) => println!("[{}] lost: {:?} x {:?}", l.cpu, l.kind, l.count),
            // Kernel and MOF events: none in this file, which only this program wrote.
            Item::Classic(c) => println!("[{}] {} type {}", c.cpu, c.source(), c.event_type),
        }
    }
    Ok(())
}
