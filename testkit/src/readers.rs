//! The independent ETL readers, and how a test says it skips: etl-parser and dissect.etl, from
//! PyPI, run on a file through `tools/check_etl_readers.py`, which prints what each read as JSON.
//!
//! They need a Python with both packages: `.ci/run` makes one and names it in `EVTRACE_PYTHON`
//! (default `python3`). Without it a check says why it skips, unless `EVTRACE_REQUIRE_PYTHON`
//! is set (as CI does), where it fails instead.
use std::path::Path;
use std::process::Command;

/// The Python that has both readers, or `None` after saying why ([`skip`]).
pub fn python() -> Option<String> {
    let py = std::env::var("EVTRACE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import etl.etl, dissect.etl"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let why = format!(
        "`{py}` cannot import etl-parser and dissect.etl \
         (pip install etl-parser dissect.etl; set EVTRACE_PYTHON)"
    );
    assert!(
        std::env::var_os("EVTRACE_REQUIRE_PYTHON").is_none(),
        "{why}"
    );
    skip(&why);
    None
}

/// Says why a test skips where it is seen: the test harness keeps a passing test's `eprintln!`
/// to itself, so the line goes straight to the process's stderr.
pub fn skip(why: &str) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("SKIP: {why}\n").as_bytes());
}

/// What the readers made of `path` (`extra`: the checker's options, e.g. `--no-etl-parser`).
pub fn read_with(py: &str, path: &Path, extra: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/check_etl_readers.py");
    let out = Command::new(py)
        .arg(script)
        .arg(path)
        .args(extra)
        .output()
        .expect("run the readers' checker");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the checker")
}
