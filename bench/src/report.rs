//! The table: one column per system, one row per figure, notes below.

use std::fmt::Write;

use serde_json::Value;

use crate::{Opts, System};

const LABEL: usize = 52;
const CELL: usize = 18;

/// A phase's result object, or why there is none.
pub type Outcome = Result<Value, String>;

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn rate(eps: f64) -> String {
    if eps >= 1e6 {
        format!("{:.2} M/s", eps / 1e6)
    } else {
        format!("{:.0} k/s", eps / 1e3)
    }
}

/// One row: `cell` makes the text of a column from that system's result, or `None` for "-".
fn row(
    out: &mut String,
    label: &str,
    results: &[(System, Outcome)],
    cell: impl Fn(&Value) -> Option<String>,
) {
    let _ = write!(out, "{label:<LABEL$}");
    for (_, r) in results {
        let text = match r {
            Ok(v) => cell(v).unwrap_or_else(|| "-".into()),
            Err(e) if e.starts_with("skipped") => "skipped".into(),
            Err(e) if e.starts_with("same write path") => "as evtrace".into(),
            Err(_) => "failed".into(),
        };
        let _ = write!(out, " {text:>CELL$}");
    }
    out.push('\n');
}

/// The whole report.
pub fn table(
    opts: &Opts,
    disk: &Result<f64, String>,
    results: &[(System, Outcome, Outcome)],
    lossless: &[(System, Outcome)],
) -> String {
    let micro: Vec<(System, Outcome)> = results.iter().map(|(s, m, _)| (*s, m.clone())).collect();
    let sustain: Vec<(System, Outcome)> = results.iter().map(|(s, _, x)| (*s, x.clone())).collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nevtrace-bench: one provider, one event {{u64 counter, u32 thread, 16-byte string}}; files in {}",
        opts.data_dir.display()
    );
    let _ = write!(out, "{:<LABEL$}", "");
    for (s, _, _) in results {
        let _ = write!(out, " {:>CELL$}", s.title());
    }
    out.push('\n');
    let _ = writeln!(out, "{}", "-".repeat(LABEL + (CELL + 1) * results.len()));

    row(
        &mut out,
        "disabled event (no session), ns/event",
        &micro,
        |v| f(v, &["disabled_ns"]).map(|x| format!("{x:.2}")),
    );
    let rows = [
        ("mono", "PerfCounter", "clock_gettime(MONOTONIC)"),
        ("real", "SystemTime", "clock_gettime(REALTIME)"),
        ("tsc", "CpuCycle", "rdtsc"),
    ];
    for (key, clock, read) in rows {
        let entry = |v: &Value| -> Option<Value> {
            v.get("enabled")?
                .as_array()?
                .iter()
                .find(|e| e.get("row").and_then(Value::as_str) == Some(key))
                .cloned()
        };
        row(
            &mut out,
            &format!("enabled, 1 thread, ns/event, clock {clock}"),
            &micro,
            |v| {
                let e = entry(v)?;
                let ns = f(&e, &["ns"])?;
                let label = e.get("label").and_then(Value::as_str).unwrap_or("");
                Some(if label == clock {
                    format!("{ns:.1}")
                } else {
                    format!("{ns:.1} ({label})")
                })
            },
        );
        row(
            &mut out,
            &format!("  {read}, ns (same process)"),
            &micro,
            |v| f(v, &["clock", key]).map(|x| format!("{x:.1}")),
        );
        row(&mut out, "  the clock read it makes, ns", &micro, |v| {
            f(&entry(v)?, &["clock_read_ns"]).map(|x| format!("{x:.1}"))
        });
        row(&mut out, "  cost beyond the clock read, ns", &micro, |v| {
            let e = entry(v)?;
            Some(format!(
                "{:.1}",
                f(&e, &["ns"])? - f(&e, &["clock_read_ns"])?
            ))
        });
    }
    row(&mut out, "1 thread, events/s (bursts)", &micro, |v| {
        f(v, &["one_thread_eps"]).map(rate)
    });
    row(
        &mut out,
        "2 threads on 2 cores, events/s (bursts)",
        &micro,
        |v| f(v, &["two_thread_eps"]).map(rate),
    );
    row(&mut out, "2 threads / 1 thread", &micro, |v| {
        Some(format!(
            "{:.2}x",
            f(v, &["two_thread_eps"])? / f(v, &["one_thread_eps"])?
        ))
    });
    row(
        &mut out,
        "latency runs: recorded / attempted (read back)",
        &micro,
        |v| {
            Some(format!(
                "{:.2}%",
                100.0 * f(v, &["micro_recorded"])? / f(v, &["micro_attempted"])?
            ))
        },
    );
    row(
        &mut out,
        "latency runs: losses the system reported",
        &micro,
        |v| {
            Some(
                v.get("micro_lost_reported")?
                    .as_u64()
                    .map_or("n/a".into(), |n| n.to_string()),
            )
        },
    );

    let threads = opts.sustain_threads;
    let _ = writeln!(
        out,
        "sustained: {threads} threads for {} s, file on local disk, default settings",
        opts.sustain_secs
    );
    let per_sec = |v: &Value, k: &str| Some(f(v, &[k])? / f(v, &["secs"])?);
    row(
        &mut out,
        "  events/s recorded (counted from the output)",
        &sustain,
        |v| per_sec(v, "recorded").map(rate),
    );
    row(&mut out, "  events/s attempted", &sustain, |v| {
        per_sec(v, "attempted").map(rate)
    });
    row(&mut out, "  recorded / attempted", &sustain, |v| {
        Some(format!(
            "{:.1}%",
            100.0 * f(v, &["recorded"])? / f(v, &["attempted"])?
        ))
    });
    row(&mut out, "  bytes/event on disk", &sustain, |v| {
        Some(format!(
            "{:.1}",
            f(v, &["bytes"])? / f(v, &["recorded"])?.max(1.0)
        ))
    });
    row(&mut out, "  MB/s written", &sustain, |v| {
        Some(format!("{:.0}", f(v, &["bytes"])? / f(v, &["secs"])? / 1e6))
    });
    row(&mut out, "  EventsLost reported", &sustain, |v| {
        Some(
            v.get("lost_reported")?
                .as_u64()
                .map_or("none".into(), |n| n.to_string()),
        )
    });
    row(
        &mut out,
        "  silent loss (attempted - recorded - reported)",
        &sustain,
        |v| {
            let a = v.get("attempted")?.as_u64()?;
            let r = v.get("recorded")?.as_u64()?;
            let l = v.get("lost_reported").and_then(Value::as_u64).unwrap_or(0);
            Some(format!("{}", a as i128 - r as i128 - l as i128))
        },
    );
    row(&mut out, "  peak RSS (VmHWM), MB", &sustain, |v| {
        let own = f(v, &["rss_kb"])? / 1024.0;
        Some(match f(v, &["extra_rss_kb"]) {
            Some(x) => format!("{own:.0} +{:.0} consumerd", x / 1024.0),
            None => format!("{own:.0}"),
        })
    });
    row(&mut out, "  reading the output back, s", &sustain, |v| {
        f(v, &["count_secs"]).map(|x| format!("{x:.1}"))
    });
    let lossless = lossless_by_system(results, lossless);
    if lossless.iter().any(|(_, o)| o.is_ok()) {
        let _ = writeln!(
            out,
            "lossless: writers paced, {threads} threads, {} s a run, bisection of {} runs",
            opts.lossless_secs, opts.lossless_steps
        );
        row(
            &mut out,
            "  highest rate with nothing lost, events/s",
            &lossless,
            |v| {
                let r = rate(f(v, &["rate"])?);
                Some(if v.get("at_least")?.as_bool()? {
                    format!(">= {r}")
                } else {
                    r
                })
            },
        );
        row(
            &mut out,
            "  lowest rate that lost (or missed its pace)",
            &lossless,
            |v| f(v, &["below"]).map(rate),
        );
    }
    let _ = writeln!(out, "{}", "-".repeat(LABEL + (CELL + 1) * results.len()));
    match disk {
        Ok(mbs) => {
            let _ = writeln!(
                out,
                "raw disk write, same run: dd bs=1M count=512 conv=fdatasync = {mbs:.0} MB/s"
            );
        }
        Err(e) => {
            let _ = writeln!(out, "raw disk write: {e}");
        }
    }
    for (s, m, x) in results {
        for (what, r) in [("latency", m), ("sustained", x)] {
            if let Err(e) = r {
                let _ = writeln!(out, "{} {what}: {e}", s.title());
            }
        }
    }
    for (s, r) in &lossless {
        if let Err(e) = r {
            if !e.starts_with("skipped") {
                let _ = writeln!(out, "{} lossless: {e}", s.title());
            }
        }
    }
    targets(&mut out, results);
    lossless_targets(&mut out, &lossless);
    let _ = write!(
        out,
        "\
notes:
- Each system runs in its own child processes (one for the latency phases, one for the sustained
  run), so RSS and global state do not mix.
- Enabled-event figures are measured where nothing is lost: bursts of {burst} events per thread,
  then a pause of at least {gap} ms and {factor} times the burst's time so the system's consumer
  drains its buffers; ns/event is the median of {runs} runs of {bursts} bursts. Buffers: evtrace 64 KB x up to
  256, LTTng 8 x 1 MiB sub-buffers per CPU (per-user, discard), tracing-appender's default
  128,000-line channel, Perfetto 64 MB (16 MB shared memory). The 'recorded /
  attempted' row checks from the output that nothing was lost.
- Clocks: evtrace runs once per clock type; a peer's single figure sits in the row of the clock
  that stamps its events (LTTng MONOTONIC, tracing SystemTime, Perfetto BOOTTIME). The clock reads
  are measured in the same child process as the events.
- Sustained: evtrace's default private session (64 KB buffers, up to 64), LTTng's default
  channel0, tracing-appender's defaults, Perfetto with a {pbuf} KB buffer drained every {drain} ms.
  Recorded events are counted from each system's own output: evtrace with evtrace::etl::read,
  LTTng as babeltrace2's output lines, tracing as JSON lines, Perfetto as TracePackets holding a
  TrackEvent. The write window may run ahead of the disk into the page cache; compare with dd.
",
        burst = opts.burst_events,
        gap = opts.gap_ms,
        factor = opts.gap_factor,
        runs = opts.runs,
        bursts = opts.bursts,
        pbuf = opts.perfetto_buffer_kb,
        drain = opts.perfetto_drain_ms,
    );
    out
}

