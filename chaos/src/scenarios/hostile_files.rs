//! The reader on hostile files: evtrace's own files of every kind (`chaos/corpus/`: plain,
//! compressed, circular, messages) and Windows' samples (kernel records, manifest events),
//! mutated with a seeded generator: bytes flipped, runs overwritten, length and size fields set
//! to huge values, buffers spliced, files cut. Whatever it meets, the reader must not panic,
//! must not hang (each file read within [`PER_FILE`]) and must not allocate what a length in the
//! file asks for beyond ETW's largest buffer (no single allocation over [`ALLOCATION_CAP`] plus
//! the file's size).
//!
//! No nightly toolchain here for `cargo fuzz`: this is the stable mutation loop the issue allows.
//! An input that fails is kept in the scenario's folder with its seed.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use evtrace::consume::LogReader;
use evtrace_testkit::XorShift as Rng;

use crate::lab::Lab;
use crate::{Budget, Outcome};

/// The longest one file may take to read (a debug build reads the largest input in well under
/// 100 ms): past it the reader is taken to hang.
const PER_FILE: Duration = Duration::from_secs(5);
/// The largest allocation the reader may make beyond the file's own size: one buffer of ETW's
/// largest size (what a nominal buffer size read from the file may say), and some slack.
const ALLOCATION_CAP: usize = evtrace::etl::read::MAX_BUFFER_SIZE as usize + (64 << 10);
/// Mutated files per input file in the bounded form.
const BOUNDED_ROUNDS: u64 = 400;

/// The files mutated: the repo's corpus and the Windows samples beside the project.
pub fn corpus() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [root.join("corpus"), root.join("../../shared/etl-samples")] {
        if let Ok(rd) = std::fs::read_dir(&dir) {
            let mut here: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "etl"))
                .collect();
            here.sort();
            files.extend(here);
        }
    }
    files
}

/// Runs the scenario.
pub fn run(lab: &Lab, budget: &Budget, out: &mut Outcome) {
    let files = corpus();
    if files.is_empty() {
        return out.fail("no corpus: chaos/corpus/ holds no .etl file");
    }
    if !crate::alloc::installed() {
        out.skip("this binary does not install evtrace_chaos::alloc::Counting: allocations are not measured");
    }
    let inputs: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter_map(|p| {
            Some((
                p.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(p).ok()?,
            ))
        })
        .collect();
    let until = Instant::now() + budget.time();
    let path = lab.dir().join("mutated.etl");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut reads, mut items, mut slowest, mut largest) = (0u64, 0u64, Duration::ZERO, 0usize);
    let mut round = 0u64;
    'rounds: while round < BOUNDED_ROUNDS || (budget.is_long() && Instant::now() < until) {
        for (name, original) in &inputs {
            let seed = rng.0;
            let bytes = mutate(original, &mut rng);
            if std::fs::write(&path, &bytes).is_err() {
                out.fail(format!("cannot write {}", path.display()));
                break 'rounds;
            }
            crate::alloc::take_largest();
            let started = Instant::now();
            match read_within(&path, PER_FILE) {
                Read::Done(n) => items += n,
                Read::Panicked(why) => {
                    let kept = keep(lab, name, seed, &bytes);
                    out.fail(format!("the reader panicked on {name} mutated with seed {seed:#x} (kept as {kept}): {why}"));
                    break 'rounds;
                }
                Read::Hung => {
                    let kept = keep(lab, name, seed, &bytes);
                    out.fail(format!("reading {name} mutated with seed {seed:#x} took over {PER_FILE:?} (kept as {kept})"));
                    break 'rounds;
                }
            }
            slowest = slowest.max(started.elapsed());
            let big = crate::alloc::take_largest();
            largest = largest.max(big);
            if big > ALLOCATION_CAP + bytes.len() {
                let kept = keep(lab, name, seed, &bytes);
                out.fail(format!(
                    "reading {name} mutated with seed {seed:#x} ({} bytes) allocated {big} bytes at once (kept as {kept})",
                    bytes.len()
                ));
                break 'rounds;
            }
            reads += 1;
        }
        round += 1;
    }
    out.figure(format!(
        "{reads} mutated files from {} inputs ({}): {items} items delivered, 0 panics, slowest read {:.1} ms (budget {PER_FILE:?}), largest allocation {} KB (cap {} KB + the file)",
        inputs.len(),
        inputs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
        slowest.as_secs_f64() * 1000.0,
        largest / 1024,
        ALLOCATION_CAP / 1024
    ));
}

