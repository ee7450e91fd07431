use super::*;
use crate::etl::{
    buffer_flags, fill_tail, write_event_record, write_header_buffer, write_lost_record,
    EventHeaderFields, LossKind,
};

fn file() -> Vec<u8> {
    let h = LogfileHeader {
        buffer_size: 4096,
        ..Default::default()
    };
    let mut data = vec![0u8; 4096];
    write_header_buffer(&mut data, &h);
    for seq in 1..=3 {
        let mut buf = vec![0u8; 4096];
        let mut at = BUFFER_HEADER_SIZE;
        at += write_lost_record(&mut buf[at..], 5, LossKind::Events, 2, 1, 1);
        for i in 0..10 {
            let f = EventHeaderFields {
                timestamp: seq * 100 + i,
                ..Default::default()
            };
            at += write_event_record(&mut buf[at..], &f, &[], &[b"payload"]);
        }
        BufferHeader {
            buffer_size: 4096,
            saved_offset: at as u32,
            sequence_number: seq,
            flags: buffer_flags::PROCESSOR_INDEX,
            ..Default::default()
        }
        .write_to(&mut buf);
        fill_tail(&mut buf, at);
        data.extend(buf);
    }
    data
}

fn count(data: &[u8]) -> (usize, FileScan) {
    let mut n = 0;
    let scan = for_each_record(data, |_, _| n += 1);
    (n, scan)
}

#[test]
fn reads_every_record() {
    let (n, scan) = count(&file());
    assert_eq!(scan.problems, vec![]);
    assert_eq!(scan.buffers.len(), 4);
    assert_eq!(n, 1 + 3 * 11);
}

#[test]
fn corrupt_buffer_is_skipped_and_others_kept() {
    let mut data = file();
    data[4096 * 2] = 0x12; // BufferSize of the second data buffer
    let (n, scan) = count(&data);
    assert_eq!(n, 1 + 2 * 11);
    assert_eq!(scan.problems.len(), 1);
    assert_eq!(scan.problems[0].kind, ProblemKind::CorruptBuffer);
    assert_eq!(scan.problems[0].offset, 8192);
    // A bad record marker ends its buffer only.
    let mut data = file();
    let second = 4096 + BUFFER_HEADER_SIZE + crate::etl::LOST_RECORD_SIZE;
    data[second + 3] = 0x00;
    let (n, scan) = count(&data);
    assert_eq!(n, 1 + 1 + 2 * 11);
    assert_eq!(scan.problems[0].kind, ProblemKind::CorruptRecord);
    assert_eq!(scan.problems[0].offset, second as u64);
}

#[test]
fn truncated_file_keeps_whole_records() {
    let data = file();
    let cut = 4096 * 3 + BUFFER_HEADER_SIZE + crate::etl::LOST_RECORD_SIZE + 0x58 * 3 + 5;
    let (n, scan) = count(&data[..cut]);
    assert_eq!(n, 1 + 2 * 11 + 1 + 3);
    assert_eq!(scan.problems[0].kind, ProblemKind::TruncatedBuffer);
}

#[test]
fn no_panic_on_any_truncation_or_flip() {
    let data = file();
    for cut in (0..data.len()).step_by(7) {
        let _ = count(&data[..cut]);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut d = data.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x >> 16) as usize % d.len();
            d[i] = (x >> 8) as u8;
        }
        let (_, scan) = count(&d);
        // Intact buffers still come out.
        assert!(!scan.buffers.is_empty() || !scan.problems.is_empty());
    }
}
