//! The regression guard: a run's figures saved (`--save FILE`), and a run compared with a saved
//! one of the same machine (`--compare FILE`): each row's ratio to the baseline, and a flag on
//! every row more than 15% worse.

use std::fmt::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::report::Outcome;
use crate::System;

/// How much worse than the baseline a row may be before it is flagged.
pub const TOLERANCE: f64 = 0.15;

/// Which way a figure is better.
#[derive(Clone, Copy)]
enum Better {
    Lower,
    Higher,
}

/// Reads one figure from a system's saved results.
type Figure = fn(&Value) -> Option<f64>;

/// The figures compared.
const METRICS: &[(&str, Better, Figure)] = &[
    ("disabled event, ns", Better::Lower, |v| {
        num(v, &["micro", "disabled_ns"])
    }),
    ("enabled, PerfCounter, ns", Better::Lower, |v| {
        enabled(v, "mono")
    }),
    ("enabled, SystemTime, ns", Better::Lower, |v| {
        enabled(v, "real")
    }),
    ("enabled, CpuCycle, ns", Better::Lower, |v| {
        enabled(v, "tsc")
    }),
    ("1 thread, events/s", Better::Higher, |v| {
        num(v, &["micro", "one_thread_eps"])
    }),
    ("2 threads, events/s", Better::Higher, |v| {
        num(v, &["micro", "two_thread_eps"])
    }),
    ("sustained, events/s recorded", Better::Higher, |v| {
        Some(num(v, &["sustain", "recorded"])? / num(v, &["sustain", "secs"])?)
    }),
    ("sustained, bytes/event", Better::Lower, |v| {
        Some(num(v, &["sustain", "bytes"])? / num(v, &["sustain", "recorded"])?.max(1.0))
    }),
    ("sustained, peak RSS, KB", Better::Lower, |v| {
        num(v, &["sustain", "rss_kb"])
    }),
    ("lossless rate, events/s", Better::Higher, |v| {
        num(v, &["lossless", "rate"])
    }),
];

fn num(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn enabled(v: &Value, row: &str) -> Option<f64> {
    v.get("micro")?
        .get("enabled")?
        .as_array()?
        .iter()
        .find(|e| e.get("row").and_then(Value::as_str) == Some(row))?
        .get("ns")?
        .as_f64()
}

/// A run's results as one JSON document: when, at which commit, and each system's phases.
pub fn document(results: &[(System, Outcome, Outcome)], lossless: &[(System, Outcome)]) -> Value {
    let mut systems = Map::new();
    for (s, micro, sustain) in results {
        let l = lossless.iter().find(|(x, _)| x == s).map(|(_, o)| o);
        let ok = |o: Option<&Outcome>| o.and_then(|o| o.as_ref().ok()).cloned();
        systems.insert(
            s.title().to_string(),
            json!({ "micro": ok(Some(micro)), "sustain": ok(Some(sustain)), "lossless": ok(l) }),
        );
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%MZ"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    json!({ "date": date, "commit": commit, "systems": systems })
}

/// Reads a saved run.
pub fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--compare {}: cannot read it: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "--compare {}: not a run saved by --save ({e})",
            path.display()
        )
    })?;
    if v.get("systems").and_then(Value::as_object).is_none() {
        return Err(format!(
            "--compare {}: no \"systems\" object: not a run saved by --save",
            path.display()
        ));
    }
    Ok(v)
}

/// The comparison of `now` with `baseline`: a line per figure both runs have, its ratio (now /
/// baseline) and `WORSE` past the tolerance; returns the text and how many rows are worse.
pub fn table(baseline: &Value, now: &Value) -> (String, usize) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ncompared with the run of {} at {} (flagged: more than {:.0}% worse)",
        baseline["date"].as_str().unwrap_or("?"),
        baseline["commit"].as_str().unwrap_or("?"),
        TOLERANCE * 100.0
    );
    let _ = writeln!(
        out,
        "{:<20} {:<32} {:>14} {:>14} {:>8}",
        "system", "figure", "baseline", "now", "ratio"
    );
    let mut worse = 0;
    let empty = Map::new();
    let systems = now["systems"].as_object().unwrap_or(&empty);
    for (name, v) in systems {
        let Some(b) = baseline["systems"].get(name) else {
            continue;
        };
        for (label, better, get) in METRICS {
            let (Some(was), Some(is)) = (get(b), get(v)) else {
                continue;
            };
            if was <= 0.0 {
                continue;
            }
            let ratio = is / was;
            let bad = match better {
                Better::Lower => ratio > 1.0 + TOLERANCE,
                Better::Higher => ratio < 1.0 - TOLERANCE,
            };
            worse += usize::from(bad);
            let _ = writeln!(
                out,
                "{name:<20} {label:<32} {was:>14.2} {is:>14.2} {ratio:>7.2}x{}",
                if bad { "  WORSE" } else { "" }
            );
        }
    }
    let _ = writeln!(
        out,
        "{worse} rows more than {:.0}% worse",
        TOLERANCE * 100.0
    );
    (out, worse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(disabled: f64, lossless: f64) -> Value {
        json!({ "date": "d", "commit": "c", "systems": { "evtrace": {
            "micro": { "disabled_ns": disabled, "enabled": [ { "row": "mono", "ns": 20.0 } ] },
            "sustain": null,
            "lossless": { "rate": lossless },
        } } })
    }

    #[test]
    fn rows_past_the_tolerance_are_flagged_each_way() {
        let base = run(1.0, 1e6);
        let (text, worse) = table(&base, &run(1.1, 0.9e6));
        assert_eq!(worse, 0, "{text}");
        let (text, worse) = table(&base, &run(1.2, 0.8e6));
        assert_eq!(worse, 2, "{text}");
        assert!(
            text.contains("disabled event, ns") && text.contains("WORSE"),
            "{text}"
        );
        assert!(text.contains("enabled, PerfCounter, ns") && text.contains("1.00x"));
    }
}
