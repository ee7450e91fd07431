//! `evtrace top SESSION`: the busiest providers, events and processes of a real-time session,
//! as a table redrawn each second (events per second over the last second, and in all).

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use evtrace_runtime::consume::{Item, RealTimeReader};

/// `evtrace top`.
#[derive(Args)]
pub struct TopArgs {
    /// A real-time session (`evtrace start NAME --rt`, or `record` of a profile with one).
    session: String,
    /// Rows per table.
    #[arg(long, default_value_t = 10)]
    rows: usize,
    /// Stop after this many seconds (default: until the session ends or Ctrl-C).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
}

/// Counts per key: in the last interval, and in all.
#[derive(Default)]
struct Counts {
    now: HashMap<String, u64>,
    total: HashMap<String, u64>,
}

impl Counts {
    fn add(&mut self, key: String) {
        *self.total.entry(key.clone()).or_default() += 1;
        *self.now.entry(key).or_default() += 1;
    }

    /// The `rows` busiest keys of the interval (ties by total), with both counts; the
    /// interval starts over.
    fn take(&mut self, rows: usize) -> Vec<(String, u64, u64)> {
        let mut v: Vec<(String, u64, u64)> = self
            .total
            .iter()
            .map(|(k, t)| (k.clone(), self.now.get(k).copied().unwrap_or(0), *t))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        v.truncate(rows);
        self.now.clear();
        v
    }
}

/// What the reader thread has counted.
#[derive(Default)]
struct Tally {
    providers: Counts,
    events: Counts,
    processes: Counts,
    lost: u64,
    ended: bool,
}

/// Runs `evtrace top`.
pub fn run(a: TopArgs) -> ExitCode {
    let reader = match RealTimeReader::attach(&a.session) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("evtrace top: {}: {}", e.code().name(), e.message());
            return ExitCode::FAILURE;
        }
    };
    let tally = Arc::new(Mutex::new(Tally::default()));
    let counting = Arc::clone(&tally);
    std::thread::spawn(move || {
        for item in reader {
            let mut t = counting.lock().unwrap_or_else(|e| e.into_inner());
            match &item {
                Item::Event(e) => {
                    let provider = crate::fmt::provider_label(e);
                    let name = e
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("id {}", e.descriptor.id));
                    t.events.add(format!("{provider}/{name}"));
                    t.providers.add(provider);
                    t.processes.add(format!("pid {}", e.process_id));
                }
                Item::Message(m) => {
                    t.providers.add(crate::fmt::message_source(m));
                    t.events
                        .add(format!("{}/(messages)", crate::fmt::message_source(m)));
                }
                Item::Classic(c) => {
                    t.providers.add(c.source());
                    let name = c
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("type {}", c.event_type));
                    t.events.add(format!("{}/{name}", c.source()));
                }
                Item::Loss(l) => t.lost += l.count.unwrap_or(0),
            }
        }
        counting.lock().unwrap_or_else(|e| e.into_inner()).ended = true;
    });
    let start = Instant::now();
    let mut last = start;
    loop {
        std::thread::sleep(Duration::from_millis(1000).saturating_sub(last.elapsed()));
        let dt = last.elapsed().as_secs_f64().max(1e-3);
        last = Instant::now();
        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = std::io::stdout().lock();
        // Home and clear: a plain refreshing table.
        let _ = write!(out, "\x1b[H\x1b[2J");
        let _ = writeln!(
            out,
            "evtrace top {}: {:.0} s, {} events lost",
            a.session,
            start.elapsed().as_secs_f64(),
            t.lost
        );
        let rows = a.rows;
        let t = &mut *t;
        for (title, counts) in [
            ("provider", &mut t.providers),
            ("event", &mut t.events),
            ("process", &mut t.processes),
        ] {
            let _ = writeln!(out, "\n{:>12}  {:>10}  {title}", "events/s", "total");
            for (k, now, total) in counts.take(rows) {
                let _ = writeln!(
                    out,
                    "{:>12}  {total:>10}  {k}",
                    super::status::rate_text(now as f64 / dt)
                );
            }
        }
        let _ = out.flush();
        if t.ended {
            return ExitCode::SUCCESS;
        }
        if a.duration
            .is_some_and(|d| start.elapsed().as_secs_f64() >= d)
        {
            return ExitCode::SUCCESS;
        }
    }
}
