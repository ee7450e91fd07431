//! MS-XCA plain LZ77 against a straightforward reference decoder: round trips of many shapes, the
//! specification's known vector, and hostile streams (errors, never panics or huge output).

use super::*;
use crate::etl::{
    in_type, out_type, provider_traits, tracelogging_extended_items, write_event_record,
    EventDescriptor, EventHeaderFields, EventSchemaBuilder,
};
use crate::Guid;

fn round_trip(data: &[u8]) -> Vec<u8> {
    let c = compress(data);
    let d = decompress(&c, data.len()).expect("decompresses");
    assert_eq!(d, data);
    // The same through the appending forms, after bytes already there.
    let mut c2 = b"head".to_vec();
    compress_into(data, &mut c2);
    assert_eq!(&c2[..4], b"head");
    assert_eq!(c2[4..], c[..]);
    let mut d2 = b"before".to_vec();
    decompress_into(&c, data.len(), &mut d2).expect("decompresses after bytes");
    assert_eq!(&d2[..6], b"before");
    assert_eq!(d2[6..], data[..]);
    assert_eq!(
        reference_decompress(&c, data.len()).expect("reference"),
        data
    );
    c
}

/// The straightforward decoder, one item and one byte at a time, as MS-XCA 2.4 words it: the
/// fast decoder must agree with it on every input, good or bad, errors included.
fn reference_decompress(src: &[u8], want: usize) -> Result<Vec<u8>, (Vec<u8>, FormatError)> {
    let mut out = Vec::new();
    let err = |out: Vec<u8>, at: usize, what: &str| Err((out, FormatError::new(at as u64, what)));
    let byte = |ip: &mut usize| -> Option<u8> {
        let b = *src.get(*ip)?;
        *ip += 1;
        Some(b)
    };
    let (mut ip, mut flags, mut flag_count) = (0usize, 0u32, 0u32);
    let mut nibble_pos: Option<usize> = None;
    let ends = "compressed stream ends before the expected size";
    while out.len() < want {
        if flag_count == 0 {
            let Some(w) = src.get(ip..ip + 4) else {
                return err(out, ip, &format!("{ends} (flags)"));
            };
            flags = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
            ip += 4;
            flag_count = 32;
        }
        flag_count -= 1;
        if flags & (1 << flag_count) == 0 {
            let Some(b) = byte(&mut ip) else {
                return err(out, ip, &format!("{ends} (literal)"));
            };
            out.push(b);
            continue;
        }
        let at = ip;
        let (Some(lo), Some(hi)) = (byte(&mut ip), byte(&mut ip)) else {
            return err(out, at, &format!("{ends} (match)"));
        };
        let m = u16::from_le_bytes([lo, hi]);
        let dist = usize::from(m >> 3) + 1;
        let mut len = usize::from(m & 7);
        if len == 7 {
            len = match nibble_pos.take() {
                Some(p) => usize::from(src[p] >> 4),
                None => {
                    nibble_pos = Some(ip);
                    let Some(b) = byte(&mut ip) else {
                        return err(out, ip, "truncated match length");
                    };
                    usize::from(b & 0x0F)
                }
            };
            if len == 15 {
                let Some(b) = byte(&mut ip) else {
                    return err(out, ip, "truncated match length");
                };
                len = usize::from(b);
                if len == 255 {
                    let Some(w) = src.get(ip..ip + 2) else {
                        return err(out, ip, "truncated match length");
                    };
                    ip += 2;
                    len = usize::from(u16::from_le_bytes([w[0], w[1]]));
                    if len == 0 {
                        let Some(w) = src.get(ip..ip + 4) else {
                            return err(out, ip, "truncated match length");
                        };
                        ip += 4;
                        len = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize;
                    }
                    if len < 15 + 7 {
                        return err(out, at, "invalid match length");
                    }
                    len -= 15 + 7;
                }
                len += 15;
            }
            len += 7;
        }
        len += MIN_MATCH;
        if dist > out.len() {
            return err(out, at, "match reaches before the start of the data");
        }
        if len > want - out.len() {
            return err(out, at, "match runs past the expected size");
        }
        for _ in 0..len {
            out.push(out[out.len() - dist]);
        }
    }
    Ok(out)
}

