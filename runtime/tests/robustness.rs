//! The reader on damaged files: the Windows samples and a file of evtrace's own, each mutated
//! many times (bytes flipped, zeroed, set to 0xFF; headers hit more often than payloads;
//! sometimes cut short). Whatever it meets, the reader reports and goes on: it never panics.
//! Deterministic (a fixed xorshift seed), so a failure reproduces.

mod support;

use std::path::PathBuf;

use evtrace_runtime::consume::LogReader;
use support::*;

const MUTATIONS_PER_FILE: u64 = 1000;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files = vec![
        ("generated".to_string(), standard_file(1)),
        ("windows-compressed".to_string(), windows_compressed_file()),
        ("kernel classes".to_string(), kernel_file()),
    ];
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/etl-samples");
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "etl") {
                    files.push((p.display().to_string(), std::fs::read(&p).unwrap()));
                }
            }
        }
        Err(_) => skip(&format!(
            "{} is missing: only the generated file is mutated",
            dir.display()
        )),
    }
    files
}

#[test]
fn damaged_files_are_read_without_a_panic() {
    let scratch = Scratch::new("robustness");
    let path = scratch.join("mutated.etl");
    let mut rng = evtrace_testkit::XorShift(0x9E37_79B9_7F4A_7C15);
    let mut rnd = move || rng.next();
    let mut items = 0usize;
    for (name, original) in corpus() {
        for round in 0..MUTATIONS_PER_FILE {
            let mut b = original.clone();
            let len = b.len();
            for _ in 0..1 + rnd() % 16 {
                let at = match rnd() % 4 {
                    // The header buffer, and the start of some buffer: where lengths live.
                    0 => (rnd() % 0x200) as usize,
                    1 => (rnd() as usize % (len / 4096).max(1)) * 4096 + (rnd() % 0x100) as usize,
                    _ => rnd() as usize,
                } % len;
                b[at] = match rnd() % 5 {
                    0 => 0,
                    1 => 0xFF,
                    2 => b[at] ^ (1 << (rnd() % 8)),
                    3 => b[at].wrapping_add(1),
                    _ => rnd() as u8,
                };
            }
            if rnd() % 10 == 0 {
                b.truncate(rnd() as usize % len);
            }
            std::fs::write(&path, &b).unwrap();
            let read = std::panic::catch_unwind(|| {
                let Ok(mut r) = LogReader::options().keep_going(true).open(&[&path]) else {
                    return 0;
                };
                // Every item is looked at in full, as a consumer printing it would.
                let n = (&mut r).map(|it| format!("{it:?}").len()).count();
                let _ = format!("{:?}", r.diagnostics());
                n
            });
            match read {
                Ok(n) => items += n,
                Err(_) => {
                    let keep = scratch.file(&format!("panic-{round}.etl"), &b);
                    panic!(
                        "{name}, mutation {round}: the reader panicked (file kept: {})",
                        keep.display()
                    );
                }
            }
        }
    }
    assert!(items > 0, "nothing was read from any mutated file");
}
