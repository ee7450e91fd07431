//! What a scenario found: its figures, the promises it saw broken, the skips it had to make.

use std::fmt;

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario's name.
    pub name: &'static str,
    /// What was done and measured, one line each ("50 producer kills: 50/50 files readable").
    pub figures: Vec<String>,
    /// Broken promises, each said once with what was seen.
    pub failures: Vec<String>,
    /// Parts that could not run here, with the reason.
    pub skipped: Vec<String>,
}

impl Outcome {
    /// An empty outcome for scenario `name`.
    pub fn new(name: &'static str) -> Outcome {
        Outcome {
            name,
            figures: Vec::new(),
            failures: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Records a figure (also said on stderr as it is found: a long run shows its progress).
    pub fn figure(&mut self, line: impl Into<String>) {
        let line = line.into();
        eprintln!("  {}: {line}", self.name);
        self.figures.push(line);
    }

    /// Records `what` as broken unless `ok`; returns `ok`.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        if !ok {
            self.fail(what());
        }
        ok
    }

    /// Records a broken promise.
    pub fn fail(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("  {}: FAILED: {what}", self.name);
        self.failures.push(what);
    }

    /// Records a part that cannot run here (printed as a SKIP line, as the tests' skips are).
    pub fn skip(&mut self, why: impl Into<String>) {
        let why = why.into();
        evtrace_testkit::skip(&format!("{}: {why}", self.name));
        self.skipped.push(why);
    }

    /// Whether every promise held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if !self.passed() {
            "FAILED"
        } else if self.skipped.is_empty() {
            "held"
        } else {
            "held (parts skipped)"
        };
        writeln!(f, "{:<16} {verdict}", self.name)?;
        for l in &self.figures {
            writeln!(f, "    {l}")?;
        }
        for l in &self.skipped {
            writeln!(f, "    skipped: {l}")?;
        }
        for l in &self.failures {
            writeln!(f, "    FAILED: {l}")?;
        }
        Ok(())
    }
}

/// The outcomes of a run, printed as a table.
#[derive(Debug, Default)]
pub struct Report {
    outcomes: Vec<Outcome>,
}

impl Report {
    /// Adds one scenario's outcome.
    pub fn push(&mut self, o: Outcome) {
        self.outcomes.push(o);
    }

    /// Whether every scenario held.
    pub fn passed(&self) -> bool {
        self.outcomes.iter().all(Outcome::passed)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "evtrace-chaos: scenario, figures, verdict")?;
        for o in &self.outcomes {
            write!(f, "{o}")?;
        }
        let failed = self.outcomes.iter().filter(|o| !o.passed()).count();
        writeln!(
            f,
            "{} scenarios, {} held, {failed} failed",
            self.outcomes.len(),
            self.outcomes.len() - failed
        )
    }
}
