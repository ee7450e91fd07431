//! tracefs: each tracepoint's id and the layout of its raw data, read from its `format` file so
//! that field offsets follow the running kernel rather than a copy of its headers.

use std::path::PathBuf;

/// Where tracefs is, mounting it if no one has (root only).
pub(crate) fn root() -> Result<PathBuf, String> {
    const PLACES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
    for p in PLACES {
        match PathBuf::from(p).join("events").metadata() {
            Ok(m) if m.is_dir() => return Ok(PathBuf::from(p)),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(format!(
                    "tracefs at {p} is not readable by this user ({e}; it needs root)"
                ))
            }
            _ => {}
        }
    }
    let target = PLACES[0];
    match rustix::mount::mount(
        "tracefs",
        target,
        "tracefs",
        rustix::mount::MountFlags::empty(),
        None,
    ) {
        Ok(()) if PathBuf::from(target).join("events").is_dir() => Ok(PathBuf::from(target)),
        Ok(()) => Err(format!(
            "tracefs mounted at {target} has no events directory"
        )),
        Err(e) => Err(format!(
            "tracefs is not mounted and cannot be mounted at {target} ({e}; mounting needs root)"
        )),
    }
}

/// One field of a tracepoint's raw data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    offset: usize,
    size: usize,
    /// `__data_loc`: the field holds (length << 16 | offset) of data placed after the fields.
    data_loc: bool,
}

impl Field {
    /// An unsigned integer field (1, 2, 4 or 8 bytes, little-endian).
    pub(crate) fn u64(&self, raw: &[u8]) -> u64 {
        let b = raw.get(self.offset..self.offset + self.size).unwrap_or(&[]);
        let mut v = [0u8; 8];
        v[..b.len().min(8)].copy_from_slice(&b[..b.len().min(8)]);
        u64::from_le_bytes(v)
    }

    /// A signed integer field.
    pub(crate) fn i64(&self, raw: &[u8]) -> i64 {
        let v = self.u64(raw);
        match self.size {
            1 => v as u8 as i8 as i64,
            2 => v as u16 as i16 as i64,
            4 => v as u32 as i32 as i64,
            _ => v as i64,
        }
    }

    /// The field's bytes (a fixed array, or a `__data_loc` array's data).
    pub(crate) fn bytes<'a>(&self, raw: &'a [u8]) -> &'a [u8] {
        if self.data_loc {
            let loc = self.u64(raw) as u32;
            let (off, len) = ((loc & 0xFFFF) as usize, (loc >> 16) as usize);
            raw.get(off..off + len).unwrap_or(&[])
        } else {
            raw.get(self.offset..self.offset + self.size).unwrap_or(&[])
        }
    }

    /// A string field, up to its first NUL.
    pub(crate) fn string(&self, raw: &[u8]) -> String {
        let b = self.bytes(raw);
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    }
}

/// A tracepoint: its id (the perf `config`) and its fields by name.
#[derive(Debug, Clone)]
pub(crate) struct Tracepoint {
    /// `system:name`, for messages.
    pub(crate) name: String,
    pub(crate) id: u64,
    fields: Vec<(String, Field)>,
}

impl Tracepoint {
    /// Reads `events/<system>/<name>/format` under tracefs `root`.
    pub(crate) fn load(root: &std::path::Path, system: &str, name: &str) -> Result<Self, String> {
        let full = format!("{system}:{name}");
        let path = root.join("events").join(system).join(name).join("format");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "tracepoint {full} is not available ({}: {e})",
                path.display()
            )
        })?;
        parse_format(&full, &text)
    }

    /// The field called `name`; an error naming the tracepoint if this kernel lacks it.
    pub(crate) fn field(&self, name: &str) -> Result<Field, String> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                format!(
                    "tracepoint {} has no field {name} on this kernel",
                    self.name
                )
            })
    }
}

/// Parses a tracepoint `format` file.
pub(crate) fn parse_format(full: &str, text: &str) -> Result<Tracepoint, String> {
    let mut id = None;
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("ID:") {
            id = v.trim().parse().ok();
        }
        let Some(decl) = line.strip_prefix("field:") else {
            continue;
        };
        // field:__u8 saddr[4];	offset:32;	size:4;	signed:0;
        let mut parts = decl.split(';').map(str::trim);
        let decl = parts.next().unwrap_or("");
        let mut offset = None;
        let mut size = None;
        for p in parts {
            if let Some(v) = p.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = p.strip_prefix("size:") {
                size = v.parse().ok();
            }
        }
        let name = decl
            .rsplit([' ', '*'])
            .next()
            .unwrap_or("")
            .split('[')
            .next()
            .unwrap_or("")
            .to_string();
        if let (Some(offset), Some(size)) = (offset, size) {
            let data_loc = decl.starts_with("__data_loc");
            fields.push((
                name,
                Field {
                    offset,
                    size,
                    data_loc,
                },
            ));
        }
    }
    Ok(Tracepoint {
        name: full.to_string(),
        id: id.ok_or_else(|| format!("tracepoint {full}: its format file has no ID"))?,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXEC: &str = "name: sched_process_exec
ID: 365
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:const void * skaddr;\toffset:16;\tsize:8;\tsigned:0;
\tfield:__u8 saddr[4];\toffset:24;\tsize:4;\tsigned:0;
";

    #[test]
    fn fields_are_read_at_the_offsets_the_format_gives() {
        let tp = parse_format("sched:sched_process_exec", EXEC).unwrap();
        assert_eq!(tp.id, 365);
        let mut raw = vec![0u8; 28];
        raw[12..16].copy_from_slice(&(-7i32).to_le_bytes());
        raw[16..24].copy_from_slice(&0xdead_beefu64.to_le_bytes());
        raw[24..28].copy_from_slice(&[127, 0, 0, 1]);
        raw.extend_from_slice(b"/bin/true\0");
        // __data_loc: 10 bytes at offset 28.
        raw[8..12].copy_from_slice(&((10u32 << 16) | 28).to_le_bytes());
        assert_eq!(tp.field("pid").unwrap().i64(&raw), -7);
        assert_eq!(tp.field("skaddr").unwrap().u64(&raw), 0xdead_beef);
        assert_eq!(tp.field("saddr").unwrap().bytes(&raw), &[127, 0, 0, 1]);
        assert_eq!(tp.field("filename").unwrap().string(&raw), "/bin/true");
        let e = tp.field("nope").unwrap_err();
        assert!(e.contains("sched:sched_process_exec") && e.contains("nope"));
    }
}