enum Read {
    Done(u64),
    Panicked(String),
    Hung,
}

/// Reads `path` in full on a thread of its own, as a consumer printing every item would; a
/// read still going after `limit` is left behind and reported.
fn read_within(path: &Path, limit: Duration) -> Read {
    let (tx, rx) = mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(|| {
            let Ok(mut r) = LogReader::options().keep_going(true).open(&[&path]) else {
                return 0u64;
            };
            let n = (&mut r).map(|it| format!("{it:?}").len()).count() as u64;
            let _ = format!("{:?} {:?}", r.diagnostics(), r.loss_stats());
            n
        });
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(n)) => Read::Done(n),
        Ok(Err(p)) => Read::Panicked(
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default(),
        ),
        Err(_) => Read::Hung,
    }
}

fn keep(lab: &Lab, name: &str, seed: u64, bytes: &[u8]) -> String {
    let p = lab.dir().join(format!("failing-{name}-{seed:x}.etl"));
    let _ = std::fs::write(&p, bytes);
    p.display().to_string()
}

/// Values that break length arithmetic.
const HOSTILE_U32: [u32; 8] = [
    0,
    1,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0xFFFF_FFF8,
    0x0001_0000,
    0x0100_0000,
];

/// One mutated copy of `original`.
fn mutate(original: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = original.to_vec();
    let len = b.len();
    if len == 0 {
        return b;
    }
    for _ in 0..1 + rng.below(8) {
        // Headers (the file's first buffer, the start of each buffer) more often than payloads:
        // that is where the lengths are.
        let at = match rng.below(4) {
            0 => rng.below(0x200.min(len)),
            1 => (rng.below(len / 4096 + 1) * 4096 + rng.below(0x100)) % len,
            _ => rng.below(len),
        };
        match rng.below(6) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = rng.next() as u8,
            2 => {
                // A length or size field set to a hostile value.
                let at = at & !3;
                if at + 4 <= len {
                    let v = HOSTILE_U32[rng.below(HOSTILE_U32.len())];
                    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            3 => {
                // A run overwritten with one byte.
                let end = (at + 1 + rng.below(64)).min(len);
                let v = [0u8, 0xFF][rng.below(2)];
                b[at..end].fill(v);
            }
            4 => {
                // Another part of the file copied over this one (a buffer spliced in).
                let from = rng.below(len);
                let n = rng.below(512).min(len - from).min(len - at);
                b.copy_within(from..from + n, at);
            }
            _ => b[at] = b[at].wrapping_add(1),
        }
    }
    if rng.below(10) == 0 {
        b.truncate(rng.below(len));
    }
    b
}

/// Writes the repo's corpus into `dir`: small evtrace files of each kind the reader must take
/// apart (`evtrace-chaos --make-corpus chaos/corpus`).
pub fn make_corpus(dir: &Path) -> Result<Vec<PathBuf>, String> {
    use evtrace::provider::{filter::level, EnableSettings};
    use evtrace::session::{LogFileMode, Session, SessionProperties};

    use crate::producer::chaos_events;

    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let kinds: [(&str, LogFileMode, u32); 4] = [
        ("plain", LogFileMode::empty(), 0),
        ("compressed", LogFileMode::COMPRESSED, 0),
        (
            "circular",
            LogFileMode::CIRCULAR | LogFileMode::USE_KBYTES_FOR_SIZE,
            16,
        ),
        ("messages", LogFileMode::LOCAL_SEQUENCE, 0),
    ];
    let mut made = Vec::new();
    for (name, mode, max) in kinds {
        let path = dir.join(format!("{name}.etl"));
        let props = SessionProperties::new(format!("Chaos-Corpus-{name}"))
            .log_file(&path)
            .mode(mode)
            .buffer_size_kb(4)
            .maximum_file_size(max);
        let s = Session::start_private(props).map_err(|e| format!("{name}: {e}"))?;
        s.enable_provider(
            chaos_events::PROVIDER.guid(),
            EnableSettings::new(level::VERBOSE, 0, 0),
        )
        .map_err(|e| format!("{name}: {e}"))?;
        for n in 0..600u64 {
            if name == "messages" {
                evtrace::trace_message!(chaos_events, "tick {} of {:?} at {:#x}", n: u64, name: &str, n: u64);
            } else {
                evtrace::write!(chaos_events::tick(0, n));
            }
        }
        s.stop().map_err(|e| format!("{name}: {e}"))?;
        made.push(path);
    }
    Ok(made)
}
