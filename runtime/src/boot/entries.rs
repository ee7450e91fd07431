//! A key's entries: `Name = value` lines, read and written back in order (names compared
//! case-insensitively, as registry value names are).

use std::io;
use std::path::Path;

/// The entries of one configuration key, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entries {
    items: Vec<(String, String)>,
}

impl Entries {
    /// Reads `path`; a missing file has no entries. Lines that are not `Name = value` are
    /// reported with their line number.
    pub fn read(path: &Path) -> io::Result<Entries> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Entries::default()),
            Err(e) => return Err(e),
        };
        let mut items = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} line {}: `{line}` is not an entry: write `Name = value`",
                        path.display(),
                        n + 1
                    ),
                ));
            };
            items.push((k.trim().to_string(), v.trim().to_string()));
        }
        Ok(Entries { items })
    }

    /// Writes the entries to `path` (replacing it atomically).
    pub fn write(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = String::new();
        for (k, v) in &self.items {
            text.push_str(&format!("{k} = {v}\n"));
        }
        // A hidden name of its own (`.NAME.tmp`): readers skip dot files, and `a.b` and `a.c`
        // do not share one.
        let mut hidden = std::ffi::OsString::from(".");
        hidden.push(path.file_name().unwrap_or_default());
        hidden.push(".tmp");
        let tmp = path.with_file_name(hidden);
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The value of `name` (the last one, if repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.items
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order (for repeatable entries).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.items
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Sets `name` (replacing every earlier value).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self
            .items
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.items[i].1 = value;
                let mut seen = false;
                self.items.retain(|(k, _)| {
                    let same = k.eq_ignore_ascii_case(name);
                    let keep = !same || !seen;
                    seen |= same;
                    keep
                });
            }
            None => self.items.push((name.to_string(), value)),
        }
    }

    /// Adds a value of a repeatable entry.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.items.push((name.to_string(), value.into()));
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.items.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}