/// Checks the fast decoder against the reference on `src`: the same bytes, or the same error
/// after the same bytes.
fn same_as_reference(src: &[u8], want: usize) {
    let mut out = vec![0xAB; 3];
    let fast = decompress_into(src, want, &mut out);
    assert_eq!(&out[..3], &[0xAB; 3]);
    match (reference_decompress(src, want), fast) {
        (Ok(r), Ok(())) => assert_eq!(out[3..], r[..]),
        (Err((r, re)), Err(e)) => {
            assert_eq!(e, re);
            assert_eq!(out[3..], r[..], "{e}");
        }
        (r, f) => panic!("reference {:?}, fast {f:?}", r.map(|v| v.len())),
    }
}

use evtrace_testkit::XorShift as Rng;

fn mixed(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut d: Vec<u8> = Vec::with_capacity(len);
    while d.len() < len {
        match rng.below(4) {
            0 => {
                for _ in 0..rng.below(40) {
                    d.push(rng.next() as u8);
                }
            }
            1 if !d.is_empty() => {
                let dist = 1 + rng.below(d.len().min(MAX_DISTANCE + 100));
                let long = rng.below(8) == 0;
                let n = 3 + rng.below(if long { 400 } else { 30 });
                for _ in 0..n {
                    d.push(d[d.len() - dist]);
                }
            }
            2 => d.extend(std::iter::repeat_n(rng.next() as u8, rng.below(100))),
            _ => d.extend_from_slice(b"event record "),
        }
    }
    d.truncate(len);
    d
}

/// A 64 KB trace buffer's worth of event records as a session writes them: the same header,
/// TraceLogging metadata and tag in every record, a timestamp, thread and counter that vary.
fn event_records() -> Vec<u8> {
    let schema = EventSchemaBuilder::new("Sample")
        .field("counter", in_type::UINT64, 0)
        .field("thread", in_type::UINT32, 0)
        .field("tag", in_type::COUNTED_ANSI_STRING, out_type::UTF8)
        .build();
    let ext = tracelogging_extended_items(&provider_traits("evtrace-test-xpress"), &schema);
    let mut h = EventHeaderFields {
        thread_id: 0x78d0,
        process_id: 0x78d0,
        timestamp: 0x0298_d24c_1d02,
        provider_id: Guid([
            0x5b, 0x5c, 0xe6, 0x0a, 0x14, 0xf5, 0x6a, 0x5f, 1, 2, 3, 4, 5, 6, 7, 8,
        ]),
        descriptor: EventDescriptor {
            id: 1,
            channel: 11,
            level: 4,
            ..Default::default()
        },
        ..Default::default()
    };
    let mut rng = Rng(99);
    let mut buf = vec![0u8; 0x10000 - 0x48];
    let mut at = 0;
    for k in 0u64.. {
        h.timestamp += 60 + rng.below(40) as i64;
        let thread = (k as u32 % 2).to_le_bytes();
        let payload: [&[u8]; 4] = [&k.to_le_bytes(), &thread, &[16, 0], b"0123456789abcdef"];
        if buf.len() - at < 512 {
            break;
        }
        at += write_event_record(&mut buf[at..], &h, &ext, &payload);
    }
    buf.truncate(at);
    buf
}

#[test]
fn event_records_round_trip_small() {
    let data = event_records();
    let c = round_trip(&data);
    // Every record repeats the one before but for a few bytes.
    assert!(c.len() < data.len() / 10, "{} vs {}", c.len(), data.len());
    for cut in [1, 100, 4096, data.len() / 2] {
        round_trip(&data[..cut]);
        round_trip(&data[cut..]);
    }
}

#[test]
fn random_shapes_round_trip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for len in (0..200).chain([1000, 4095, 4096, 4097, 65_535, 65_536, 65_537, 200_000]) {
        let d = mixed(&mut rng, len);
        round_trip(&d);
    }
    // Noise: all literals, through the skipping search.
    let noise: Vec<u8> = (0..100_000).map(|_| rng.next() as u8).collect();
    let c = round_trip(&noise);
    assert!(c.len() <= max_compressed_len(noise.len()));
}

