//! The engine's modules import one way: each top-level module of `runtime/src` may use only the
//! modules of its own layer or below (ARCHITECTURE.md draws them). The check reads the code's
//! own `crate::` paths, comments and tests left out, so a new upward arrow fails here.

use std::collections::BTreeSet;
use std::path::Path;

/// Bottom to top. A module may import those of its own row or of rows above it in this list.
const LAYERS: &[&[&str]] = &[
    &["error", "number"],
    &["clock", "etl"],
    &["model"],
    &["sink", "activity"],
    &["session"],
    &["client"],
    &["link"],
    &["provider"],
    &["kernel"],
    &["boot"],
    &["consume", "system"],
];

/// Upward arrows the code still has: none. Kept, so that one made on purpose is named here
/// (and in ARCHITECTURE.md) rather than slipped in.
const KNOWN_UPWARD: &[(&str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|row| row.contains(&module))
}

/// The code of a file without comments and without its inline test module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// (from, to, file) for every `crate::to` in a module `from`'s files.
fn arrows(dir: &Path, root: &Path, out: &mut Vec<(String, String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            arrows(&path, root, out);
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".rs") || name == "tests.rs" {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let from = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let text = code(&std::fs::read_to_string(&path).unwrap());
        for (i, _) in text.match_indices("crate::") {
            let to: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // Items of the crate root (Guid, Error, Result, ...) start with a capital.
            if to != from && to.starts_with(|c: char| c.is_ascii_lowercase()) {
                out.push((from.clone(), to, rel.clone()));
            }
        }
    }
}

#[test]
fn modules_import_only_their_layer_or_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    arrows(&root, &root, &mut found);
    let mut upward = BTreeSet::new();
    for (from, to, file) in &found {
        if from == "lib" {
            continue;
        }
        let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) else {
            panic!("{file}: module `{from}` or `{to}` has no layer in LAYERS; give it one");
        };
        if b > a {
            upward.insert((from.as_str(), to.as_str(), file.as_str()));
        }
    }
    let new: Vec<_> = upward
        .iter()
        .filter(|(f, t, _)| !KNOWN_UPWARD.contains(&(*f, *t)))
        .collect();
    assert!(
        new.is_empty(),
        "imports from a lower layer to a higher one (see ARCHITECTURE.md): {new:#?}"
    );
    for known in KNOWN_UPWARD {
        let files: Vec<_> = upward
            .iter()
            .filter(|(f, t, _)| (*f, *t) == *known)
            .map(|(_, _, file)| *file)
            .collect();
        assert!(
            !files.is_empty(),
            "{known:?} no longer goes up: take it out of KNOWN_UPWARD"
        );
        println!("known upward arrow {} -> {}: {files:?}", known.0, known.1);
    }
}