/// The evtrace targets of DESIGN.md ("Figures to beat"), checked against this run's figures.
fn targets(out: &mut String, results: &[(System, Outcome, Outcome)]) {
    let find = |sys: System| results.iter().find(|(s, _, _)| *s == sys);
    let Some((_, Ok(em), es)) = find(System::Evtrace) else {
        return;
    };
    let enabled = |v: &Value, row: &str| -> Option<(f64, f64)> {
        let e = v
            .get("enabled")?
            .as_array()?
            .iter()
            .find(|e| e.get("row").and_then(Value::as_str) == Some(row))?;
        Some((f(e, &["ns"])?, f(e, &["clock_read_ns"])?))
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let _ = writeln!(
        out,
        "evtrace against DESIGN.md's figures to beat (this run):"
    );
    if let Some(d) = f(em, &["disabled_ns"]) {
        let _ = writeln!(
            out,
            "  disabled event <= 1 ns: {d:.2} ns, {}",
            verdict(d <= 1.0)
        );
    }
    for (row, clock) in [
        ("mono", "PerfCounter"),
        ("real", "SystemTime"),
        ("tsc", "CpuCycle"),
    ] {
        if let Some((ns, read)) = enabled(em, row) {
            let beyond = ns - read;
            let _ = writeln!(
                out,
                "  engine cost beyond the clock read <= 12 ns, {clock}: {beyond:.1} ns, {}",
                verdict(beyond <= 12.0)
            );
        }
    }
    if let (Some((_, Ok(lm), _)), Some((ns, _))) = (find(System::Lttng), enabled(em, "mono")) {
        if let Some((lns, _)) = enabled(lm, "mono") {
            let x = lns / ns;
            let _ = writeln!(
                out,
                "  enabled event >= 4x faster than LTTng-UST (each on its default clock): {x:.2}x, {}",
                verdict(x >= 4.0)
            );
        }
    }
    if let (Some(two), Some(one)) = (f(em, &["two_thread_eps"]), f(em, &["one_thread_eps"])) {
        let x = two / one;
        let _ = writeln!(
            out,
            "  two threads >= 1.8x one thread: {x:.2}x, {}",
            verdict(x >= 1.8)
        );
    }
    let rate = |v: &Value| Some(f(v, &["recorded"])? / f(v, &["secs"])?);
    let lttng = find(System::Lttng).and_then(|(_, _, ls)| ls.as_ref().ok().and_then(rate));
    let compressed = find(System::EvtraceCompressed).map(|(_, _, x)| x);
    for (label, es) in [("plain", Some(es)), ("compressed", compressed)] {
        let Some(Ok(es)) = es else { continue };
        if let (Some(l), Some(e)) = (lttng, rate(es)) {
            let _ = writeln!(
                out,
                "  sustained events/s recorded >= LTTng-UST's ({label}): {:.2} M/s vs {:.2} M/s, {}",
                e / 1e6,
                l / 1e6,
                verdict(e >= l)
            );
        }
        let a = es.get("attempted").and_then(Value::as_u64).unwrap_or(0);
        let r = es.get("recorded").and_then(Value::as_u64).unwrap_or(0);
        let l = es.get("lost_reported").and_then(Value::as_u64).unwrap_or(0);
        let _ = writeln!(
            out,
            "  losses counted exactly (attempted = recorded + EventsLost, {label}): {}",
            verdict(a == r + l)
        );
    }
}

/// The lossless search's result of each system of the table, in its order.
fn lossless_by_system(
    results: &[(System, Outcome, Outcome)],
    lossless: &[(System, Outcome)],
) -> Vec<(System, Outcome)> {
    results
        .iter()
        .map(|(s, _, _)| {
            let found = lossless.iter().find(|(l, _)| l == s);
            let o = found.map_or_else(|| Err("skipped: not searched".into()), |(_, o)| o.clone());
            (*s, o)
        })
        .collect()
}

/// Issue 16's goals for the lossless rate, checked against this run's figures.
fn lossless_targets(out: &mut String, lossless: &[(System, Outcome)]) {
    let rate = |sys: System| {
        lossless
            .iter()
            .find(|(s, _)| *s == sys)
            .and_then(|(_, o)| o.as_ref().ok())
            .and_then(|v| f(v, &["rate"]))
    };
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let m = |r: f64| r / 1e6;
    let plain = rate(System::Evtrace);
    if let (Some(e), Some(l)) = (plain, rate(System::Lttng)) {
        let _ = writeln!(
            out,
            "  lossless rate >= LTTng-UST's (plain): {:.2} M/s vs {:.2} M/s, {}",
            m(e),
            m(l),
            verdict(e >= l)
        );
        if let Some(c) = rate(System::EvtraceCompressed) {
            let _ = writeln!(
                out,
                "  lossless rate >= 2x LTTng-UST's (compressed): {:.2} M/s vs {:.2} M/s, {}",
                m(c),
                m(l),
                verdict(c >= 2.0 * l)
            );
        }
    }
    if let (Some(p), Some(s)) = (plain, rate(System::EvtraceSystem)) {
        let _ = writeln!(
            out,
            "  system session's lossless rate >= 80% of the private session's: {:.2} M/s vs {:.2} M/s ({:.0}%), {}",
            m(s),
            m(p),
            100.0 * s / p.max(1.0),
            verdict(s >= 0.8 * p)
        );
    }
}
