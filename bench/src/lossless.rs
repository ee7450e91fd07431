//! The lossless rate: the highest rate, writers paced (`--pace`), at which a system loses
//! nothing in a run of `--lossless-secs`, as counted from its own output. From the rate its
//! sustained run attempted the pace halves until a run loses nothing (rates span orders of
//! magnitude between systems), then bisects between that and the lowest rate that lost; a paced
//! run that does not reach its pace (the writers held back) counts as a loss too.

use serde_json::{json, Value};

use crate::report::Outcome;
use crate::{Opts, Phase, System};

/// Searches `system`'s lossless rate, starting from its sustained run `saturated`.
pub fn search(system: System, saturated: &Outcome, opts: &Opts) -> Outcome {
    let sat = saturated
        .as_ref()
        .map_err(|e| format!("no sustained run to start from: {e}"))?;
    let (attempted, recorded, secs) = figures(sat)?;
    let flat_out = attempted as f64 / secs;
    if recorded == attempted {
        // Nothing lost as fast as the writers go: the rate is at least that.
        return Ok(json!({ "rate": flat_out, "at_least": true, "trials": [] }));
    }
    let (mut lo, mut hi) = (None::<f64>, flat_out);
    let mut trials = Vec::new();
    for _ in 0..opts.lossless_steps {
        let pace = match lo {
            None => hi / 2.0,
            Some(lo) => (lo + hi) / 2.0,
        };
        let o = Opts {
            pace,
            sustain_secs: opts.lossless_secs,
            ..opts.clone()
        };
        let v = crate::run_phase(system, Phase::Sustain, &o)?;
        let (attempted, recorded, secs) = figures(&v)?;
        let reached = attempted as f64 / secs >= 0.97 * pace;
        let lost = attempted - recorded.min(attempted);
        let ok = lost == 0 && reached;
        eprintln!(
            "{}: lossless search: {:.2} M/s paced: {} attempted, {lost} lost{}",
            system.title(),
            pace / 1e6,
            attempted,
            if reached { "" } else { ", pace not reached" }
        );
        trials.push(json!({
            "pace": pace,
            "attempted": attempted,
            "lost": lost,
            "reached": reached
        }));
        if ok {
            lo = Some(pace);
        } else {
            hi = pace;
        }
    }
    let rate = lo.unwrap_or(0.0);
    Ok(json!({ "rate": rate, "below": hi, "at_least": false, "trials": trials }))
}

/// Attempted and recorded events and the seconds of a sustained run's result.
fn figures(v: &Value) -> Result<(u64, u64, f64), String> {
    let get = |k: &str| v.get(k).and_then(Value::as_u64);
    match (
        get("attempted"),
        get("recorded"),
        v.get("secs").and_then(Value::as_f64),
    ) {
        (Some(a), Some(r), Some(s)) if s > 0.0 => Ok((a, r, s)),
        _ => Err(format!(
            "a sustained run without attempted, recorded and secs: {v}"
        )),
    }
}
