//! evtrace's compressed log files are laid out as Windows writes them: a header buffer stored
//! at 1 KB (its log-file header giving the nominal buffer size), then each compressed data
//! buffer stored at its own size, the next one starting where the last one ends.

mod recording;

use evtrace_runtime::etl::{self, buffer_flags, BufferHeader, BUFFER_HEADER_SIZE};
use evtrace_runtime::session::{LogFileMode as M, Session};
use recording::*;

/// Walks the stored buffers: (offset, header) of each, and where the walk ended.
fn stored_buffers(bytes: &[u8]) -> (Vec<(usize, BufferHeader)>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while at + BUFFER_HEADER_SIZE <= bytes.len() {
        let h = BufferHeader::parse(&bytes[at..]).expect("a buffer header");
        assert!(
            h.buffer_size as usize > BUFFER_HEADER_SIZE,
            "at {at:#x}: {h:?}"
        );
        out.push((at, h));
        at += h.buffer_size as usize;
    }
    (out, at)
}

fn record(name: &str, file: &std::path::Path, n: u64) -> evtrace_runtime::session::SessionStats {
    let w = Workload::new(&format!("Evtrace-Test-{name}"));
    let s = Session::start_private(props(name, file).mode(M::COMPRESSED).buffers(0, 512)).unwrap();
    w.enable(&s);
    for i in 0..n {
        assert!(w.write(i, 0));
    }
    let stats = s.stop().unwrap();
    assert_eq!(stats.events_lost, 0);
    stats
}

#[test]
fn a_compressed_file_has_windows_layout_and_reads_back_whole() {
    let d = dir("compressed-layout");
    let file = d.join("c.etl");
    let n = 20_000;
    let stats = record("CompressedLayout", &file, n);
    let bytes = std::fs::read(&file).unwrap();

    let (buffers, end) = stored_buffers(&bytes);
    assert_eq!(
        end,
        bytes.len(),
        "the buffers fill the file exactly, no padding or tail"
    );
    let (at0, head) = buffers[0];
    assert_eq!(
        (at0, head.buffer_size),
        (0, 1024),
        "header buffer stored at 1 KB"
    );
    assert_eq!(
        head.flags & buffer_flags::COMPRESSED,
        0,
        "the header buffer is plain"
    );
    // The header event's BufferSize is the nominal data buffer size, and BuffersWritten
    // counts the header buffer and every data buffer.
    let lh = etl::parse_header_buffer(&bytes[..1024]).unwrap();
    assert_eq!(lh.buffer_size, 64 * 1024);
    assert_eq!(lh.buffers_written as usize, buffers.len());
    assert_eq!(u64::from(lh.buffers_written), stats.buffers_written + 1);
    assert_ne!(
        lh.log_file_mode & 0x0400_0000,
        0,
        "EVENT_TRACE_COMPRESSED_MODE"
    );
    // The header buffer's State names the compression format (COMPRESSION_FORMAT_XPRESS, 3).
    let state = u32::from_le_bytes(bytes[0x2C..0x30].try_into().unwrap());
    assert_eq!(state & 0xFFFF, 3);

    let data = &buffers[1..];
    assert!(data.len() >= 3, "{} data buffers", data.len());
    let mut compressed = 0;
    for (at, h) in data {
        assert!(
            h.buffer_size <= lh.buffer_size,
            "at {at:#x}: stored at most the nominal size"
        );
        assert!(h.saved_offset <= lh.buffer_size);
        if h.flags & buffer_flags::COMPRESSED != 0 {
            compressed += 1;
            assert!(
                h.buffer_size < h.saved_offset,
                "at {at:#x}: stored shorter than its records"
            );
        } else {
            assert_eq!(h.buffer_size, lh.buffer_size, "a plain buffer is whole");
        }
    }
    assert_eq!(compressed, data.len(), "these buffers all compress");

    let rb = read(&[&file]);
    let got = counters(&rb);
    assert!(
        got == (0..n).collect::<Vec<_>>(),
        "{} of {n} events, in order?",
        got.len()
    );
    assert_eq!(rb.problems, 0);
}

#[test]
fn long_names_grow_the_header_buffer_by_kilobytes_and_stay_whole() {
    let d = dir("compressed-long-name");
    // 300 characters of directories: longer than 1 KB of header leaves room for.
    let deep = d
        .join("a".repeat(100))
        .join("b".repeat(100))
        .join("c".repeat(100));
    std::fs::create_dir_all(&deep).unwrap();
    let file = deep.join("long.etl");
    record("CompressedLongName", &file, 100);
    let bytes = std::fs::read(&file).unwrap();
    let head = BufferHeader::parse(&bytes).unwrap();
    assert_eq!(head.buffer_size % 1024, 0);
    assert!(head.buffer_size > 1024, "{}", head.buffer_size);
    let lh = etl::parse_header_buffer(&bytes[..head.buffer_size as usize]).unwrap();
    assert_eq!(
        lh.log_file_name,
        file.display().to_string(),
        "the name is not cut"
    );
    assert_eq!(lh.buffer_size, 64 * 1024);
    let (_, end) = stored_buffers(&bytes);
    assert_eq!(end, bytes.len());
    assert_eq!(read(&[&file]).samples.len(), 100);
}

#[test]
fn appending_to_a_compressed_file_keeps_its_header_buffer_and_packing() {
    use evtrace_runtime::clock::ClockType;
    use evtrace_runtime::session::SessionKind;
    let d = dir("compressed-append-layout");
    let file = d.join("a.etl");
    let w = Workload::new("Evtrace-Test-CompressedAppendLayout");
    for (round, range) in [(0, 0..3000u64), (1, 3000..7000)] {
        let s = Session::start(
            props(&format!("compressed-append-{round}"), &file)
                .mode(M::APPEND | M::COMPRESSED)
                .clock(ClockType::SystemTime)
                .buffers(0, 256),
            SessionKind::System,
        )
        .unwrap();
        w.enable(&s);
        for i in range {
            assert!(w.write(i, 0));
        }
        s.stop().unwrap();
    }
    let bytes = std::fs::read(&file).unwrap();
    let (buffers, end) = stored_buffers(&bytes);
    assert_eq!(end, bytes.len());
    assert_eq!(buffers[0].1.buffer_size, 1024);
    let lh = etl::parse_header_buffer(&bytes[..1024]).unwrap();
    assert_eq!(lh.buffers_written as usize, buffers.len());
    let got = counters(&read(&[&file]));
    assert!(got == (0..7000).collect::<Vec<_>>(), "{} events", got.len());
}