#[test]
fn decoder_agrees_with_the_reference_on_bad_streams() {
    let mut rng = Rng(12345);
    for round in 0..300 {
        let len = 1 + rng.below(3000);
        let d = mixed(&mut rng, len);
        let good = compress(&d);
        same_as_reference(&good, d.len());
        // Wrong sizes: shorter, longer.
        same_as_reference(&good, d.len() / 2);
        same_as_reference(&good, d.len() + 1 + rng.below(100));
        // Truncated.
        same_as_reference(&good[..rng.below(good.len())], d.len());
        // Bytes flipped.
        let mut bad = good.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(bad.len());
            bad[i] ^= rng.next() as u8 | 1;
        }
        same_as_reference(&bad, d.len());
        // Random bytes, random sizes.
        let junk: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        let want = rng.below(if round % 2 == 0 { 100 } else { 100_000 });
        same_as_reference(&junk, want);
    }
    // One literal, then matches only: a u32 length, a length from the shared high nibble,
    // then the stream ends.
    let m = [
        0xFF, 0xFF, 0xFF, 0x7F, b'a', 0x07, 0x00, 0x0F, 0xFF, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
        0x07, 0x00,
    ];
    assert_eq!(decompress(&m, 4110).unwrap(), vec![b'a'; 4110]);
    same_as_reference(&m, 4110);
    same_as_reference(&m, 4109);
    same_as_reference(&m, 5000);
}

#[test]
fn huge_expected_size_fails_without_huge_output() {
    // A corrupt stream that claims a vast size: the output grows with what is decoded, so
    // the error comes before any large allocation.
    let mut s = 0x3FFF_FFFFu32.to_le_bytes().to_vec();
    s.extend_from_slice(b"ab");
    s.extend_from_slice(&[0x18, 0x00]); // distance 4 with 2 bytes decoded
    let mut out = Vec::new();
    let e = decompress_into(&s, usize::MAX, &mut out).unwrap_err();
    assert_eq!(e.offset, 6, "{e}");
    assert_eq!(out, b"ab");
    assert!(out.capacity() <= INITIAL_OUTPUT + DECODE_SLACK);
    assert!(decompress(&s[..5], usize::MAX).is_err());
}

#[test]
fn round_trips_many_shapes() {
    round_trip(b"");
    round_trip(b"a");
    round_trip(b"abcabcabcabcabcabcabc");
    round_trip(&[0u8; 100_000]);
    let text: Vec<u8> = (0..50_000)
        .flat_map(|i| format!("event {i} value={}\n", i % 7).into_bytes())
        .collect();
    let c = round_trip(&text);
    assert!(c.len() < text.len() / 3, "{} vs {}", c.len(), text.len());
    let mut x: u64 = 0x1234_5678;
    let noise: Vec<u8> = (0..70_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    round_trip(&noise);
    // Match lengths at every encoding boundary: 3..10 direct, nibble, byte, u16, u32.
    for len in [
        3, 9, 10, 24, 25, 279, 280, 281, 65_000, 65_538, 70_000, 300_000,
    ] {
        let mut d = b"xyz".to_vec();
        d.extend(std::iter::repeat_n(b'q', len));
        d.extend_from_slice(b"end");
        round_trip(&d);
    }
    // Exactly 32 items fill one flag word.
    round_trip(&(0u8..32).collect::<Vec<_>>());
}

#[test]
fn known_vector_from_ms_xca() {
    // MS-XCA 3.1: "abcdefghijklmnopqrstuvwxyz" is stored as one flag word and 26 literals.
    let data = b"abcdefghijklmnopqrstuvwxyz";
    let c = compress(data);
    assert_eq!(&c[..4], &[0x3F, 0x00, 0x00, 0x00]);
    assert_eq!(&c[4..], data);
    // MS-XCA 3.2: "abc" repeated 100 times.
    let d: Vec<u8> = b"abc".repeat(100);
    let expect = [
        0xFF, 0xFF, 0xFF, 0x1F, 0x61, 0x62, 0x63, 0x17, 0x00, 0x0F, 0xFF, 0x26, 0x01,
    ];
    assert_eq!(compress(&d), expect);
    assert_eq!(decompress(&expect, 300).unwrap(), d);
}

#[test]
fn corrupt_streams_are_errors_not_panics() {
    assert!(decompress(&[], 1).is_err());
    assert!(decompress(&[0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00], 5).is_err());
    let good = compress(&b"hello hello hello hello".repeat(20));
    for cut in 0..good.len() {
        let _ = decompress(&good[..cut], 460);
    }
    let mut x: u32 = 7;
    for _ in 0..2000 {
        let mut bad = good.clone();
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let i = (x as usize >> 8) % bad.len();
        bad[i] ^= (x >> 24) as u8 | 1;
        let _ = decompress(&bad, 460);
    }
}
